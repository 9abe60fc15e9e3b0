#!/usr/bin/env bash
# Installs what is needed, then runs the test suite. Extra arguments go to pytest
# (for example: scripts/test.sh -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
# LOG rules in non-root network namespaces print only with this set (dataplane.md §10).
sysctl -qw net.netfilter.nf_log_all_netns=1 || echo "test: cannot set nf_log_all_netns; LOG tests may fail" >&2
exec .venv/bin/python -m pytest "$@"
