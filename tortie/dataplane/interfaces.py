"""The interfaces of the network namespace the agent runs in, with their addresses."""

from __future__ import annotations

import json

from .commands import Runner


def read_interfaces(runner: Runner) -> dict[str, frozenset[str]]:
    """Interface name -> its addresses (text), from ``ip -j addr``."""
    data = json.loads(runner.run(["ip", "-j", "addr", "show"]) or "[]")
    return {link["ifname"]: frozenset(a["local"] for a in link.get("addr_info", []) if "local" in a) for link in data}
