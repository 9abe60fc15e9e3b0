"""Stored resources as calc's input data.

Endpoints and network sets (there are many) are read straight from their stored
documents with defensive checks; policies and profiles, whose rules need the full
model, go through the strict loader. A document that does not make sense raises
``BadInput`` with one line of explanation, and calc leaves it out.

Every stored string of an endpoint or network set that can reach the kernel (a chain or
set name, a LOG or NFLOG prefix, a rule argument, an ipset member) is checked here as
Calico checks it (libcalico-go/lib/validator/v3/validator.go): interface names, profile
names, named ports, addresses. Policies, profiles and tiers get the same from the strict
loader. A value that cannot be used makes only its own resource invalid.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from ..core import SCTP, TCP, UDP, IPNetwork, Protocol, RuleAction, Stage, parse_protocol, shown
from ..resources import (BUILTIN_TIERS, KNP_PREFIX, GlobalNetworkPolicy, GlobalNetworkSet, HostEndpoint,
                         KubernetesNetworkPolicy, Namespace, NetworkPolicy, NetworkSet, Profile, ResourceError, Rule,
                         Tier, WorkloadEndpoint, is_name, is_port_name, load_resource)
from ..selector import Selector, SelectorError, parse

_INTERFACE = re.compile(r"[A-Za-z0-9_.-]{1,15}")
Doc = Mapping[str, Any]


class BadInput(ValueError):
    pass


@lru_cache(maxsize=1 << 17)
def network(text: str) -> IPNetwork:
    return ipaddress.ip_network(text, strict=False)


@lru_cache(maxsize=1 << 17)
def member_text(text: str) -> str:
    """An address as an IP-set member: a single address bare, a network as its CIDR."""
    net = network(text)
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


@dataclass(frozen=True)
class NamedPort:
    name: str
    protocol: Protocol  # TCP, UDP or SCTP
    port: int  # 1-65535


@dataclass(frozen=True)
class Entity:
    """Anything a rule selector can pick: a WEP, a HEP or a network set."""

    key: str  # "<Kind>/<name>" or "<Kind>/<namespace>/<name>"
    kind: str
    name: str
    namespace: str | None
    labels: Mapping[str, str]  # own labels
    addresses: tuple[IPNetwork, ...]
    node: str | None = None
    interface: str | None = None
    profiles: tuple[str, ...] = ()
    ports: tuple[NamedPort, ...] = ()
    members: tuple[str, ...] = ()  # the addresses as IP-set members
    service_account: str | None = None  # a WorkloadEndpoint's serviceAccountName
    workload: str | None = None  # a workload endpoint's pod or workload name (flow logs name it so)
    spoof_prefixes: tuple[IPNetwork, ...] = ()  # a WEP's allowSpoofedSourcePrefixes

    @property
    def is_endpoint(self) -> bool:
        return self.kind in ("WorkloadEndpoint", "HostEndpoint")


KIND_SHORT_NAMES = {"NetworkPolicy": "np", "GlobalNetworkPolicy": "gnp", "KubernetesNetworkPolicy": "knp"}


@dataclass(frozen=True)
class PolicyData:
    key: str  # "<name>" (GNP) or "<namespace>/<name>" (NP): the ordering key
    kind: str
    name: str
    short_name: str
    namespace: str | None
    tier: str
    order: float | None
    selector: Selector
    types: tuple[str, ...]
    ingress: tuple[Rule, ...]
    egress: tuple[Rule, ...]
    do_not_track: bool = False
    pre_dnat: bool = False
    apply_on_forward: bool = False

    @property
    def kind_short_name(self) -> str:
        """Felix's short kind (felix/types/policy_id.go): the %k of LOG prefixes."""
        return KIND_SHORT_NAMES[self.kind]

    @property
    def label_name(self) -> str:
        """``[<namespace>/]<short name>`` as in metric labels and NFLOG prefixes."""
        return f"{self.namespace}/{self.short_name}" if self.namespace else self.short_name

    @property
    def stages(self) -> tuple[Stage, ...]:
        """evaluation.md §3: where the policy applies."""
        if self.do_not_track:
            return (Stage.UNTRACKED,)
        if self.pre_dnat:
            return (Stage.PRE_DNAT,)
        if self.namespace is not None or not self.apply_on_forward:
            return (Stage.NORMAL,)
        return (Stage.NORMAL, Stage.FORWARD)


@dataclass(frozen=True)
class ProfileData:
    name: str
    labels: Mapping[str, str]  # metadata.labels: namespace labels for kns.<ns>
    labels_to_apply: Mapping[str, str]
    ingress: tuple[Rule, ...]
    egress: tuple[Rule, ...]


def entity_key(kind: str, name: str, namespace: str | None) -> str:
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def _labels(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise BadInput(f"{what} must be a map of strings")
    return value


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadInput(f"{what} must be a list of strings")
    return tuple(value)


def _profiles(value: Any) -> tuple[str, ...]:
    """Profile names: each becomes part of chain names and prefixes, so each must be a name."""
    names = _strings(value, "spec.profiles")
    for name in names:
        if not is_name(name):  # validator.go: profiles are "name"s
            raise BadInput(f"spec.profiles: {shown(name)!r} is not a profile name (a DNS-1123 subdomain)")
    return names


def _networks(values: tuple[str, ...], what: str) -> tuple[tuple[IPNetwork, ...], tuple[str, ...]]:
    """The networks and their IP-set member texts."""
    try:
        return tuple(network(v) for v in values), tuple(member_text(v) for v in values)
    except ValueError:
        raise BadInput(f"{what} holds an invalid address") from None


_PORT_PROTOCOLS = (TCP, UDP, SCTP)


def _port(entry: Any) -> NamedPort | None:
    """One named port, checked as Calico's EndpointPort (its members go into ipsets); None for
    an entry without a name, which only maps a host port."""
    if not isinstance(entry, dict):
        raise BadInput("spec.ports must be a list of {name, protocol, port}")
    name, written, port = entry.get("name"), entry.get("protocol"), entry.get("port")
    if name in (None, ""):
        return None
    try:
        proto = parse_protocol(written) if isinstance(written, (str, int)) and type(written) is not bool else None
    except ValueError:
        proto = None
    if not isinstance(name, str) or not is_port_name(name):  # validator.go: EndpointPort names are "portName"s
        raise BadInput(f"spec.ports: {shown(name)!r} is not a port name")
    if proto not in _PORT_PROTOCOLS:
        raise BadInput(f"spec.ports: protocol {shown(written)!r} is not TCP, UDP or SCTP")
    if type(port) is not int or not 1 <= port <= 65535:
        raise BadInput(f"spec.ports: port {shown(port)} is not 1-65535")
    return NamedPort(name, proto, port)


def _ports(value: Any) -> tuple[NamedPort, ...]:
    """The named ports (a port without a name only maps a host port)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadInput("spec.ports must be a list of {name, protocol, port}")
    return tuple(p for p in map(_port, value) if p is not None)


def entity_from_doc(kind: str, name: str, namespace: str | None, doc: Doc) -> Entity:
    """A WEP, HEP, NetworkSet or GlobalNetworkSet document as the Entity ``kind``
    ``namespace``/``name`` (its identity is given: a stored one's is its key's). Raises BadInput."""
    meta, spec = doc.get("metadata"), doc.get("spec") or {}
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        raise BadInput("not a resource document")
    labels = _labels(meta.get("labels"), "metadata.labels")
    if kind in ("NetworkSet", "GlobalNetworkSet"):
        nets, members = _networks(_strings(spec.get("nets"), "spec.nets"), "spec.nets")
        return Entity(entity_key(kind, name, namespace), kind, name, namespace, labels, nets, members=members)
    if kind == "WorkloadEndpoint":
        addresses = _strings(spec.get("ipNetworks"), "spec.ipNetworks")
    elif kind == "HostEndpoint":
        addresses = _strings(spec.get("expectedIPs"), "spec.expectedIPs")
    else:
        raise BadInput(f"{kind} is not an entity kind")
    node = spec.get("node")
    if not isinstance(node, str):
        raise BadInput("spec.node must be a string")
    interface = spec.get("interfaceName")
    if interface is not None and not (isinstance(interface, str) and (
            _INTERFACE.fullmatch(interface) or (kind == "HostEndpoint" and interface == "*"))):
        raise BadInput(f"spec.interfaceName '{shown(interface)}' is not an interface name")
    account = spec.get("serviceAccountName") if kind == "WorkloadEndpoint" else None
    if account is not None and not isinstance(account, str):
        raise BadInput("spec.serviceAccountName must be a string")
    nets, members = _networks(addresses, "addresses")
    spoof: tuple[IPNetwork, ...] = ()
    if kind == "WorkloadEndpoint":
        spoof, _ = _networks(_strings(spec.get("allowSpoofedSourcePrefixes"), "spec.allowSpoofedSourcePrefixes"),
                             "spec.allowSpoofedSourcePrefixes")
    workload = spec.get("pod") or spec.get("workload")
    return Entity(entity_key(kind, name, namespace), kind, name, namespace, labels, nets, node, interface,
                  _profiles(spec.get("profiles")), _ports(spec.get("ports")), members, account or None,
                  workload if isinstance(workload, str) else None, spoof)


def _strict(doc: Doc) -> Any:
    try:
        return load_resource(dict(doc))
    except ResourceError as exc:
        raise BadInput(str(exc).replace("\n", "; ")) from None


def policy_from_doc(key: str, doc: Doc) -> PolicyData:
    """A NetworkPolicy, GlobalNetworkPolicy or Kubernetes NetworkPolicy document as the policy
    ``key`` ("<name>" or "<namespace>/<name>", given: a stored one's comes from its store key).
    A Kubernetes NetworkPolicy is the Calico policy conversion.go makes of it, known to Felix
    by its own name and kind ``knp``, and elsewhere as ``knp.default.<name>``. Raises BadInput."""
    p = _strict(doc)
    kind, name, short_name = p.KIND, p.name, p.name
    if isinstance(p, KubernetesNetworkPolicy):
        kind, short_name = p.MODEL_KIND, KNP_PREFIX + p.name
        p = _strict(p.calico_doc())
    if not isinstance(p, (NetworkPolicy, GlobalNetworkPolicy)):
        raise BadInput(f"{doc.get('kind')} is not a policy")
    spec = p.spec
    try:
        selector = parse(spec.selector or "")
    except SelectorError as exc:  # pragma: no cover - validated by the loader
        raise BadInput(str(exc)) from None
    namespace = p.namespace if isinstance(p, NetworkPolicy) else None
    # Felix v3.32 names a policy by its name as created (felix/types/policy_id.go).
    return PolicyData(key, kind, name, short_name, namespace, p.tier, spec.order, selector,
                      tuple(spec.types or ()), tuple(spec.ingress or ()), tuple(spec.egress or ()),
                      bool(getattr(spec, "do_not_track", False)), bool(getattr(spec, "pre_dnat", False)),
                      bool(getattr(spec, "apply_on_forward", False)))


def profile_from_doc(name: str, doc: Doc) -> ProfileData:
    """A Profile document as profile ``name`` (given, like a policy's key), or a Kubernetes
    Namespace as its profile ``kns.<name>``. Raises BadInput."""
    p = _strict(doc)
    if isinstance(p, Namespace):
        p = _strict(p.profile_doc())
    if not isinstance(p, Profile):
        raise BadInput(f"{doc.get('kind')} is not a Profile")
    return ProfileData(name, dict(p.metadata.labels or {}), dict(p.spec.labels_to_apply or {}),
                       tuple(p.spec.ingress or ()), tuple(p.spec.egress or ()))


@dataclass(frozen=True)
class TierData:
    """A tier's place and end: ``order`` (None sorts after every ordered tier) and what
    happens to a packet no policy of the tier decided (``defaultAction``: Deny or Pass)."""

    order: float | None
    default_action: RuleAction = RuleAction.DENY


# The tiers every Calico datastore has, whether or not a Tier resource is stored
# (libcalico-go clientv3 EnsureInitialized; api/pkg/apis/projectcalico/v3/tier.go).
BUILTIN_TIER_DATA = {name: TierData(order, RuleAction(action)) for name, (order, action) in BUILTIN_TIERS.items()}


def tier_from_doc(doc: Doc) -> TierData:
    """A Tier document's order and default action (Deny when unset, as the CRD defaults it).
    Raises BadInput."""
    t = _strict(doc)
    if not isinstance(t, Tier):
        raise BadInput(f"{doc.get('kind')} is not a Tier")
    return TierData(t.spec.order, RuleAction(t.spec.default_action or RuleAction.DENY))


ENTITY_KINDS = {k.KIND for k in (WorkloadEndpoint, HostEndpoint, NetworkSet, GlobalNetworkSet)}
POLICY_KINDS = {k.model_kind() for k in (NetworkPolicy, GlobalNetworkPolicy, KubernetesNetworkPolicy)}
