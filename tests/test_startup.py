"""A resource command loads only what it uses (issue 11 item 7).

bench/cli.py measures how long ``tortie get felixconfig`` takes against ``python3 -c pass``;
this test holds the cause in place without timing anything: the modules that a ``get`` or
an ``apply`` never needs stay unimported, and the console script still gives the command's
output and exit status.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .cli import TORTIE

# Loaded by the commands that need them, never by a resource command.
NEVER = ("prometheus_client", "aetcd", "grpc", "tortie.agent", "tortie.lab", "tortie.dataplane", "tortie.collector",
         "tortie.render", "tortie.plan", "tortie.model", "tortie.calc", "tortie.logs", "tortie.store.etcd")
# Loaded only by the first YAML read or write, selector check, float printed or duration read.
ON_USE = ("yaml", "tortie.selector", "decimal")

PROBE = """
import atexit, sys
atexit.register(lambda: print(" ".join(sorted(sys.modules)), file=sys.stderr))
sys.argv = ["tortie", *sys.argv[1:]]
from tortie.__main__ import run
run()
"""


def _loaded(args: list[str], datastore: str, stdin: str = "") -> tuple[int, str, set[str]]:
    """(exit status, stdout, modules loaded) of ``tortie ARGS`` run as the console script runs it."""
    env = {**os.environ, "TORTIE_DATASTORE": datastore}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], input=stdin, capture_output=True, text=True,
                          env=env, check=False)
    modules = set(done.stderr.splitlines()[-1].split())
    return done.returncode, done.stdout, modules


def _heads(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_get_loads_neither_the_agent_nor_yaml_nor_the_selector_compiler(tmp_path: Path) -> None:
    status, out, modules = _loaded(["get", "felixconfig"], f"sqlite://{tmp_path}/s.db")
    assert (status, out.split()) == (0, ["NAME", "default"])
    assert _heads(modules, NEVER + ON_USE) == []


def test_yaml_and_the_selector_compiler_load_when_used(tmp_path: Path) -> None:
    policy = ("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\n"
              "spec: {selector: role == 'web'}\n")
    status, out, modules = _loaded(["apply", "-f", "-"], f"sqlite://{tmp_path}/s.db", policy)
    assert (status, out) == (0, "Successfully applied 1 'GlobalNetworkPolicy' resource(s)\n")
    assert _heads(modules, NEVER) == []
    assert {"yaml", "tortie.selector"} <= modules  # to read the file and check its selector


def test_the_console_script_gives_the_status_of_the_command(tmp_path: Path) -> None:
    env = {**os.environ, "TORTIE_DATASTORE": f"sqlite://{tmp_path}/s.db"}
    done = subprocess.run([TORTIE, "get", "nosuchkind"], capture_output=True, text=True, env=env, check=False)
    assert (done.returncode, done.stderr) == (1, "failed to get resources: resource type 'nosuchkind' is not supported\n")
