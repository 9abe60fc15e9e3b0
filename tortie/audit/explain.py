"""A kernel LOG line replayed through the model (`tortie logs explain`): on the node that
logged it, on the interfaces it names, against a resource set. What it tells: the
endpoints of both ends, the verdict, and the policy and rule that denied the packet; then
the pending verdict: the same replay against the set with its staged policies promoted
(Cluster.pending).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..calc import Entity
from ..core import Verdict, parse_protocol
from ..logs import LogRecord, PrefixKind
from ..logs import host_port
from ..model import Packet, Result
from .cluster import Cluster, Judgement, judgement

# The prefixes of lines logged for a denial (tortie's and Calico's override logs).
DENIAL_KINDS = (PrefixKind.OVERRIDE, PrefixKind.OVERRIDE_DROP, PrefixKind.OVERRIDE_ACCEPT)


@dataclass(frozen=True)
class Explanation:
    """One line's replay. `packet` is None when the line does not give one (then `note`
    says why); `judgement` is None when the model cannot place the packet. `pending` is
    the judgement with the staged policies promoted (None where `judgement` is, and when
    no policy is staged)."""

    node: str
    packet: Packet | None
    source: Entity | None = None
    destination: Entity | None = None
    result: Result | None = None
    judgement: Judgement | None = None
    note: str = ""
    pending: Judgement | None = None


def packet_of(record: LogRecord) -> Packet | str:
    """The packet a LOG line shows, on the interfaces it names (an empty IN: sent by the
    host; an empty OUT: for the host), as a new connection's; or why there is none."""
    src, dst = record.src_canonical, record.dst_canonical
    if src is None or dst is None:
        return "the line has no source or destination address"
    if record.family is not None and record.proto is None:
        return "the line has no protocol"
    try:
        number = parse_protocol(record.proto or "").number
    except ValueError:
        return f"unknown protocol {record.proto!r}"
    return Packet(src, dst, number, record.spt, record.dpt, record.icmp_type, record.icmp_code, "new",
                  record.in_ or None, record.out or None)


def explain_record(cluster: Cluster, record: LogRecord, node: str) -> Explanation:
    """Replay `record` on `node` of `cluster`."""
    packet = packet_of(record)
    if isinstance(packet, str):
        return Explanation(node, None, note=packet)
    source, destination = cluster.owner(packet.src), cluster.owner(packet.dst)
    plan = cluster.plan(node)
    governed = [g.endpoint for g in (plan.governor(i) for i in (packet.in_iface, packet.out_iface) if i)
                if g.endpoint is not None]
    if source is None and destination is None and not governed:
        return Explanation(node, packet, note=f"no endpoint owns {packet.src} or {packet.dst}, and no endpoint "
                                              f"of node {node} has interface {packet.in_iface or packet.out_iface}")
    if source is None and packet.in_iface:
        source = next((e.entity for e in governed if e.entity.interface == packet.in_iface), None)
    if destination is None and packet.out_iface:
        destination = next((e.entity for e in governed if e.entity.interface == packet.out_iface), None)
    result = cluster.evaluate_at(node, packet)
    judged = judgement(node, result)
    note = ""
    if record.kind in DENIAL_KINDS and judged.verdict is Verdict.ALLOW:
        note = "logged as a denial, but these policies allow it (they changed, or the line is from another node)"
    elif record.kind not in DENIAL_KINDS and judged.verdict is Verdict.DENY and result.log_prefixes \
            and record.prefix_raw not in result.log_prefixes:
        note = "the model would log it with another prefix"
    pending = None if cluster.pending is cluster else judgement(node, cluster.pending.evaluate_at(node, packet))
    return Explanation(node, packet, source, destination, result, judged, note, pending)


def endpoint_name(entity: Entity | None) -> str:
    """`WorkloadEndpoint ns/name`, `HostEndpoint name`, `NetworkSet ns/name`, or `outside`."""
    if entity is None:
        return "outside"
    return f"{entity.kind} {entity.namespace}/{entity.name}" if entity.namespace else f"{entity.kind} {entity.name}"


def explanation_json(record: LogRecord, explanation: Explanation) -> dict[str, Any]:
    """A record and its replay as one JSON object: the line's `time`, `host`, `prefix`,
    `src`, `dst`, `proto`, `spt`, `dpt`; then `node`, `source`, `destination`, `verdict`,
    `action`, `cause`, `tier`, `policy`, `rule`; with staged policies, the pending verdict
    as `pending` and its `pendingCause`, `pendingTier`, `pendingPolicy`, `pendingRule`; and
    `note` (absent when empty)."""
    out: dict[str, Any] = {k: v for k, v in (
        ("time", record.time), ("host", record.host), ("prefix", record.prefix), ("src", record.src_canonical),
        ("dst", record.dst_canonical), ("proto", record.proto), ("spt", record.spt), ("dpt", record.dpt))
        if v is not None}
    e = explanation
    out["node"] = e.node
    if e.packet is not None:
        out["source"], out["destination"] = endpoint_name(e.source), endpoint_name(e.destination)
    if e.result is not None and e.judgement is not None:
        out["verdict"], out["action"] = str(e.judgement.verdict), str(e.result.action)
        out.update(_judged(e.judgement))
    if e.pending is not None:
        out["pending"] = str(e.pending.verdict)
        out.update({"pending" + key[0].upper() + key[1:]: value for key, value in _judged(e.pending).items()})
    if e.note:
        out["note"] = e.note
    return out


def _judged(judged: Judgement) -> dict[str, Any]:
    """A denial's `cause`, `tier`, `policy` and `rule` (none for an allow)."""
    out: dict[str, Any] = {}
    if judged.verdict is Verdict.DENY:
        out["cause"] = judged.cause
    if judged.denied_by is not None:
        d = judged.denied_by
        out.update({"tier": d.tier or None, "policy": d.policy, "rule": d.rule})
    return out


def _answer(judged: Judgement) -> str:
    return "allowed" if judged.verdict is Verdict.ALLOW else f"denied by {judged.denied_by or judged.cause}"


def describe_explanation(record: LogRecord, explanation: Explanation) -> str:
    """Two lines: the packet and where it was logged, then the replay's answer; a third
    with the pending verdict when policies are staged."""
    e = explanation
    when = record.time or (f"[{record.uptime:.6f}]" if record.uptime is not None else "-")
    p = e.packet
    if p is None:
        return f"{when} {record.host or '-'} {record.prefix!r}\n  not replayed: {e.note}"
    head = (f"{when} node {e.node} {record.proto} {host_port(p.src, p.sport)} > {host_port(p.dst, p.dport)} "
            f"in={p.in_iface or '-'} out={p.out_iface or '-'}")
    if e.judgement is None or e.result is None:
        return f"{head}\n  not placed: {e.note}"
    ends = f"{endpoint_name(e.source)} -> {endpoint_name(e.destination)}"
    text = (f"{head}\n  {ends}: {_answer(e.judgement)}; "
            f"the kernel would {'accept' if e.result.action == 'accept' else 'drop'} it")
    if e.pending is not None:
        text += f"\n  pending (staged policies promoted): {_answer(e.pending)}"
    return text + (f"\n  note: {e.note}" if e.note else "")
