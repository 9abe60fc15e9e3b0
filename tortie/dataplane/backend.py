"""Choosing the iptables backend (dataplane.md §9.4): nft, legacy, or detected."""

from __future__ import annotations

from pathlib import Path

from .commands import CommandError, Runner

KUBE_HINTS = ("KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY")


def _count_rules(save: str) -> int:
    return sum(1 for line in save.splitlines() if line.startswith("-A "))


def detect_backend(runner: Runner, tables_names: str = "/proc/net/ip_tables_names") -> str:
    """``Auto``: the backend the rest of this namespace uses. Reads legacy only when legacy
    tables already exist, because even a read creates them (§9.4)."""
    def save(binary: str, *args: str) -> str:
        try:
            return runner.run([binary, *args])
        except CommandError:
            return ""

    nft_mangle = save("iptables-nft-save", "-t", "mangle")
    if any(hint in nft_mangle for hint in KUBE_HINTS):
        return "nft"
    try:
        legacy_tables = Path(tables_names).read_text().split() if runner.netns is None else \
            runner.run(["cat", tables_names]).split()
    except (OSError, CommandError):
        legacy_tables = []
    if not legacy_tables:
        return "nft"
    legacy = save("iptables-legacy-save")
    if any(hint in legacy for hint in KUBE_HINTS):
        return "legacy"
    return "legacy" if _count_rules(legacy) > _count_rules(save("iptables-nft-save")) else "nft"
