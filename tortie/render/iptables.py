"""iptables rules as values: typed match parts, actions, rules, chains and tables.

Nothing here is text. ``tortie.dataplane`` turns these values into ``iptables-restore``
input at the last moment and checks every token against its grammar, so a chain knows
its targets, sets and NFLOG denials without anyone reading rendered text back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from ..calc import PortRange
from ..config import RateLimit
from ..core import Protocol
from ..plan import Denial


class End(StrEnum):
    SRC = "src"
    DST = "dst"


# --- match parts ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Proto:
    """``-p tcp`` or ``! -p tcp``."""

    protocol: Protocol
    negate: bool = False


@dataclass(frozen=True, slots=True)
class Address:
    """``-s CIDR`` / ``-d CIDR``, or negated."""

    end: End
    cidr: str
    negate: bool = False


@dataclass(frozen=True, slots=True)
class Interface:
    """``-i NAME`` / ``-o NAME`` (incoming or outgoing); ``NAME+`` matches every name with the prefix."""

    incoming: bool
    name: str
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class SetMatch:
    """``-m set --match-set NAME src`` (``src,src`` for ip,port sets), or negated."""

    name: str
    end: End
    with_port: bool = False
    negate: bool = False


@dataclass(frozen=True, slots=True)
class MultiPort:
    """``-m multiport --source-ports 1,2:3`` (at most 15 slots), or negated."""

    end: End
    ports: tuple[PortRange, ...]
    negate: bool = False


@dataclass(frozen=True, slots=True)
class Icmp:
    """``-m icmp --icmp-type T[/C]`` (IPv4) or ``-m icmp6 --icmpv6-type T[/C]``, or negated."""

    family: int
    type: int | None
    code: int | None
    negate: bool = False


@dataclass(frozen=True, slots=True)
class Mark:
    """``-m mark --mark VALUE/MASK``."""

    value: int
    mask: int


@dataclass(frozen=True, slots=True)
class ConnState:
    """``-m conntrack --ctstate A,B``, or negated."""

    states: tuple[str, ...]
    negate: bool = False


@dataclass(frozen=True, slots=True)
class Limit:
    """``-m limit --limit RATE [--limit-burst N]``."""

    limit: RateLimit


@dataclass(frozen=True, slots=True)
class ReversePathFailed:
    """``-m rpfilter --invert --validmark``: the route back to the source does not leave by
    the interface the packet came in on (strict reverse-path filtering, Felix's RPFCheckFailed)."""


Match = Proto | Address | Interface | SetMatch | MultiPort | Icmp | Mark | ConnState | Limit | ReversePathFailed


# --- actions -------------------------------------------------------------------------------

class Builtin(StrEnum):
    ACCEPT = "ACCEPT"
    DROP = "DROP"
    RETURN = "RETURN"


@dataclass(frozen=True, slots=True)
class Jump:
    """``-j CHAIN``, or ``-g CHAIN`` with ``goto``."""

    chain: str
    goto: bool = False


@dataclass(frozen=True, slots=True)
class SetMark:
    """``-j MARK --set-mark VALUE/MASK``."""

    value: int
    mask: int


@dataclass(frozen=True, slots=True)
class Log:
    """``-j LOG --log-prefix "PREFIX" --log-level 5``."""

    prefix: str


@dataclass(frozen=True, slots=True)
class Nflog:
    """``-j NFLOG --nflog-group G --nflog-prefix "P" --nflog-size 80``: the denial it reports."""

    denial: Denial


@dataclass(frozen=True, slots=True)
class NoTrack:
    """``-j CT --notrack``."""


Action = Builtin | Jump | SetMark | Log | Nflog | NoTrack


@dataclass(frozen=True, slots=True)
class Rule:
    match: tuple[Match, ...]
    action: Action
    comment: str | None = None  # written first; the renderer keeps it to safe characters


@dataclass(frozen=True)
class Chain:
    """An owned chain: its name and rules, and what the rules refer to, found once."""

    name: str
    rules: tuple[Rule, ...]

    @cached_property
    def targets(self) -> frozenset[str]:
        return frozenset(r.action.chain for r in self.rules if isinstance(r.action, Jump))

    @cached_property
    def sets(self) -> frozenset[str]:
        return frozenset(m.name for r in self.rules for m in r.match if isinstance(m, SetMatch))

    @cached_property
    def nflog(self) -> dict[str, Denial]:
        """NFLOG prefix -> the denial it reports, for every NFLOG rule."""
        return {r.action.denial.nflog_prefix: r.action.denial for r in self.rules if isinstance(r.action, Nflog)}


@dataclass
class Table:
    """One table of one IP family: tortie's chains, and its rules in the kernel's chains."""

    family: int
    name: str
    chains: dict[str, Chain] = field(default_factory=dict)
    hooks: dict[str, tuple[Rule, ...]] = field(default_factory=dict)  # kernel chain -> tortie's rules in it
