#!/usr/bin/env bash
# Installs everything tortie needs on Debian 12, idempotently: apt packages (as root),
# a virtualenv in .venv and the package itself (editable, with test extras).
# With --tests it also installs what only the tests use (promtool, to check deploy/prometheus).
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package that provides it
declare -A NEEDED=(
    [python3]=python3
    [ip]=iproute2
    [unshare]=util-linux
    [iptables-nft-restore]=iptables
    [ipset]=ipset
    [conntrack]=conntrack
    [rsyslogd]=rsyslog
    [iperf3]=iperf3
    [iperf]=iperf
    [etcd]=etcd-server
)
if [ "${1:-}" = --tests ]; then
    NEEDED[promtool]=prometheus
fi
missing=()
for cmd in "${!NEEDED[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEEDED[$cmd]}")
done
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
