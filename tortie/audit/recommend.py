"""Least-privilege policies from recorded flows (`tortie recommend`): one
StagedNetworkPolicy per workload group in scope, in a tier of its own, allowing exactly the
traffic the flows show and nothing else.

A workload group is the workloads of one namespace with the same labels, less the labels a
controller sets per pod (pod-template-hash and the like). A peer is named by its group's
labels (and its namespace, when it is another), a network set by its labels, an address no
endpoint owns by its /32 or /128. Ports of one peer and protocol are merged into ranges.
Each rule carries a comment with the number of flows it covers. Both directions are
listed in `types`, so that what the flows did not show is denied at the end of the tier.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..calc import Entity
from ..core import parse_protocol
from ..resources import to_yaml
from ..selector import parse
from .cluster import Cluster
from .flows import Flow
from .replay import packet_of_flow

API = "projectcalico.org/v3"
TIER = "recommended"
TIER_ORDER = 100_000  # after kube-admin (1,000), before default (1,000,000)
# Labels a controller sets per pod or revision: they split a workload's pods apart.
VOLATILE = ("pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/pod-name",
            "pod-template-generation", "apps.kubernetes.io/pod-index")
NAMESPACE_NAME = "projectcalico.org/name"
CALICO_LABELS = "projectcalico.org/"
_PROTOCOL_NAMES = {"tcp": "TCP", "udp": "UDP", "icmp": "ICMP", "icmpv6": "ICMPv6", "sctp": "SCTP",
                   "udplite": "UDPLite"}


def _quote(value: str) -> str:
    return "'" + value + "'" if '"' in value else '"' + value + '"'


def group_labels(entity: Entity) -> tuple[tuple[str, str], ...]:
    """The labels that name `entity`'s group: its own, less VOLATILE and Calico's own
    (projectcalico.org/namespace, /orchestrator: the namespace is the policy's), sorted."""
    return tuple(sorted((k, v) for k, v in entity.labels.items()
                        if k not in VOLATILE and not k.startswith(CALICO_LABELS)))


def selector_of(labels: Iterable[tuple[str, str]]) -> str:
    return " && ".join(f"{k} == {_quote(v)}" for k, v in labels)


@dataclass(frozen=True, order=True)
class Group:
    """A workload group: its namespace and labels."""

    namespace: str
    labels: tuple[tuple[str, str], ...]

    @property
    def name(self) -> str:
        """A policy name from the labels' values: `app-frontend-role-web` (at most 63 characters)."""
        text = "-".join(f"{k.rsplit('/', 1)[-1]}-{v}" for k, v in self.labels) or "unlabelled"
        cleaned = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
        return "-".join(part for part in cleaned.split("-") if part)[:63].rstrip("-")


@dataclass(frozen=True, order=True)
class Peer:
    """How a rule names the other end: a selector (with the namespaces it is in), or nets."""

    selector: str = ""
    namespace_selector: str = ""
    nets: tuple[str, ...] = ()

    def rule_side(self) -> dict[str, Any]:
        side: dict[str, Any] = {}
        if self.selector:
            side["selector"] = self.selector
        if self.namespace_selector:
            side["namespaceSelector"] = self.namespace_selector
        if self.nets:
            side["nets"] = list(self.nets)
        return side


def _host_net(address: str) -> str:
    ip = ipaddress.ip_address(address)
    return f"{ip}/{ip.max_prefixlen}"


def peer_of(cluster: Cluster, address: str, namespace: str) -> Peer:
    """The other end at `address`, as a rule of a policy in `namespace` names it."""
    entity = cluster.owner(address)
    if entity is None:
        return Peer(nets=(_host_net(address),))
    labels = group_labels(entity)
    if not labels:  # nothing to select it by: its own addresses
        return Peer(nets=tuple(sorted(str(n) for n in entity.addresses)))
    if entity.namespace == namespace:
        return Peer(selector_of(labels))
    if entity.namespace:
        return Peer(selector_of(labels), f"{NAMESPACE_NAME} == {_quote(entity.namespace)}")
    return Peer(selector_of(labels), "global()")


def port_ranges(ports: Iterable[int]) -> list[int | str]:
    """Ports merged into ranges: [80, 443, 8080, 8081, 8082] -> [80, 443, "8080:8082"]."""
    out: list[int | str] = []
    run: list[int] = []
    for port in sorted(set(ports)):
        if run and port == run[-1] + 1:
            run.append(port)
            continue
        if run:
            out.append(run[0] if len(run) == 1 else f"{run[0]}:{run[-1]}")
        run = [port]
    if run:
        out.append(run[0] if len(run) == 1 else f"{run[0]}:{run[-1]}")
    return out


@dataclass
class _Rules:
    """Per peer and protocol: flows by destination port (None: a protocol without ports)."""

    seen: dict[tuple[Peer, str | int], dict[int | None, int]] = field(default_factory=dict)

    def add(self, peer: Peer, protocol: str | int, port: int | None, count: int) -> None:
        ports = self.seen.setdefault((peer, protocol), {})
        ports[port] = ports.get(port, 0) + count

    def rules(self, side: str) -> Iterator[tuple[int, dict[str, Any]]]:
        """(flows covered, rule) in a stable order; `side` is where the peer goes."""
        for (peer, protocol), ports in sorted(self.seen.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            rule: dict[str, Any] = {"action": "Allow", "protocol": protocol, side: peer.rule_side()}
            numbers = [p for p in ports if p is not None]
            if numbers and parse_protocol(protocol).has_ports:
                rule["destination"] = {**rule.get("destination", {}), "ports": port_ranges(numbers)}
            yield sum(ports.values()), rule


@dataclass
class Recommendation:
    """The groups in scope with their ingress and egress rules (a group no flow shows gets
    none: it is denied everything), and what was left out."""

    scope: frozenset[Group] = frozenset()
    ingress: dict[Group, _Rules] = field(default_factory=dict)
    egress: dict[Group, _Rules] = field(default_factory=dict)
    flows: int = 0
    unusable: int = 0  # flows without both addresses, or dropped by the data plane

    def groups(self) -> list[Group]:
        return sorted(self.scope | set(self.ingress) | set(self.egress))


def in_scope(cluster: Cluster, namespace: str | None, selector: str | None) -> Mapping[str, Group]:
    """The workload endpoints in scope, by address: those of `namespace`, or those whose
    labels (effective, as policy selectors see them) `selector` selects. Raises
    SelectorError for a selector that does not parse."""
    chosen = parse(selector) if selector else None
    found: dict[str, Group] = {}
    for entity in cluster.entities():
        if entity.kind != "WorkloadEndpoint" or not entity.namespace:
            continue
        if namespace is not None and entity.namespace != namespace:
            continue
        if chosen is not None and not chosen.matches(cluster.labels(entity)):
            continue
        group = Group(entity.namespace, group_labels(entity))
        for network in entity.addresses:
            found[str(network.network_address)] = group
    return found


def recommend(cluster: Cluster, flows: Iterable[Flow], scope: Mapping[str, Group]) -> Recommendation:
    """The rules the flows of the endpoints in `scope` (by address) call for: flows the data
    plane dropped are left out (they never happened)."""
    result = Recommendation(frozenset(scope.values()))
    for flow in flows:
        packet = packet_of_flow(flow)
        if packet is None or flow.action.lower() in ("deny", "drop"):
            result.unusable += flow.count
            continue
        protocol: str | int = _PROTOCOL_NAMES.get(flow.protocol, flow.protocol)
        if isinstance(protocol, str) and protocol.isdigit():
            protocol = int(protocol)
        source, dest = scope.get(packet.src), scope.get(packet.dst)
        if dest is not None:
            result.ingress.setdefault(dest, _Rules()).add(peer_of(cluster, packet.src, dest.namespace), protocol,
                                                          packet.dport, flow.count)
        if source is not None:
            result.egress.setdefault(source, _Rules()).add(peer_of(cluster, packet.dst, source.namespace), protocol,
                                                           packet.dport, flow.count)
        if source is not None or dest is not None:
            result.flows += flow.count
    return result


def tier_doc(tier: str, order: float) -> dict[str, Any]:
    """The Tier the recommended policies go in: `order` (an integer written as one, but for
    those past 2**53, whose digits the YAML reader refuses), and Deny for what no policy allows."""
    whole = float(order).is_integer() and abs(order) < 2 ** 53
    return {"apiVersion": API, "kind": "Tier", "metadata": {"name": tier},
            "spec": {"order": int(order) if whole else order, "defaultAction": "Deny"}}


def to_documents(result: Recommendation, tier: str = TIER, order: float = TIER_ORDER) -> str:
    """The recommendation as YAML: the tier, then one StagedNetworkPolicy per group, each
    rule after a comment with the flows it covers."""
    docs = [to_yaml(tier_doc(tier, order))]
    for group in result.groups():
        head = {"apiVersion": API, "kind": "StagedNetworkPolicy",
                "metadata": {"name": f"{tier}.{group.name}", "namespace": group.namespace},
                "spec": {"stagedAction": "Set", "tier": tier, "selector": selector_of(group.labels) or "all()",
                         "types": ["Ingress", "Egress"]}}
        text = to_yaml(head)
        for direction, rules, side in (("egress", result.egress, "destination"),
                                       ("ingress", result.ingress, "source")):
            if group not in rules:
                text += f"  {direction}: []\n"
                continue
            text += f"  {direction}:\n"
            for covered, rule in rules[group].rules(side):
                text += f"  # {covered:,} {'flow' if covered == 1 else 'flows'}\n"
                text += "".join(f"  {line}\n" for line in to_yaml([rule]).splitlines())
        docs.append(text)
    return "---\n".join(docs)
