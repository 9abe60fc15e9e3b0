"""Rules as calc hands them on: matches resolved to IP-set ids (dataplane.md §8).

A rule side's ``selector`` (or ``notSelector``) becomes the id of its *effective*
selector, which folds in the side's scope: the namespace selector, or the policy's
own namespace. Named ports become the ids of named-port sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core import TCP, Protocol, RuleAction, parse_protocol
from ..resources import EntityRule, ICMPFields, Rule
from ..selector import Selector, parse, unique_id
from .inputs import IPNetwork, network

NAMESPACE_LABEL = "projectcalico.org/namespace"
NAMESPACE_PREFIX = "pcns."


@dataclass(frozen=True)
class SelectorSetSpec:
    id: str
    selector: Selector


@dataclass(frozen=True)
class NamedPortSetSpec:
    id: str
    selector_id: str
    protocol: Protocol  # its ``iptables`` name is the members' protocol
    name: str


@dataclass(frozen=True)
class PortRange:
    lo: int
    hi: int


@dataclass(frozen=True)
class Side:
    nets: tuple[IPNetwork, ...] = ()
    not_nets: tuple[IPNetwork, ...] = ()
    selector: str | None = None  # selector-set id
    not_selector: str | None = None
    ports: tuple[PortRange, ...] = ()
    named_ports: tuple[str, ...] = ()  # named-port-set ids
    not_ports: tuple[PortRange, ...] = ()
    not_named_ports: tuple[str, ...] = ()

    @property
    def has_ports(self) -> bool:
        return bool(self.ports or self.named_ports)


@dataclass(frozen=True)
class CalcRule:
    index: int
    action: RuleAction
    ip_version: int | None
    protocol: Protocol | None
    not_protocol: Protocol | None
    icmp: tuple[int | None, int | None] | None
    not_icmp: tuple[int | None, int | None] | None
    source: Side
    destination: Side
    rule: Rule  # as written, for rendering and explanations


def effective_selector(selector: str | None, namespace_selector: str | None,
                       policy_namespace: str | None) -> Selector | None:
    """The selector whose members a side's selector (or notSelector) stands for, or None."""
    if namespace_selector is not None:
        ns = parse(namespace_selector).with_label_prefix(NAMESPACE_PREFIX)
        text = f"has({NAMESPACE_LABEL}) && ({ns.canonical}) && ({selector or 'all()'})"
    elif selector is None:
        return None
    elif policy_namespace is not None:
        text = f'{NAMESPACE_LABEL} == "{policy_namespace}" && ({selector})'
    else:
        text = selector
    return parse(text)


def named_port_set_id(selector_id: str, protocol: str, name: str) -> str:
    return unique_id("n", f"{selector_id},{protocol},{name}")


def _icmp(fields: ICMPFields | None) -> tuple[int | None, int | None] | None:
    """(type, code); empty ICMP fields match on nothing, so they are no match at all."""
    return (fields.type, fields.code) if fields is not None and fields.type is not None else None


class RuleCompiler:
    """Compiles rules and collects the IP sets they need."""

    def __init__(self) -> None:
        self.selector_sets: dict[str, SelectorSetSpec] = {}
        self.named_sets: dict[str, NamedPortSetSpec] = {}

    def _selector_set(self, sel: Selector | None) -> str | None:
        if sel is None:
            return None
        self.selector_sets.setdefault(sel.unique_id, SelectorSetSpec(sel.unique_id, sel))
        return sel.unique_id

    def _ports(self, ports: list[int | str] | None, side: EntityRule, proto: Protocol | None,
               namespace: str | None) -> tuple[tuple[PortRange, ...], tuple[str, ...]]:
        ranges, named = [], []
        for port in ports or ():
            if isinstance(port, int):
                ranges.append(PortRange(port, port))
            elif ":" in port:
                lo, hi = port.split(":")
                ranges.append(PortRange(int(lo), int(hi)))
            else:
                scope = effective_selector(side.selector or "all()", side.namespace_selector, namespace)
                base = self._selector_set(scope)
                proto = proto or TCP
                set_id = named_port_set_id(base or "", proto.iptables, port)
                self.named_sets.setdefault(set_id, NamedPortSetSpec(set_id, base or "", proto, port))
                named.append(set_id)
        return tuple(ranges), tuple(named)

    def side(self, side: EntityRule | None, proto: Protocol | None, namespace: str | None) -> Side:
        if side is None:
            return Side()
        ports, named = self._ports(side.ports, side, proto, namespace)
        not_ports, not_named = self._ports(side.not_ports, side, proto, namespace)
        return Side(
            tuple(network(n) for n in side.nets or ()),
            tuple(network(n) for n in side.not_nets or ()),
            self._selector_set(effective_selector(side.selector, side.namespace_selector, namespace)),
            self._selector_set(effective_selector(side.not_selector, side.namespace_selector, namespace)
                               if side.not_selector is not None else None),
            ports, named, not_ports, not_named,
        )

    def rules(self, rules: tuple[Rule, ...], namespace: str | None) -> tuple[CalcRule, ...]:
        out = []
        for i, r in enumerate(rules):
            proto = parse_protocol(r.protocol) if r.protocol is not None else None
            out.append(CalcRule(
                i, RuleAction(r.action), r.ip_version, proto,
                parse_protocol(r.not_protocol) if r.not_protocol is not None else None,
                _icmp(r.icmp), _icmp(r.not_icmp),
                self.side(r.source, proto, namespace), self.side(r.destination, proto, namespace), r))
        return tuple(out)
