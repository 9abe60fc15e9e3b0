"""Calc's NodeView and the effective configuration as iptables chains and ipsets
(dataplane.md §2–§8). Pure: the same inputs always give the same tables."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..calc import CalcRule, EndpointView, NodeView, TierView
from ..config import EffectiveConfig, expand_log_prefix, override_log_prefix
from .matches import Marks, mark, rule_match, set_mark
from .names import chain_name, ipset_name, policy_id
from .prefixes import GROUPS, nflog_prefix

FAMILIES = (4, 6)
TABLES = ("filter", "raw", "mangle")
HOOKS = {
    "filter": {"INPUT": "cali-INPUT", "FORWARD": "cali-FORWARD", "OUTPUT": "cali-OUTPUT"},
    "raw": {"PREROUTING": "cali-PREROUTING", "OUTPUT": "cali-OUTPUT"},
    "mangle": {"PREROUTING": "cali-PREROUTING"},
}
ICMPV6_ND = (130, 131, 132, 133, 135, 136)
DISPATCH_FANOUT = 16
CONNTRACK_ESTABLISHED = "-m conntrack --ctstate RELATED,ESTABLISHED"
_TARGET = re.compile(r"-[jg] (cali-\S+)")
_SET = re.compile(r"--match-set (\S+)")


@dataclass
class Table:
    family: int
    name: str
    chains: dict[str, list[str]] = field(default_factory=dict)  # owned chain -> rule bodies
    hooks: dict[str, list[str]] = field(default_factory=dict)  # kernel chain -> tortie rule bodies


@dataclass(frozen=True)
class IPSetSpec:
    name: str
    family: int
    type: str  # hash:net or hash:ip,port
    members: frozenset[str]


@dataclass
class Rendered:
    tables: dict[tuple[int, str], Table]
    ipsets: dict[str, IPSetSpec]


@dataclass
class RenderCache:
    """Chains of earlier renders, reused while their inputs are unchanged, so that one
    policy or endpoint change re-renders only its own chains. Reset when the config changes."""

    config: EffectiveConfig | None = None
    chains: dict[tuple[Any, ...], tuple[Any, list[str]]] = field(default_factory=dict)  # key -> (inputs, rules)
    scans: dict[int, tuple[list[str], frozenset[str], frozenset[str]]] = field(default_factory=dict)
    members: dict[tuple[str, int], tuple[Any, frozenset[str]]] = field(default_factory=dict)  # per set, family


def _comment(text: str) -> str:
    return f'-m comment --comment "{re.sub(r"[^A-Za-z0-9 @%+=:,./_-]", "_", text)[:256]}"'


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


class Renderer:
    def __init__(self, view: NodeView, config: EffectiveConfig,
                 interfaces: Mapping[str, set[str]] | None = None, cache: RenderCache | None = None) -> None:
        """``interfaces``: the node's interface names and their addresses (for HEPs found by
        expectedIPs and for /regex/ exclusions). ``cache``: kept across renders by the agent."""
        self.view = view
        self.config = config
        self.cache = cache if cache is not None else RenderCache()
        if self.cache.config is not config:
            self.cache.config, self.cache.chains, self.cache.scans = config, {}, {}
        self._used_chains: dict[tuple[Any, ...], tuple[Any, list[str]]] = {}
        self._used_scans: dict[int, tuple[list[str], frozenset[str], frozenset[str]]] = {}
        self._used_members: dict[tuple[str, int], tuple[Any, frozenset[str]]] = {}
        self._policy_names: dict[tuple[str, str], str] = {}
        self._sets_used: set[tuple[int, str]] = set()
        self.interfaces = interfaces or {}
        self.m = Marks.from_mask(config["iptablesMarkMask"])
        self.allow = "-j ACCEPT" if config["iptablesFilterAllowAction"] == "Accept" else "-j RETURN"
        self.mallow = "-j ACCEPT" if config["iptablesMangleAllowAction"] == "Accept" else "-j RETURN"
        self.prefixes = [p.strip() for p in config["interfacePrefix"].split(",") if p.strip()]
        self.override = config["dropActionOverride"]
        self.reporter = config["prometheusReporterEnabled"]
        rate, burst = config["logActionRateLimit"], config["logActionRateLimitBurst"]
        self.limit = _join("-m limit", f"--limit {rate}", f"--limit-burst {burst}" if burst else "") if rate else ""

    # --- entry point -----------------------------------------------------------------

    def render(self) -> Rendered:
        families = FAMILIES if self.config["ipv6Support"] else (4,)
        tables: dict[tuple[int, str], Table] = {}
        for family in families:
            for name in TABLES:
                table = Table(family, name)
                getattr(self, f"_{name}")(table)
                table.hooks = {kernel: [f"-j {chain}"] for kernel, chain in HOOKS[name].items()}
                self._keep_reachable(table)
                tables[(family, name)] = table
        rendered = Rendered(tables, self._ipsets())
        self.cache.chains, self.cache.scans = self._used_chains, self._used_scans
        self.cache.members = self._used_members
        return rendered

    # --- the cache -------------------------------------------------------------------------

    def _cached(self, key: tuple[Any, ...], inputs: Any, build: Callable[[], list[str]]) -> list[str]:
        hit = self.cache.chains.get(key)
        if hit is None or hit[0] != inputs:  # tuple equality checks identity first: cheap on a hit
            hit = (inputs, build())
        self._used_chains[key] = hit
        return hit[1]

    def _scan(self, rules: list[str]) -> tuple[frozenset[str], frozenset[str]]:
        """The chains a rule list jumps to and the sets it matches, found once per list."""
        hit = self.cache.scans.get(id(rules))
        if hit is None or hit[0] is not rules:
            targets = frozenset(t for rule in rules for t in _TARGET.findall(rule))
            sets = frozenset(name for rule in rules for name in _SET.findall(rule))
            hit = (rules, targets, sets)
        self._used_scans[id(rules)] = hit
        return hit[1], hit[2]

    def _keep_reachable(self, table: Table) -> None:
        """§4.6: a chain is programmed only while a programmed chain refers to it. Also notes
        the sets the programmed chains match, for ``_ipsets``."""
        seen: set[str] = set()
        todo = list(HOOKS[table.name].values())
        while todo:
            chain = todo.pop()
            if chain in seen or chain not in table.chains:
                continue
            seen.add(chain)
            targets, sets = self._scan(table.chains[chain])
            todo += targets
            self._sets_used |= {(table.family, name) for name in sets}
        table.chains = {name: rules for name, rules in table.chains.items() if name in seen}

    # --- deny sequence (§2) ----------------------------------------------------------------

    def deny(self, match: str, table: str, nflog: tuple[int, str] | None = None, comment: str = "") -> list[str]:
        c = _comment(comment) if comment else ""
        rules = []
        if nflog and self.reporter and table != "raw":
            group, prefix = nflog
            rules.append(_join(c, match, f'-j NFLOG --nflog-group {group} --nflog-prefix "{prefix}" --nflog-size 80'))
        if self.override.startswith("LogAnd"):
            rules.append(_join(c, match, self.limit,
                               f'-j LOG --log-prefix "{override_log_prefix(self.config)}" --log-level 5'))
        if self.override in ("Drop", "LogAndDrop"):
            rules.append(_join(c, match, "-j DROP"))
        elif table == "filter":
            rules.append(_join(c, match, "-j ACCEPT"))
        elif table == "mangle":
            rules += [_join(c, match, set_mark(self.m.a, self.m.a)), _join(c, match, "-j ACCEPT")]
        else:
            rules += [_join(c, match, set_mark(self.m.a, self.m.a)), _join(c, match, "-j CT --notrack"),
                      _join(c, match, "-j ACCEPT")]
        return rules

    # --- policy and profile chains (§5) -----------------------------------------------------

    def rules_chain(self, rules: tuple[CalcRule, ...], family: int, table: str, direction: str, kind: str,
                    ref: str, log_prefix: str) -> list[str]:
        m = self.m
        group = GROUPS[direction]
        out: list[str] = []
        for rule in rules:
            matched = rule_match(rule, family, m)
            if matched is None:
                continue
            blocks, match = matched
            out += blocks
            if rule.action == "Allow":
                out += [_join(match, set_mark(m.a, m.a)), f"{mark(m.a, m.a)} -j RETURN"]
            elif rule.action == "Pass":
                out += [_join(match, set_mark(m.p, m.p)), f"{mark(m.p, m.p)} -j RETURN"]
            elif rule.action == "Deny":
                out.append(_join(match, set_mark(m.d, m.d)))
                out += self.deny(mark(m.d, m.d), table, (group, nflog_prefix(kind, direction, rule.index, ref)))
            else:
                out.append(_join(match, self.limit, f'-j LOG --log-prefix "{log_prefix}" --log-level 5'))
        return out

    def _policy_chain(self, table: Table, key: str, direction: str) -> str:
        name = self._policy_names.get((key, direction))
        if name is None:
            data = self.view.policies[key].data
            name = chain_name("cali-pi-" if direction == "ingress" else "cali-po-",
                              policy_id(data.kind, data.name, data.namespace))
            self._policy_names[(key, direction)] = name
        if name not in table.chains:
            policy = self.view.policies[key]
            data = policy.data
            kind = "np" if data.kind == "NetworkPolicy" else "gnp"
            log_prefix = expand_log_prefix(self.config["logPrefix"], data.tier, kind, data.short_name, data.namespace)

            def build() -> list[str]:
                return self.rules_chain(policy.ingress if direction == "ingress" else policy.egress, table.family,
                                        table.name, direction, "P", f"{data.tier}|{data.label_name}", log_prefix)

            table.chains[name] = self._cached(("policy", name, table.family, table.name), (policy,), build)
        return name

    def _profile_chain(self, table: Table, profile: str, direction: str) -> str:
        name = chain_name("cali-pri-" if direction == "ingress" else "cali-pro-", profile)
        if name not in table.chains:
            view = self.view.profiles.get(profile)  # a missing profile is an empty chain
            rules = () if view is None else (view.ingress if direction == "ingress" else view.egress)
            # P may still be set by a tier's or an earlier profile's Pass: a profile that tests
            # P for its own Pass rules starts with it clear (docs/decisions.md).
            start = [set_mark(0, self.m.p)] if any(r.action == "Pass" for r in rules) else []
            log_prefix = expand_log_prefix(self.config["logPrefix"], "", "pro", profile, None)

            def build() -> list[str]:
                return start + self.rules_chain(rules, table.family, "filter", direction, "R", profile, log_prefix)

            table.chains[name] = self._cached(("profile", name, table.family), (view,), build)
        return name

    # --- per-endpoint chains (§4.5) -------------------------------------------------------------

    def _tiers(self, table: Table, tiers: tuple[TierView, ...], direction: str, ends: bool) -> list[str]:
        m = self.m
        out = []
        for tier in tiers:
            out.append(_join(_comment(f"Start of tier {tier.name}"), set_mark(0, m.p)))
            for key in tier.policies:
                out.append(f"{mark(0, m.p)} -j {self._policy_chain(table, key, direction)}")
                if table.name == "raw":
                    out += [f"{mark(m.a, m.a)} -j CT --notrack", f"{mark(m.a, m.a)} -j ACCEPT"]
                else:
                    out.append(f"{mark(m.a, m.a)} -j RETURN")
            if ends:
                last = self.view.policies[tier.policies[-1]].data
                prefix = nflog_prefix("P", direction, -1, f"{tier.name}|{last.label_name}")
                out += self.deny(mark(0, m.p), table.name, (GROUPS[direction], prefix),
                                 f"End of tier {tier.name}")
        return out

    def _filter_endpoint_chain(self, table: Table, ep: EndpointView, direction: str, stage: str) -> list[str]:
        m = self.m
        if self.allow == "-j ACCEPT":
            out = [f"{CONNTRACK_ESTABLISHED} -j ACCEPT"]
        else:
            out = [f"{CONNTRACK_ESTABLISHED} {set_mark(m.a, m.a)}", f"{CONNTRACK_ESTABLISHED} -j RETURN"]
        if not self.config["disableConntrackInvalidCheck"]:
            out.append("-m conntrack --ctstate INVALID -j DROP")
        if ep.entity.kind == "HostEndpoint" and stage == "N":
            out.append("-j cali-failsafe-in" if direction == "ingress" else "-j cali-failsafe-out")
        out.append(set_mark(0, m.a | m.p | m.d))
        out += self._tiers(table, ep.tiers.get((stage, direction), ()), direction, ends=True)
        if stage == "F":
            out.append(_join(_comment("Allow forwarded traffic by default"), set_mark(m.a, m.a)))
            return out
        for profile in ep.entity.profiles:
            out += [f"-j {self._profile_chain(table, profile, direction)}", f"{mark(m.a, m.a)} -j RETURN"]
        prefix = nflog_prefix("R", direction, 0, "__NO_MATCH__")
        out += self.deny("", "filter", (GROUPS[direction], prefix), "No profile allowed")
        return out

    def _endpoint_chain(self, table: Table, name: str, ep: EndpointView, direction: str, stage: str) -> None:
        """An endpoint chain, from the cache while its tiers and profiles are the same. The
        policy and profile chains it jumps to are registered in the table either way."""
        tiers = ep.tiers.get((stage, direction), ())
        for tier in tiers:
            for key in tier.policies:
                self._policy_chain(table, key, direction)
        profiles = ep.entity.profiles if table.name == "filter" and stage == "N" else ()
        for profile in profiles:
            self._profile_chain(table, profile, direction)
        build = self._filter_endpoint_chain if table.name == "filter" else self._untracked_chain
        table.chains[name] = self._cached(("endpoint", name, table.family, table.name),
                                          (ep.entity.kind, profiles, tiers),
                                          lambda: build(table, ep, direction, stage))

    def _dispatch(self, table: Table, chain: str, flag: str, targets: list[tuple[str, str]]) -> None:
        """Workload dispatch by interface name, failing closed for unknown interfaces (§4.3).

        Up to 16 interfaces it is the spec's flat list. Above that it is a tree split on the
        next character of the names, as Calico builds it, so that a packet passes a handful
        of rules instead of one per workload (docs/decisions.md)."""
        if len(targets) <= DISPATCH_FANOUT:
            rules = [f"{flag} {iface} -g {target}" for iface, target in targets]
        else:
            common = os.path.commonprefix([iface for iface, _ in targets])
            rules = [f"{flag} {iface} -g {target}" for iface, target in targets if iface == common]
            groups: dict[str, list[tuple[str, str]]] = {}
            for iface, target in targets:
                if iface != common:
                    groups.setdefault(iface[:len(common) + 1], []).append((iface, target))
            for key, group in sorted(groups.items()):
                if len(group) == 1:
                    rules.append(f"{flag} {group[0][0]} -g {group[0][1]}")
                    continue
                child = chain_name(f"{chain}-", key)
                rules.append(f"{flag} {key}+ -g {child}")
                self._dispatch(table, child, flag, group)
        table.chains[chain] = rules + self.deny("", "filter", comment="Unknown interface")

    def _untracked_chain(self, table: Table, ep: EndpointView, direction: str, stage: str) -> list[str]:
        m = self.m
        failsafe = "-j cali-failsafe-in" if direction == "ingress" else "-j cali-failsafe-out"
        out = [failsafe, set_mark(0, m.a | m.p | m.d)]
        return out + self._tiers(table, ep.tiers.get((stage, direction), ()), direction, ends=False)

    # --- HEP interfaces -------------------------------------------------------------------------

    def _heps(self) -> dict[str, EndpointView]:
        """HEP chains by interface name (``*`` for the all-interfaces HEP); first name wins."""
        out: dict[str, EndpointView] = {}
        for ep in sorted((e for e in self.view.endpoints.values() if e.entity.kind == "HostEndpoint"),
                         key=lambda e: e.entity.name):
            if ep.entity.interface:
                out.setdefault(ep.entity.interface, ep)
                continue
            wanted = {str(a.network_address) for a in ep.entity.addresses}
            for iface, addresses in sorted(self.interfaces.items()):
                if wanted & addresses:
                    out.setdefault(iface, ep)
        return out

    def _excluded(self) -> list[str]:
        names = []
        for part in (p.strip() for p in self.config["interfaceExclude"].split(",") if p.strip()):
            if len(part) > 1 and part.startswith("/") and part.endswith("/"):
                names += sorted(i for i in self.interfaces if re.search(part[1:-1], i))
            else:
                names.append(part)
        return names

    def _hep_dispatch(self, table: Table, chain: str, flag: str, target: str, heps: dict[str, EndpointView]) -> None:
        rules = [f"{flag} {iface} -g {chain_name(target, iface)}" for iface in sorted(heps) if iface != "*"]
        if "*" in heps:
            rules.append(f"{flag} lo -j RETURN")
            rules += [f"{flag} {p}+ -j RETURN" for p in self.prefixes]
            rules += [f"{flag} {x} -j RETURN" for x in self._excluded()]
            rules.append(f"-g {chain_name(target, '*')}")
        table.chains[chain] = rules

    def _failsafe(self, table: Table, reverse: bool) -> None:
        inbound = self.config["failsafeInboundHostPorts"]
        outbound = self.config["failsafeOutboundHostPorts"]

        def rules(ports: list[dict], flag: str) -> list[str]:
            return [f"-p {p['protocol'].lower()} -m multiport --{flag}-ports {p['port']} -j ACCEPT" for p in ports]

        table.chains["cali-failsafe-in"] = rules(inbound, "destination") + (
            rules(outbound, "source") if reverse else [])
        if table.name != "mangle":
            table.chains["cali-failsafe-out"] = rules(outbound, "destination") + (
                rules(inbound, "source") if reverse else [])

    # --- tables (§4.1–§4.4) ----------------------------------------------------------------------

    def _filter(self, table: Table) -> None:
        m, allow, prefixes = self.m, self.allow, self.prefixes
        table.chains["cali-INPUT"] = [f"-i {p}+ -g cali-wl-to-host" for p in prefixes] + [
            f"{mark(m.a, m.a)} {allow}", set_mark(0, m.all), "-j cali-from-host-endpoint", f"{mark(m.a, m.a)} {allow}"]
        table.chains["cali-FORWARD"] = [
            set_mark(0, m.p | m.d | m.s0 | m.s1), f"{mark(0, m.a)} -j cali-from-hep-forward"] + [
            f"-i {p}+ -j cali-from-wl-dispatch" for p in prefixes] + [
            f"-o {p}+ -j cali-to-wl-dispatch" for p in prefixes] + [
            "-j cali-to-hep-forward", f"{mark(m.a, m.a)} {allow}"]
        table.chains["cali-OUTPUT"] = [f"{mark(m.a, m.a)} {allow}"] + [f"-o {p}+ -j RETURN" for p in prefixes] + [
            set_mark(0, m.all), "-m conntrack ! --ctstate DNAT -j cali-to-host-endpoint", f"{mark(m.a, m.a)} {allow}"]
        to_host = [f"-p ipv6-icmp -m icmp6 --icmpv6-type {t} -j ACCEPT" for t in ICMPV6_ND] if table.family == 6 else []
        to_host += ["-j cali-from-wl-dispatch", f"{CONNTRACK_ESTABLISHED} {allow}"]
        action = self.config["defaultEndpointToHostAction"]
        to_host += ["-j ACCEPT"] if action == "Accept" else ["-j RETURN"] if action == "Return" else self.deny(
            "", "filter")
        table.chains["cali-wl-to-host"] = to_host
        # One endpoint per interface: of several naming the same one, the first by key (never a crash).
        governing: dict[str, EndpointView] = {}
        for ep in sorted(self.view.endpoints.values(), key=lambda e: e.entity.key):
            if ep.entity.kind == "WorkloadEndpoint" and ep.entity.interface:
                governing.setdefault(ep.entity.interface, ep)
        workloads = sorted(governing.items())
        for dispatch, flag, prefix, direction in (("cali-from-wl-dispatch", "-i", "cali-fw-", "egress"),
                                                  ("cali-to-wl-dispatch", "-o", "cali-tw-", "ingress")):
            targets = []
            for iface, ep in workloads:
                name = chain_name(prefix, iface)
                targets.append((iface, name))
                self._endpoint_chain(table, name, ep, direction, "N")
            self._dispatch(table, dispatch, flag, targets)
        heps = self._heps()
        for iface, ep in heps.items():
            for prefix, direction, stage in (("cali-fh-", "ingress", "N"), ("cali-th-", "egress", "N"),
                                             ("cali-fhfw-", "ingress", "F"), ("cali-thfw-", "egress", "F")):
                self._endpoint_chain(table, chain_name(prefix, iface), ep, direction, stage)
        for chain, flag, target in (("cali-from-host-endpoint", "-i", "cali-fh-"),
                                    ("cali-to-host-endpoint", "-o", "cali-th-"),
                                    ("cali-from-hep-forward", "-i", "cali-fhfw-"),
                                    ("cali-to-hep-forward", "-o", "cali-thfw-")):
            self._hep_dispatch(table, chain, flag, target, heps)
        self._failsafe(table, reverse=False)

    def _raw(self, table: Table) -> None:
        m = self.m
        heps = {i: ep for i, ep in self._heps().items()
                if ep.tiers.get(("U", "ingress")) or ep.tiers.get(("U", "egress"))}
        table.chains["cali-PREROUTING"] = [set_mark(0, m.all)] + [f"-i {p}+ -j RETURN" for p in self.prefixes] + [
            "-j cali-from-host-endpoint"]
        table.chains["cali-OUTPUT"] = [set_mark(0, m.all), "-j cali-to-host-endpoint"]
        for iface, ep in heps.items():
            self._endpoint_chain(table, chain_name("cali-fh-", iface), ep, "ingress", "U")
            self._endpoint_chain(table, chain_name("cali-th-", iface), ep, "egress", "U")
        self._hep_dispatch(table, "cali-from-host-endpoint", "-i", "cali-fh-", heps)
        self._hep_dispatch(table, "cali-to-host-endpoint", "-o", "cali-th-", heps)
        self._failsafe(table, reverse=True)

    def _mangle(self, table: Table) -> None:
        m, mallow = self.m, self.mallow
        heps = {i: ep for i, ep in self._heps().items() if ep.tiers.get(("D", "ingress"))}
        table.chains["cali-PREROUTING"] = [f"{CONNTRACK_ESTABLISHED} {mallow}", f"{mark(m.a, m.a)} {mallow}"] + [
            f"-i {p}+ -j RETURN" for p in self.prefixes] + [
            set_mark(0, m.all), "-j cali-from-host-endpoint", f"{mark(m.a, m.a)} {mallow}"]
        for iface, ep in heps.items():
            self._endpoint_chain(table, chain_name("cali-fh-", iface), ep, "ingress", "D")
        self._hep_dispatch(table, "cali-from-host-endpoint", "-i", "cali-fh-", heps)
        self._failsafe(table, reverse=False)

    # --- ipsets (§8) -----------------------------------------------------------------------------

    def _ipsets(self) -> dict[str, IPSetSpec]:
        used = self._sets_used
        by_name = {(f, ipset_name(f, set_id)): set_id for f in FAMILIES for set_id in self.view.ipsets}
        out = {}
        for family, name in sorted(used):
            ipset = self.view.ipsets[by_name[(family, name)]]
            key = (ipset.id, family)
            hit = self.cache.members.get(key)
            if hit is None or hit[0] is not ipset:  # the same IPSet object has the same members
                hit = (ipset, frozenset(_family_members(ipset.members, family, ipset.kind)))
            self._used_members[key] = hit
            out[name] = IPSetSpec(name, family, "hash:net" if ipset.kind == "selector" else "hash:ip,port", hit[1])
        return out


def _family_members(members: frozenset[str], family: int, kind: str) -> set[str]:
    out = set()
    for member in members:
        if (":" in member.split(",", 1)[0]) != (family == 6):
            continue
        if kind == "selector" and member.endswith("/0"):
            # hash:net cannot hold /0: write it as two halves (§8).
            net = ipaddress.ip_network(member, strict=False)
            out |= {str(half) for half in net.subnets(prefixlen_diff=1)}
        else:
            out.add(member)
    return out


def render(view: NodeView, config: EffectiveConfig, interfaces: Mapping[str, set[str]] | None = None,
           cache: RenderCache | None = None) -> Rendered:
    return Renderer(view, config, interfaces, cache).render()
