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


def never_matches(rule: CalcRule) -> str | None:
    """Why ``rule`` matches no packet at all, or None.

    A side naming a Kubernetes Service matches the Service's endpoints (felix/calc/
    rule_scanner.go turns it into an IP set of them); tortie has no Services, so the side is
    what Calico makes of a Service with no endpoints: an empty set, and the rule never matches.
    """
    for name, side in (("source", rule.rule.source), ("destination", rule.rule.destination)):
        service = side.services if side is not None else None
        if service is not None:
            named = f"{service.namespace}/{service.name}" if service.namespace else service.name
            return (f"{name} names Service {named}: tortie knows no Kubernetes Services, and Calico matches "
                    "nothing for a Service with no endpoints")
    return None


def rule_note(rule: CalcRule) -> str | None:
    """What ``explain`` adds when the rule matches: a part of it Felix does not enforce.

    Felix in iptables mode without application layer policy renders a rule without its
    ``http`` match (felix/rules/policy.go has no HTTP criteria; only the ALP sidecar reads
    it), so the rule matches on its other fields alone."""
    if rule.rule.http is not None:
        return ("its http match is not enforced: Felix in iptables mode without application layer policy "
                "matches on the rule's other fields alone")
    return None


@dataclass(frozen=True)
class PlannedRule:
    rule: CalcRule
    denial: Denial | None  # for a Deny rule
    skip4: str | None  # why it matches no IPv4 packet (never_matches, family_mismatch)
    skip6: str | None
    note: str | None = None  # rule_note

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
    planned = []
    for r in rules:
        never = never_matches(r)
        planned.append(PlannedRule(r, denial(r.index) if r.action is RuleAction.DENY else None,
                                   never or family_mismatch(r, 4), never or family_mismatch(r, 6), rule_note(r)))
    return RuleSet(direction, tuple(planned), log_prefix)
