"""The one protocol table: every IP protocol a rule can name, as YAML, iptables, ipset, the
kernel log and people write it (resources.md §5; Calico's numorstring.Protocol)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Protocol:
    name: str  # as written in YAML (TCP, UDPLite, …), or the number for an unnamed protocol
    number: int
    has_ports: bool  # the first four bytes after the IP header are the source and destination ports
    iptables: str  # the ``-p`` value; also the protocol of a ``hash:ip,port`` set member
    log: str  # the kernel LOG line's ``PROTO=`` value
    log_ports: bool  # the kernel LOG line prints SPT= and DPT=

    @property
    def display(self) -> str:
        """How tortie names it to people (explain, errors)."""
        return self.name


TABLE = (
    Protocol("TCP", 6, True, "tcp", "TCP", True),
    Protocol("UDP", 17, True, "udp", "UDP", True),
    Protocol("ICMP", 1, False, "icmp", "ICMP", False),
    Protocol("ICMPv6", 58, False, "ipv6-icmp", "ICMPv6", False),
    Protocol("SCTP", 132, True, "sctp", "132", False),  # the kernel log has no SCTP decoder
    Protocol("UDPLite", 136, True, "udplite", "UDPLITE", True),
)
BY_NAME = {p.name: p for p in TABLE}
_BY_NUMBER = {p.number: p for p in TABLE}
_BY_UPPER = {p.name.upper(): p for p in TABLE}
TCP, UDP, ICMP, ICMPV6, SCTP, UDPLITE = TABLE
PORT_PROTOCOLS = frozenset(p.number for p in TABLE if p.has_ports)


@lru_cache(maxsize=256)
def protocol(number: int) -> Protocol:
    """The table's entry for ``number`` (1-255), or an unnamed one. Raises ValueError."""
    if not 1 <= number <= 255:
        raise ValueError(f"protocol number must be 1-255, not {number}")
    found = _BY_NUMBER.get(number)
    return found if found is not None else Protocol(str(number), number, False, str(number), str(number), False)


def parse_protocol(text: str | int) -> Protocol:
    """A protocol as a user may write it: a table name in any case, or a number 1-255.
    Raises ValueError naming the text."""
    if isinstance(text, int):
        return protocol(text)
    if text.isdigit():
        return protocol(int(text))
    found = _BY_UPPER.get(text.upper())
    if found is None:
        raise ValueError(f"unknown protocol {text!r}")
    return found
