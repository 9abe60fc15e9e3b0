"""The rules of a policy or profile as the kernel and the model both take them: per IP
family, which apply (evaluation.md §6), and each Deny rule's denial."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..calc import CalcRule
from ..core import ICMP, ICMPV6, Direction, RuleAction
from .denials import Denial


def family_mismatch(rule: CalcRule, family: int) -> str | None:
    """Why ``rule`` can never match a packet of IP version ``family``, or None when it can.
    The one place that decides it: the renderer leaves such a rule out, the model skips it.

    felix/rules/policy.go (FilterRuleToIPVersion, filterNets): a rule without ``ipVersion``
    is left out for a family when its nets or notNets, on either side, are not empty but hold
    no CIDR of that family. (Felix also leaves out a rule whose notNets hold the catch-all;
    the validator refuses those, and mixed families in one rule, before they get here.)
    """
    if rule.ip_version is not None and rule.ip_version != family:
        return f"rule is for IPv{rule.ip_version}"
    if (rule.protocol, family) in ((ICMP, 6), (ICMPV6, 4)):
        return "ICMP protocol of the other IP version"
    for name, side in (("source", rule.source), ("destination", rule.destination)):
        if side.nets and not any(n.version == family for n in side.nets):
            return f"no IPv{family} CIDR in {name} nets"
        if side.not_nets and not any(n.version == family for n in side.not_nets):
            return f"no IPv{family} CIDR in {name} notNets"
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


def plan_rules(rules: tuple[CalcRule, ...], direction: Direction, log_prefix: str,
               denial: Callable[[int], Denial]) -> RuleSet:
    """``denial(index)`` gives the Denial of the Deny rule at ``index``."""
    return RuleSet(direction, tuple(
        PlannedRule(r, denial(r.index) if r.action is RuleAction.DENY else None,
                    family_mismatch(r, 4), family_mismatch(r, 6)) for r in rules), log_prefix)
