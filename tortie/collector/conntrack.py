"""Connections as conntrack knows them: the allowed half of the flow logs.

A connection the policies let through is confirmed in the kernel's connection table; one they
drop never is (the denied half comes from NFLOG). tortie reads the table with conntrack-tools
(``conntrack -L``) rather than speaking ctnetlink itself, a few times per flush interval: every
entry lives at least 10 s after its last packet (a reset TCP connection; 30 s for UDP and
ICMP, 120 s after a TCP close), so dumps at most 5 s apart see every connection, and a dump
costs far less than an event per connection (bench/flows.py). Packet and byte counters need
``net.netfilter.nf_conntrack_acct``, which ``enable_accounting`` sets for the namespace.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

ACCOUNTING = "/proc/sys/net/netfilter/nf_conntrack_acct"
COMPLETED_STATES = frozenset({"TIME_WAIT", "CLOSE"})  # a TCP connection that has ended


@dataclass(frozen=True, slots=True)
class Conn:
    """One conntrack entry: its id, the original direction's tuple (for ICMP the id stands
    for the source port and ``type << 8 | code`` for the destination port), its counters
    (0 without accounting) and, for TCP, its state."""

    id: int
    protocol: int
    src: str
    dst: str
    sport: int | None
    dport: int | None
    packets_out: int  # original direction (from src)
    bytes_out: int
    packets_in: int  # reply direction (to src)
    bytes_in: int
    state: str = ""

    @property
    def completed(self) -> bool:
        return self.state in COMPLETED_STATES


def parse(line: str) -> Conn | None:
    """One line of ``conntrack -L -o id,extended``; None for lines that are not an entry
    (conntrack's summary)."""
    rest = line.split()
    # "ipv4 2 tcp 6 <timeout> [STATE] key=value ... [ASSURED] ... id=N"
    if len(rest) < 4 or not rest[3].isdigit():
        return None
    protocol = int(rest[3])
    fields: dict[str, list[str]] = {}
    state = ""
    for word in rest[4:]:
        key, sep, value = word.partition("=")
        if sep:
            fields.setdefault(key, []).append(value)
        elif word.isupper() and not word.startswith("["):
            state = word
    try:
        src, dst = fields["src"][0], fields["dst"][0]
        cid = int(fields["id"][-1])  # the last: ICMP tuples carry an id of their own
    except (KeyError, ValueError):
        return None
    sport: int | None
    dport: int | None
    if "type" in fields:  # ICMP: Calico's stand-ins for ports (felix/collector/iptables.go)
        ids = fields["id"]
        sport, dport = (int(ids[0]) if len(ids) > 1 else None), int(fields["type"][0]) << 8 | int(fields["code"][0])
    else:
        sports, dports = fields.get("sport"), fields.get("dport")
        sport, dport = (int(sports[0]) if sports else None), (int(dports[0]) if dports else None)
    packets, size = fields.get("packets", []), fields.get("bytes", [])
    return Conn(cid, protocol, src, dst, sport, dport, int(packets[0]) if packets else 0, int(size[0]) if size else 0,
                int(packets[1]) if len(packets) > 1 else 0, int(size[1]) if len(size) > 1 else 0, state)


def enable_accounting() -> None:
    """Count packets and bytes per connection in this network namespace. Raises OSError."""
    with open(ACCOUNTING, "w", encoding="ascii") as f:
        f.write("1")


def dump() -> Iterator[Conn]:
    """Every live entry of both families. Raises OSError when conntrack cannot run or fails:
    a dump cut short would end every connection it leaves out."""
    for family in ("ipv4", "ipv6"):
        proc = subprocess.run(["conntrack", "-L", "-f", family, "-o", "id,extended"], capture_output=True,
                              text=True, timeout=60)
        if proc.returncode != 0:
            raise OSError(f"conntrack -L failed: {proc.stderr.strip() or f'exit status {proc.returncode}'}")
        for line in proc.stdout.splitlines():
            conn = parse(line)
            if conn is not None:
                yield conn
