"""The reference verdict for one packet on one node (evaluation.md), with a trace.

It evaluates the same ``Plan`` the renderer turns into chains: which endpoint governs an
interface, which rules apply to the packet's IP family and every denial's label and
prefixes are the plan's, so a kernel that disagrees with this model points at exactly
one of the two.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..calc import CalcRule, PortRange, Side
from ..config import EndpointToHostAction
from ..core import ICMP, ICMPV6, Direction, KernelAction, RuleAction, Stage, Verdict, protocol
from ..plan import (ICMPV6_FROM_WORKLOAD, PROFILE_TIER, Denial, EndpointPlan, InterfaceKind, Plan, RuleSet, SourceCheck,
                    SourceOutcome, no_match)
from .packet import Packet

N, F, U, D = Stage.NORMAL, Stage.FORWARD, Stage.UNTRACKED, Stage.PRE_DNAT
INGRESS, EGRESS = Direction.INGRESS, Direction.EGRESS


class _Outcome(StrEnum):
    """What one stage, tier or rule list decides."""

    ALLOW = "allow"
    DENY = "deny"
    NONE = "none"  # no decision here
    PASS = "pass"  # on to the next tier
    ACCEPT = "accept"  # accepted for the whole hook (conntrack, failsafe)


@dataclass(frozen=True)
class _Denied:
    cause: str  # in words, for the trace and ``Result.cause``
    denial: Denial | None = None  # the policy or profile denial, with its label and prefixes
    counted: bool = False  # counted in the denied-packet metrics when the reporter is on


@dataclass(frozen=True)
class PolicyHit:
    """A policy or profile that decided in one tier (flow logs' ``policies``): its tier
    (``__PROFILE__`` for profiles), name (a policy's metric-label name, a profile's name, or
    the last policy of the tier at its end), action (allow, deny, pass) and rule index (-1:
    the end of the tier)."""

    tier: str
    name: str
    action: str
    rule: int


@dataclass(frozen=True)
class StageHits:
    """The hits of one endpoint (``[<namespace>/]<name>``), direction and stage, in order."""

    endpoint: str
    direction: Direction
    stage: Stage
    hits: tuple[PolicyHit, ...]


@dataclass
class Result:
    """The model's answer. ``verdict`` is what the policies decide, before any override;
    ``action`` what the kernel does; ``decided`` is False when tortie gives no verdict and
    the host's own rules decide. ``cause`` says why in one line. ``log_prefixes`` are the
    prefixes of the kernel LOG lines the packet causes and ``log_lines`` those lines, each
    the prefix followed by the fields the kernel prints (IN= OUT= SRC= DST= PROTO= and the
    ports or ICMP type and code), both in order; ``metric_policies`` the denied-packet
    metric labels it adds one packet to (metrics.md); ``trace`` the steps taken, one JSON
    object each, as ``tortie explain -o json`` prints them; ``source_check`` what
    anti-spoofing made of the source (None: the packet was not checked, as one the host
    sends or one given no verdict)."""

    verdict: Verdict
    action: KernelAction
    decided: bool
    cause: str
    denied_by: str | None  # the metric label of the first denial, if it has one
    metric_policies: list[str]
    log_prefixes: list[str]
    log_lines: list[str]
    trace: list[dict[str, Any]]
    hits: tuple[StageHits, ...] = ()
    source_check: SourceCheck | None = None

    def hits_of(self, endpoint: str, direction: Direction) -> tuple[PolicyHit, ...]:
        """The normal-stage hits of a workload endpoint in a direction (none if not evaluated)."""
        return next((h.hits for h in self.hits if h.endpoint == endpoint and h.direction is direction
                     and h.stage is N), ())

    def as_json(self) -> dict[str, Any]:
        return {"verdict": str(self.verdict), "action": str(self.action), "decided": self.decided,
                "cause": self.cause, "deniedBy": self.denied_by, "metricPolicies": self.metric_policies,
                "logPrefixes": self.log_prefixes, "logLines": self.log_lines, "trace": self.trace,
                "antiSpoofing": None if self.source_check is None else {
                    "outcome": str(self.source_check.outcome),
                    "network": None if self.source_check.network is None else str(self.source_check.network)}}


class _End(Exception):
    """The packet's fate is settled for this hook."""

    def __init__(self, action: KernelAction) -> None:
        self.action = action


@dataclass
class _Step:
    title: str
    events: list[str] = field(default_factory=list)
    outcome: _Outcome = _Outcome.NONE
    hits: StageHits | None = None  # for the steps of an endpoint's stage


class Evaluation:
    """One packet's walk through the plan (use ``evaluate``)."""

    def __init__(self, plan: Plan, packet: Packet) -> None:
        self.plan = plan
        self.settings = plan.settings
        self.p = packet
        self.family = packet.family
        self.steps: list[_Step] = []
        self.logs: list[str] = []
        self.metrics: list[str] = []
        self.first: _Denied | None = None
        self._pending = _Denied("")  # the denial a stage just returned DENY for
        self._hits: list[PolicyHit] = []  # of the stage being evaluated

    # --- the whole path ----------------------------------------------------------------

    def run(self) -> Result:
        p = self.p
        decided = True
        action = KernelAction.ACCEPT
        check: SourceCheck | None = None
        try:
            if self.family == 6 and not self.settings.ipv6_support:
                self._note("IPv6 support is off: tortie gives IPv6 packets no verdict")
                decided = False
            elif (check := self._source_check()) is not None and check.dropped:
                action = KernelAction.DROP
            elif p.state == "invalid" and not self.settings.disable_conntrack_invalid_check:
                self._note("conntrack state INVALID: dropped silently (no log, no metric, no override)")
                self.first = _Denied("conntrack INVALID")
                action = KernelAction.DROP
            else:
                outcome = {"input": self._input, "output": self._output, "forward": self._forward}[p.hook]()
                decided = outcome is not _Outcome.NONE
                if not decided:
                    self._note("no tortie verdict: the host's own rules decide")
        except _End as end:
            action = end.action
        first = self.first
        label = first.denial.label if first is not None and first.denial is not None else None
        return Result(Verdict.DENY if first else Verdict.ALLOW, action, decided, first.cause if first else "allowed",
                      label, self.metrics, [line.split("IN=", 1)[0] for line in self.logs], self.logs,
                      [{"step": s.title, "outcome": str(s.outcome), "events": s.events} for s in self.steps],
                      tuple(s.hits for s in self.steps if s.hits is not None), check)

    def _source_check(self) -> SourceCheck | None:
        """Anti-spoofing on the interface the packet arrives on, noted when it decides
        something: a spoofed source is dropped (then ``first`` says so), an allowed spoofed
        prefix lets it on to policy."""
        p = self.p
        if p.in_iface is None:
            return None
        check = self.plan.source_check(p.in_iface, p.src)
        ep = self.plan.workloads.get(p.in_iface)
        if ep is None:
            return check
        if check.dropped:
            self._note(f"anti-spoofing: source {p.src} is not an address of {ep.name} on {p.in_iface} and not in its "
                       "allowSpoofedSourcePrefixes: dropped by strict reverse-path filtering in the raw table "
                       "(no log, no metric, no override)")
            self.first = _Denied(f"spoofed source on {p.in_iface}")
        elif check.outcome is SourceOutcome.ALLOWED:
            self._note(f"anti-spoofing: source {p.src} is not an address of {ep.name}, but its "
                       f"allowSpoofedSourcePrefixes has {check.network}: let through (cali-rpf-skip)")
        return check

    def _input(self) -> _Outcome:
        iface = self.p.in_iface or ""
        governor = self.plan.governor(iface)
        if governor.kind is InterfaceKind.WORKLOAD:
            return self._workload_to_host(iface, governor.endpoint)
        if governor.kind is InterfaceKind.HOST and governor.endpoint is not None:  # a host governor has one
            return self._hep_ingress(governor.endpoint, final=N)
        return _Outcome.NONE

    def _output(self) -> _Outcome:
        iface = self.p.out_iface or ""
        governor = self.plan.governor(iface)
        if governor.kind is InterfaceKind.WORKLOAD:
            self._note(f"host to workload interface {iface}: always permitted, no verdict")
            return _Outcome.NONE
        hep = governor.endpoint
        if hep is None:
            return _Outcome.NONE
        u = self._settle(self._stage(hep, EGRESS, U), U)
        if u is _Outcome.ALLOW:
            return u
        if self.p.dnat:
            self._note("DNATed connection: normal egress policy of the host endpoint is skipped")
            return u
        return self._settle(self._stage(hep, EGRESS, N), N)

    def _forward(self) -> _Outcome:
        p = self.p
        results = []
        into = self.plan.governor(p.in_iface or "")
        out = self.plan.governor(p.out_iface or "")
        if into.kind is InterfaceKind.HOST and into.endpoint is not None:
            results.append(self._hep_ingress(into.endpoint, final=F))
        elif into.kind is InterfaceKind.WORKLOAD:
            results.append(self._workload_step(p.in_iface or "", into.endpoint, EGRESS))
        if out.kind is InterfaceKind.WORKLOAD:
            results.append(self._workload_step(p.out_iface or "", out.endpoint, INGRESS))
        elif out.kind is InterfaceKind.HOST and out.endpoint is not None:
            results.append(self._settle(self._stage(out.endpoint, EGRESS, F), F))
        return _Outcome.ALLOW if _Outcome.ALLOW in results else _Outcome.NONE

    def _workload_step(self, iface: str, ep: EndpointPlan | None, direction: Direction) -> _Outcome:
        if ep is None:
            return self._unknown_interface(iface)
        return self._settle(self._stage(ep, direction, N), N)

    def _workload_to_host(self, iface: str, ep: EndpointPlan | None) -> _Outcome:
        p = self.p
        if ep is None:
            return self._unknown_interface(iface)
        if p.protocol == ICMPV6.number and p.icmp_type in ICMPV6_FROM_WORKLOAD:
            self._note(f"ICMPv6 type {p.icmp_type} (MLD/neighbour discovery) from a workload: always accepted")
            raise _End(KernelAction.ACCEPT)
        self._settle(self._stage(ep, EGRESS, N), N)
        action = self.settings.default_endpoint_to_host_action
        step = self._note(f"workload to host: defaultEndpointToHostAction is {action}")
        if action is EndpointToHostAction.ACCEPT:
            raise _End(KernelAction.ACCEPT)
        if action is EndpointToHostAction.RETURN:
            step.events.append("no tortie verdict: the host's INPUT rules decide")
            return _Outcome.NONE
        return self._deny(_Denied("endpoint-to-host (defaultEndpointToHostAction: Drop)"), N)

    def _hep_ingress(self, hep: EndpointPlan, final: Stage) -> _Outcome:
        if self._settle(self._stage(hep, INGRESS, U), U) is _Outcome.ALLOW:
            return _Outcome.ALLOW
        if self.p.state == "new" and self._settle(self._stage(hep, INGRESS, D), D) is _Outcome.ALLOW:
            return _Outcome.ALLOW
        return self._settle(self._stage(hep, INGRESS, final), final)

    # --- denials and the override -------------------------------------------------------

    def _settle(self, outcome: _Outcome, stage: Stage) -> _Outcome:
        if outcome is _Outcome.ACCEPT:
            raise _End(KernelAction.ACCEPT)
        if outcome is _Outcome.DENY:
            return self._deny(self._pending, stage)
        return outcome

    def _unknown_interface(self, iface: str) -> _Outcome:
        self._note(f"interface {iface} looks like a workload interface but no local endpoint has it")
        return self._deny(_Denied(f"unknown interface {iface}"), N)

    def _deny(self, denied: _Denied, stage: Stage) -> _Outcome:
        """Apply dropActionOverride to a denial; ALLOW for an accepted denial at U or D."""
        if self.first is None:
            self.first = denied
        if denied.counted and denied.denial is not None and stage.tracked \
                and self.settings.prometheus_reporter.enabled:
            self.metrics.append(denied.denial.label)
        override = self.settings.drop_action_override
        if override.logs:
            self._log(self.settings.drop_log_prefix)
        self._note(f"denied ({denied.cause}); dropActionOverride {override}: {override.kernel_action}")
        if not override.accepts:
            raise _End(KernelAction.DROP)
        if stage in (U, D):
            return _Outcome.ALLOW
        raise _End(KernelAction.ACCEPT)

    # --- one endpoint, one direction, one stage --------------------------------------------

    def _stage(self, ep: EndpointPlan, direction: Direction, stage: Stage) -> _Outcome:
        e = ep.entity
        step = _Step(f"{direction} of {e.kind} {ep.name}, stage {stage}")
        self.steps.append(step)
        self._hits = []
        step.outcome = self._stage_outcome(ep, direction, stage, step)
        step.hits = StageHits(ep.name, direction, stage, tuple(self._hits))
        return step.outcome

    def _stage_outcome(self, ep: EndpointPlan, direction: Direction, stage: Stage, step: _Step) -> _Outcome:
        p = self.p
        if stage in (N, F) and p.tracked_reply:
            step.events.append(f"conntrack {p.state.upper()}: accepted before policy")
            return _Outcome.ACCEPT
        if ep.is_host and stage is not F and self._failsafe(direction, stage):
            step.events.append("failsafe port: accepted before policy")
            return _Outcome.ACCEPT if stage is N else _Outcome.ALLOW
        tiers = ep.tiers_at(stage, direction)
        for tier in tiers:
            passed = False
            for policy in tier.policies:
                where = f"tier {tier.name}, {policy.data.kind} {policy.key}"
                verdict = self._rules(policy.rules(direction), step, where, stage, tier.name, policy.data.label_name)
                if verdict is _Outcome.PASS:
                    step.events.append(f"tier {tier.name}: Pass, on to the next tier")
                    passed = True
                    break
                if verdict is not _Outcome.NONE:
                    return verdict
            if not passed and stage in (N, F):
                if tier.end is None:
                    step.events.append(f"tier {tier.name}: no policy decided: its defaultAction is Pass, "
                                       "on to the next tier (no denial)")
                    continue
                step.events.append(f"tier {tier.name}: no policy decided: end-of-tier deny")
                self._hits.append(PolicyHit(tier.name, tier.end.policy, "deny", tier.end.rule))
                self._pending = _Denied(f"end of tier {tier.name}", tier.end, True)
                return _Outcome.DENY
        if stage is N:
            return self._profiles(ep, direction, step)
        if stage is F and tiers:
            step.events.append("forward stage: every tier passed: allow")
            return _Outcome.ALLOW
        return _Outcome.NONE

    def _profiles(self, ep: EndpointPlan, direction: Direction, step: _Step) -> _Outcome:
        for profile in ep.profiles:
            if not profile.exists:
                step.events.append(f"profile {profile.name} does not exist: no rules")
                continue
            verdict = self._rules(profile.rules(direction), step, f"profile {profile.name}", N, PROFILE_TIER,
                                  profile.name)
            if verdict not in (_Outcome.NONE, _Outcome.PASS):
                return verdict
        step.events.append("no profile allowed: end-of-profiles deny")
        end = no_match(direction)
        self._hits.append(PolicyHit(PROFILE_TIER, end.policy, "deny", end.rule))
        self._pending = _Denied("end of profiles", end, True)
        return _Outcome.DENY

    def _rules(self, rules: RuleSet, step: _Step, where: str, stage: Stage, tier: str, name: str) -> _Outcome:
        for planned in rules.rules:
            rule = planned.rule
            why = planned.skip(self.family) or self._mismatch(rule)
            if why:
                step.events.append(f"{where}: rule {rule.index} ({rule.action}) does not match: {why}")
                continue
            note = f" ({planned.note})" if planned.note else ""
            step.events.append(f"{where}: rule {rule.index} ({rule.action}) matches{note}")
            if rule.action is not RuleAction.LOG:
                self._hits.append(PolicyHit(tier, name, str(rule.action).lower(), rule.index))
            if rule.action is RuleAction.ALLOW:
                return _Outcome.ALLOW
            if rule.action is RuleAction.DENY:
                self._pending = _Denied(f"{where} rule {rule.index}", planned.denial, stage.tracked)
                return _Outcome.DENY
            if rule.action is RuleAction.LOG:
                self._log(rules.log_prefix)
            else:
                return _Outcome.PASS
        return _Outcome.NONE

    # --- matching ---------------------------------------------------------------------------

    def _mismatch(self, r: CalcRule) -> str | None:
        """Why a rule that applies to the packet's family does not match it, or None if it does."""
        p = self.p
        if r.protocol is not None and p.protocol != r.protocol.number:
            return f"protocol {protocol(p.protocol).display} is not {r.protocol.display}"
        if r.not_protocol is not None and p.protocol == r.not_protocol.number:
            return f"protocol is {r.not_protocol.display}"
        if r.icmp is not None and not self._icmp_is(r.icmp):
            return f"ICMP type/code {p.icmp_type}/{p.icmp_code} is not {_icmp(r.icmp)}"
        if r.not_icmp is not None and self._icmp_is(r.not_icmp):
            return f"ICMP type/code is {_icmp(r.not_icmp)}"
        for name, side, address, port in (("source", r.source, p.src, p.sport),
                                          ("destination", r.destination, p.dst, p.dport)):
            why = self._side_mismatch(side, address, port)
            if why:
                return f"{name} {why}"
        return None

    def _icmp_is(self, icmp: tuple[int | None, int | None]) -> bool:
        kind, code = icmp
        return (kind is None or self.p.icmp_type == kind) and (code is None or self.p.icmp_code == code)

    def _side_mismatch(self, side: Side, address: str, port: int | None) -> str | None:
        ip = ipaddress.ip_address(address)
        nets = [n for n in side.nets if n.version == ip.version]
        if nets and not any(ip in n for n in nets):
            return f"{address} is in none of nets"
        if any(ip in n for n in side.not_nets if n.version == ip.version):
            return f"{address} is in notNets"
        ipsets = self.plan.ipsets
        if side.selector and not ipsets[side.selector].contains(address):
            return f"{address} is not selected"
        if side.not_selector and ipsets[side.not_selector].contains(address):
            return f"{address} is selected by notSelector"
        if side.has_ports and not self._port_in(side.ports, side.named_ports, address, port):
            return f"port {port} is not in ports"
        if (side.not_ports or side.not_named_ports) and self._port_in(side.not_ports, side.not_named_ports,
                                                                      address, port):
            return f"port {port} is in notPorts"
        return None

    def _port_in(self, ranges: tuple[PortRange, ...], named: tuple[str, ...], address: str, port: int | None) -> bool:
        proto = protocol(self.p.protocol)
        if port is None or not proto.has_ports:
            return False
        if any(r.lo <= port <= r.hi for r in ranges):
            return True
        member = f"{address},{proto.iptables}:{port}"
        return any(member in self.plan.ipsets[n].members for n in named)

    def _failsafe(self, direction: Direction, stage: Stage) -> bool:
        p = self.p
        inbound = {(f.protocol.number, f.port) for f in self.settings.failsafe_inbound}
        outbound = {(f.protocol.number, f.port) for f in self.settings.failsafe_outbound}
        if direction is INGRESS:
            return (p.protocol, p.dport) in inbound or (stage is U and (p.protocol, p.sport) in outbound)
        return (p.protocol, p.dport) in outbound or (stage is U and (p.protocol, p.sport) in inbound)

    # --- trace and logs ------------------------------------------------------------------------

    def _note(self, text: str) -> _Step:
        step = _Step(text)
        self.steps.append(step)
        return step

    def _log(self, prefix: str) -> None:
        p = self.p
        proto = protocol(p.protocol)
        line = f"{prefix}IN={p.in_iface or ''} OUT={p.out_iface or ''} SRC={p.src} DST={p.dst} PROTO={proto.log}"
        if proto.log_ports:
            line += f" SPT={p.sport} DPT={p.dport}"
        elif proto in (ICMP, ICMPV6):
            line += f" TYPE={p.icmp_type} CODE={p.icmp_code}"
        self.logs.append(line)


def _icmp(icmp: tuple[int | None, int | None]) -> str:
    return f"{icmp[0]}/{'*' if icmp[1] is None else icmp[1]}"


def evaluate(plan: Plan, packet: Packet) -> Result:
    """The model's verdict for ``packet`` on the node of ``plan`` (evaluation.md).

    Inputs: a ``Plan`` from ``build_plan``, the same one the renderer turns into chains;
    ``packet`` with its addresses (text), IP protocol number, ports, ICMP type and code,
    conntrack state and the interfaces it arrives on and leaves by (None: the host itself);
    ``model.route`` places a packet given only by its addresses. Returns a ``Result``.
    Never raises for a packet of a known hook; an address that is not an IP address raises
    ValueError.

    Follows evaluation.md §3–§8 stage by stage (untracked, preDNAT, normal, forward) as the
    chains of dataplane.md §4 take them, and Felix's chains of felix/rules where the spec
    leaves a choice open.
    """
    return Evaluation(plan, packet).run()
