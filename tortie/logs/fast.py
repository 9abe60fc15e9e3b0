"""The hot path: the common kernel bodies in one regular-expression match. It takes IPv4 or
IPv6 with TCP, UDP or ICMP (an error's packet too, if it is whole), in the kernel's order with
single spaces, and for the common headers the whole line (header, prefix and body) in that
one match. Whatever it does not take, header.py and body.py parse, to the same record (a
property test holds them to it). Fewer, bigger matches and no per-token Python make it fast."""

from __future__ import annotations

import re
from typing import Any, Literal

from .body import complete
from .header import DMESG, DMESG_GROUPS, KMSG, KMSG_GROUPS, RFC3164, RFC3339, SYSLOG_GROUPS, Header, header_fields
from .prefix import WORD, prefix_fields
from .record import HeaderShape, LogRecord, Packet, build, build_lazy

def _upto(limit: int) -> str:
    """A group matching the decimals 0..``limit`` as the kernel prints them (no leading zero):
    a field's width, so that the fast path never takes a value body.py refuses."""
    digits = str(limit)
    if len(digits) == 1:
        return f"([0-{digits}])"
    same = [digits[:i] + f"[{'1' if i == 0 else '0'}-{int(d) - 1}]" + "[0-9]" * (len(digits) - i - 1)
            for i, d in enumerate(digits) if int(d) > (1 if i == 0 else 0)]
    return "(" + "|".join([*same, digits, f"[1-9][0-9]{{0,{len(digits) - 2}}}", "0"]) + ")"  # longest first


_N = "([0-9]{1,20})"  # body.decimal's numbers
_U8, _U16, _U20, _U32 = (_upto((1 << bits) - 1) for bits in (8, 16, 20, 32))
# The IP and protocol sections, up to an ICMP error's packet (_fill_packet's groups).
_PACKET = (
    rf"SRC=([^ ]+) DST=([^ ]+) LEN={_N}(?:"
    rf" TOS=(?:0x)?([0-9A-F]{{2}}) PREC=(?:0x)?([0-9A-F]{{2}}) TTL={_U8} ID={_U16}((?: CE)?(?: DF)?(?: MF)?)"
    rf"| TC={_U8} HOPLIMIT={_U8} FLOWLBL={_U20}) PROTO=(?:"
    rf"TCP SPT={_U16} DPT={_U16}(?: SEQ={_U32} ACK={_U32})? WINDOW={_U16} RES=0x([0-9a-f]{{2}})"
    rf"((?: CWR)?(?: ECE)?(?: URG)?(?: ACK)?(?: PSH)?(?: RST)?(?: SYN)?(?: FIN)?) URGP={_U16}"
    r"(?: OPT \(([0-9A-F]*)\))?"
    rf"|(UDP|UDPLITE) SPT={_U16} DPT={_U16} LEN={_U16}"
    rf"|(ICMP|ICMPv6) TYPE={_U8} CODE={_U8}(?: ID={_U16} SEQ={_U16})?")
# IN and OUT as body_start reads them (\S), so that a match here starts the body there too.
# Groups: link 5, _PACKET's, ICMP error 5 (its packet as text, for _INNER), trailer 3.
BODY = (
    r"IN=(\S*) OUT=(\S*)(?: PHYSIN=([^ ]*))?(?: PHYSOUT=([^ ]*))?(?: MAC=([^ ]*))? " + _PACKET
    + rf"|(ICMP|ICMPv6) TYPE={_N} CODE={_N} \[([^][]*) \](?: MTU={_N})?"
    rf")(?: UID={_N} GID={_N})?(?: MARK=0x([0-9a-f]{{1,16}}))? ?\Z")
_BODY = re.compile(BODY)
_INNER = re.compile(_PACKET + r")\Z")
_P = 5 + _INNER.groups  # where the ICMP error's groups start


def _line(header: str) -> re.Pattern[str]:
    # The header is atomic: matched as header.py matches it alone, never given back to the
    # prefix. The prefix runs to the first IN= and no further (possessive: a body that does not
    # match there fails at once).
    return re.compile(rf"(?>{header})([^I]*+(?:I(?!N=)[^I]*+)*+){BODY}")


# The header, how many groups its pattern has, and the whole line's pattern.
_Shape = tuple[HeaderShape, int, re.Pattern[str]]
_SYSLOG: _Shape = (HeaderShape.RFC3164, len(SYSLOG_GROUPS), _line(RFC3164))
_RFC3339: _Shape = (HeaderShape.RFC3339, len(SYSLOG_GROUPS), _line(RFC3339))
_KMSG: _Shape = (HeaderShape.KMSG, len(KMSG_GROUPS), _line(KMSG))
_DMESG: _Shape = (HeaderShape.DMESG, len(DMESG_GROUPS), _line(DMESG))
_BARE: _Shape = (HeaderShape.NONE, 0, _line(""))
_Inner = tuple[Any, ...] | None  # _INNER's groups of an ICMP error's packet, or None: the line has none


def parse_fast_line(line: str) -> LogRecord | None:
    """The record of `line` if it has a common header (syslog, dmesg, /dev/kmsg, or none)
    and a common body; None if it has not (which says nothing about whether it is a LOG
    line). Its fields are converted when the first one is read."""
    first = line[:1]
    if "A" <= first <= "Z":
        shape = _SYSLOG
    elif "0" <= first <= "9":
        shape = _RFC3339 if line[4:5] == "-" else _KMSG
    elif first == "[" or first == "<":
        shape = _DMESG
    elif first == "{":  # journald JSON: header.py reads it
        return None
    else:
        shape = _BARE
    m = shape[2].match(line)
    if m is None:
        return None
    k = shape[1] + 1
    # The body starts at the first IN= if the character before it is not a word character.
    if m.group(k)[-1:] in WORD:
        return None
    inner = _inner(m, k)
    return None if inner is False else build_lazy(LogRecord, _fill_line, (shape, m, inner))


def match_body(message: str, start: int) -> tuple[re.Match[str], _Inner] | None:
    """The match of the body of `message` at `start` and its ICMP error's packet, if it is
    one of the common shapes; None if it is not. fill_message converts them."""
    m = _BODY.match(message, start)
    if m is None:
        return None
    inner = _inner(m, 0)
    return None if inner is False else (m, inner)


def parse_fast_body(message: str, start: int, d: dict[str, Any]) -> bool:
    """Parse the body of `message` at `start` into `d` as body.parse_body would, if it is one
    of the common shapes; returns False (and leaves `d` alone) if it is not."""
    body = match_body(message, start)
    if body is not None:
        _fill(body[0].groups(), 0, body[1], d)
    return body is not None


def fill_message(args: tuple[Header, str, re.Match[str], _Inner], d: dict[str, Any]) -> None:
    """A line's header (split_header's), raw prefix and match_body's result -> its fields in `d`."""
    header, raw, m, inner = args
    header_fields(header, d)
    prefix_fields(raw, d)
    _fill(m.groups(), 0, inner, d)


def _inner(m: re.Match[str], at: int) -> _Inner | Literal[False]:
    """The groups of the ICMP error's packet in a BODY match whose groups start after group
    `at`: None if there is none, False if there is one _INNER does not take."""
    text = m.group(at + _P + 4)
    if text is None:
        return None
    inner = _INNER.match(text)
    return False if inner is None else inner.groups()


def _fill_line(args: tuple[_Shape, re.Match[str], _Inner], d: dict[str, Any]) -> None:
    """A whole line's match (its shape, the match, _INNER's groups) -> the record's fields in `d`."""
    (shape, k, _), m, inner = args
    groups = m.groups()
    header_fields((shape, groups[:k]), d)
    prefix_fields(groups[k], d)
    _fill(groups, k + 1, inner, d)


def _fill(groups: tuple[Any, ...], at: int, inner: _Inner, d: dict[str, Any]) -> None:
    """BODY's groups (from `at`) and _INNER's groups of an ICMP error's packet -> fields in `d`."""
    icmp, icmp_type, icmp_code, _, mtu, uid, gid, mark = groups[at + _P:]
    d["in_"], d["out"], physin, physout, mac = groups[at:at + 5]
    if physin is not None:
        d["physin"] = physin
    if physout is not None:
        d["physout"] = physout
    if mac is not None:
        d["mac"] = mac
    _fill_packet(groups[at + 5:at + _P], d)
    if icmp is not None:
        d["proto"] = icmp
        d["icmp_type"] = int(icmp_type)
        d["icmp_code"] = int(icmp_code)
        fields: dict[str, Any] = {}
        if inner is not None:
            _fill_packet(inner, fields)
        d["inner"] = build(Packet, fields)
        if mtu is not None:
            d["mtu"] = int(mtu)
    if uid is not None:
        d["uid"] = int(uid)
        d["gid"] = int(gid)
    if mark is not None:
        d["mark"] = int(mark, 16)
    elif uid is None and d["proto"][:4] == "ICMP" and not complete(d):  # an ICMP message cut short
        d["partial"] = True


def _fill_packet(groups: tuple[Any, ...], d: dict[str, Any]) -> None:
    """_PACKET's groups -> fields in `d`."""
    (src, dst, length, tos, prec, ttl, ip_id, ip_flags, tc, hoplimit, flowlbl, tcp_spt, tcp_dpt, seq, ack, window,
     res, tcp_flags, urgp, tcp_opt, udp, udp_spt, udp_dpt, udp_len, icmp, icmp_type, icmp_code, icmp_id,
     icmp_seq) = groups
    d["family"] = 4 if tos is not None else 6
    d["src"] = src
    d["dst"] = dst
    d["len"] = int(length)
    if tos is not None:
        # TOS, PREC and RES are nearly always 00: comparing is cheaper than converting.
        d["tos"] = 0 if tos == "00" else int(tos, 16)
        d["prec"] = 0 if prec == "00" else int(prec, 16)
        d["ttl"] = int(ttl)
        d["ip_id"] = int(ip_id)
        if ip_flags:
            d["ip_flags"] = tuple(ip_flags.split())
    else:
        d["tc"] = int(tc)
        d["hoplimit"] = int(hoplimit)
        d["flowlbl"] = int(flowlbl)
    if tcp_spt is not None:
        d["proto"] = "TCP"
        d["spt"] = int(tcp_spt)
        d["dpt"] = int(tcp_dpt)
        if seq is not None:
            d["tcp_seq"] = int(seq)
            d["tcp_ack"] = int(ack)
        d["window"] = int(window)
        d["res"] = 0 if res == "00" else int(res, 16)
        if tcp_flags:
            d["tcp_flags"] = tuple(tcp_flags.split())
        d["urgp"] = 0 if urgp == "0" else int(urgp)
        if tcp_opt is not None:
            d["tcp_opt"] = tcp_opt
    elif udp is not None:
        d["proto"] = udp
        d["spt"] = int(udp_spt)
        d["dpt"] = int(udp_dpt)
        d["udp_len"] = int(udp_len)
    elif icmp is not None:
        d["proto"] = icmp
        d["icmp_type"] = int(icmp_type)
        d["icmp_code"] = int(icmp_code)
        if icmp_id is not None:
            d["icmp_id"] = int(icmp_id)
            d["icmp_seq"] = int(icmp_seq)
