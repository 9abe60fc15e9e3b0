"""A packet as the model sees it, and the interfaces and hook it takes on a node."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class Packet:
    src: str
    dst: str
    protocol: int  # the IP protocol number (tortie.core's table names them)
    sport: int | None = None
    dport: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    state: str = "new"  # conntrack: new, established, related, invalid
    in_iface: str | None = None  # None: sent by the host itself
    out_iface: str | None = None  # None: addressed to the host itself
    dnat: bool = False

    @property
    def family(self) -> int:
        return ipaddress.ip_address(self.src).version

    @property
    def hook(self) -> str:
        if self.in_iface is None:
            return "output"
        if self.out_iface is None:
            return "input"
        return "forward"

    @property
    def tracked_reply(self) -> bool:
        return self.state in ("established", "related")
