"""The node plan: every fact the kernel and the model both need, decided once.

``build_plan`` takes calc's ``NodeView``, the typed settings and the node's interfaces and
returns a ``Plan``: which endpoint governs each interface, the tiers, policies and
profiles of every local endpoint in order, per IP family which rules apply, and every
denial's metric label and prefixes. The renderer turns a Plan into chains; the model
evaluates packets against it. Both read; neither decides these facts again.

Pure and cheap per change: with a ``PlanCache``, the plans of endpoints, policies and
profiles are reused while calc hands out the same objects (calc/view.py's identity
contract), so a change re-plans only what it touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Mapping

from ..calc import CalcRule, EndpointView, Entity, IPSet, NodeView, PolicyData, PolicyView, ProfileView, Side, TierView
from ..config import Settings, expand_log_prefix
from ..core import Direction, IPNetwork, RuleAction, Stage, paused_gc
from ..resources import Rule
from .denials import Denial, policy_denial, profile_denial
from .interfaces import (LOOPBACK, Governor, InterfaceKind, SourceCheck, SourceOutcome, resolve_host_endpoints,
                         resolve_workloads, source_check, spoofed_prefixes, spoofing_refused)
from .ipsets import oversized
from .leftout import LeftOut, LeftOutKind
from .rules import PlannedRule, RuleSet, plan_rules

# ICMPv6 a workload may always send to its host: MLD and neighbour discovery (evaluation.md §4).
ICMPV6_FROM_WORKLOAD = (130, 131, 132, 133, 135, 136)
NO_INTERFACES: Mapping[str, frozenset[str]] = MappingProxyType({})
NO_TIERS: Mapping[tuple[Stage, Direction], tuple[TierPlan, ...]] = MappingProxyType({})
NO_LEFT_OUT: Mapping[LeftOut, str] = MappingProxyType({})
# The one rule of a policy or profile the kernel refused: it matches every packet and denies it.
DENY_ALL = CalcRule(0, RuleAction.DENY, None, None, None, None, None, Side(), Side(), Rule(action="Deny"))


@dataclass(frozen=True)
class PolicyPlan:
    """A policy's rules per direction, each rule with its family decision and denial."""

    key: str  # "<name>" (GlobalNetworkPolicy) or "<namespace>/<name>" (NetworkPolicy)
    data: PolicyData
    ingress: RuleSet
    egress: RuleSet

    @property
    def kind(self) -> str:
        """``np``, ``gnp`` or ``knp``: the %k of LOG prefixes."""
        return self.data.kind_short_name

    def rules(self, direction: Direction) -> RuleSet:
        return self.ingress if direction is Direction.INGRESS else self.egress

    @property
    def what(self) -> str:
        """``<Kind> [<namespace>/]<name>``, as problems name it."""
        return f"{self.data.kind} {self.key}"


@dataclass(frozen=True)
class ProfilePlan:
    name: str
    exists: bool  # a profile an endpoint lists but nobody created has no rules
    ingress: RuleSet
    egress: RuleSet

    def rules(self, direction: Direction) -> RuleSet:
        return self.ingress if direction is Direction.INGRESS else self.egress


@dataclass(frozen=True)
class TierPlan:
    """A tier at one stage and direction: its policies there and its end-of-tier deny."""

    name: str
    policies: tuple[PolicyPlan, ...]  # in evaluation order
    # The end-of-tier deny (normal and forward stages); None when the tier's defaultAction is
    # Pass: a packet no policy decided goes on to the next tier, and no denial is logged or
    # counted (felix/rules/endpoints.go, felix/calc/endpoint_lookup_cache.go).
    end: Denial | None


@dataclass(frozen=True)
class EndpointPlan:
    """A local endpoint's tiers per (stage, direction) and its profiles, planned."""

    view: EndpointView
    tiers: Mapping[tuple[Stage, Direction], tuple[TierPlan, ...]]
    profiles: tuple[ProfilePlan, ...]  # in the order the endpoint lists them

    @property
    def entity(self) -> Entity:
        return self.view.entity

    @property
    def key(self) -> str:
        return self.view.key

    @property
    def is_host(self) -> bool:
        return self.view.entity.kind == "HostEndpoint"

    @property
    def name(self) -> str:
        """``[<namespace>/]<name>``, as flow logs and explain name endpoints."""
        e = self.view.entity
        return f"{e.namespace}/{e.name}" if e.namespace else e.name

    def tiers_at(self, stage: Stage, direction: Direction) -> tuple[TierPlan, ...]:
        return self.tiers.get((stage, direction), ())

    def set_users(self) -> dict[str, list[str]]:
        """Set id -> the policies and profiles (``<Kind> <name>``) of this endpoint whose rules
        match on it, for every set they use."""
        users: dict[str, dict[str, None]] = {}
        for (_, direction), tiers in self.tiers.items():
            for tier in tiers:
                for policy in tier.policies:
                    for set_id in policy.rules(direction).set_ids:
                        users.setdefault(set_id, {}).setdefault(policy.what)
        for profile in self.profiles:
            for set_id in profile.ingress.set_ids | profile.egress.set_ids:
                users.setdefault(set_id, {}).setdefault(f"Profile {profile.name}")
        return {set_id: list(names) for set_id, names in users.items()}

    def failed_closed(self) -> EndpointPlan:
        """This endpoint with no tiers and no profiles: every new connection ends at the
        end-of-profiles deny (failsafe ports still open on a host endpoint)."""
        return EndpointPlan(self.view, NO_TIERS, ())


@dataclass
class PlanCache:
    """Plans of the last build, by the identity of what they were built from. Dropped whole
    when the logPrefix template changes (the only setting plans depend on)."""

    log_prefix: str | None = None
    policies: dict[str, tuple[PolicyView, PolicyPlan]] = field(default_factory=dict)
    profiles: dict[str, tuple[ProfileView | None, ProfilePlan]] = field(default_factory=dict)
    endpoints: dict[str, tuple[EndpointView, EndpointPlan]] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """What one node enforces, as both the renderer and the model read it. Immutable; all
    mappings are read-only. Interfaces are named as the kernel names them; addresses are
    IP address text without a prefix length."""

    view: NodeView
    settings: Settings
    interfaces: Mapping[str, frozenset[str]]  # the node's interfaces and their addresses
    endpoints: Mapping[str, EndpointPlan]  # every local endpoint, by key
    workloads: Mapping[str, EndpointPlan]  # workload interface -> its endpoint, sorted by interface
    host_endpoints: Mapping[str, EndpointPlan]  # host interface -> its host endpoint, sorted by interface
    all_interfaces: EndpointPlan | None  # the ``*`` host endpoint
    excluded: tuple[str, ...]  # interfaces the ``*`` host endpoint leaves alone, besides lo and workloads
    warnings: tuple[str, ...]  # ties between endpoints, for the agent to log once
    # workload interface -> allowSpoofedSourcePrefixes (only interfaces with any), sorted by interface
    spoofing: Mapping[str, tuple[IPNetwork, ...]]
    left_out: Mapping[LeftOut, str]  # sets, policies, profiles and endpoints left out of the kernel -> why
    failures: tuple[str, ...]  # what cannot be enforced and fails closed, naming each resource, for health

    @property
    def node(self) -> str:
        return self.view.node

    @property
    def ipsets(self) -> Mapping[str, IPSet]:
        return self.view.ipsets

    def governor(self, interface: str) -> Governor:
        """What governs ``interface``: the one decision both the kernel's dispatch chains and
        the model follow (evaluation.md §3)."""
        if self.settings.is_workload_interface(interface):
            return Governor(InterfaceKind.WORKLOAD, self.workloads.get(interface))
        hep = self.host_endpoints.get(interface)
        if hep is not None:
            return Governor(InterfaceKind.HOST, hep)
        if self.all_interfaces is not None and interface != LOOPBACK and interface not in self.excluded:
            return Governor(InterfaceKind.HOST, self.all_interfaces)
        return Governor(InterfaceKind.OTHER)

    def source_check(self, interface: str, src: str) -> SourceCheck:
        """What anti-spoofing makes of a packet from ``src`` arriving on ``interface``: on a
        workload interface, dropped unless the endpoint's addresses or its
        ``allowSpoofedSourcePrefixes`` cover ``src`` (strict reverse-path filtering in the raw
        table, Felix's rules/static.go); elsewhere UNCHECKED. The one decision the kernel's
        cali-rpf-skip chain and the model both follow."""
        if not self.settings.is_workload_interface(interface):
            return SourceCheck(SourceOutcome.UNCHECKED)
        return source_check(self.workloads.get(interface), self.spoofing.get(interface, ()), src)


class _Builder:
    def __init__(self, view: NodeView, settings: Settings, cache: PlanCache) -> None:
        if cache.log_prefix != settings.log_prefix:
            cache.log_prefix, cache.policies, cache.profiles, cache.endpoints = settings.log_prefix, {}, {}, {}
        self.view = view
        self.settings = settings
        self.cache = cache

    def policy(self, key: str) -> PolicyPlan:
        view = self.view.policies[key]
        hit = self.cache.policies.get(key)
        if hit is None or hit[0] is not view:
            data = view.data
            prefix = expand_log_prefix(self.settings.log_prefix, data.tier, data.kind_short_name, data.name,
                                       data.namespace)
            hit = (view, PolicyPlan(key, data, *(
                plan_rules(rules, direction, prefix, partial(policy_denial, data.tier, data.label_name, direction))
                for rules, direction in ((view.ingress, Direction.INGRESS), (view.egress, Direction.EGRESS)))))
            self.cache.policies[key] = hit
        return hit[1]

    def profile(self, name: str) -> ProfilePlan:
        view = self.view.profiles.get(name)
        hit = self.cache.profiles.get(name)
        if hit is None or hit[0] is not view:
            prefix = expand_log_prefix(self.settings.log_prefix, "", "pro", name, None)
            ingress, egress = (view.ingress, view.egress) if view is not None else ((), ())
            hit = (view, ProfilePlan(name, view is not None, *(
                plan_rules(rules, direction, prefix, partial(profile_denial, name, direction))
                for rules, direction in ((ingress, Direction.INGRESS), (egress, Direction.EGRESS)))))
            self.cache.profiles[name] = hit
        return hit[1]

    def tier(self, tier: TierView, direction: Direction) -> TierPlan:
        policies = tuple(self.policy(key) for key in tier.policies)
        end = (policy_denial(tier.name, policies[-1].data.label_name, direction, -1)
               if tier.default_action is RuleAction.DENY else None)
        return TierPlan(tier.name, policies, end)

    def endpoint(self, view: EndpointView) -> EndpointPlan:
        hit = self.cache.endpoints.get(view.key)
        if hit is None or hit[0] is not view:
            tiers = {(stage, direction): tuple(self.tier(t, direction) for t in found)
                     for (stage, direction), found in view.tiers.items()}
            hit = (view, EndpointPlan(view, MappingProxyType(tiers),
                                      tuple(self.profile(name) for name in view.entity.profiles)))
        return hit[1]


def _fail_closed(endpoints: dict[str, EndpointPlan], refused: Mapping[str, str]) -> list[str]:
    """Replace each endpoint whose rules need a refused set by its failed-closed plan; one
    line per set naming the set, why, the policies and profiles using it and those endpoints."""
    users: dict[str, dict[str, None]] = {set_id: {} for set_id in refused}
    failed: dict[str, list[str]] = {set_id: [] for set_id in refused}
    for key, ep in sorted(endpoints.items()):
        needed = {set_id: names for set_id, names in ep.set_users().items() if set_id in refused}
        for set_id, names in needed.items():
            users[set_id].update(dict.fromkeys(names))
            failed[set_id].append(ep.name)
        if needed:
            endpoints[key] = ep.failed_closed()
    return [f"IP set {set_id} {refused[set_id]}: left out; used by {', '.join(users[set_id])}; "
            f"{_fail(failed[set_id])}" for set_id in sorted(refused) if failed[set_id]]


def _fail(names: list[str]) -> str:
    return f"endpoint {names[0]} fails closed" if len(names) == 1 else f"endpoints {', '.join(names)} fail closed"


def _denying(rules: RuleSet, denial: Denial, reason: str) -> RuleSet:
    note = f"left out: it {reason}; it denies every packet that reaches it"
    return RuleSet(rules.direction, (PlannedRule(DENY_ALL, denial, None, None, note),), rules.log_prefix)


def _deny_left_out(endpoints: dict[str, EndpointPlan], left_out: Mapping[LeftOut, str]) -> list[str]:
    """Replace, in every endpoint, each left-out policy and profile by one that denies every
    packet reaching it, and each left-out endpoint by its failed-closed plan; one line per
    left-out resource that applies here, naming it, why, and the endpoints failing closed."""
    policies = {k.key: why for k, why in left_out.items() if k.kind is LeftOutKind.POLICY}
    profiles = {k.key: why for k, why in left_out.items() if k.kind is LeftOutKind.PROFILE}
    denying: dict[str, PolicyPlan] = {}
    denying_profiles: dict[str, ProfilePlan] = {}
    users: dict[str, dict[str, None]] = {}  # "<Kind> <name>" -> the endpoints it fails closed
    reasons: dict[str, str] = {}
    failures = []

    def policy(p: PolicyPlan) -> PolicyPlan:
        if p.key not in policies:
            return p
        if p.key not in denying:
            d, why = p.data, policies[p.key]
            denying[p.key] = PolicyPlan(p.key, d, *(
                _denying(p.rules(direction), policy_denial(d.tier, d.label_name, direction, 0), why)
                for direction in (Direction.INGRESS, Direction.EGRESS)))
        return denying[p.key]

    def profile(p: ProfilePlan) -> ProfilePlan:
        if p.name not in profiles:
            return p
        if p.name not in denying_profiles:
            denying_profiles[p.name] = ProfilePlan(p.name, p.exists, *(
                _denying(p.rules(direction), profile_denial(p.name, direction, 0), profiles[p.name])
                for direction in (Direction.INGRESS, Direction.EGRESS)))
        return denying_profiles[p.name]

    for key, ep in sorted(endpoints.items()):
        why = left_out.get(LeftOut(LeftOutKind.ENDPOINT, key))
        if why is not None:
            endpoints[key] = ep.failed_closed()
            failures.append(f"{ep.entity.kind} {ep.name} {why}: left out; {_fail([ep.name])}")
            continue
        hit = {p.what: policies[p.key] for found in ep.tiers.values() for t in found for p in t.policies
               if p.key in policies}
        hit.update({f"Profile {p.name}": profiles[p.name] for p in ep.profiles if p.name in profiles})
        if not hit:
            continue
        for what in hit:
            users.setdefault(what, {})[ep.name] = None
        reasons.update(hit)
        tiers = {at: tuple(TierPlan(t.name, tuple(policy(p) for p in t.policies), t.end) for t in found)
                 for at, found in ep.tiers.items()}
        endpoints[key] = EndpointPlan(ep.view, MappingProxyType(tiers), tuple(profile(p) for p in ep.profiles))
    return failures + [f"{what} {reasons[what]}: left out, denying every packet that reaches it; {_fail(list(eps))}"
                       for what, eps in sorted(users.items())]


def build_plan(view: NodeView, settings: Settings, interfaces: Mapping[str, frozenset[str]] = NO_INTERFACES,
               cache: PlanCache | None = None, left_out: Mapping[LeftOut, str] = NO_LEFT_OUT) -> Plan:
    """The plan of ``view``'s node under ``settings``.

    Inputs: ``view`` from ``Calculator.view()``; ``settings``, the node's typed effective
    configuration; ``interfaces``, the node's interfaces, name -> addresses (text), for host
    endpoints found by ``expectedIPs`` and for /regex/ exclusions; ``cache``, kept by the
    caller across builds (the agent keeps one), without which everything is planned afresh;
    ``left_out``, what the kernel refused -> why (the agent finds it from what the dataplane
    reports): a set is left out like a set over maxIpsetSize, and the endpoints whose rules
    need it fail closed; a policy or profile denies every packet that reaches it (the rules
    after it in an endpoint's order are never reached); an endpoint keeps no tiers and no
    profiles.
    Returns the ``Plan``: endpoints by key, the endpoint governing each workload and host
    interface, the ``*`` host endpoint and what it leaves alone, per endpoint its tiers per
    (stage, direction) and profiles, per rule the IP families it applies to, and every
    denial's metric label, LOG prefix and NFLOG prefix, the spoofed source prefixes each
    workload interface allows, and ``failures`` naming what was left out. Never raises for
    content calc accepted; ties between endpoints are ``Plan.warnings`` (one line each).

    Follows evaluation.md §3–§7 and dataplane.md §4 and §6; host endpoint resolution as
    Felix's endpoint_mgr.go resolveHostEndpoints, NFLOG prefixes as felix/rules/nflogprefix.go.
    """
    cache = cache if cache is not None else PlanCache()
    builder = _Builder(view, settings, cache)
    with paused_gc():  # plans are acyclic; a collection here would rescan the whole cluster's objects
        endpoints = {key: builder.endpoint(ep) for key, ep in view.endpoints.items()}
    cache.endpoints = {key: (view.endpoints[key], plan) for key, plan in endpoints.items()}
    for key in [k for k in cache.policies if k not in view.policies]:
        del cache.policies[key]
    listed = {name for ep in view.endpoints.values() for name in ep.entity.profiles}
    for name in [n for n in cache.profiles if n not in listed]:
        del cache.profiles[name]
    refused = {key: why for key, ep in endpoints.items() if not ep.is_host and (why := spoofing_refused(ep, settings))}
    for key in refused:
        del endpoints[key]  # treated as missing, as Felix's validation filter does
    unwritable = {**oversized(view.ipsets, settings.families, settings.max_ipset_size), **left_out}
    sets = {key.key: why for key, why in unwritable.items() if key.kind is LeftOutKind.SET}
    failures = _fail_closed(endpoints, sets) if sets else []
    if len(sets) < len(unwritable):
        failures += _deny_left_out(endpoints, unwritable)
    workloads, workload_warnings = resolve_workloads([ep for ep in endpoints.values() if not ep.is_host], settings)
    heps = resolve_host_endpoints([ep for ep in endpoints.values() if ep.is_host], interfaces, settings)
    return Plan(view, settings, MappingProxyType(dict(interfaces)), MappingProxyType(endpoints),
                MappingProxyType(workloads), MappingProxyType(heps.by_interface), heps.all_interfaces,
                heps.excluded, tuple(refused.values()) + tuple(workload_warnings) + heps.warnings,
                MappingProxyType(spoofed_prefixes(workloads)), MappingProxyType(unwritable), tuple(failures))
