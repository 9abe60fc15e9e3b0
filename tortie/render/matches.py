"""A policy rule's match as iptables rules (dataplane.md §3 marks, §7 fragments and match
blocks): the match blocks that OR alternatives together through the scratch marks, and
the final match of the rule itself."""

from __future__ import annotations

from ..calc import CalcRule, PortRange, Side
from ..config import Marks
from .iptables import Address, End, Icmp, Mark, Match, MultiPort, Proto, Rule, SetMark, SetMatch
from .names import ipset_name

MULTIPORT_SLOTS = 15


def _port_chunks(ports: tuple[PortRange, ...]) -> list[tuple[PortRange, ...]]:
    """Numeric ports as multiport lists of at most 15 slots (a range takes 2)."""
    chunks: list[list[PortRange]] = [[]]
    used = 0
    for p in ports:
        slots = 1 if p.lo == p.hi else 2
        if used + slots > MULTIPORT_SLOTS:
            chunks.append([])
            used = 0
        chunks[-1].append(p)
        used += slots
    return [tuple(c) for c in chunks if c]


def _alternatives(side: Side, end: End, family: int) -> list[Match]:
    """The OR-alternatives of a side's ports: numeric chunks, then named ports."""
    alts: list[Match] = [MultiPort(end, chunk) for chunk in _port_chunks(side.ports)]
    alts += [SetMatch(ipset_name(family, n), end, with_port=True) for n in side.named_ports]
    return alts


def _negations(side: Side, end: End, family: int, inline_not_nets: list[str]) -> list[Match]:
    out: list[Match] = [Address(end, n, negate=True) for n in inline_not_nets]
    if side.not_selector:
        out.append(SetMatch(ipset_name(family, side.not_selector), end, negate=True))
    out += [MultiPort(end, chunk, negate=True) for chunk in _port_chunks(side.not_ports)]
    out += [SetMatch(ipset_name(family, n), end, with_port=True, negate=True) for n in side.not_named_ports]
    return out


def _icmp(family: int, icmp: tuple[int | None, int | None], negate: bool) -> Icmp:
    return Icmp(family, icmp[0], icmp[1], negate)


def rule_match(rule: CalcRule, family: int, marks: Marks) -> tuple[list[Rule], tuple[Match, ...]]:
    """(match block rules, final match) of a rule the plan applies to ``family``."""
    proto = [Proto(rule.protocol)] if rule.protocol is not None else []
    negative: list[list[Match]] = []
    inline: list[Match] = list(proto)
    nets_inline: dict[End, Match] = {}
    ports_inline: dict[End, Match] = {}
    not_nets_inline: dict[End, list[str]] = {End.SRC: [], End.DST: []}
    port_blocks: list[list[tuple[Match, ...]]] = []  # port alternatives carry their -p in a block
    net_blocks: list[list[tuple[Match, ...]]] = []
    for end, side in ((End.SRC, rule.source), (End.DST, rule.destination)):
        nets = [str(n) for n in side.nets if n.version == family]
        if len(nets) >= 2:
            net_blocks.append([(Address(end, n),) for n in nets])
        elif nets:
            nets_inline[end] = Address(end, nets[0])
        not_nets = [str(n) for n in side.not_nets if n.version == family]
        # iptables takes one -s (-d) per rule: beside an inline net, a negated one needs a block
        # (felix/rules/policy.go counts the CIDR matches of each end the same way).
        if len(not_nets) >= 2 or (not_nets and end in nets_inline):
            negative.append([Address(end, n) for n in not_nets])
        else:
            not_nets_inline[end] = not_nets
        alts = _alternatives(side, end, family)
        if len(alts) >= 2:
            port_blocks.append([(*proto, a) for a in alts])
        elif alts:
            ports_inline[end] = alts[0]
    positive = port_blocks + net_blocks
    for end, side in ((End.SRC, rule.source), (End.DST, rule.destination)):
        if end in nets_inline:
            inline.append(nets_inline[end])
        if side.selector:
            inline.append(SetMatch(ipset_name(family, side.selector), end))
        if end in ports_inline:
            inline.append(ports_inline[end])
    if rule.icmp is not None:
        inline.append(_icmp(family, rule.icmp, negate=False))
    if rule.not_protocol is not None and rule.protocol is None:
        inline.append(Proto(rule.not_protocol, negate=True))
    for end, side in ((End.SRC, rule.source), (End.DST, rule.destination)):
        inline += _negations(side, end, family, not_nets_inline[end])
    if rule.not_icmp is not None:
        inline.append(_icmp(family, rule.not_icmp, negate=True))
    if not positive and not negative:
        return [], tuple(inline)
    s0, s1 = marks.s0, marks.s1
    blocks = [Rule((), SetMark(0 if positive else s0, s0 | s1))]
    for i, block in enumerate(positive):
        if i == 0:
            blocks += [Rule(a, SetMark(s0, s0)) for a in block]
        else:
            blocks.append(Rule((), SetMark(0, s1)))
            blocks += [Rule(a, SetMark(s1, s1)) for a in block]
            blocks.append(Rule((Mark(0, s1),), SetMark(0, s0)))
    for cidrs in negative:
        blocks += [Rule((c,), SetMark(0, s0)) for c in cidrs]
    return blocks, (Mark(s0, s0), *inline)
