"""The body of a LOG line, token by token (kernel-log.md §3 and §4): the reference parser,
for every body; fast.py takes the common kernel bodies a quicker way to the same result."""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import IntEnum
from typing import Any

from .record import Packet, build

_HEX = re.compile(r"(?:0[xX])?([0-9A-Fa-f]{1,16})")


def decimal(value: str) -> int | None:
    """An unsigned decimal as the kernel prints it, or None."""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 20 else None


def hexadecimal(value: str) -> int | None:
    """Hexadecimal with or without `0x` (some relays drop it), or None."""
    m = _HEX.fullmatch(value)
    return int(m[1], 16) if m else None


def bounded(bits: int) -> Callable[[str], int | None]:
    """A decimal field of a header field ``bits`` wide: a larger number is a value that does
    not read (the kernel cannot print it), as a non-number is."""
    limit = (1 << bits) - 1

    def convert(value: str) -> int | None:
        number = decimal(value)
        return number if number is not None and number <= limit else None
    return convert


def hex_byte(value: str) -> int | None:
    """An 8-bit field printed in hexadecimal (TOS, PREC, RES), or None."""
    number = hexadecimal(value)
    return number if number is not None and number <= 0xFF else None


def text(value: str) -> str:
    return value


Field = tuple[str, Callable[[str], Any]]


class Section(IntEnum):
    """The sections of a body, in the order the kernel prints them."""

    LINK = 0
    IP = 1
    PROTO = 2
    TRAILER = 3


_LINK: dict[str, Field] = {key: (key.lower(), text) for key in
                           ("OUT", "PHYSIN", "PHYSOUT", "MAC", "MACSRC", "MACDST", "MACPROTO")}
_LINK["IN"] = ("in_", text)
_IP: dict[str, Field] = {
    "SRC": ("src", text), "DST": ("dst", text), "LEN": ("len", decimal), "TOS": ("tos", hex_byte),
    "PREC": ("prec", hex_byte), "TTL": ("ttl", bounded(8)), "ID": ("ip_id", bounded(16)), "TC": ("tc", bounded(8)),
    "HOPLIMIT": ("hoplimit", bounded(8)), "FLOWLBL": ("flowlbl", bounded(20)),
}
_PORTS: dict[str, Field] = {"SPT": ("spt", bounded(16)), "DPT": ("dpt", bounded(16))}  # accepted after any PROTO
_ICMP: dict[str, Field] = {
    **_PORTS, "TYPE": ("icmp_type", bounded(8)), "CODE": ("icmp_code", bounded(8)), "ID": ("icmp_id", bounded(16)),
    "SEQ": ("icmp_seq", bounded(16)), "MTU": ("mtu", decimal),
}
_UDP: dict[str, Field] = {**_PORTS, "LEN": ("udp_len", bounded(16))}
_SPI: dict[str, Field] = {**_PORTS, "SPI": ("spi", hexadecimal)}
_PROTO: dict[str, dict[str, Field]] = {
    "TCP": {**_PORTS, "SEQ": ("tcp_seq", bounded(32)), "ACK": ("tcp_ack", bounded(32)),
            "WINDOW": ("window", bounded(16)), "RES": ("res", hex_byte), "URGP": ("urgp", bounded(16))},
    "UDP": _UDP, "UDPLITE": _UDP,
    "ICMP": {**_ICMP, "PARAMETER": ("parameter", decimal), "GATEWAY": ("gateway", text)},
    "ICMPv6": {**_ICMP, "POINTER": ("pointer", hexadecimal)},
    "AH": _SPI, "ESP": _SPI,
}
_TRAILER: dict[str, Field] = {"UID": ("uid", decimal), "GID": ("gid", decimal), "MARK": ("mark", hexadecimal)}
TCP_FLAGS = ("CWR", "ECE", "URG", "ACK", "PSH", "RST", "SYN", "FIN")
IP_FLAGS = ("CE", "DF", "MF")
_V6_KEYS = ("tc", "hoplimit", "flowlbl")
_V4_KEYS = ("tos", "prec", "ttl", "ip_id")
# The ICMP types whose log carries the offending packet in [ ], and what else each prints.
_ICMP_NEEDS = {0: ("icmp_id", "icmp_seq"), 8: ("icmp_id", "icmp_seq"), 3: ("inner",), 4: ("inner",),
               5: ("gateway", "inner"), 11: ("inner",), 12: ("parameter",)}
_ICMPV6_NEEDS = {128: ("icmp_id", "icmp_seq"), 129: ("icmp_id", "icmp_seq"), 1: ("inner",),
                 2: ("inner", "mtu"), 3: ("inner",), 4: ("pointer", "inner")}
_PROTO_NEEDS = {"TCP": ("spt", "dpt", "window", "res", "urgp"), "UDP": ("spt", "dpt", "udp_len"),
                "UDPLITE": ("spt", "dpt", "udp_len"), "AH": ("spi",), "ESP": ("spi",)}


def parse_body(message: str, start: int, d: dict[str, Any]) -> None:
    """Parse the body of `message` that starts at `start` into `d` (field name -> value):
    the link section, the packet, the trailer, `extra`, and `partial` when the line was cut
    inside a section."""
    cut = _parse([t for t in message[start:].split(" ") if t], d, 0)
    if cut or not complete(d):
        d["partial"] = True


def _parse(tokens: list[str], d: dict[str, Any], depth: int) -> bool:
    """Fill `d` from `tokens` (the outer body at depth 0, an embedded packet at depth 1).
    Returns whether the tokens end cut: inside brackets or parentheses, or in a value."""
    LINK, IP, PROTO, TRAILER = Section  # local names: this loop is hot
    section = LINK if depth == 0 else IP
    extra: list[str] = []
    pending: list[tuple[str, bool]] = []  # IP-section tokens other than fields, until the family is known
    proto_keys = _PORTS
    tcp_flags: list[str] = []
    unclosed = False
    bad_value = False  # the last token was a known key with a value that does not read
    i, n = 0, len(tokens)
    while i < n:
        token = tokens[i]
        i += 1
        bad_value = False
        key, eq, value = token.partition("=")
        if eq and token[0] != "[":  # KEY=value: the field its section gives the key
            if section == PROTO:
                field = proto_keys.get(key)
                if field is None and depth == 0 and key in _TRAILER:
                    section, field = TRAILER, _TRAILER[key]
            elif section == TRAILER:
                field = _TRAILER.get(key)
            elif key == "PROTO" and value:
                _close_ip(d, pending, extra)
                section = PROTO
                d["proto"] = value
                proto_keys = _PROTO.get(value, _PORTS)
                continue
            else:
                field = _IP.get(key)
                if field is not None:
                    section = IP
                elif section == LINK:
                    field = _LINK.get(key)
                if field is None and depth == 0 and key in _TRAILER:
                    _close_ip(d, pending, extra)
                    section, field = TRAILER, _TRAILER[key]
            if field is None:
                bad_value = key == "PROTO"  # PROTO= with nothing after it
                (pending.append((token, True)) if section == IP else extra.append(token))
                continue
            name, convert = field
            converted = convert(value)
            if converted is None or name in d:
                bad_value = converted is None
                (pending.append((token, True)) if section == IP else extra.append(token))
            else:
                d[name] = converted
            continue
        if token == "OPT" and i < n and tokens[i].startswith("("):  # OPT (HEX), or IPv6's OPT ( ... )
            j = i
            while j < n - 1 and not tokens[j].endswith(")"):
                j += 1
            unclosed |= not tokens[j].endswith(")")
            token, i = " ".join(tokens[i - 1:j + 1]), j + 1
            if section == PROTO and d.get("proto") == "TCP" and "tcp_opt" not in d and not unclosed:
                d["tcp_opt"] = token[5:-1]
            elif section == IP:
                pending.append((token, False))
            else:
                extra.append(token)
        elif token == "INCOMPLETE" and i + 1 < n and tokens[i].startswith("[") and tokens[i + 1] == "bytes]":
            count = decimal(tokens[i][1:])
            token, i = " ".join(tokens[i - 1:i + 2]), i + 2
            if section == PROTO and count is not None and "incomplete" not in d:
                d["incomplete"] = count
            elif section == IP:
                pending.append((token, False))
            else:
                extra.append(token)
        elif token[0] == "[" and section == PROTO:  # an embedded packet: brackets match by depth
            level, j = token.count("[") - token.count("]"), i - 1
            while level > 0 and i < n:
                level += tokens[i].count("[") - tokens[i].count("]")
                i += 1
            unclosed |= level > 0
            group = tokens[j:i]
            if depth == 0 and d.get("proto") in ("ICMP", "ICMPv6") and "inner" not in d:
                group[0] = group[0][1:]
                if level <= 0:
                    group[-1] = group[-1][:-1]
                inner: dict[str, Any] = {}
                unclosed |= _parse([t for t in group if t], inner, 1)
                d["inner"] = build(Packet, inner)
            else:
                extra.append(" ".join(group))
        elif token == "TRUNCATED":
            d["truncated"] = True
        elif section == IP:
            pending.append((token, bool(eq)))
        elif section == PROTO and token in TCP_FLAGS and d.get("proto") == "TCP" and token not in tcp_flags:
            tcp_flags.append(token)
        else:
            extra.append(token)
    if section <= IP:
        _close_ip(d, pending, extra)
    if tcp_flags:
        d["tcp_flags"] = tuple(sorted(tcp_flags, key=TCP_FLAGS.index))
    if extra:
        d["extra"] = tuple(extra)
    return unclosed or bad_value


def _close_ip(d: dict[str, Any], pending: list[tuple[str, bool]], extra: list[str]) -> None:
    """The IP section is over: decide the family, then place its other tokens (flags,
    fragment offset and options for IPv4; extension-header tokens for IPv6)."""
    family = family_of(d)
    if family is not None:
        d["family"] = family
    flags: list[str] = []
    ext: list[str] = []
    for token, keyed in pending:
        if keyed:
            extra.append(token)
        elif family == 6:
            ext.append(token)
        elif token in IP_FLAGS and token not in flags:
            flags.append(token)
        elif token.startswith("FRAG:") and decimal(token[5:]) is not None and "frag" not in d:
            d["frag"] = decimal(token[5:])
        elif token.startswith("OPT (") and token.endswith(")") and "ip_opt" not in d:
            d["ip_opt"] = token[5:-1]
        else:
            extra.append(token)
    pending.clear()
    if flags:
        d["ip_flags"] = tuple(sorted(flags, key=IP_FLAGS.index))
    if ext:
        d["ext"] = tuple(ext)


def family_of(d: dict[str, Any]) -> int | None:
    """4 or 6 by the IP fields printed (TC, HOPLIMIT, FLOWLBL are IPv6's), else by the form of
    the addresses (a redacted line may print only those), else None."""
    if any(k in d for k in _V6_KEYS):
        return 6
    if any(k in d for k in _V4_KEYS):
        return 4
    for key in ("src", "dst"):
        address = d.get(key, "")
        if ":" in address:
            return 6
        if "." in address:
            return 4
    return None


def complete(d: dict[str, Any]) -> bool:
    """Whether the last section of the body has every field the kernel prints in it."""
    if "uid" in d or "gid" in d:
        return "uid" in d and "gid" in d
    if "mark" in d or d.get("truncated") or "incomplete" in d:
        return True
    if "proto" not in d:
        ext = d.get("ext", ())
        # An IPv6 log may end in its extension headers (an unknown one, or a later header of a
        # fragment); an ARP log has no IP section at all.
        return "Hdr" in ext[-2:] or _v6_fragment(ext) or ("src" not in d and d.get("extra", ("",))[0] == "ARP")
    return protocol_complete(d)


def protocol_complete(d: dict[str, Any]) -> bool:
    """Whether the protocol section in `d` has every field the kernel prints for its protocol."""
    if "frag" in d or _v6_fragment(d.get("ext", ())):
        return True  # a non-first fragment has no protocol header
    proto = d["proto"]
    if proto not in _PROTO and any(name.startswith(proto) for name in _PROTO):
        return False  # the name was cut: PROTO=TC
    if proto == "ICMP" or proto == "ICMPv6":
        needs: tuple[str, ...] = ("icmp_type", "icmp_code")
        kind = d.get("icmp_type", -1)
        needs += (_ICMP_NEEDS if proto == "ICMP" else _ICMPV6_NEEDS).get(kind, ())
        if proto == "ICMP" and kind == 3 and d.get("icmp_code") == 4:
            needs += ("mtu",)
    else:
        needs = _PROTO_NEEDS.get(proto, ())
        if "tcp_seq" in d:
            needs += ("tcp_ack",)
    return all(k in d for k in needs)


def _v6_fragment(ext: tuple[str, ...]) -> bool:
    """An IPv6 fragment header with a non-zero offset (FRAG:<n>) among the extension tokens."""
    return any(t.startswith("FRAG:") and t[5:] not in ("", "0") for t in ext)
