"""A record as one readable line (`tortie logs parse`'s default output)."""

from __future__ import annotations

import json

from .record import LogRecord, Packet

# Log lines are other people's text: control characters are shown escaped, never sent to a terminal.
CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}


def plural(n: int, word: str, words: str = "") -> str:
    """`word` as it goes after the number `n`: `line` for 1, `lines` (or `words`) for any other."""
    return word if n == 1 else words or word + "s"


def describe(record: LogRecord) -> str:
    """`TIME HOST "PREFIX" KIND PACKET in=IF out=IF [mark=0xM] [uid=U gid=G] [partial] [trace]`,
    where TIME is the time as printed, else [uptime], else -, and PACKET is, for example,
    `TCP 10.65.3.14:43822 > 198.51.100.40:443 SYN len=60 ttl=63`. Addresses are canonical
    where they are addresses."""
    when = record.time if record.time is not None else (
        f"[{record.uptime:.6f}]" if record.uptime is not None else "-")
    parts = [when, record.host or "-", json.dumps(record.prefix, ensure_ascii=False), record.kind.value,
             _packet(record), f"in={record.in_}", f"out={record.out}"]
    if record.mark is not None:
        parts.append(f"mark={record.mark:#x}")
    if record.uid is not None or record.gid is not None:
        parts.append(f"uid={_or_dash(record.uid)} gid={_or_dash(record.gid)}")
    if record.extra:
        parts.append("extra=" + json.dumps(" ".join(record.extra), ensure_ascii=False))
    if record.partial:
        parts.append("partial")
    if record.trace:
        parts.append("trace")
    return " ".join(parts).translate(CONTROL)


def _packet(p: Packet) -> str:
    parts = [p.proto or "-", f"{_address(p.src, p.src_canonical, p.spt)} > {_address(p.dst, p.dst_canonical, p.dpt)}"]
    if p.tcp_flags:
        parts.append(",".join(p.tcp_flags))
    if p.icmp_type is not None:
        parts.append(f"type={p.icmp_type} code={_or_dash(p.icmp_code)}")
    for name in ("icmp_id", "icmp_seq", "mtu", "incomplete"):
        value = getattr(p, name)
        if value is not None:
            parts.append(f"{name.removeprefix('icmp_')}={value}")
    if p.frag is not None:
        parts.append(f"frag={p.frag}")
    if p.len is not None:
        parts.append(f"len={p.len}")
    if p.ttl is not None or p.hoplimit is not None:
        parts.append(f"ttl={p.ttl if p.ttl is not None else p.hoplimit}")
    if p.truncated:
        parts.append("truncated")
    if p.inner is not None:
        parts.append(f"[{_packet(p.inner)}]")
    return " ".join(parts)


def _address(printed: str | None, canonical: str | None, port: int | None) -> str:
    return host_port(canonical or printed, port)


def host_port(address: str | None, port: int | None) -> str:
    """`10.0.0.1:80`, `[2001:db8::1]:80`, the address alone without a port, `-` without one."""
    address = address or "-"
    if port is None:
        return address
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)
