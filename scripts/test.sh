#!/usr/bin/env bash
# Installs what is needed, lints, type-checks, then runs the test suite. Extra arguments go to pytest
# (for example: scripts/test.sh -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
# The linter and the type checker (strict, configured in pyproject.toml) before the tests.
.venv/bin/ruff check tortie tests bench
.venv/bin/mypy tortie
# LOG rules in non-root network namespaces print only with this set (dataplane.md §10).
sysctl -qw net.netfilter.nf_log_all_netns=1 || echo "test: cannot set nf_log_all_netns; LOG tests may fail" >&2
# Four workers, each test file on one of them (a file's shared lab is built once): kernel tests
# mostly wait on the kernel and on agents, so four processes keep two cores busy.
exec .venv/bin/python -m pytest -n 4 --dist loadfile "$@"
