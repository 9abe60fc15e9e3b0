"""Start-up of the command line: ``tortie get felixconfig`` against ``python3 -c pass``.

    .venv/bin/python bench/cli.py [--runs 15]

Both run as a user runs them: the installed console script and this same interpreter, one
new process per run, bytecode cached (in a temporary directory, whatever
PYTHONDONTWRITEBYTECODE says), on a fresh SQLite store that the warm-up run creates.
Runs alternate between the two commands, so the noise of a shared machine hits both alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TORTIE = str(Path(sys.executable).with_name("tortie"))


def wall_time(command: list[str], env: dict[str, str]) -> float:
    """Seconds from start to exit of one run; the run must succeed."""
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    get = [TORTIE, "get", "felixconfig"]
    baseline = [sys.executable, "-c", "pass"]
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env |= {"TORTIE_DATASTORE": f"sqlite://{tmp}/bench.db", "PYTHONPYCACHEPREFIX": f"{tmp}/pycache"}
        listing = subprocess.run(get, env=env, check=True, capture_output=True, text=True).stdout
        assert listing.split() == ["NAME", "default"], listing  # the warm-up: bytecode written, store created
        times: dict[str, list[float]] = {"get": [], "pass": []}
        for _ in range(args.runs):
            times["get"].append(wall_time(get, env))
            times["pass"].append(wall_time(baseline, env))
    cli, python = statistics.median(times["get"]), statistics.median(times["pass"])
    print(f"tortie get felixconfig: {cli * 1e3:.0f} ms, python3 -c pass: {python * 1e3:.0f} ms "
          f"(medians of {args.runs} runs): ratio {cli / python:.1f} (target <= 4)")


if __name__ == "__main__":
    main()
