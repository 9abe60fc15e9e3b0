"""What-if: recorded flows replayed against the policies before and after a change
(`tortie audit replay`), keeping the flows whose verdict changes.

A changed flow comes out as a Flow whose enforced trace is the verdict before and whose
pending trace is the verdict after, so that the report groups it: newly denied flows as
"would block" (under the policy that denies them after the change), newly allowed ones as
"newly allowed" (under the policy that denied them before).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import msgspec

from ..core import Verdict, parse_protocol
from ..model import Packet
from ..plan import PROFILE_TIER
from .cluster import Cluster, Judgement
from .flows import NONE, Flow, Policies, PolicyHit



@dataclass
class ReplayCounts:
    """Flows read, replayed, changed, and those that could not be replayed and why
    (read = replayed + no_addresses + unplaced)."""

    read: int = 0
    replayed: int = 0
    changed: int = 0
    no_addresses: int = 0  # aggregated records without source or destination address
    unplaced: int = 0  # no endpoint owns either address

    def __str__(self) -> str:
        text = f"{self.replayed:,} flows replayed: {self.changed:,} change verdict"
        skipped = [f"{n:,} {why}" for n, why in ((self.no_addresses, "without addresses (aggregated)"),
                                                 (self.unplaced, "that no endpoint owns")) if n]
        return text + (f"; not replayed: {', '.join(skipped)}" if skipped else "")


def packet_of_flow(flow: Flow) -> Packet | None:
    """The packet that opens `flow`, from its addresses, protocol and ports; None if the
    record does not give both addresses (aggregated) or a protocol."""
    try:
        src = str(ipaddress.ip_address(flow.source_ip or ""))
        dst = str(ipaddress.ip_address(flow.dest_ip or ""))
        number = parse_protocol(flow.protocol).number
    except ValueError:
        return None
    if ipaddress.ip_address(src).version != ipaddress.ip_address(dst).version:
        return None
    return Packet(src, dst, number, flow.source_port, flow.dest_port)


def denial_hit(denied: Judgement, verdict: Verdict = Verdict.DENY) -> PolicyHit:
    """A denying Judgement as a flow log trace entry would name it (profiles in the tier
    `__PROFILE__`; a denial by no rule under its cause), with `verdict` as its action."""
    d = denied.denied_by
    tier, name, rule = (d.tier or PROFILE_TIER, d.policy, d.rule) if d is not None else (NONE, denied.cause, None)
    return PolicyHit(0, tier, name, str(verdict), rule if verdict is Verdict.DENY else None)


def _entry(judged: Judgement, other: Judgement) -> str:
    """A trace entry for `judged`: its denial; for an allow, the other side's denial, allowed."""
    return denial_hit(judged if judged.verdict is Verdict.DENY else other, judged.verdict).entry


def replay(before: Cluster, after: Cluster, flows: Iterable[Flow], counts: ReplayCounts) -> Iterator[Flow]:
    """The flows whose verdict differs between `before` and `after`, as described above."""
    @lru_cache(maxsize=1 << 16)
    def judge(packet: Packet) -> tuple[Judgement | None, Judgement | None]:
        return before.judge(packet), after.judge(packet)

    for flow in flows:
        counts.read += flow.count
        packet = packet_of_flow(flow)
        if packet is None:
            counts.no_addresses += flow.count
            continue
        was, now = judge(packet)
        if was is None or now is None:
            counts.unplaced += flow.count
            continue
        counts.replayed += flow.count
        if was.verdict is now.verdict:
            continue
        counts.changed += flow.count
        yield msgspec.structs.replace(flow, action=str(was.verdict), policies=Policies(
            enforced_policies=(_entry(was, now),), pending_policies=(_entry(now, was),)))
