#!/usr/bin/env bash
# Installs what is needed, then runs the test suite. Extra arguments go to pytest
# (for example: scripts/test.sh -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
