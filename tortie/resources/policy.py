"""NetworkPolicy and GlobalNetworkPolicy, and the tier-prefix naming rules (resources.md §3, §6)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import Model, Problems, join
from .errors import FieldError
from .resource import TIER_LABEL, Resource, SpecOf
from .rule import Rule
from .values import Number, SelectorText, is_dns_label, matching, one_of, plain

DEFAULT_TIER = "default"
RESERVED_PREFIXES = ("knp.", "ossg.")
TierName = Annotated[str, plain(matching(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", "must be a valid tier name"))]
PolicyType = Annotated[str, plain(one_of("Ingress", "Egress"))]


def storage_name(name: str, tier: str | None = None) -> str:
    """The stored name of a policy: a ``default.`` prefix is dropped (product rule 10)."""
    prefix = f"{DEFAULT_TIER}."
    if name.startswith(prefix) and tier in (None, DEFAULT_TIER):
        return name[len(prefix):]
    return name


def default_types(spec: PolicySpec) -> list[str]:
    if getattr(spec, "pre_dnat", False):
        return ["Ingress"]
    if spec.egress and not spec.ingress:
        return ["Egress"]
    if spec.egress and spec.ingress:
        return ["Ingress", "Egress"]
    return ["Ingress"]


class PolicySpec(Model):
    tier: TierName | None = None
    order: Number | None = None
    selector: SelectorText | None = None
    types: list[PolicyType] | None = None
    ingress: list[Rule] | None = None
    egress: list[Rule] | None = None

    def problems(self, path: str) -> Problems:
        types = self.types or []
        if len(set(types)) != len(types):
            yield FieldError(join(path, "types"), types, "types must not contain duplicates")


class GlobalPolicySpec(PolicySpec):
    do_not_track: bool | None = None
    pre_dnat: bool | None = Field(default=None, alias="preDNAT")
    apply_on_forward: bool | None = None

    def problems(self, path: str) -> Problems:
        yield from super().problems(path)
        if self.do_not_track and self.pre_dnat:
            yield FieldError(join(path, "preDNAT"), True, "doNotTrack and preDNAT cannot both be true")
        if self.pre_dnat and (self.egress or "Egress" in (self.types or [])):
            yield FieldError(join(path, "egress"), self.egress or [], "preDNAT policy cannot have egress rules")
        if (self.do_not_track or self.pre_dnat) and not self.apply_on_forward:
            yield FieldError(join(path, "applyOnForward"), bool(self.apply_on_forward),
                             "applyOnForward must be true if either preDNAT or doNotTrack is true")


class _Policy(Resource):
    spec: SpecOf[PolicySpec]

    @property
    def tier(self) -> str:
        return self.spec.tier or DEFAULT_TIER

    @property
    def short_name(self) -> str:
        """The name without its ``<tier>.`` prefix (metric labels, log prefixes, ids)."""
        prefix = f"{self.tier}."
        return self.name[len(prefix):] if self.name.startswith(prefix) else self.name

    def name_problems(self) -> list[FieldError]:
        name, tier = self.metadata.name, self.tier
        if name.startswith(RESERVED_PREFIXES):
            return [FieldError("metadata.name", name, 'policy names starting with "knp." or "ossg." are reserved')]
        prefix, dot, rest = name.partition(".")
        if not is_dns_label(rest if dot else name) or (dot and ("." in rest or not is_dns_label(prefix))):
            return [FieldError("metadata.name", name,
                               "policy name must be a DNS-1123 label with an optional '<tier>.' prefix")]
        if (dot and prefix != tier) or (not dot and tier != DEFAULT_TIER):
            return [FieldError("metadata.name", name, f'policy name must be prefixed with its tier "{tier}."')]
        return []

    def fill_server_fields(self) -> None:
        self.spec.tier = self.tier
        if not self.spec.types:
            self.spec.types = default_types(self.spec)
        self.metadata.name = storage_name(self.metadata.name, self.tier)
        self.metadata.labels = {**(self.metadata.labels or {}), TIER_LABEL: self.tier}


class NetworkPolicy(_Policy):
    KIND = "NetworkPolicy"
    NAMESPACED = True
    PLURAL = "networkpolicies"
    NAMES = ("networkpolicy", "networkpolicies", "policy", "policies", "np", "nps", "pol", "pols")


class GlobalNetworkPolicy(_Policy):
    KIND = "GlobalNetworkPolicy"
    PLURAL = "globalnetworkpolicies"
    NAMES = ("globalnetworkpolicy", "globalnetworkpolicies", "gnp", "gnps")

    spec: SpecOf[GlobalPolicySpec]
