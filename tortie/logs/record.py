"""The typed record of one kernel LOG line (kernel-log.md §4, "Record fields").

A record holds exactly what its line printed. The parser stores only the fields a line
prints (a field it does not print reads as its default: None, an empty tuple or False),
and for the common lines it converts them only when one is first read: parsing is one
regular-expression match, and a reader that never looks at a record's fields (a count, a
filter on the raw prefix) pays nothing more. Records built by hand with keyword arguments
compare equal to parsed ones.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

T = TypeVar("T")
Fill = Callable[[Any, dict[str, Any]], None]
_LAZY = "_lazy"  # the instance-dict key of a record whose fields are not converted yet: (fill, args)


class HeaderShape(StrEnum):
    """Which header (kernel-log.md §1) the line had; it says how to read `time`."""

    KMSG = "kmsg"          # /dev/kmsg record: priority, seq, uptime; no time or host
    JSON = "json"          # journald -o json: time (UTC, RFC 3339), host, priority, uptime
    RFC3164 = "rfc3164"    # syslog / journalctl short: time as printed, without year or zone
    RFC3339 = "rfc3339"    # syslog high precision / journalctl short-iso: full time as printed
    DMESG = "dmesg"        # dmesg [-r]: uptime, priority
    DMESG_T = "dmesg-t"    # dmesg -T: local time as printed, with year, without zone
    NONE = "none"          # a bare message (journald MESSAGE, journalctl -o cat, pasted)


class PrefixKind(StrEnum):
    """tortie's classification of the normalised prefix (kernel-log.md §2)."""

    OVERRIDE = "override"                # calico-drop: the action is not stated
    OVERRIDE_DROP = "override-drop"      # calico-drop LOGandDROP
    OVERRIDE_ACCEPT = "override-accept"  # calico-drop LOGandACCEPT
    OTHER = "other"                      # anything else: a Log-action rule, another firewall


@dataclass(frozen=True)
class Packet:
    """The IP and protocol sections of a LOG line: the logged packet, or (as `inner`) the
    packet embedded in an ICMP error. Numbers are integers (TOS, PREC, RES, POINTER and SPI
    read as hexadecimal); addresses and names are kept as printed."""

    family: int | None = None            # 4 or 6
    src: str | None = None
    dst: str | None = None
    len: int | None = None               # the IP length (IPv6: with the 40-byte header)
    tos: int | None = None
    prec: int | None = None
    ttl: int | None = None
    ip_id: int | None = None
    ip_flags: tuple[str, ...] = ()       # CE, DF, MF as printed
    frag: int | None = None              # IPv4 fragment offset, in 8-byte units
    ip_opt: str | None = None            # IPv4 options, hex
    tc: int | None = None
    hoplimit: int | None = None
    flowlbl: int | None = None
    ext: tuple[str, ...] = ()            # IPv6 extension-header tokens, raw
    proto: str | None = None             # as printed: TCP, UDP, UDPLITE, ICMP, ICMPv6, AH, ESP or a number
    spt: int | None = None
    dpt: int | None = None
    tcp_seq: int | None = None
    tcp_ack: int | None = None
    window: int | None = None
    res: int | None = None
    tcp_flags: tuple[str, ...] = ()      # CWR ECE URG ACK PSH RST SYN FIN as printed
    urgp: int | None = None
    tcp_opt: str | None = None           # TCP options, hex
    udp_len: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    icmp_id: int | None = None
    icmp_seq: int | None = None
    parameter: int | None = None
    gateway: str | None = None
    pointer: int | None = None
    mtu: int | None = None
    spi: int | None = None
    incomplete: int | None = None        # INCOMPLETE [n bytes]: the bytes there were
    truncated: bool = False              # TRUNCATED: the IP header could not be read
    inner: Packet | None = None          # the packet inside an ICMP error
    extra: tuple[str, ...] = ()          # unknown tokens of these sections, in order, raw

    @property
    def src_canonical(self) -> str | None:
        """`src` as ipaddress prints it (IPv6 compressed, lower case); None if it is not an address."""
        return canonical_address(self.src)

    @property
    def dst_canonical(self) -> str | None:
        """`dst` as ipaddress prints it; None if it is not an address."""
        return canonical_address(self.dst)

    if not TYPE_CHECKING:  # hidden from mypy, which would otherwise let any attribute name through
        def __getattr__(self, name: str) -> Any:
            # Only called for a name the instance dict lacks: a field not converted yet, or
            # one the line did not print (the class keeps no defaults; see _no_class_defaults).
            values = self.__dict__
            pending = values.pop(_LAZY, None)
            if pending is not None:
                pending[0](pending[1], values)
                if name in values:
                    return values[name]
            try:
                return _DEFAULTS[name]
            except KeyError:
                raise AttributeError(name) from None

    def printed(self) -> dict[str, Any]:
        """The fields the line printed (field name -> value), in the order it printed them."""
        values = self.__dict__
        pending = values.pop(_LAZY, None)
        if pending is not None:
            pending[0](pending[1], values)
        return values

    def to_json(self) -> dict[str, Any]:
        """The fields that were printed, under their JSON names (`JSON_NAMES`), in the order
        the line printed them, then `srcCanonical` and `dstCanonical` where `src` and `dst`
        are addresses; enums as their values, tuples as lists, `inner` as an object."""
        names = JSON_NAMES
        out = {names[k]: v for k, v in self.printed().items() if v is not None and v is not False and v != ()}
        for key in _TUPLES:
            if key in out:
                out[key] = list(out[key])
        if "inner" in out:
            out["inner"] = out["inner"].to_json()
        for key in ("src", "dst"):
            canonical = canonical_address(out.get(key))
            if canonical is not None:
                out[key + "Canonical"] = canonical
        return out


@dataclass(frozen=True)
class LogRecord(Packet):
    """One kernel LOG line: header, prefix, link section, the packet, trailer."""

    header: HeaderShape = HeaderShape.NONE
    time: str | None = None              # as printed (RFC 3339 UTC for journald JSON)
    host: str | None = None
    uptime: float | None = None          # seconds since boot
    caller: str | None = None            # printk caller id: C3, T812
    priority: int | None = None          # syslog priority as printed (facility * 8 + level)
    seq: int | None = None               # /dev/kmsg sequence number
    prefix_raw: str = ""
    prefix: str = ""
    kind: PrefixKind = PrefixKind.OTHER
    in_: str = ""
    out: str = ""
    physin: str | None = None
    physout: str | None = None
    mac: str | None = None
    macsrc: str | None = None
    macdst: str | None = None
    macproto: str | None = None
    uid: int | None = None
    gid: int | None = None
    mark: int | None = None
    partial: bool = False                # the line was cut inside a section
    trace: bool = False                  # a TRACE: line


def _camel(name: str) -> str:
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(word.title() for word in rest)


def _no_class_defaults(*classes: type) -> dict[str, Any]:
    """Move the dataclasses' field defaults off the classes (their __init__ keeps its own
    copies), so that reading a field a record lacks reaches Packet.__getattr__; returns them."""
    defaults: dict[str, Any] = {}
    for cls in classes:
        for f in fields(cls):
            if f.name in vars(cls):
                defaults[f.name] = vars(cls)[f.name]
                delattr(cls, f.name)
    return defaults


_DEFAULTS = _no_class_defaults(Packet, LogRecord)
JSON_NAMES = {f.name: _camel(f.name) for f in fields(LogRecord)}
_TUPLES = [JSON_NAMES[f.name] for f in fields(LogRecord) if f.default == ()]


def build(cls: type[T], values: dict[str, Any]) -> T:
    """A record of `cls` holding `values` (field name -> value) and defaults for the rest,
    without running __init__: the parser's fast way to make one."""
    record = object.__new__(cls)
    object.__setattr__(record, "__dict__", values)
    return record


def build_lazy(cls: type[T], fill: Fill, args: Any) -> T:
    """A record of `cls` whose fields `fill(args, values)` puts into its (empty) dict when
    the first field the dict lacks is read: the parser's way to defer converting them."""
    return build(cls, {_LAZY: (fill, args)})


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")  # IPv4 as the kernel prints it, already canonical


def canonical_address(text: str | None) -> str | None:
    """An address as printed -> its canonical form, or None if it is not an address."""
    if text is None:
        return None
    if _DOTTED.fullmatch(text):
        return text
    return _parsed_address(text) if len(text) <= 64 else None  # longer is no address; keeps the cache small


@lru_cache(maxsize=4096)
def _parsed_address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
