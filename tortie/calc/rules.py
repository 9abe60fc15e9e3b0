"""Rules as calc hands them on: matches resolved to IP-set ids (dataplane.md §8).

A rule side's selector fields become at most one selector set, as Calico compiles them
(``side_selectors``): a positive one, or a negated one when the side has no positive
selector. Named ports become the ids of named-port sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..core import TCP, IPNetwork, Protocol, RuleAction, parse_protocol
from ..resources import EntityRule, ICMPFields, Rule, ServiceAccountMatch
from ..selector import All, And, Compare, Global, Has, InSet, Node, Not, Or, Selector, parse, unique_id
from .inputs import network

NAMESPACE_LABEL = "projectcalico.org/namespace"
NAMESPACE_PREFIX = "pcns."
SERVICE_ACCOUNT_LABEL = "projectcalico.org/serviceaccount"
SERVICE_ACCOUNT_PREFIX = "pcsa."
# Label prefixes only Calico derives (libcalico-go lib/backend/k8s/conversion/constants.go).
RESERVED_PREFIXES = (NAMESPACE_PREFIX, SERVICE_ACCOUNT_PREFIX)


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


def _and(*nodes: Node) -> Node:
    return nodes[0] if len(nodes) == 1 else And(nodes)


def _in_namespaces(node: Node) -> Node:
    """A ``pcns.``-prefixed namespaceSelector tree with ``all()`` as "in any namespace" and
    ``global()`` as "in no namespace" (libcalico-go updateprocessors/rules.go)."""
    if isinstance(node, Global):
        return Not(Has(NAMESPACE_LABEL))
    if isinstance(node, All):
        return Has(NAMESPACE_LABEL)
    if isinstance(node, Not):
        return Not(_in_namespaces(node.operand))
    if isinstance(node, (And, Or)):
        return type(node)(tuple(_in_namespaces(o) for o in node.operands))
    return node


def _service_account_tree(match: ServiceAccountMatch | None) -> Node | None:
    """serviceAccounts as a selector over the pcsa.-prefixed labels and the service-account
    name label (libcalico-go updateprocessors/rules.go, parseServiceAccounts)."""
    if match is None:
        return None
    parts = []
    if match.selector:
        parts.append(parse(match.selector).tree.prefixed(SERVICE_ACCOUNT_PREFIX))
    if match.names:
        parts.append(InSet(SERVICE_ACCOUNT_LABEL, tuple(sorted(set(match.names))), negated=False))
    return _and(*parts) if parts else None


def side_selectors(side: EntityRule, policy_namespace: str | None) -> tuple[Selector | None, Selector | None]:
    """(positive, negated) selectors of one rule side, as Calico compiles them.

    libcalico-go updateprocessors/rules.go (getEndpointSelector): selector and
    serviceAccounts are ANDed; a namespaceSelector (its labels as ``pcns.`` labels, ``all()``
    as any namespaced entity, ``global()`` as any entity without a namespace) or, in a
    NetworkPolicy, the policy's own namespace scopes the side only when one of selector,
    notSelector, namespaceSelector or serviceAccounts is used. The notSelector itself is
    never scoped. felix/calc/rule_scanner.go (combineMatchesIfPossible): with a positive
    selector, the notSelector is folded into it, so only a side with no positive selector
    keeps a negated one, which then also excludes addresses from outside the cluster.
    The parts are combined as trees, so a selector within tortie's nesting bound never
    fails here.
    """
    scope = None
    if side.namespace_selector:
        scope = _in_namespaces(parse(side.namespace_selector).tree.prefixed(NAMESPACE_PREFIX))
    elif policy_namespace is not None:
        scope = Compare(NAMESPACE_LABEL, "==", policy_namespace)
    terms = [t for t in (_service_account_tree(side.service_accounts),
                         parse(side.selector).tree if side.selector else None) if t is not None]
    positive = _and(*terms) if terms else None
    negated = parse(side.not_selector).tree if side.not_selector else None
    if scope is not None and (positive is not None or negated is not None or side.namespace_selector):
        positive = And((scope, positive)) if positive is not None else scope
    if positive is None:
        return None, _selector(negated) if negated is not None else None
    if negated is not None:
        positive = And((positive, Not(negated)))
    return _selector(positive), None


@lru_cache(maxsize=1 << 16)
def _selector(tree: Node) -> Selector:
    """One Selector (its compiled matcher) per distinct tree, as ``parse`` caches per text."""
    return Selector(tree.canonical(), tree)


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

    def _ports(self, ports: list[int | str] | None, positive: str | None,
               proto: Protocol | None) -> tuple[tuple[PortRange, ...], tuple[str, ...]]:
        """Numeric ports and named-port sets. A named port is looked up among the endpoints
        the side's positive selector picks, or among all endpoints when it has none, in
        every namespace (felix/calc/rule_scanner.go, namedPortsToIPSets)."""
        ranges, named = [], []
        for port in ports or ():
            if isinstance(port, int):
                ranges.append(PortRange(port, port))
            elif ":" in port:
                lo, hi = port.split(":")
                ranges.append(PortRange(int(lo), int(hi)))
            else:
                base = positive if positive is not None else self._selector_set(parse("all()"))
                assert base is not None
                proto = proto or TCP  # validation: named ports need TCP, UDP or SCTP
                set_id = named_port_set_id(base, proto.iptables, port)
                self.named_sets.setdefault(set_id, NamedPortSetSpec(set_id, base, proto, port))
                named.append(set_id)
        return tuple(ranges), tuple(named)

    def side(self, side: EntityRule | None, proto: Protocol | None, namespace: str | None) -> Side:
        if side is None:
            return Side()
        positive, negated = (self._selector_set(s) for s in side_selectors(side, namespace))
        ports, named = self._ports(side.ports, positive, proto)
        not_ports, not_named = self._ports(side.not_ports, positive, proto)
        return Side(
            tuple(network(n) for n in side.nets or ()),
            tuple(network(n) for n in side.not_nets or ()),
            positive, negated, ports, named, not_ports, not_named,
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
