"""Kubernetes input: ``networking.k8s.io/v1`` NetworkPolicy and ``v1`` Namespace documents, and
the NetworkPolicy spec that StagedKubernetesNetworkPolicy embeds.

tortie has no Kubernetes API server: these documents are stored like the v3 resources and
enforced as Calico enforces them (libcalico-go lib/backend/k8s/conversion/conversion.go):

* a NetworkPolicy is the Calico NetworkPolicy ``to_calico`` gives: tier default, order 1000,
  pod selectors prefixed with ``projectcalico.org/orchestrator == 'k8s'``, one Allow rule per
  protocol and peer, ipBlock ``except`` as ``notNets``, ``endPort`` as a port range, TCP when
  a port gives no protocol, and Ingress-only types when ``policyTypes`` is empty;
* a Namespace is the profile ``kns.<name>`` (NamespaceToProfile), whose labels its
  workload endpoints carry as ``pcns.<label>``.

The checks are the Kubernetes API server's for a NetworkPolicy (k8s.io/kubernetes
pkg/apis/networking/validation ValidateNetworkPolicySpec), each one line naming its path.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from .resource import LABEL_NAME_REASON, Resource, check_annotations, check_labels
from .rule import EntityRule, Rule
from .schema import INT, STRING, Checker, Decoder, GoType, Key, List, Map, Omit, Struct, StructType, field, join
from .values import label_value_problems, qualified_name_problems

NETWORKING_API = "networking.k8s.io/v1"
CORE_API = "v1"
KUBERNETES_ORDER = 1000  # conversion.go: every Kubernetes policy sorts at 1000 in tier default
KUBERNETES_TIER = "default"
KNP_PREFIX = "knp.default."
NAMESPACE_PROFILE_PREFIX = "kns."
NAMESPACE_LABEL_PREFIX = "pcns."
NAMESPACE_NAME_LABEL = "projectcalico.org/name"
ORCHESTRATOR_SELECTOR = "projectcalico.org/orchestrator == 'k8s'"
PROTOCOLS = ("TCP", "UDP", "SCTP")
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
POLICY_TYPES = ("Ingress", "Egress")
_DNS_LABEL = re.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_IANA_NAME = re.compile("[-a-z0-9]{1,15}")


class _IntOrString(GoType):
    """intstr.IntOrString: a JSON number is a port number, a string a port name or number."""

    go = "IntOrString"

    def decode(self, value: Any, at: str, key: Key, d: Decoder) -> Any:
        if value is None or type(value) is str or (type(value) is int and -(2**31) <= value < 2**31):
            return value
        if type(value) is float and value.is_integer():
            return int(value)
        d.mismatch(value, at, key, self.go)
        return None


INT_OR_STRING: GoType = _IntOrString()


@dataclass(slots=True)
class LabelSelectorRequirement(Struct):
    GO = "v1.LabelSelectorRequirement"
    key: str | None = field("key", STRING, omit=Omit.NEVER)
    operator: str | None = field("operator", STRING, omit=Omit.NEVER)
    values: list[str] | None = field("values", List(STRING))


@dataclass(slots=True)
class LabelSelector(Struct):
    GO = "v1.LabelSelector"
    match_labels: dict[str, str] | None = field("matchLabels", Map(STRING))
    match_expressions: list[LabelSelectorRequirement] | None = field(
        "matchExpressions", List(StructType(LabelSelectorRequirement)))

    def check(self, c: Checker, at: str) -> None:
        """ValidateLabelSelector."""
        for key, value in (self.match_labels or {}).items():
            for problem in qualified_name_problems(key):
                c.error(join(at, "matchLabels"), key, problem)
            for problem in label_value_problems(value):
                c.error(join(at, "matchLabels"), value, problem)
        for i, e in enumerate(self.match_expressions or []):
            path = join(join(at, "matchExpressions"), i)
            if e.operator not in OPERATORS:
                c.error(join(path, "operator"), e.operator or "", "not a valid selector operator")
            elif e.operator in ("In", "NotIn") and not e.values:
                c.error(join(path, "values"), None, "must be specified when `operator` is 'In' or 'NotIn'")
            elif e.operator in ("Exists", "DoesNotExist") and e.values:
                c.error(join(path, "values"), None, "may not be specified when `operator` is 'Exists' or "
                                                    "'DoesNotExist'")
            for problem in qualified_name_problems(e.key or ""):
                c.error(join(path, "key"), e.key or "", problem)
            for value in e.values or []:
                for problem in label_value_problems(value):
                    c.error(join(path, "values"), value, problem)

    def to_calico(self, pod: bool) -> str:
        """k8sSelectorToCalico: a pod selector also requires the Kubernetes orchestrator; an
        empty namespace selector is every namespace."""
        terms = [ORCHESTRATOR_SELECTOR] if pod else []
        if not pod and not self.match_labels and not self.match_expressions:
            return "all()"
        terms += [f"{k} == '{v}'" for k, v in sorted((self.match_labels or {}).items())]
        for e in self.match_expressions or []:
            values = "', '".join(e.values or [])
            terms.append({"In": f"{e.key} in {{ '{values}' }}", "NotIn": f"{e.key} not in {{ '{values}' }}",
                          "Exists": f"has({e.key})", "DoesNotExist": f"! has({e.key})"}[e.operator or ""])
        return " && ".join(terms)


@dataclass(slots=True)
class IPBlock(Struct):
    GO = "v1.IPBlock"
    cidr: str | None = field("cidr", STRING, go="CIDR", omit=Omit.NEVER)
    except_: list[str] | None = field("except", List(STRING))

    def check(self, c: Checker, at: str) -> None:
        net = _cidr(self.cidr or "")
        if net is None:
            c.error(join(at, "cidr"), self.cidr or "", "must be a valid CIDR such as 10.0.0.0/8")
            return
        for i, text in enumerate(self.except_ or []):
            inner = _cidr(text)
            if inner is None:
                c.error(join(join(at, "except"), i), text, "must be a valid CIDR such as 10.0.0.0/8")
            elif inner.version != net.version or not inner.subnet_of(net) or inner == net:  # type: ignore[arg-type]
                c.error(join(join(at, "except"), i), text, "must be a strict subset of `cidr`")


def _cidr(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


@dataclass(slots=True)
class NetworkPolicyPort(Struct):
    GO = "v1.NetworkPolicyPort"
    protocol: str | None = field("protocol", STRING, omit=Omit.POINTER)
    port: int | str | None = field("port", INT_OR_STRING, omit=Omit.POINTER)
    end_port: int | None = field("endPort", INT, omit=Omit.POINTER)

    def check(self, c: Checker, at: str) -> None:
        if self.protocol is not None and self.protocol not in PROTOCOLS:
            c.error(join(at, "protocol"), self.protocol, "supported values: \"SCTP\", \"TCP\", \"UDP\"")
        port = self.port
        if isinstance(port, int) and not 1 <= port <= 65535:
            c.error(join(at, "port"), port, "must be between 1 and 65535, inclusive")
        elif isinstance(port, str) and not _is_iana_name(port):
            c.error(join(at, "port"), port, "must be a port number or an IANA service name (at most 15 lower "
                                            "case letters, digits and '-', with a letter)")
        if self.end_port is not None:
            if not isinstance(port, int):
                c.error(join(at, "endPort"), self.end_port, "may not be specified when `port` is not a number")
            elif not port <= self.end_port <= 65535:
                c.error(join(at, "endPort"), self.end_port, "must be between `port` and 65535, inclusive")

    def calico_ports(self) -> list[int | str] | None:
        """k8sPortToCalico: the port, or ``port:endPort``; None for every port."""
        if self.port is None:
            return None
        if self.end_port is not None and self.end_port != self.port:
            return [f"{self.port}:{self.end_port}"]
        return [int(self.port) if isinstance(self.port, str) and self.port.isdigit() else self.port]


def _is_iana_name(text: str) -> bool:
    return bool(_IANA_NAME.fullmatch(text)) and any(ch.isalpha() for ch in text) \
        and not text.startswith("-") and not text.endswith("-") and "--" not in text


@dataclass(slots=True)
class NetworkPolicyPeer(Struct):
    GO = "v1.NetworkPolicyPeer"
    pod_selector: LabelSelector | None = field("podSelector", LabelSelector, omit=Omit.POINTER)
    namespace_selector: LabelSelector | None = field("namespaceSelector", LabelSelector, omit=Omit.POINTER)
    ip_block: IPBlock | None = field("ipBlock", IPBlock, go="IPBlock", omit=Omit.POINTER)

    def check(self, c: Checker, at: str) -> None:
        given = [s for s in (self.pod_selector, self.namespace_selector, self.ip_block) if s is not None]
        if not given:
            c.error(at, None, "must specify a peer")
        elif self.ip_block is not None and len(given) > 1:
            c.error(at, None, "may not specify both ipBlock and another peer")
        for name, part in (("podSelector", self.pod_selector), ("namespaceSelector", self.namespace_selector),
                           ("ipBlock", self.ip_block)):
            if part is not None:
                part.check(c, join(at, name))

    def fields(self) -> dict[str, Any]:
        """k8sPeerToCalicoFields: an ipBlock's nets and notNets, else the two selectors."""
        if self.ip_block is not None:
            not_nets = [str(ipaddress.ip_network(e, strict=False)) for e in self.ip_block.except_ or []]
            return {"nets": [str(ipaddress.ip_network(self.ip_block.cidr or "", strict=False))],
                    "not_nets": not_nets or None}
        return {"selector": (self.pod_selector or LabelSelector()).to_calico(True),
                "namespace_selector": self.namespace_selector.to_calico(False)
                if self.namespace_selector is not None else None}


PEERS = List(StructType(NetworkPolicyPeer))
PORTS = List(StructType(NetworkPolicyPort))


@dataclass(slots=True)
class NetworkPolicyIngressRule(Struct):
    GO = "v1.NetworkPolicyIngressRule"
    ports: list[NetworkPolicyPort] | None = field("ports", PORTS)
    from_: list[NetworkPolicyPeer] | None = field("from", PEERS)

    PEERS_FIELD = "from"

    def peers(self) -> list[NetworkPolicyPeer] | None:
        return self.from_


@dataclass(slots=True)
class NetworkPolicyEgressRule(Struct):
    GO = "v1.NetworkPolicyEgressRule"
    ports: list[NetworkPolicyPort] | None = field("ports", PORTS)
    to: list[NetworkPolicyPeer] | None = field("to", PEERS)

    PEERS_FIELD = "to"

    def peers(self) -> list[NetworkPolicyPeer] | None:
        return self.to


@dataclass(slots=True)
class KubernetesNetworkPolicySpec(Struct):
    """networking/v1 NetworkPolicySpec."""

    GO = "v1.NetworkPolicySpec"
    pod_selector: LabelSelector = field("podSelector", LabelSelector, omit=Omit.NEVER)
    ingress: list[NetworkPolicyIngressRule] | None = field("ingress", List(StructType(NetworkPolicyIngressRule)))
    egress: list[NetworkPolicyEgressRule] | None = field("egress", List(StructType(NetworkPolicyEgressRule)))
    policy_types: list[str] | None = field("policyTypes", List(STRING))

    def check(self, c: Checker, at: str) -> None:
        """ValidateNetworkPolicySpec."""
        (self.pod_selector or LabelSelector()).check(c, join(at, "podSelector"))
        rules: list[tuple[str, NetworkPolicyIngressRule | NetworkPolicyEgressRule]] = [
            *((join(join(at, "ingress"), i), r) for i, r in enumerate(self.ingress or [])),
            *((join(join(at, "egress"), i), r) for i, r in enumerate(self.egress or []))]
        for path, rule in rules:
            for j, port in enumerate(rule.ports or []):
                port.check(c, join(join(path, "ports"), j))
            for j, peer in enumerate(rule.peers() or []):
                peer.check(c, join(join(path, rule.PEERS_FIELD), j))
        types = self.policy_types or []
        for i, t in enumerate(types):
            if t not in POLICY_TYPES:
                c.error(join(join(at, "policyTypes"), i), t, 'supported values: "Ingress", "Egress"')
        if len(types) > 2:
            c.error(join(at, "policyTypes"), types, "may not have more than 2 items")

    def to_calico(self) -> dict[str, Any]:
        """K8sNetworkPolicyToCalico's spec, as a v3 NetworkPolicySpec document. The spec must
        have passed ``check``."""
        ingress = [r for rule in self.ingress or [] for r in _rules(rule.from_, rule.ports, True)]
        egress = [r for rule in self.egress or [] for r in _rules(rule.to, rule.ports, False)]
        types = [t for t in POLICY_TYPES if t in (self.policy_types or [])] or ["Ingress"]
        spec: dict[str, Any] = {"tier": KUBERNETES_TIER, "order": KUBERNETES_ORDER,
                                "selector": (self.pod_selector or LabelSelector()).to_calico(True), "types": types}
        if ingress:
            spec["ingress"] = [r.encode() for r in ingress]
        if egress:
            spec["egress"] = [r.encode() for r in egress]
        return spec


def _rules(peers: list[NetworkPolicyPeer] | None, ports: list[NetworkPolicyPort] | None, ingress: bool) -> list[Rule]:
    """k8sRuleToCalico: one Allow rule per protocol (in name order) and peer; a port without a
    protocol is TCP; a port entry without a port allows all of its protocol's ports."""
    by_protocol: dict[str, list[int | str] | None] = {}
    for port in ports or []:
        protocol, numbers = port.protocol or "TCP", port.calico_ports()
        if numbers is None:
            by_protocol[protocol] = None
        elif protocol not in by_protocol or by_protocol[protocol] is not None:
            by_protocol[protocol] = (by_protocol.get(protocol) or []) + numbers
    out = []
    for protocol in sorted(by_protocol) or [""]:
        numbers = simplify_ports(by_protocol.get(protocol))
        listed: list[NetworkPolicyPeer | None] = list(peers or []) or [None]
        for peer in listed:
            fields = peer.fields() if peer is not None else {}
            if ingress:
                out.append(Rule(action="Allow", protocol=protocol or None, source=EntityRule(**fields),
                                destination=EntityRule(ports=numbers)))
            else:
                out.append(Rule(action="Allow", protocol=protocol or None,
                                destination=EntityRule(ports=numbers, **fields)))
    return out


def simplify_ports(ports: list[int | str] | None) -> list[int | str] | None:
    """SimplifyPorts: named ports as given, numbers and ranges merged into the fewest ranges."""
    if ports is None or len(ports) <= 1:
        return ports
    named = [p for p in ports if isinstance(p, str) and ":" not in p]
    numbers: set[int] = set()
    for p in ports:
        if isinstance(p, int):
            numbers.add(p)
        elif ":" in p:
            lo, hi = map(int, p.split(":"))
            numbers.update(range(lo, hi + 1))
    if len(numbers) <= 1:
        return ports
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return named + [lo if lo == hi else f"{lo}:{hi}" for lo, hi in spans]


def check_subdomain_name(c: Checker, name: str) -> None:
    """A Kubernetes object's name as the API server checks it: given, and a DNS subdomain."""
    if not name:
        c.error("metadata.name", None, "name or generateName is required")
    elif len(name) > 253 or not _SUBDOMAIN.fullmatch(name):
        c.error("metadata.name", name, "a lowercase RFC 1123 subdomain must consist of lower case "
                                       "alphanumeric characters, '-' or '.', and must start and end with "
                                       "an alphanumeric character")


class _KubernetesResource(Resource):
    """A Kubernetes object: its name a DNS subdomain, checked as the API server checks it."""

    __slots__ = ()

    def check(self, c: Checker, at: str) -> None:
        check_subdomain_name(c, self.name)
        check_labels(c, self.metadata.labels)
        check_annotations(c, self.metadata.annotations)
        self.spec.check(c, "spec")


@dataclass(slots=True)
class KubernetesNetworkPolicy(_KubernetesResource):
    """A ``networking.k8s.io/v1`` NetworkPolicy; enforced as ``calico_doc`` gives it."""

    KIND = "NetworkPolicy"
    API = NETWORKING_API
    MODEL_KIND = "KubernetesNetworkPolicy"  # libcalico-go model.KindKubernetesNetworkPolicy
    NAMESPACED = True
    PLURAL = "kubernetesnetworkpolicies"
    NAMES = ("networkpolicy.networking.k8s.io", "networkpolicies.networking.k8s.io", "kubernetesnetworkpolicy",
             "kubernetesnetworkpolicies", "knp", "knps")

    spec: KubernetesNetworkPolicySpec = field("spec", KubernetesNetworkPolicySpec, omit=Omit.NEVER)

    def calico_doc(self) -> dict[str, Any]:
        """The Calico NetworkPolicy it stands for, named ``knp.default.<name>`` (conversion.go)."""
        return calico_policy_doc(KNP_PREFIX + self.name, self.namespace, self.spec)


def calico_policy_doc(name: str, namespace: str | None, spec: KubernetesNetworkPolicySpec) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    return {"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy", "metadata": meta,
            "spec": spec.to_calico()}


@dataclass(slots=True)
class NamespaceSpec(Struct):
    GO = "v1.NamespaceSpec"
    finalizers: list[str] | None = field("finalizers", List(STRING))


@dataclass(slots=True)
class Namespace(_KubernetesResource):
    """A ``v1`` Namespace: only its labels matter, as the profile ``kns.<name>``."""

    KIND = "Namespace"
    API = CORE_API
    PLURAL = "namespaces"
    NAMES = ("namespace", "namespaces", "ns")

    spec: NamespaceSpec = field("spec", NamespaceSpec, omit=Omit.NEVER)

    def check(self, c: Checker, at: str) -> None:
        _KubernetesResource.check(self, c, at)
        if self.name and not _DNS_LABEL.fullmatch(self.name):
            c.error("metadata.name", self.name, LABEL_NAME_REASON)

    def profile_doc(self) -> dict[str, Any]:
        """NamespaceToProfile: allow-all rules, its labels as ``pcns.`` labels to apply; the
        profile's metadata keeps the namespace's own labels (tortie's calc reads them there)."""
        labels = dict(self.metadata.labels or {})
        to_apply = {NAMESPACE_LABEL_PREFIX + k: v for k, v in labels.items()}
        to_apply[NAMESPACE_LABEL_PREFIX + NAMESPACE_NAME_LABEL] = self.name
        return {"apiVersion": "projectcalico.org/v3", "kind": "Profile",
                "metadata": {"name": NAMESPACE_PROFILE_PREFIX + self.name, "labels": labels},
                "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}],
                         "labelsToApply": to_apply}}


KUBERNETES_KINDS: tuple[type[Resource], ...] = (KubernetesNetworkPolicy, Namespace)
