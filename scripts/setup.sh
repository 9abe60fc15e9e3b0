#!/usr/bin/env bash
# Installs everything tortie needs on Debian 12, idempotently: apt packages (as root),
# a virtualenv in .venv and the package itself (editable, with test extras).
# With --tests it also installs what only the tests use (etcdctl, openssl, promtool, chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

# One list of the programs tortie, its tests, bench/ and scripts/ run (tests/test_programs.py
# checks the sources against it): install the Debian package of each one missing.
missing=()
while read -r program package when; do
    [ "$when" = tests ] && [ "${1:-}" != --tests ] && continue
    command -v "$program" >/dev/null 2>&1 || missing+=("$package")
done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/programs.txt)
python3 -c 'import venv, ensurepip, sqlite3' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup: missing packages (${missing[*]}); run as root to install them" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "setup: Python >= 3.11 is required, found $(python3 --version)" >&2; exit 1; }

[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=.venv/.tortie-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing tortie into .venv" >&2
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test]'
    echo "$want" > "$stamp"
fi
