"""A packet as the model sees it, and the interfaces and hook it takes on a node."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

PROTOCOLS = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPV6": 58, "SCTP": 132, "UDPLITE": 136}
PROTOCOL_NAMES = {6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMPv6", 132: "SCTP", 136: "UDPLite"}
PORT_PROTOCOLS = {6, 17, 132, 136}


@dataclass(frozen=True)
class Packet:
    src: str
    dst: str
    protocol: int
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


def protocol_number(text: str) -> int:
    """TCP, UDP, ICMP, ICMPv6 (any case) or a number 1-255. Raises ValueError."""
    if text.isdigit():
        number = int(text)
        if 1 <= number <= 255:
            return number
        raise ValueError(f"protocol number must be 1-255, not {number}")
    try:
        return PROTOCOLS[text.upper()]
    except KeyError:
        raise ValueError(f"unknown protocol {text!r}") from None
