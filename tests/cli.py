"""The command line in-process: tests of its logic call ``tortie.ctl.main.main`` directly,
with captured streams and their own datastore, in milliseconds instead of a process start.
A few tests still go through the console script (tests/test_cli.py, tests/test_lab.py)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from click.testing import CliRunner

from tortie.ctl.main import main

TORTIE = str(Path(sys.executable).with_name("tortie"))  # the console script, for the tests that run it


def run_cli(args: Sequence[str], *, datastore: str | None, stdin: str | bytes | None = None,
            env: Mapping[str, str | None] | None = None) -> tuple[int, str, str]:
    """Run ``tortie ARGS`` as the console script would: (exit status, stdout, stderr).

    ``datastore`` becomes $TORTIE_DATASTORE (None unsets it), so that no test reaches the
    machine's default store by accident; ``env`` overrides other variables (None unsets).
    ``stdin`` is what ``-f -`` reads.
    """
    variables = {"TORTIE_DATASTORE": datastore, **(env or {})}
    with CliRunner().isolation(input=stdin, env=variables) as (stdout, stderr, _):
        code = main(list(args))
    return code, stdout.getvalue().decode(), stderr.getvalue().decode()
