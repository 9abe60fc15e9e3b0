"""NetworkPolicy and GlobalNetworkPolicy (api/pkg/apis/projectcalico/v3/networkpolicy.go,
globalnetworkpolicy.go) with their defaults (api/pkg/defaults) and checks (validator.go
validateNetworkPolicy, validateGlobalNetworkPolicy; the policy CRDs).

Since Calico v3.30 a policy keeps the name it was created with, and since v3.32 the name
no longer has to start with its tier (libcalico-go commit 790c866c9d).
"""

from __future__ import annotations

import re
from typing import ClassVar

from .resource import LABEL_NAME_REASON, TIER_LABEL, Resource, check_annotations, check_labels
from .rule import GLOBAL, GLOBAL_IN_ENTITY_RULE, Rule, check_selector
from .schema import BOOL, FLOAT, STRING, Checker, List, Omit, Struct, StructType, check_all, field, join, struct
from .values import LABEL_FMT, SUBDOMAIN_FMT, is_name

DEFAULT_TIER = "default"
KUBERNETES_POLICY_PREFIX = "knp.default."
POLICY_TYPES = ("Ingress", "Egress")
PERFORMANCE_HINTS = ("AssumeNeededOnEveryNode",)
NETWORK_POLICY_NAME = re.compile(f"({LABEL_FMT})(\\.{LABEL_FMT})?|((?:knp|ossg)\\.default\\.({SUBDOMAIN_FMT}))")
GLOBAL_POLICY_NAME = re.compile(f"({LABEL_FMT}\\.)?{LABEL_FMT}")
RULES = List(StructType(Rule))


def default_types(ingress: list[Rule] | None, egress: list[Rule] | None) -> list[str]:
    """defaultPolicyTypesField: Ingress unless there are only egress rules."""
    if not egress:
        return ["Ingress"]
    return ["Egress"] if not ingress else ["Ingress", "Egress"]


@struct
class NetworkPolicySpec(Struct):
    tier: str | None = field("tier", STRING)
    order: int | float | None = field("order", FLOAT, omit=Omit.POINTER)
    ingress: list[Rule] | None = field("ingress", RULES)
    egress: list[Rule] | None = field("egress", RULES)
    selector: str | None = field("selector", STRING)
    types: list[str] | None = field("types", List(STRING))
    service_account_selector: str | None = field("serviceAccountSelector", STRING)
    performance_hints: list[str] | None = field("performanceHints", List(STRING))

    SPEC_NAME = "NetworkPolicySpec"

    def check(self, c: Checker, at: str) -> None:
        """The spec's field tags; the spec-wide rules run from the policy (``check_policy``)."""
        if self.tier and not is_name(self.tier):
            c.tag("Tier", self.tier, "name")
        check_all(c, self.ingress or [], join(at, "ingress"))
        check_all(c, self.egress or [], join(at, "egress"))
        check_selector(c, "Selector", self.selector)
        for i, t in enumerate(self.types or []):
            if t not in POLICY_TYPES:
                c.tag(f"Types[{i}]", t, "policyType")
        check_selector(c, "ServiceAccountSelector", self.service_account_selector)
        self.check_fields(c)
        hints = self.performance_hints or []
        if len(set(hints)) != len(hints):
            c.tag("PerformanceHints", hints, "unique")
        else:
            for i, hint in enumerate(hints):
                if hint not in PERFORMANCE_HINTS:
                    c.tag(f"PerformanceHints[{i}]", hint, "oneof")

    def check_fields(self, c: Checker) -> None:
        """Tags of the fields GlobalNetworkPolicySpec adds."""

    def check_policy(self, c: Checker) -> None:
        """validateNetworkPolicySpec."""
        self._check_types(c)
        self._check_services_and_http(c, "not allowed in egress rule")
        self._check_global(c, (("Selector", self.selector),
                               ("ServiceAccountSelector", self.service_account_selector)))

    def _check_types(self, c: Checker) -> None:
        seen: set[str] = set()
        for t in self.types or []:
            if t in seen:
                c.error(f"{self.SPEC_NAME}.Types", self.types, f"'{t}' type specified more than once")
            seen.add(t)

    def _check_services_and_http(self, c: Checker, http_reason: str) -> None:
        for r in self.egress or []:
            if r.source is not None and r.source.services is not None:
                c.error("Services", r.source.services.encode(), "not allowed in egress rule source")
            if r.http is not None:
                c.error("HTTP", r.http.encode(), http_reason)
        for r in self.ingress or []:
            if r.destination is not None and r.destination.services is not None:
                c.error("Services", r.destination.services.encode(), "not allowed in ingress rule destination")

    def _check_global(self, c: Checker, selectors: tuple[tuple[str, str | None], ...]) -> None:
        for name, text in selectors:
            if text and GLOBAL in text:
                c.error(f"{self.SPEC_NAME}.{name}", text, GLOBAL_IN_ENTITY_RULE)

    def check_schema(self, c: Checker, at: str) -> None:
        """The policy CRD's constraints on the spec."""
        for i, t in enumerate(self.types or []):
            c.enum(join(join(at, "types"), i), t, POLICY_TYPES)
        c.max_items(join(at, "types"), self.types, 2)
        for i, hint in enumerate(self.performance_hints or []):
            c.enum(join(join(at, "performanceHints"), i), hint, PERFORMANCE_HINTS)


@struct
class GlobalNetworkPolicySpec(NetworkPolicySpec):
    do_not_track: bool | None = field("doNotTrack", BOOL)
    pre_dnat: bool | None = field("preDNAT", BOOL, go="PreDNAT")
    apply_on_forward: bool | None = field("applyOnForward", BOOL)
    namespace_selector: str | None = field("namespaceSelector", STRING)

    SPEC_NAME = "GlobalNetworkPolicySpec"

    def check_fields(self, c: Checker) -> None:
        check_selector(c, "NamespaceSelector", self.namespace_selector)

    def check_policy(self, c: Checker) -> None:
        """validateGlobalNetworkPolicySpec."""
        if self.do_not_track and self.pre_dnat:
            c.error("PolicySpec.PreDNAT", True,
                    "PreDNAT and DoNotTrack cannot both be true, for a given PolicySpec")
        if self.pre_dnat and self.egress:
            c.error("PolicySpec.Egress", [r.encode() for r in self.egress],
                    "PreDNAT PolicySpec cannot have any Egress rules")
        if self.pre_dnat:
            for t in self.types or []:
                if t == "Egress":
                    c.error("PolicySpec.Types", self.types, "PreDNAT PolicySpec cannot have 'egress' Type")
        if not self.apply_on_forward and (self.do_not_track or self.pre_dnat):
            c.error("PolicySpec.ApplyOnForward", False, "ApplyOnForward must be true if either PreDNAT or "
                                                        "DoNotTrack is true, for a given PolicySpec")
        self._check_types(c)
        self._check_services_and_http(c, "not allowed in egress rules")
        for rules, side in ((self.egress, "destination"), (self.ingress, "source")):
            for r in rules or []:
                services = getattr(r, side).services if getattr(r, side) is not None else None
                if services is not None and not services.namespace:
                    c.error("Namespace", "", "must specify a namespace")
        self._check_global(c, (("Selector", self.selector),
                               ("ServiceAccountSelector", self.service_account_selector),
                               ("NamespaceSelector", self.namespace_selector)))

    def check_schema(self, c: Checker, at: str) -> None:
        NetworkPolicySpec.check_schema(self, c, at)
        if self.do_not_track and self.pre_dnat:
            c.schema(at, "preDNAT and doNotTrack cannot both be true")
        if self.pre_dnat and self.egress:
            c.schema(at, "preDNAT policy cannot have any egress rules")
        if self.pre_dnat and "Egress" in (self.types or []):
            c.schema(at, "preDNAT policy cannot have 'Egress' type")
        if not self.apply_on_forward and (self.do_not_track or self.pre_dnat):
            c.schema(at, "applyOnForward must be true if either preDNAT or doNotTrack is true")


class Policy(Resource):
    __slots__ = ()
    NAME_PATTERN: ClassVar[re.Pattern[str]]
    spec: NetworkPolicySpec

    @property
    def tier(self) -> str:
        return self.spec.tier or DEFAULT_TIER

    def client_defaults(self) -> None:
        """api/pkg/defaults: the types from the rules, and the tier label."""
        spec = self.spec
        if not spec.types:
            spec.types = default_types(spec.ingress, spec.egress)
        self.metadata.labels = {**(self.metadata.labels or {}), TIER_LABEL: self.tier}

    def crd_defaults(self) -> None:
        if not self.spec.tier:
            self.spec.tier = DEFAULT_TIER

    def check(self, c: Checker, at: str) -> None:
        super().check(c, at)
        name = self.name
        if len(name.encode()) > 253:
            c.error("Metadata.Name", name, f"name is too long by {len(name.encode()) - 253} bytes")
        if not self.NAME_PATTERN.fullmatch(name):
            c.error("Metadata.Name", name, LABEL_NAME_REASON)
        check_annotations(c, self.metadata.annotations)
        check_labels(c, self.metadata.labels)
        self.spec.check_policy(c)
        self.spec.check_schema(c, "spec")


@struct
class NetworkPolicy(Policy):
    KIND = "NetworkPolicy"
    NAMESPACED = True
    PLURAL = "networkpolicies"
    NAMES = ("networkpolicy", "networkpolicies", "policy", "np", "policies", "pol", "pols")
    NAME_PATTERN = NETWORK_POLICY_NAME

    spec: NetworkPolicySpec = field("spec", NetworkPolicySpec, omit=Omit.NEVER)


@struct
class GlobalNetworkPolicy(Policy):
    KIND = "GlobalNetworkPolicy"
    PLURAL = "globalnetworkpolicies"
    NAMES = ("globalnetworkpolicy", "globalnetworkpolicies", "gnp", "gnps")
    NAME_PATTERN = GLOBAL_POLICY_NAME

    spec: GlobalNetworkPolicySpec = field("spec", GlobalNetworkPolicySpec, omit=Omit.NEVER)
