"""Rule matches (dataplane.md §3 marks, §7 fragments and match blocks)."""

from __future__ import annotations

from dataclasses import dataclass

from ..calc import CalcRule, PortRange, Side
from .names import ipset_name

PROTOCOL_FRAGMENTS = {6: "tcp", 17: "udp", 1: "icmp", 58: "ipv6-icmp", 132: "sctp", 136: "udplite"}
MULTIPORT_SLOTS = 15


@dataclass(frozen=True)
class Marks:
    """The five mark bits, taken from the mask's set bits, lowest first."""

    a: int
    p: int
    d: int
    s0: int
    s1: int

    @classmethod
    def from_mask(cls, mask: int) -> Marks:
        bits = [1 << i for i in range(32) if mask & (1 << i)]
        if len(bits) < 5:
            raise ValueError(f"iptablesMarkMask {mask:#x} has fewer than 5 bits set")
        return cls(*bits[:5])

    @property
    def all(self) -> int:
        return self.a | self.p | self.d | self.s0 | self.s1


def mark(value: int, mask: int) -> str:
    return f"-m mark --mark {value:#x}/{mask:#x}"


def set_mark(value: int, mask: int) -> str:
    return f"-j MARK --set-mark {value:#x}/{mask:#x}"


def protocol_fragment(number: int) -> str:
    return PROTOCOL_FRAGMENTS.get(number, str(number))


def applies_to_family(rule: CalcRule, family: int) -> bool:
    """evaluation.md §6: a rule is ignored for a family it cannot match."""
    if rule.ip_version is not None and rule.ip_version != family:
        return False
    if (rule.protocol, family) in ((1, 6), (58, 4)):
        return False
    return all(not side.nets or any(n.version == family for n in side.nets)
               for side in (rule.source, rule.destination))


def _port_chunks(ports: tuple[PortRange, ...]) -> list[str]:
    """Numeric ports as multiport lists of at most 15 slots (a range takes 2)."""
    chunks: list[list[str]] = [[]]
    used = 0
    for p in ports:
        text, slots = (str(p.lo), 1) if p.lo == p.hi else (f"{p.lo}:{p.hi}", 2)
        if used + slots > MULTIPORT_SLOTS:
            chunks.append([])
            used = 0
        chunks[-1].append(text)
        used += slots
    return [",".join(c) for c in chunks if c]


def _alternatives(side: Side, end: str, family: int) -> list[str]:
    """The OR-alternatives of a side's ports: numeric chunks, then named ports."""
    flag = "--source-ports" if end == "src" else "--destination-ports"
    alts = [f"-m multiport {flag} {chunk}" for chunk in _port_chunks(side.ports)]
    alts += [f"-m set --match-set {ipset_name(family, n)} {end},{end}" for n in side.named_ports]
    return alts


def _negations(side: Side, end: str, family: int, inline_not_nets: list[str]) -> list[str]:
    flag = "--source-ports" if end == "src" else "--destination-ports"
    net_flag = "-s" if end == "src" else "-d"
    out = [f"! {net_flag} {n}" for n in inline_not_nets]
    if side.not_selector:
        out.append(f"-m set ! --match-set {ipset_name(family, side.not_selector)} {end}")
    out += [f"-m multiport ! {flag} {chunk}" for chunk in _port_chunks(side.not_ports)]
    out += [f"-m set ! --match-set {ipset_name(family, n)} {end},{end}" for n in side.not_named_ports]
    return out


def _icmp(rule: CalcRule, family: int, icmp: tuple[int | None, int | None], negate: bool) -> str:
    kind, code = icmp
    value = f"{kind}" + (f"/{code}" if code is not None else "")
    bang = "! " if negate else ""
    return f"-m icmp {bang}--icmp-type {value}" if family == 4 else f"-m icmp6 {bang}--icmpv6-type {value}"


def rule_match(rule: CalcRule, family: int, marks: Marks) -> tuple[list[str], str] | None:
    """(block rule bodies, final match) for one rule and family, or None when the rule is
    not rendered (wrong family, or protocol equal to notProtocol)."""
    if not applies_to_family(rule, family):
        return None
    if rule.protocol is not None and rule.not_protocol is not None and rule.protocol == rule.not_protocol:
        return None
    protocol = protocol_fragment(rule.protocol) if rule.protocol is not None else ""
    negative: list[list[str]] = []
    inline: list[str] = [f"-p {protocol}"] if protocol else []
    nets_inline: dict[str, str] = {}
    ports_inline: dict[str, str] = {}
    not_nets_inline: dict[str, list[str]] = {"src": [], "dst": []}
    port_blocks: list[list[str]] = []  # port alternatives carry their -p in a block
    net_blocks: list[list[str]] = []
    for end, side in (("src", rule.source), ("dst", rule.destination)):
        net_flag = "-s" if end == "src" else "-d"
        nets = [str(n) for n in side.nets if n.version == family]
        if len(nets) >= 2:
            net_blocks.append([f"{net_flag} {n}" for n in nets])
        elif nets:
            nets_inline[end] = f"{net_flag} {nets[0]}"
        not_nets = [str(n) for n in side.not_nets if n.version == family]
        if len(not_nets) >= 2:
            negative.append([f"{net_flag} {n}" for n in not_nets])
        else:
            not_nets_inline[end] = not_nets
        alts = _alternatives(side, end, family)
        if len(alts) >= 2:
            port_blocks.append([f"-p {protocol} {a}" for a in alts])
        elif alts:
            ports_inline[end] = alts[0]
    positive = port_blocks + net_blocks
    for end, side in (("src", rule.source), ("dst", rule.destination)):
        if end in nets_inline:
            inline.append(nets_inline[end])
        if side.selector:
            inline.append(f"-m set --match-set {ipset_name(family, side.selector)} {end}")
        if end in ports_inline:
            inline.append(ports_inline[end])
    if rule.icmp is not None:
        inline.append(_icmp(rule, family, rule.icmp, negate=False))
    if rule.not_protocol is not None and rule.protocol is None:
        inline.append(f"! -p {protocol_fragment(rule.not_protocol)}")
    for end, side in (("src", rule.source), ("dst", rule.destination)):
        inline += _negations(side, end, family, not_nets_inline[end])
    if rule.not_icmp is not None:
        inline.append(_icmp(rule, family, rule.not_icmp, negate=True))
    if not positive and not negative:
        return [], " ".join(inline)
    blocks = [set_mark(0 if positive else marks.s0, marks.s0 | marks.s1)]
    for i, alts in enumerate(positive):
        if i == 0:
            blocks += [f"{a} {set_mark(marks.s0, marks.s0)}" for a in alts]
        else:
            blocks.append(set_mark(0, marks.s1))
            blocks += [f"{a} {set_mark(marks.s1, marks.s1)}" for a in alts]
            blocks.append(f"{mark(0, marks.s1)} {set_mark(0, marks.s0)}")
    for cidrs in negative:
        blocks += [f"{c} {set_mark(0, marks.s0)}" for c in cidrs]
    return blocks, " ".join([mark(marks.s0, marks.s0)] + inline)
