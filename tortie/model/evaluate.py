"""The reference verdict for one packet on one node (evaluation.md), with a trace.

It reads the same ``NodeView`` the dataplane renders, so a kernel that disagrees with
this model points at exactly one of the two.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..calc import CalcRule, EndpointView, NodeView, Side
from ..config import EffectiveConfig, expand_log_prefix, override_log_prefix
from .packet import PORT_PROTOCOLS, PROTOCOL_NAMES, Packet

ALLOW, DENY, NONE, ACCEPT = "allow", "deny", "none", "accept"  # ACCEPT: accepted for the whole hook
ICMPV6_ND_TYPES = {130, 131, 132, 133, 135, 136}
NO_MATCH_LABEL = "__PROFILE__|__NO_MATCH__|0|deny"


@dataclass(frozen=True)
class Denial:
    cause: str
    label: str | None = None  # the denied-metric policy label, if this denial has one
    counted: bool = False  # counted in the denied-packet metrics when the reporter is on


@dataclass
class Result:
    verdict: str  # "allow" or "deny": what the policies decide, before any override
    action: str  # "accept" or "drop": what the kernel does
    decided: bool  # False when tortie gives no verdict and the host's own rules decide
    cause: str
    denied_by: str | None
    metric_policies: list[str]
    log_prefixes: list[str]
    log_lines: list[str]
    trace: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "action": self.action, "decided": self.decided, "cause": self.cause,
                "deniedBy": self.denied_by, "metricPolicies": self.metric_policies,
                "logPrefixes": self.log_prefixes, "logLines": self.log_lines, "trace": self.trace}


class _End(Exception):
    """The packet's fate is settled for this hook."""

    def __init__(self, action: str) -> None:
        self.action = action


@dataclass
class _Step:
    title: str
    events: list[str] = field(default_factory=list)
    outcome: str = NONE


class Evaluation:
    def __init__(self, view: NodeView, config: EffectiveConfig, packet: Packet,
                 interface_addresses: Mapping[str, set[str]] | None = None) -> None:
        self.view = view
        self.config = config
        self.p = packet
        self.iface_addresses = interface_addresses or {}
        self.steps: list[_Step] = []
        self.logs: list[str] = []
        self.metrics: list[str] = []
        self.first_denial: Denial | None = None
        self._pending = Denial("")  # the denial a stage just returned DENY for

    # --- the whole path ----------------------------------------------------------------

    def run(self) -> Result:
        p = self.p
        decided = True
        try:
            if p.family == 6 and not self.config["ipv6Support"]:
                self._note("IPv6 support is off: tortie gives IPv6 packets no verdict")
                decided, action = False, "accept"
            elif p.state == "invalid" and not self.config["disableConntrackInvalidCheck"]:
                self._note("conntrack state INVALID: dropped silently (no log, no metric, no override)")
                self.first_denial = Denial("conntrack INVALID")
                action = "drop"
            else:
                outcome = {"input": self._input, "output": self._output, "forward": self._forward}[p.hook]()
                decided = outcome != NONE
                action = "accept"
                if not decided:
                    self._note("no tortie verdict: the host's own rules decide")
        except _End as end:
            action = end.action
        denial = self.first_denial
        return Result("deny" if denial else "allow", action, decided, denial.cause if denial else "allowed",
                      denial.label if denial else None, self.metrics, [line.split("IN=", 1)[0] for line in self.logs],
                      self.logs, [{"step": s.title, "outcome": s.outcome, "events": s.events} for s in self.steps])

    def _input(self) -> str:
        iface = self.p.in_iface or ""
        kind, ep = self._classify(iface)
        if kind == "workload":
            return self._workload_to_host(iface, ep)
        if kind == "hep":
            return self._hep_ingress(ep, final="N")
        return NONE

    def _output(self) -> str:
        iface = self.p.out_iface or ""
        kind, ep = self._classify(iface)
        if kind == "workload":
            self._note(f"host to workload interface {iface}: always permitted, no verdict")
            return NONE
        if kind != "hep":
            return NONE
        u = self._settle(self._stage(ep, "egress", "U"), "U")
        if u == ALLOW:
            return ALLOW
        if self.p.dnat:
            self._note("DNATed connection: normal egress policy of the host endpoint is skipped")
            return u
        return self._settle(self._stage(ep, "egress", "N"), "N")

    def _forward(self) -> str:
        p = self.p
        results = []
        in_kind, in_ep = self._classify(p.in_iface or "")
        out_kind, out_ep = self._classify(p.out_iface or "")
        if in_kind == "hep":
            results.append(self._hep_ingress(in_ep, final="F"))
        elif in_kind == "workload":
            results.append(self._workload_step(p.in_iface or "", in_ep, "egress"))
        if out_kind == "workload":
            results.append(self._workload_step(p.out_iface or "", out_ep, "ingress"))
        elif out_kind == "hep":
            results.append(self._settle(self._stage(out_ep, "egress", "F"), "F"))
        return ALLOW if ALLOW in results else NONE

    def _workload_step(self, iface: str, ep: EndpointView | None, direction: str) -> str:
        if ep is None:
            self._unknown_interface(iface)
        return self._settle(self._stage(ep, direction, "N"), "N")  # type: ignore[arg-type]

    def _workload_to_host(self, iface: str, ep: EndpointView | None) -> str:
        p = self.p
        if ep is None:
            self._unknown_interface(iface)
        if p.protocol == 58 and p.icmp_type in ICMPV6_ND_TYPES:
            self._note(f"ICMPv6 type {p.icmp_type} (MLD/neighbour discovery) from a workload: always accepted")
            raise _End("accept")
        self._settle(self._stage(ep, "egress", "N"), "N")  # type: ignore[arg-type]
        action = self.config["defaultEndpointToHostAction"]
        step = self._note(f"workload to host: defaultEndpointToHostAction is {action}")
        if action == "Accept":
            raise _End("accept")
        if action == "Return":
            step.events.append("no tortie verdict: the host's INPUT rules decide")
            return NONE
        return self._deny(Denial("endpoint-to-host (defaultEndpointToHostAction: Drop)"), "N")

    def _hep_ingress(self, hep: EndpointView, final: str) -> str:
        if self._settle(self._stage(hep, "ingress", "U"), "U") == ALLOW:
            return ALLOW
        if self.p.state == "new" and self._settle(self._stage(hep, "ingress", "D"), "D") == ALLOW:
            return ALLOW
        return self._settle(self._stage(hep, "ingress", final), final)

    # --- denials and the override -------------------------------------------------------

    def _settle(self, outcome: str, stage: str) -> str:
        if outcome == ACCEPT:
            raise _End("accept")
        if outcome == DENY:
            return self._deny(self._pending, stage)
        return outcome

    def _unknown_interface(self, iface: str) -> None:
        self._note(f"interface {iface} looks like a workload interface but no local endpoint has it")
        self._deny(Denial(f"unknown interface {iface}"), "N")

    def _deny(self, denial: Denial, stage: str) -> str:
        """Apply dropActionOverride to a policy denial; returns ALLOW for an accept at U or D."""
        if self.first_denial is None:
            self.first_denial = denial
        if denial.counted and stage != "U" and self.config["prometheusReporterEnabled"]:
            self.metrics.append(denial.label or "")
        override = self.config["dropActionOverride"]
        if override.startswith("LogAnd"):
            self._log(override_log_prefix(self.config))
        accept = override in ("Accept", "LogAndAccept")
        self._note(f"denied ({denial.cause}); dropActionOverride {override}: "
                   f"{'accept' if accept else 'drop'}")
        if not accept:
            raise _End("drop")
        if stage in ("U", "D"):
            return ALLOW
        raise _End("accept")

    # --- one endpoint, one direction, one stage --------------------------------------------

    def _stage(self, ep: EndpointView, direction: str, stage: str) -> str:
        e = ep.entity
        step = _Step(f"{direction} of {e.kind} {e.namespace + '/' if e.namespace else ''}{e.name}, stage {stage}")
        self.steps.append(step)
        step.outcome = self._stage_outcome(ep, direction, stage, step)
        return step.outcome

    def _stage_outcome(self, ep: EndpointView, direction: str, stage: str, step: _Step) -> str:
        p = self.p
        if stage in ("N", "F") and p.tracked_reply:
            step.events.append(f"conntrack {p.state.upper()}: accepted before policy")
            return ACCEPT
        if ep.entity.kind == "HostEndpoint" and stage != "F" and self._failsafe(direction, stage):
            step.events.append("failsafe port: accepted before policy")
            return ACCEPT if stage == "N" else ALLOW
        applied = False
        for tier in ep.tiers.get((stage, direction), ()):
            applied = True
            passed = False
            for key in tier.policies:
                policy = self.view.policies[key]
                data = policy.data
                kind = "np" if data.kind == "NetworkPolicy" else "gnp"
                rules = policy.ingress if direction == "ingress" else policy.egress
                verdict = self._rules(rules, step, f"tier {tier.name}, {data.kind} {key}", stage,
                                      lambda r: f"{tier.name}|{data.label_name}|{r.index}|deny",
                                      lambda: expand_log_prefix(self.config["logPrefix"], tier.name, kind,
                                                                data.short_name, data.namespace))
                if verdict == "pass":
                    step.events.append(f"tier {tier.name}: Pass, on to the next tier")
                    passed = True
                    break
                if verdict != NONE:
                    return verdict
            if not passed and stage in ("N", "F"):
                last = self.view.policies[tier.policies[-1]].data
                step.events.append(f"tier {tier.name}: no policy decided: end-of-tier deny")
                self._pending = Denial(f"end of tier {tier.name}", f"{tier.name}|{last.label_name}|-1|deny", True)
                return DENY
        if stage == "N":
            return self._profiles(ep, direction, step)
        if stage == "F" and applied:
            step.events.append("forward stage: every tier passed: allow")
            return ALLOW
        return NONE

    def _profiles(self, ep: EndpointView, direction: str, step: _Step) -> str:
        for name in ep.entity.profiles:
            profile = self.view.profiles.get(name)
            if profile is None:
                step.events.append(f"profile {name} does not exist: no rules")
                continue
            rules = profile.ingress if direction == "ingress" else profile.egress
            verdict = self._rules(rules, step, f"profile {name}", "N", lambda r: f"__PROFILE__|{name}|{r.index}|deny",
                                  lambda: expand_log_prefix(self.config["logPrefix"], "", "pro", name, None))
            if verdict not in (NONE, "pass"):
                return verdict
        step.events.append("no profile allowed: end-of-profiles deny")
        self._pending = Denial("end of profiles", NO_MATCH_LABEL, True)
        return DENY

    def _rules(self, rules: tuple[CalcRule, ...], step: _Step, where: str, stage: str, label: Any,
               log_prefix: Any) -> str:
        for rule in rules:
            why = self._mismatch(rule)
            if why:
                step.events.append(f"{where}: rule {rule.index} ({rule.action}) does not match: {why}")
                continue
            step.events.append(f"{where}: rule {rule.index} ({rule.action}) matches")
            if rule.action == "Allow":
                return ALLOW
            if rule.action == "Deny":
                self._pending = Denial(f"{where} rule {rule.index}", label(rule), stage != "U")
                return DENY
            if rule.action == "Log":
                self._log(log_prefix())
            else:
                return "pass"
        return NONE

    # --- matching ---------------------------------------------------------------------------

    def _mismatch(self, r: CalcRule) -> str | None:
        """Why a rule does not match the packet, or None if it does."""
        p, family = self.p, self.p.family
        if r.ip_version is not None and r.ip_version != family:
            return f"rule is for IPv{r.ip_version}"
        if (r.protocol, family) in ((1, 6), (58, 4)):
            return "ICMP protocol of the other IP version"
        for side in (r.source, r.destination):
            if side.nets and not any(n.version == family for n in side.nets):
                return f"no IPv{family} CIDR in nets"
        if r.protocol is not None and p.protocol != r.protocol:
            return f"protocol {_proto(p.protocol)} is not {_proto(r.protocol)}"
        if r.not_protocol is not None and p.protocol == r.not_protocol:
            return f"protocol is {_proto(r.not_protocol)}"
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
        ipsets = self.view.ipsets
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

    def _port_in(self, ranges: Any, named: tuple[str, ...], address: str, port: int | None) -> bool:
        if port is None or self.p.protocol not in PORT_PROTOCOLS:
            return False
        if any(r.lo <= port <= r.hi for r in ranges):
            return True
        member = f"{address},{PROTOCOL_NAMES.get(self.p.protocol, '').lower()}:{port}"
        return any(member in self.view.ipsets[n].members for n in named)

    def _failsafe(self, direction: str, stage: str) -> bool:
        p = self.p
        if p.protocol not in (6, 17):
            return False
        proto = "TCP" if p.protocol == 6 else "UDP"
        inbound = {(e["protocol"], e["port"]) for e in self.config["failsafeInboundHostPorts"]}
        outbound = {(e["protocol"], e["port"]) for e in self.config["failsafeOutboundHostPorts"]}
        if direction == "ingress":
            hit = (proto, p.dport) in inbound or (stage == "U" and (proto, p.sport) in outbound)
        else:
            hit = (proto, p.dport) in outbound or (stage == "U" and (proto, p.sport) in inbound)
        return hit

    # --- interfaces ----------------------------------------------------------------------------

    def _classify(self, iface: str) -> tuple[str, EndpointView | None]:
        """("workload", WEP or None if unknown), ("hep", HEP) or ("other", None)."""
        prefixes = [x.strip() for x in self.config["interfacePrefix"].split(",") if x.strip()]
        if any(iface.startswith(x) for x in prefixes):
            return "workload", self.view.endpoint_by_interface(iface)
        heps = sorted((ep for ep in self.view.endpoints.values() if ep.entity.kind == "HostEndpoint"),
                      key=lambda ep: ep.entity.name)
        by_name = [ep for ep in heps if ep.entity.interface == iface]
        if by_name:
            return "hep", by_name[0]
        on_iface = self.iface_addresses.get(iface, set())
        by_ip = [ep for ep in heps if not ep.entity.interface
                 and any(str(a.network_address) in on_iface for a in ep.entity.addresses)]
        if by_ip:
            return "hep", by_ip[0]
        wildcard = [ep for ep in heps if ep.entity.interface == "*"]
        if wildcard and iface != "lo" and not self._excluded(iface):
            return "hep", wildcard[0]
        return "other", None

    def _excluded(self, iface: str) -> bool:
        for part in (x.strip() for x in self.config["interfaceExclude"].split(",") if x.strip()):
            if part.startswith("/") and part.endswith("/") and len(part) > 1:
                if re.search(part[1:-1], iface):
                    return True
            elif part == iface:
                return True
        return False

    # --- trace and logs ------------------------------------------------------------------------

    def _note(self, text: str) -> _Step:
        step = _Step(text)
        self.steps.append(step)
        return step

    def _log(self, prefix: str) -> None:
        p = self.p
        proto = {6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMPv6"}.get(p.protocol, str(p.protocol))
        line = f"{prefix}IN={p.in_iface or ''} OUT={p.out_iface or ''} SRC={p.src} DST={p.dst} PROTO={proto}"
        if p.protocol in PORT_PROTOCOLS:
            line += f" SPT={p.sport} DPT={p.dport}"
        elif p.protocol in (1, 58):
            line += f" TYPE={p.icmp_type} CODE={p.icmp_code}"
        self.logs.append(line)


def _proto(number: int) -> str:
    return PROTOCOL_NAMES.get(number, str(number))


def _icmp(icmp: tuple[int | None, int | None]) -> str:
    return f"{icmp[0]}/{'*' if icmp[1] is None else icmp[1]}"


def evaluate(view: NodeView, config: EffectiveConfig, packet: Packet,
             interface_addresses: Mapping[str, set[str]] | None = None) -> Result:
    """The model's verdict for ``packet`` on the node of ``view``."""
    return Evaluation(view, config, packet, interface_addresses).run()
