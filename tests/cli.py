"""The command line in-process: tests of its logic call ``tortie.ctl.main.main`` directly,
with captured streams and their own datastore, in milliseconds instead of a process start.
A few tests still go through the console script (tests/test_cli.py, tests/test_lab.py)."""

from __future__ import annotations

import os
import pty
import subprocess
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


def run_on_terminal(args: Sequence[str]) -> tuple[int, bytes, str]:
    """Run the console script ``tortie ARGS`` with stderr on a terminal (a pty) and stdout on
    a pipe: (exit status, stdout, what the terminal showed)."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run([TORTIE, *args], stdout=subprocess.PIPE, stderr=follower, timeout=120)
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal has no writer left
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
    return proc.returncode, proc.stdout, seen.decode()
