"""NFLOG prefixes (dataplane.md §6) and what each stands for.

The kernel hands back only the prefix of the rule that logged a packet; the table built
here turns it into the metric label and the names of the tier, policy and rule, also for
prefixes hashed because they were too long.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from ..calc import CalcRule, NodeView

NFLOG_PREFIX_MAX = 63
NO_MATCH = "__NO_MATCH__"
GROUPS = {"ingress": 1, "egress": 2}


def nflog_prefix(kind: str, direction: str, index: int, ref: str) -> str:
    """``D<o><d><idx>|<ref>``, hashed when longer than 63 bytes."""
    head = f"D{kind}{'I' if direction == 'ingress' else 'E'}{index}|"
    full = head + ref
    if len(full.encode()) <= NFLOG_PREFIX_MAX:
        return full
    digest = base64.urlsafe_b64encode(hashlib.sha224(full.encode()).digest()).decode().rstrip("=")
    return f"{head}#{digest[:24]}"


@dataclass(frozen=True)
class Denial:
    """What one NFLOG prefix stands for."""

    label: str  # the metric label (evaluation.md §8)
    direction: str  # ingress or egress
    tier: str  # "" for profiles
    policy: str  # [<namespace>/]<name>, or the profile's name, or __NO_MATCH__
    rule: int  # the rule's index; -1 for the end of a tier

    @property
    def profile(self) -> bool:
        return not self.tier


def _policy_denial(tier: str, name: str, direction: str, index: int) -> tuple[str, Denial]:
    return (nflog_prefix("P", direction, index, f"{tier}|{name}"),
            Denial(f"{tier}|{name}|{index}|deny", direction, tier, name, index))


def _profile_denial(profile: str, direction: str, index: int) -> tuple[str, Denial]:
    return (nflog_prefix("R", direction, index, profile),
            Denial(f"__PROFILE__|{profile}|{index}|deny", direction, "", profile, index))


def _denies(rules: tuple[CalcRule, ...]) -> list[int]:
    return [r.index for r in rules if r.action == "Deny"]


def nflog_table(view: NodeView) -> dict[str, Denial]:
    """Every prefix the node's tracked chains can log (raw, untracked, chains log none)."""
    table: dict[str, Denial] = {}
    for ep in view.endpoints.values():
        for (stage, direction), tiers in ep.tiers.items():
            if stage == "U":
                continue
            for tier in tiers:
                for key in tier.policies:
                    policy = view.policies[key]
                    for index in _denies(getattr(policy, direction)):
                        prefix, denial = _policy_denial(policy.data.tier, policy.data.label_name, direction, index)
                        table[prefix] = denial
                if stage in ("N", "F") and tier.policies:  # only filter chains end a tier with a deny
                    last = view.policies[tier.policies[-1]].data
                    prefix, denial = _policy_denial(tier.name, last.label_name, direction, -1)
                    table[prefix] = denial
        for direction in GROUPS:
            for name in ep.entity.profiles:
                profile = view.profiles.get(name)
                for index in _denies(getattr(profile, direction)) if profile else []:
                    prefix, denial = _profile_denial(name, direction, index)
                    table[prefix] = denial
            prefix, denial = _profile_denial(NO_MATCH, direction, 0)
            table[prefix] = denial
    return table
