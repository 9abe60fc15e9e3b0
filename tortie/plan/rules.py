"""The rules of a policy or profile as the kernel and the model both take them: per IP
family, which apply (evaluation.md §6), and each Deny rule's denial."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

from ..calc import CalcRule
from ..core import ICMP, ICMPV6, Direction, RuleAction
from .denials import Denial


def family_mismatch(rule: CalcRule, family: int) -> str | None:
    """Why ``rule`` can never match a packet of IP version ``family``, or None when it can.
    The one place that decides it: the renderer leaves such a rule out, the model skips it."""
    if rule.ip_version is not None and rule.ip_version != family:
        return f"rule is for IPv{rule.ip_version}"
    if (rule.protocol, family) in ((ICMP, 6), (ICMPV6, 4)):
        return "ICMP protocol of the other IP version"
    for side in (rule.source, rule.destination):
        if side.nets and not any(n.version == family for n in side.nets):
            return f"no IPv{family} CIDR in nets"
    if rule.protocol is not None and rule.protocol == rule.not_protocol:
        return f"protocol and notProtocol are both {rule.protocol.display}"
    return None


@dataclass(frozen=True)
class PlannedRule:
    rule: CalcRule
    denial: Denial | None  # for a Deny rule
    skip4: str | None  # family_mismatch for IPv4
    skip6: str | None

    def skip(self, family: int) -> str | None:
        return self.skip4 if family == 4 else self.skip6


@dataclass(frozen=True)
class RuleSet:
    """One policy's or profile's rules in one direction."""

    direction: Direction
    rules: tuple[PlannedRule, ...]
    log_prefix: str  # of its Log rules

    @property
    def has_pass(self) -> bool:
        return any(r.rule.action is RuleAction.PASS for r in self.rules)

    @cached_property
    def set_ids(self) -> frozenset[str]:
        """The IP sets (selector and named-port set ids) its rules match on."""
        return frozenset(set_id for r in self.rules for side in (r.rule.source, r.rule.destination)
                         for set_id in (side.selector, side.not_selector, *side.named_ports, *side.not_named_ports)
                         if set_id)


def plan_rules(rules: tuple[CalcRule, ...], direction: Direction, log_prefix: str,
               denial: Callable[[int], Denial]) -> RuleSet:
    """``denial(index)`` gives the Denial of the Deny rule at ``index``."""
    return RuleSet(direction, tuple(
        PlannedRule(r, denial(r.index) if r.action is RuleAction.DENY else None,
                    family_mismatch(r, 4), family_mismatch(r, 6)) for r in rules), log_prefix)
