"""The text boundary: rules as values become ``iptables-restore`` and ``ipset restore`` lines
here and nowhere else (dataplane.md §7, §9.1).

Every token is checked against the grammar of its place before it is written: names,
interfaces, addresses and numbers must be plain tokens, quoted strings (comments, LOG and
NFLOG prefixes) must hold only printable ASCII without quotes or backslashes. A value outside its
grammar raises ``EncodeError`` naming it, so a bug upstream can never put a line break,
a quote or an option of its own into what the kernel reads.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from functools import lru_cache
from typing import Any, Callable

from ..core import FAMILIES
from ..render import (Address, Builtin, ConnState, Icmp, Interface, Jump, Limit, Log, Mark, Match, MultiPort,
                      Nflog, NoTrack, Proto, ReversePathFailed, Rule, SetMark, SetMatch)

_CHAIN = re.compile(r"[A-Za-z0-9_.:*-]{1,28}")
_INTERFACE = re.compile(r"[A-Za-z0-9_.:-]{1,15}")
_SET = re.compile(r"[A-Za-z0-9_.:-]{1,31}")
_CIDR = re.compile(r"[0-9A-Fa-f:.]{2,39}(/[0-9]{1,3})?")
_TOKEN = re.compile(r"[A-Za-z0-9_.:/,-]{1,64}")  # protocol names, conntrack states, rates
_QUOTED = re.compile(r"[ !#-&(-\[\]-~]*")  # printable ASCII but quotes and backslash
_SET_TYPES = ("hash:net", "hash:ip,port")
_MEMBER = re.compile(r"[0-9A-Fa-f:.]{2,39}(/[0-9]{1,3}|,[a-z]{2,8}:[0-9]{1,5})?")
NFLOG_PREFIX_MAX = 63
LOG_PREFIX_MAX = 29
COMMENT_MAX = 256


class EncodeError(ValueError):
    """A value outside the grammar of the place it was to be written to."""

    def __init__(self, what: str, value: object) -> None:
        super().__init__(f"refusing to write {what} {value!r} to the kernel: not a valid {what}")
        self.what = what
        self.value = value


def _checked(pattern: re.Pattern[str], what: str, value: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise EncodeError(what, value)
    return value


def chain(name: str) -> str:
    return _checked(_CHAIN, "chain name", name)


def set_name(name: str) -> str:
    return _checked(_SET, "set name", name)


def _number(value: object, what: str, hi: int) -> str:
    if type(value) is not int or not 0 <= value <= hi:
        raise EncodeError(what, value)
    return str(value)


def _hex(value: int) -> str:
    if type(value) is not int or not 0 <= value <= 0xFFFFFFFF:
        raise EncodeError("mark", value)
    return f"{value:#x}"


def quoted(text: str, what: str, limit: int) -> str:
    if not isinstance(text, str) or len(text.encode()) > limit or not _QUOTED.fullmatch(text):
        raise EncodeError(what, text)
    return f'"{text}"'


def _not(negate: bool) -> str:
    return "! " if negate else ""


def _proto(m: Proto) -> str:
    return f"{_not(m.negate)}-p {_checked(_TOKEN, 'protocol', m.protocol.iptables)}"


def _address(m: Address) -> str:
    return f"{_not(m.negate)}{'-s' if m.end == 'src' else '-d'} {_checked(_CIDR, 'address', m.cidr)}"


def _interface(m: Interface) -> str:
    return f"{'-i' if m.incoming else '-o'} {_checked(_INTERFACE, 'interface name', m.name)}{'+' if m.prefix else ''}"


def _set_match(m: SetMatch) -> str:
    dims = f"{m.end},{m.end}" if m.with_port else str(m.end)
    return f"-m set {_not(m.negate)}--match-set {set_name(m.name)} {dims}"


def _ports(m: MultiPort) -> str:
    if not m.ports:
        raise EncodeError("port list", m.ports)
    text = ",".join(_number(p.lo, "port", 65535) if p.lo == p.hi else
                    f"{_number(p.lo, 'port', 65535)}:{_number(p.hi, 'port', 65535)}" for p in m.ports)
    flag = "--source-ports" if m.end == "src" else "--destination-ports"
    return f"-m multiport {_not(m.negate)}{flag} {text}"


def _icmp(m: Icmp) -> str:
    value = _number(m.type, "ICMP type", 255) + (f"/{_number(m.code, 'ICMP code', 255)}" if m.code is not None else "")
    if m.family == 4:
        return f"-m icmp {_not(m.negate)}--icmp-type {value}"
    return f"-m icmp6 {_not(m.negate)}--icmpv6-type {value}"


def _mark(m: Mark) -> str:
    return f"-m mark --mark {_hex(m.value)}/{_hex(m.mask)}"


def _conn_state(m: ConnState) -> str:
    return f"-m conntrack {_not(m.negate)}--ctstate {_checked(_TOKEN, 'conntrack state', ','.join(m.states))}"


def _limit(m: Limit) -> str:
    text = f"-m limit --limit {_checked(_TOKEN, 'rate', m.limit.rate)}"
    return text + (f" --limit-burst {_number(m.limit.burst, 'burst', 10000)}" if m.limit.burst else "")


def _reverse_path_failed(m: ReversePathFailed) -> str:
    return "-m rpfilter --invert --validmark"


def _builtin(a: Builtin) -> str:
    return f"-j {a.value}"


def _jump(a: Jump) -> str:
    return f"{'-g' if a.goto else '-j'} {chain(a.chain)}"


def _set_mark(a: SetMark) -> str:
    return f"-j MARK --set-mark {_hex(a.value)}/{_hex(a.mask)}"


def _log(a: Log) -> str:
    return f"-j LOG --log-prefix {quoted(a.prefix, 'LOG prefix', LOG_PREFIX_MAX)} --log-level 5"


def _nflog(a: Nflog) -> str:
    d = a.denial
    return (f"-j NFLOG --nflog-group {_number(d.group, 'NFLOG group', 65535)} "
            f"--nflog-prefix {quoted(d.nflog_prefix, 'NFLOG prefix', NFLOG_PREFIX_MAX)} --nflog-size 80")


def _no_track(a: NoTrack) -> str:
    return "-j CT --notrack"


_WRITERS: dict[type, Callable[[Any], str]] = {
    Proto: _proto, Address: _address, Interface: _interface, SetMatch: _set_match, MultiPort: _ports, Icmp: _icmp,
    Mark: _mark, ConnState: _conn_state, Limit: _limit, ReversePathFailed: _reverse_path_failed, Builtin: _builtin,
    Jump: _jump, SetMark: _set_mark, Log: _log, Nflog: _nflog, NoTrack: _no_track,
}


@lru_cache(maxsize=1 << 16)
def _write(part: object) -> str:
    """One match part or action as text; parts repeat across chains, so each is made once."""
    writer = _WRITERS.get(type(part))
    if writer is None:
        raise EncodeError("rule part", part)
    return writer(part)


def match_text(match: tuple[Match, ...]) -> str:
    """Match parts as they are written, in order."""
    return " ".join(_write(m) for m in match)


@lru_cache(maxsize=1 << 17)
def rule_text(rule: Rule) -> str:
    """A rule's specification as iptables-save prints it after ``-A CHAIN``."""
    words = [f"-m comment --comment {quoted(rule.comment, 'comment', COMMENT_MAX)}"] if rule.comment else []
    words += [_write(m) for m in rule.match]
    words.append(_write(rule.action))
    return " ".join(words)


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def rule_ids(chain: str, rules: list[str]) -> list[str]:
    """§9.1: each id hashes the chain name and every rule up to and including its own; the
    id is the URL-safe base64 of the digest's first 12 bytes (16 characters)."""
    digest = hashlib.sha224(chain.encode()).digest()
    sha224, encode = hashlib.sha224, binascii.b2a_base64
    ids = []
    for text in rules:
        digest = sha224(digest + text.encode()).digest()
        ids.append(encode(digest[:12], newline=False).translate(_URLSAFE).decode())
    return ids


def create_set(name: str, kind: str, family: int, maxelem: int) -> str:
    """``create NAME TYPE family inet|inet6 maxelem N``."""
    if kind not in _SET_TYPES or family not in FAMILIES:
        raise EncodeError("set type", f"{kind} for IPv{family}")
    return (f"create {set_name(name)} {kind} family {'inet6' if family == 6 else 'inet'} "
            f"maxelem {_number(maxelem, 'maxelem', 2**32)}")


def set_member(verb: str, name: str, member: str) -> str:
    """``add NAME MEMBER -exist`` or ``del NAME MEMBER -exist``."""
    if verb not in ("add", "del"):
        raise EncodeError("ipset command", verb)
    return f"{verb} {set_name(name)} {_checked(_MEMBER, 'set member', member)} -exist"


def rp_filter_setting(interface: str, value: str) -> str:
    """``net/ipv4/conf/IFACE/rp_filter=V`` for ``sysctl -w`` (slashes: an interface name may hold dots)."""
    if value not in ("0", "1", "2"):
        raise EncodeError("rp_filter value", value)
    return f"net/ipv4/conf/{_checked(_INTERFACE, 'interface name', interface)}/rp_filter={value}"
