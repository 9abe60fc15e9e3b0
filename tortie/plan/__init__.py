"""The node plan: the one place that decides what both the kernel and the model need
(which endpoint governs each interface, which rules apply per IP family, every denial's
label and prefixes). Pure; consumed by tortie.render and tortie.model."""

from .denials import NFLOG_GROUPS, NO_MATCH, PROFILE_TIER, Denial, nflog_prefix, no_match, policy_denial, profile_denial
from .interfaces import (ALL_INTERFACES, LOOPBACK, Governor, HostEndpoints, InterfaceKind, SourceCheck, SourceOutcome,
                         resolve_host_endpoints)
from .ipsets import family_members, oversized
from .leftout import LeftOut, LeftOutKind, isolate, part_of
from .plan import (ICMPV6_FROM_WORKLOAD, EndpointPlan, Plan, PlanCache, PolicyPlan, ProfilePlan, TierPlan,
                   build_plan)
from .rules import PlannedRule, RuleSet, family_mismatch

__all__ = [
    "ALL_INTERFACES", "ICMPV6_FROM_WORKLOAD", "LOOPBACK", "NFLOG_GROUPS", "NO_MATCH", "PROFILE_TIER", "Denial",
    "EndpointPlan",
    "Governor", "HostEndpoints", "InterfaceKind", "LeftOut", "LeftOutKind", "Plan", "PlanCache", "PlannedRule",
    "PolicyPlan", "ProfilePlan", "RuleSet", "SourceCheck", "SourceOutcome", "TierPlan", "build_plan", "family_members",
    "family_mismatch", "isolate", "nflog_prefix", "no_match", "oversized", "part_of", "policy_denial", "profile_denial",
    "resolve_host_endpoints",
]
