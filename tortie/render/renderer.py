"""The node plan as iptables chains and ipsets (dataplane.md §2–§8).

Pure: the same plan always gives the same tables. The plan has decided what governs each
interface, which rules apply to each family and every denial's prefixes; this module only
lays those facts out as chains. What it rendered comes back whole: the tables, the sets
the programmed chains match, and the table of the NFLOG prefixes they can log.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache, partial
from typing import Any, Callable, Mapping

from ..calc import CalcRule, PortRange
from ..config import AllowAction, EndpointToHostAction, FailsafePort, Marks, Settings
from ..core import ICMPV6, Direction, RuleAction, Stage, paused_gc
from ..plan import (ICMPV6_FROM_WORKLOAD, Denial, EndpointPlan, LeftOut, LeftOutKind, Plan, PolicyPlan, ProfilePlan,
                    RuleSet, TierPlan, family_members, no_match)
from . import names as n
from .iptables import (Address, Builtin, Chain, ConnState, End, Icmp, Interface, Jump, Limit, Log, Mark, Match,
                       MultiPort, Nflog, NoTrack, Proto, ReversePathFailed, Rule, SetMark, Table)
from .matches import rule_match
from .names import HOOKS, TABLES, chain_name, ipset_name, policy_id

DISPATCH_FANOUT = 16
ESTABLISHED = ConnState(("RELATED", "ESTABLISHED"))
INVALID = ConnState(("INVALID",))
ACCEPT, DROP, RETURN = Builtin.ACCEPT, Builtin.DROP, Builtin.RETURN
_COMMENT_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 @%+=:,./_-")
INGRESS, EGRESS = Direction.INGRESS, Direction.EGRESS


@dataclass(frozen=True)
class IPSetSpec:
    """One ipset as ``ipset restore`` creates it (dataplane.md §8): its kernel name, IP
    family (4 or 6), type, and members as ipset prints them (``10.0.0.0/8``, ``10.0.0.1``;
    ``10.0.0.1,tcp:80`` for named-port sets)."""

    name: str
    family: int
    type: str  # hash:net or hash:ip,port
    members: frozenset[str]
    set_id: str = ""  # the plan's set id (calc's), for naming a set the kernel refuses


class RpFilter(StrEnum):
    """A workload interface's IPv4 ``rp_filter`` sysctl (endpoint_mgr.go configureInterface)."""

    STRICT = "1"
    OFF = "0"  # the endpoint allows spoofed source prefixes


@dataclass
class Rendered:
    """Everything one render produced: the tables by (IP version 4 or 6, table name: raw,
    mangle, filter), the sets their chains match by kernel name, ``nflog``: each NFLOG prefix
    the chains can log -> its denial (the collector's prefix table), and ``rp_filter``: each
    present workload interface's rp_filter when IPv4 is enforced."""

    tables: dict[tuple[int, str], Table]
    ipsets: dict[str, IPSetSpec]
    nflog: Mapping[str, Denial] = field(default_factory=dict)
    rp_filter: Mapping[str, RpFilter] = field(default_factory=dict)


@dataclass(frozen=True)
class _Entry:
    inputs: Any  # what the chain was built from, compared by identity first
    chain: Chain


@dataclass
class RenderCache:
    """What earlier renders made, reused while its inputs are unchanged (compared by
    identity first), so that one policy or endpoint change re-renders only its own chains.
    Each render starts from the chains the last one programmed: a reused endpoint chain
    finds the chains it jumps to already there. Chains are dropped when the settings
    change; rule matches and set members, which do not depend on them, are kept."""

    settings: Settings | None = None
    chains: dict[tuple[Any, ...], _Entry] = field(default_factory=dict)  # (name, family, table) -> entry
    tables: dict[tuple[int, str], dict[str, Chain]] = field(default_factory=dict)  # the last render's chains
    members: dict[tuple[str, int], tuple[Any, frozenset[str]]] = field(default_factory=dict)  # per set, family
    # (id of a calc rule, family) -> (the rule, the marks, its match blocks and final match)
    matches: dict[tuple[int, int], tuple[CalcRule, Marks, list[Rule], tuple[Match, ...]]] = field(
        default_factory=dict)


MATCHES_KEPT = 1 << 18  # rule matches kept across renders, at most


@lru_cache(maxsize=4096)
def comment(text: str) -> str:
    """A comment kept to characters that need no escaping, at most 256 of them."""
    return "".join(c if c in _COMMENT_SAFE else "_" for c in text)[:256]


def _rules(*parts: Rule | list[Rule]) -> tuple[Rule, ...]:
    out: list[Rule] = []
    for part in parts:
        out += part if isinstance(part, list) else [part]
    return tuple(out)


class Renderer:
    """One render of ``plan`` (use ``render``); ``deny`` and ``rules_chain`` are its building
    blocks, the deny sequence of dataplane.md §2 and the rule chains of §5."""

    def __init__(self, plan: Plan, cache: RenderCache | None = None) -> None:
        self.plan = plan
        s = self.settings = plan.settings
        self.cache = cache if cache is not None else RenderCache()
        if self.cache.settings is not s:
            self.cache.settings, self.cache.chains, self.cache.tables = s, {}, {}
        if len(self.cache.matches) > MATCHES_KEPT:
            self.cache.matches = {}
        self._entries = dict(self.cache.chains)
        self._done: set[tuple[Any, ...]] = set()  # chains put in place by this render
        self._used_members: dict[tuple[str, int], tuple[Any, frozenset[str]]] = {}
        self._sets_used: set[str] = set()
        self._nflog: dict[str, Denial] = {}
        self.m = s.marks
        self.allow = ACCEPT if s.filter_allow_action is AllowAction.ACCEPT else RETURN
        self.mallow = ACCEPT if s.mangle_allow_action is AllowAction.ACCEPT else RETURN
        self.prefixes = s.interface_prefixes
        self.limit: tuple[Match, ...] = (Limit(s.log_rate_limit),) if s.log_rate_limit else ()

    # --- entry point -----------------------------------------------------------------

    def render(self) -> Rendered:
        """The tables of every family the settings enable, each table's hooks, the sets its
        chains match and the NFLOG prefix table (see ``render``)."""
        tables: dict[tuple[int, str], Table] = {}
        for family in self.settings.families:
            for name in TABLES:
                table = Table(family, name, dict(self.cache.tables.get((family, name), {})))
                getattr(self, f"_{name}")(table)
                table.hooks = {kernel: (Rule((), Jump(chain)),) for kernel, chain in HOOKS[name].items()}
                self._keep_reachable(table)
                tables[(family, name)] = table
        rendered = Rendered(tables, self._ipsets(), self._nflog, self._rp_filter())
        if len(self._entries) > 2 * sum(len(t.chains) for t in tables.values()):  # now and then: drop the unused
            self._entries = {key: entry for key, entry in self._entries.items()
                             if (t := tables.get((key[1], key[2]))) is not None and t.chains.get(key[0]) is entry.chain}
        self.cache.chains = self._entries
        self.cache.tables = {key: table.chains for key, table in tables.items()}
        self.cache.members = self._used_members
        return rendered

    # --- the cache -------------------------------------------------------------------------

    def _reuse(self, table: Table, name: str, inputs: Any) -> bool:
        """Is chain ``name`` in place as the last render made it from the same ``inputs``
        (tuple equality checks identity first: cheap)? Then so are the chains it jumps to:
        by calc/view.py's identity contract, had one of them changed, so would ``inputs``."""
        key = (name, table.family, table.name)
        hit = self._entries.get(key)
        if hit is None or hit.inputs != inputs or table.chains.get(name) is not hit.chain:
            return False
        self._done.add(key)
        return True

    def _chain(self, table: Table, name: str, inputs: Any, build: Callable[[], tuple[Rule, ...]]) -> None:
        """Put chain ``name`` in ``table`` (once per render), from the cache while ``inputs``
        are the same. A rebuilt chain equal to the cached one is the cached object: the
        dataplane compares chains by identity first."""
        key = (name, table.family, table.name)
        if key in self._done:
            return
        self._done.add(key)
        hit = self._entries.get(key)
        if hit is None or hit.inputs != inputs:
            chain = Chain(name, build())
            hit = self._entries[key] = _Entry(inputs, hit.chain if hit is not None and hit.chain.rules == chain.rules
                                              else chain)
        table.chains[name] = hit.chain

    def _keep_reachable(self, table: Table) -> None:
        """§4.6: a chain is programmed only while a programmed chain refers to it. Also notes
        the sets and NFLOG prefixes of the programmed chains."""
        chains = table.chains
        seen: dict[str, Chain] = {}
        todo = list(HOOKS[table.name].values())
        while todo:
            name = todo.pop()
            if name in seen or name not in chains:
                continue
            chain = seen[name] = chains[name]
            todo += chain.targets
            if chain.sets:
                self._sets_used |= chain.sets
            if chain.nflog:
                self._nflog.update(chain.nflog)
        table.chains = seen

    # --- deny sequence (§2) ----------------------------------------------------------------

    def deny(self, match: tuple[Match, ...], table: str, denial: Denial | None = None,
             note: str | None = None) -> list[Rule]:
        """The rules that deny what ``match`` matches under dropActionOverride: NFLOG (filter
        and mangle, when the reporter is on and the denial has a prefix), LOG, then the verdict."""
        override = self.settings.drop_action_override
        out = []
        if denial is not None and self.settings.prometheus_reporter.enabled and table != "raw":
            out.append(Rule(match, Nflog(denial), note))
        if override.logs:
            out.append(Rule(match + self.limit, Log(self.settings.drop_log_prefix), note))
        if not override.accepts:
            out.append(Rule(match, DROP, note))
        elif table == "filter":
            out.append(Rule(match, ACCEPT, note))
        elif table == "mangle":
            out += [Rule(match, SetMark(self.m.a, self.m.a), note), Rule(match, ACCEPT, note)]
        else:
            out += [Rule(match, SetMark(self.m.a, self.m.a), note), Rule(match, NoTrack(), note),
                    Rule(match, ACCEPT, note)]
        return out

    # --- policy and profile chains (§5) -----------------------------------------------------

    def rules_chain(self, rules: RuleSet, family: int, table: str) -> list[Rule]:
        m = self.m
        out: list[Rule] = []
        for planned in rules.rules:
            if planned.skip(family):
                continue
            rule = planned.rule
            blocks, match = self._match(rule, family)
            out += blocks
            if rule.action is RuleAction.ALLOW:
                out += [Rule(match, SetMark(m.a, m.a)), Rule((Mark(m.a, m.a),), RETURN)]
            elif rule.action is RuleAction.PASS:
                out += [Rule(match, SetMark(m.p, m.p)), Rule((Mark(m.p, m.p),), RETURN)]
            elif rule.action is RuleAction.DENY:
                out.append(Rule(match, SetMark(m.d, m.d)))
                out += self.deny((Mark(m.d, m.d),), table, planned.denial)
            else:
                out.append(Rule(match + self.limit, Log(rules.log_prefix)))
        return out

    def _match(self, rule: CalcRule, family: int) -> tuple[list[Rule], tuple[Match, ...]]:
        """``rule_match``, once per calc rule object and family while the marks are the same."""
        hit = self.cache.matches.get((id(rule), family))
        if hit is None or hit[0] is not rule or hit[1] != self.m:
            hit = (rule, self.m, *rule_match(rule, family, self.m))
            self.cache.matches[(id(rule), family)] = hit
        return hit[2], hit[3]

    def _policy_chain(self, table: Table, policy: PolicyPlan, direction: Direction) -> str:
        data = policy.data
        name = chain_name(n.POLICY_IN if direction is INGRESS else n.POLICY_OUT,
                          policy_id(data.short_name, data.namespace))
        self._chain(table, name, (policy,),
                    lambda: tuple(self.rules_chain(policy.rules(direction), table.family, table.name)))
        return name

    def _profile_chain(self, table: Table, profile: ProfilePlan, direction: Direction) -> str:
        name = chain_name(n.PROFILE_IN if direction is INGRESS else n.PROFILE_OUT, profile.name)
        rules = profile.rules(direction)
        # P may still be set by a tier's or an earlier profile's Pass: a profile that tests
        # P for its own Pass rules starts with it clear (docs/decisions.md).
        start = [Rule((), SetMark(0, self.m.p))] if rules.has_pass else []
        self._chain(table, name, (profile,), lambda: _rules(start, self.rules_chain(rules, table.family, "filter")))
        return name

    # --- per-endpoint chains (§4.5) -------------------------------------------------------------

    def _tiers(self, table: Table, tiers: tuple[TierPlan, ...], direction: Direction, ends: bool) -> list[Rule]:
        m = self.m
        out = []
        for tier in tiers:
            out.append(Rule((), SetMark(0, m.p), comment(f"Start of tier {tier.name}")))
            for policy in tier.policies:
                out.append(Rule((Mark(0, m.p),), Jump(self._policy_chain(table, policy, direction))))
                if table.name == "raw":
                    out += [Rule((Mark(m.a, m.a),), NoTrack()), Rule((Mark(m.a, m.a),), ACCEPT)]
                else:
                    out.append(Rule((Mark(m.a, m.a),), RETURN))
            if ends and tier.end is not None:  # a Pass default action falls through to the next tier
                out += self.deny((Mark(0, m.p),), table.name, tier.end, comment(f"End of tier {tier.name}"))
        return out

    def _filter_endpoint_chain(self, table: Table, ep: EndpointPlan, direction: Direction, stage: Stage) -> list[Rule]:
        m = self.m
        if self.allow is ACCEPT:
            out = [Rule((ESTABLISHED,), ACCEPT)]
        else:
            out = [Rule((ESTABLISHED,), SetMark(m.a, m.a)), Rule((ESTABLISHED,), RETURN)]
        if not self.settings.disable_conntrack_invalid_check:
            out.append(Rule((INVALID,), DROP))
        if ep.is_host and stage is Stage.NORMAL:
            out.append(Rule((), Jump(n.FAILSAFE_IN if direction is INGRESS else n.FAILSAFE_OUT)))
        out.append(Rule((), SetMark(0, m.a | m.p | m.d)))
        out += self._tiers(table, ep.tiers_at(stage, direction), direction, ends=True)
        if stage is Stage.FORWARD:
            out.append(Rule((), SetMark(m.a, m.a), "Allow forwarded traffic by default"))
            return out
        for profile in ep.profiles:
            out += [Rule((), Jump(self._profile_chain(table, profile, direction))), Rule((Mark(m.a, m.a),), RETURN)]
        out += self.deny((), "filter", no_match(direction), "No profile allowed")
        return out

    def _untracked_chain(self, table: Table, ep: EndpointPlan, direction: Direction, stage: Stage) -> list[Rule]:
        m = self.m
        failsafe = n.FAILSAFE_IN if direction is INGRESS else n.FAILSAFE_OUT
        out = [Rule((), Jump(failsafe)), Rule((), SetMark(0, m.a | m.p | m.d))]
        return out + self._tiers(table, ep.tiers_at(stage, direction), direction, ends=False)

    def _endpoint_chain(self, table: Table, name: str, ep: EndpointPlan, direction: Direction, stage: Stage) -> None:
        """An endpoint chain, with the policy and profile chains it jumps to: from the cache
        while its tiers and profiles are the same objects (calc/view.py's identity contract
        says a policy or profile that changed is a new object)."""
        tiers = ep.tiers_at(stage, direction)
        profiles = ep.profiles if table.name == "filter" and stage is Stage.NORMAL else ()
        inputs = (ep.is_host, profiles, tiers)
        if self._reuse(table, name, inputs):
            return
        for tier in tiers:
            for policy in tier.policies:
                self._policy_chain(table, policy, direction)
        for profile in profiles:
            self._profile_chain(table, profile, direction)
        build = self._filter_endpoint_chain if table.name == "filter" else self._untracked_chain
        self._chain(table, name, inputs, lambda: tuple(build(table, ep, direction, stage)))

    def _dispatch(self, table: Table, chain: str, incoming: bool, targets: list[tuple[str, str]]) -> None:
        """Workload dispatch by interface name, failing closed for unknown interfaces (§4.3).

        Up to 16 interfaces it is the spec's flat list. Above that, as Calico builds it
        (felix/rules/dispatch.go), the names are grouped by their next character after the
        common prefix, and each group of more than one gets a child chain named for that
        character, listing its names flat: one level, so names and depth stay bounded
        however many workloads there are (docs/decisions.md)."""
        def goto(iface: str, target: str, prefix: bool = False) -> Rule:
            return Rule((Interface(incoming, iface, prefix),), Jump(target, goto=True))

        def flat(group: list[tuple[str, str]]) -> tuple[Rule, ...]:
            return _rules([goto(iface, target) for iface, target in group],
                          self.deny((), "filter", note="Unknown interface"))

        inputs = tuple(targets)
        if self._reuse(table, chain, inputs):
            return
        if len(targets) <= DISPATCH_FANOUT:
            self._chain(table, chain, inputs, partial(flat, targets))
            return
        common = os.path.commonprefix([iface for iface, _ in targets])
        rules = [goto(iface, target) for iface, target in targets if iface == common]
        groups: dict[str, list[tuple[str, str]]] = {}
        for iface, target in targets:
            if iface != common:
                groups.setdefault(iface[:len(common) + 1], []).append((iface, target))
        for key, group in sorted(groups.items()):
            if len(group) == 1:
                rules.append(goto(*group[0]))
                continue
            child = chain_name(f"{chain}-", key[len(common):])
            rules.append(goto(key, child, prefix=True))
            self._chain(table, child, tuple(group), partial(flat, group))
        self._chain(table, chain, inputs, lambda: _rules(rules, self.deny((), "filter", note="Unknown interface")))

    # --- host endpoint interfaces ------------------------------------------------------------------

    def _heps(self) -> dict[str, EndpointPlan]:
        """Host endpoint chains by interface name, ``*`` for the all-interfaces one (the plan's)."""
        heps = dict(self.plan.host_endpoints)
        if self.plan.all_interfaces is not None:
            heps["*"] = self.plan.all_interfaces
        return heps

    def _hep_dispatch(self, table: Table, chain: str, incoming: bool, target: str,
                      heps: dict[str, EndpointPlan]) -> None:
        def returns(iface: str, prefix: bool = False) -> Rule:
            return Rule((Interface(incoming, iface, prefix),), RETURN)

        rules = [Rule((Interface(incoming, iface),), Jump(chain_name(target, iface), goto=True))
                 for iface in sorted(heps) if iface != "*"]
        if "*" in heps:
            rules.append(returns("lo"))
            rules += [returns(p, prefix=True) for p in self.prefixes]
            rules += [returns(x) for x in self.plan.excluded]
            rules.append(Rule((), Jump(chain_name(target, "*"), goto=True)))
        self._chain(table, chain, (tuple(rules),), lambda: tuple(rules))

    def _failsafe(self, table: Table, reverse: bool) -> None:
        s = self.settings

        def rules(ports: tuple[FailsafePort, ...], source: bool) -> list[Rule]:
            end = End.SRC if source else End.DST
            return [Rule((Proto(p.protocol), MultiPort(end, (PortRange(p.port, p.port),))), ACCEPT) for p in ports]

        self._chain(table, n.FAILSAFE_IN, (reverse,), lambda: _rules(
            rules(s.failsafe_inbound, False), rules(s.failsafe_outbound, True) if reverse else []))
        if table.name != "mangle":
            self._chain(table, n.FAILSAFE_OUT, (reverse,), lambda: _rules(
                rules(s.failsafe_outbound, False), rules(s.failsafe_inbound, True) if reverse else []))

    # --- tables (§4.1–§4.4) ----------------------------------------------------------------------

    def _filter(self, table: Table) -> None:
        m, allow, prefixes = self.m, self.allow, self.prefixes
        accepted = Rule((Mark(m.a, m.a),), allow)

        def per_prefix(incoming: bool, action: Any) -> list[Rule]:
            return [Rule((Interface(incoming, p, prefix=True),), action) for p in prefixes]

        self._chain(table, n.INPUT, (), lambda: _rules(
            per_prefix(True, Jump(n.WORKLOAD_TO_HOST, goto=True)), accepted, Rule((), SetMark(0, m.all)),
            Rule((), Jump(n.FROM_HOST_DISPATCH)), accepted))
        self._chain(table, n.FORWARD, (), lambda: _rules(
            Rule((), SetMark(0, m.p | m.d | m.s0 | m.s1)), Rule((Mark(0, m.a),), Jump(n.FROM_HOST_FORWARD_DISPATCH)),
            per_prefix(True, Jump(n.FROM_WORKLOAD_DISPATCH)), per_prefix(False, Jump(n.TO_WORKLOAD_DISPATCH)),
            Rule((), Jump(n.TO_HOST_FORWARD_DISPATCH)), accepted))
        self._chain(table, n.OUTPUT, (), lambda: _rules(
            accepted, per_prefix(False, RETURN), Rule((), SetMark(0, m.all)),
            Rule((ConnState(("DNAT",), negate=True),), Jump(n.TO_HOST_DISPATCH)), accepted))

        def to_host() -> tuple[Rule, ...]:
            nd = [Rule((Proto(ICMPV6), Icmp(6, t, None)), ACCEPT) for t in ICMPV6_FROM_WORKLOAD]
            action = self.settings.default_endpoint_to_host_action
            end = [Rule((), ACCEPT)] if action is EndpointToHostAction.ACCEPT else [Rule((), RETURN)] \
                if action is EndpointToHostAction.RETURN else self.deny((), "filter")
            return _rules(nd if table.family == 6 else [], Rule((), Jump(n.FROM_WORKLOAD_DISPATCH)),
                          Rule((ESTABLISHED,), allow), end)

        self._chain(table, n.WORKLOAD_TO_HOST, (), to_host)
        workloads = self.plan.workloads
        for dispatch, incoming, prefix, direction in ((n.FROM_WORKLOAD_DISPATCH, True, n.FROM_WORKLOAD, EGRESS),
                                                      (n.TO_WORKLOAD_DISPATCH, False, n.TO_WORKLOAD, INGRESS)):
            targets = []
            for iface, ep in workloads.items():
                name = chain_name(prefix, iface)
                targets.append((iface, name))
                self._endpoint_chain(table, name, ep, direction, Stage.NORMAL)
            self._dispatch(table, dispatch, incoming, targets)
        heps = self._heps()
        for iface, ep in heps.items():
            for prefix, direction, stage in ((n.FROM_HOST, INGRESS, Stage.NORMAL), (n.TO_HOST, EGRESS, Stage.NORMAL),
                                             (n.FROM_HOST_FORWARD, INGRESS, Stage.FORWARD),
                                             (n.TO_HOST_FORWARD, EGRESS, Stage.FORWARD)):
                self._endpoint_chain(table, chain_name(prefix, iface), ep, direction, stage)
        for chain, incoming, target in ((n.FROM_HOST_DISPATCH, True, n.FROM_HOST),
                                        (n.TO_HOST_DISPATCH, False, n.TO_HOST),
                                        (n.FROM_HOST_FORWARD_DISPATCH, True, n.FROM_HOST_FORWARD),
                                        (n.TO_HOST_FORWARD_DISPATCH, False, n.TO_HOST_FORWARD)):
            self._hep_dispatch(table, chain, incoming, target, heps)
        self._failsafe(table, reverse=False)

    def _raw(self, table: Table) -> None:
        m = self.m
        heps = {i: ep for i, ep in self._heps().items()
                if ep.tiers_at(Stage.UNTRACKED, INGRESS) or ep.tiers_at(Stage.UNTRACKED, EGRESS)}
        # Anti-spoofing as Felix's raw PREROUTING (rules/static.go): workload traffic is marked,
        # passes the allowed spoofed prefixes, and is dropped when its source is not routed
        # back through the interface it came in on, whatever dropActionOverride says.
        from_workload = Mark(m.s0, m.s0)
        self._chain(table, n.PREROUTING, (), lambda: _rules(
            Rule((), SetMark(0, m.all)), [Rule((Interface(True, p, prefix=True),), SetMark(m.s0, m.s0))
                                          for p in self.prefixes],
            Rule((from_workload,), Jump(n.RPF_SKIP)), Rule((from_workload, ReversePathFailed()), DROP),
            Rule((from_workload,), RETURN), Rule((), Jump(n.FROM_HOST_DISPATCH))))
        skip = tuple((iface, str(net)) for iface, nets in self.plan.spoofing.items() for net in nets
                     if net.version == table.family)
        self._chain(table, n.RPF_SKIP, skip,
                    lambda: tuple(Rule((Interface(True, iface), Address(End.SRC, net)), ACCEPT) for iface, net in skip))
        self._chain(table, n.OUTPUT, (), lambda: _rules(Rule((), SetMark(0, m.all)),
                                                        Rule((), Jump(n.TO_HOST_DISPATCH))))
        for iface, ep in heps.items():
            self._endpoint_chain(table, chain_name(n.FROM_HOST, iface), ep, INGRESS, Stage.UNTRACKED)
            self._endpoint_chain(table, chain_name(n.TO_HOST, iface), ep, EGRESS, Stage.UNTRACKED)
        self._hep_dispatch(table, n.FROM_HOST_DISPATCH, True, n.FROM_HOST, heps)
        self._hep_dispatch(table, n.TO_HOST_DISPATCH, False, n.TO_HOST, heps)
        self._failsafe(table, reverse=True)

    def _mangle(self, table: Table) -> None:
        m, mallow = self.m, self.mallow
        heps = {i: ep for i, ep in self._heps().items() if ep.tiers_at(Stage.PRE_DNAT, INGRESS)}
        self._chain(table, n.PREROUTING, (), lambda: _rules(
            Rule((ESTABLISHED,), mallow), Rule((Mark(m.a, m.a),), mallow),
            [Rule((Interface(True, p, prefix=True),), RETURN) for p in self.prefixes],
            Rule((), SetMark(0, m.all)), Rule((), Jump(n.FROM_HOST_DISPATCH)), Rule((Mark(m.a, m.a),), mallow)))
        for iface, ep in heps.items():
            self._endpoint_chain(table, chain_name(n.FROM_HOST, iface), ep, INGRESS, Stage.PRE_DNAT)
        self._hep_dispatch(table, n.FROM_HOST_DISPATCH, True, n.FROM_HOST, heps)
        self._failsafe(table, reverse=False)

    def _rp_filter(self) -> dict[str, RpFilter]:
        """Strict for every present workload interface, off where the endpoint allows spoofed
        prefixes (its rpf-skip entries then decide); nothing when IPv4 is not enforced."""
        if 4 not in self.settings.families:
            return {}
        return {iface: RpFilter.OFF if iface in self.plan.spoofing else RpFilter.STRICT
                for iface in sorted(self.plan.interfaces) if self.settings.is_workload_interface(iface)}

    # --- ipsets (§8) -----------------------------------------------------------------------------

    def _ipsets(self) -> dict[str, IPSetSpec]:
        by_name = {ipset_name(f, set_id): (f, set_id) for f in self.settings.families for set_id in self.plan.ipsets}
        out = {}
        for name in sorted(self._sets_used):
            family, set_id = by_name[name]
            ipset = self.plan.ipsets[set_id]
            key = (ipset.id, family)
            hit = self.cache.members.get(key)
            if hit is None or hit[0] is not ipset:  # the same IPSet object has the same members
                hit = (ipset, family_members(ipset.members, family, ipset.kind))
            self._used_members[key] = hit
            out[name] = IPSetSpec(name, family, "hash:net" if ipset.kind == "selector" else "hash:ip,port", hit[1],
                                  set_id)
        return out


def chain_owners(plan: Plan) -> dict[str, LeftOut]:
    """Chain name -> the resource whose chain it is, in every table and family: each local
    endpoint's own chains, and the chains of the policies and profiles they use. Chains of
    no one resource (dispatch, top-level, failsafe) are not named."""
    owners: dict[str, LeftOut] = {}
    heps = dict(plan.host_endpoints) | ({"*": plan.all_interfaces} if plan.all_interfaces is not None else {})
    ends: list[tuple[str, EndpointPlan, tuple[str, ...]]] = [
        *((iface, ep, (n.FROM_WORKLOAD, n.TO_WORKLOAD)) for iface, ep in plan.workloads.items()),
        *((iface, ep, (n.FROM_HOST, n.TO_HOST, n.FROM_HOST_FORWARD, n.TO_HOST_FORWARD)) for iface, ep in heps.items())]
    for iface, ep, prefixes in ends:
        owners.update({chain_name(prefix, iface): LeftOut(LeftOutKind.ENDPOINT, ep.key) for prefix in prefixes})
        for tiers in ep.tiers.values():
            for policy in (p for tier in tiers for p in tier.policies):
                pid = policy_id(policy.data.short_name, policy.data.namespace)
                owners.update({chain_name(prefix, pid): LeftOut(LeftOutKind.POLICY, policy.key)
                               for prefix in (n.POLICY_IN, n.POLICY_OUT)})
        owners.update({chain_name(prefix, profile.name): LeftOut(LeftOutKind.PROFILE, profile.name)
                       for profile in ep.profiles for prefix in (n.PROFILE_IN, n.PROFILE_OUT)})
    return owners


def render(plan: Plan, cache: RenderCache | None = None) -> Rendered:
    """The chains and sets that enforce ``plan`` (dataplane.md §2–§8).

    Input: a ``Plan`` from ``build_plan``; ``cache``, kept by the caller across renders (the
    agent keeps one): chains whose inputs are the same objects are reused as they are.
    Returns ``Rendered``: the tables by (IP version, table name), each chain a tuple of rules
    as values (matches and a target; text only at the iptables-restore boundary,
    dataplane.encode), the ipsets their chains match, and the NFLOG prefix table of what
    was rendered. Pure: the same plan gives equal tables. Never raises for a plan built
    from valid settings.

    Follows Felix's rule renderer (felix/rules: static.go for the top-level chains,
    dispatch.go, endpoints.go and policy.go), with the chain names and mark bits of
    dataplane.md §3–§4.
    """
    with paused_gc():  # rules are acyclic; a collection here would rescan the whole cluster's objects
        return Renderer(plan, cache).render()
