"""The audit report: what enforcing would block and what it would newly allow, from recorded
flows, grouped by policy, by each end's workload and namespace, and by port.

A flow *would be blocked* when the policies with the staged ones promoted deny it and the
data plane let it through (a pending denial, or under dropActionOverride Accept or
LogAndAccept any denial); it would be *newly allowed* when it is denied now and the
staged policies allow it. A flow denied and dropped already is neither.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ..core import Verdict, paused_gc
from ..plan import PROFILE_TIER
from ..logs import host_port, plural
from .flows import NONE, Flow, Origin, PolicyHit

UNATTRIBUTED = "(not attributed: replay kernel lines with --resources)"
MINUTE = 60


class Finding(StrEnum):
    WOULD_BLOCK = "would block"
    NEWLY_ALLOWED = "newly allowed"


class Dimension(StrEnum):
    """What a report groups flows by."""

    POLICY = "policy"
    SOURCE = "source"
    SOURCE_NAMESPACE = "source namespace"
    DESTINATION = "destination"
    DESTINATION_NAMESPACE = "destination namespace"
    PORT = "port"


def classify(flow: Flow) -> Finding | None:
    """Whether enforcing would block `flow`, newly allow it, or change nothing for it."""
    enforced, pending = flow.verdicts
    if pending is Verdict.DENY:
        dropped = enforced is Verdict.DENY and flow.action.lower() in ("deny", "drop")
        return None if dropped else Finding.WOULD_BLOCK
    if pending is Verdict.ALLOW and enforced is Verdict.DENY:
        return Finding.NEWLY_ALLOWED
    return None


def policy_name(hit: PolicyHit | None) -> str:
    """`<name> [<tier>]` of the deciding policy; profiles as `profile <name>`."""
    if hit is None:
        return UNATTRIBUTED
    if hit.tier == PROFILE_TIER:
        return f"profile {hit.name.removeprefix(PROFILE_TIER + '.')}"
    return f"{hit.name} [{hit.tier}]"


def _namespace(namespace: str) -> str:
    return "(no namespace)" if namespace == NONE else namespace


def keys(flow: Flow) -> dict[Dimension, str]:
    """The group of `flow` in each dimension."""
    return {Dimension.POLICY: policy_name(flow.pending), Dimension.SOURCE: flow.source.workload,
            Dimension.SOURCE_NAMESPACE: _namespace(flow.source.namespace),
            Dimension.DESTINATION: flow.dest.workload,
            Dimension.DESTINATION_NAMESPACE: _namespace(flow.dest.namespace), Dimension.PORT: flow.port}


@dataclass
class Group:
    """Flows that share a key: how many (records stand for `count` flows each), their
    packets, when first and last seen (UNIX seconds), and the first one as an example."""

    flows: int = 0
    packets: int = 0
    first: float = float("inf")
    last: float = float("-inf")
    example: Flow | None = None

    def add(self, flow: Flow, start: float, end: float, count: int) -> None:
        """Count `flow`, which starts and ends at `start` and `end` and stands for `count` flows."""
        self.flows += count
        self.packets += flow.packets
        if start < self.first:
            self.first = start
            self.example = flow
        if end > self.last:
            self.last = end

    def merge(self, other: Group) -> None:
        self.flows += other.flows
        self.packets += other.packets
        if other.first < self.first:
            self.first, self.example = other.first, other.example
        self.last = max(self.last, other.last)


def _raw_keys(flow: Flow) -> tuple[object, ...]:
    """keys(flow) unformatted, in Dimension's order: what flows are counted under; the
    groups are formatted (and merged where two raw keys format alike) once at the end."""
    f = flow
    return (f.pending, (f.source_name, f.source_namespace, f.source_ip if f.source_name == NONE else None),
            f.source_namespace, (f.dest_name, f.dest_namespace, f.dest_ip if f.dest_name == NONE else None),
            f.dest_namespace, (f.proto, f.dest_port))


@dataclass
class Section:
    """One finding's flows: the total, the groups of each dimension, and flows per minute."""

    total: Group = field(default_factory=Group)
    raw: tuple[dict[object, Group], ...] = field(default_factory=lambda: tuple({} for _ in Dimension))
    minutes: dict[int, int] = field(default_factory=dict)
    _groups: dict[Dimension, dict[str, Group]] | None = None

    def add(self, flow: Flow) -> None:
        start, end, count = flow.start, flow.end, flow.count
        self.total.add(flow, start, end, count)
        for groups, key in zip(self.raw, _raw_keys(flow), strict=True):
            group = groups.get(key)
            if group is None:
                group = groups[key] = Group()
            group.add(flow, start, end, count)
        minute = int(start // MINUTE)
        self.minutes[minute] = self.minutes.get(minute, 0) + count
        self._groups = None

    @property
    def groups(self) -> dict[Dimension, dict[str, Group]]:
        """The groups of each dimension, by key."""
        if self._groups is None:
            self._groups = {d: {} for d in Dimension}
            for dimension, raw in zip(Dimension, self.raw, strict=True):
                formatted = self._groups[dimension]
                for counted in raw.values():
                    assert counted.example is not None  # a group holds at least one flow
                    key = keys(counted.example)[dimension]
                    group = formatted.get(key)
                    if group is None:
                        group = formatted[key] = Group()
                    group.merge(counted)
        return self._groups

    def top(self, dimension: Dimension, limit: int | None = None) -> list[tuple[str, Group]]:
        """The groups of `dimension`, most flows first (then by key)."""
        ranked = sorted(self.groups[dimension].items(), key=lambda kv: (-kv[1].flows, kv[0]))
        return ranked if limit is None else ranked[:limit]


@dataclass
class Window:
    """The time window, in UNIX seconds (None: open)."""

    since: float | None = None
    until: float | None = None

    def holds(self, flow: Flow) -> bool:
        return (self.since is None or flow.end >= self.since) and (self.until is None or flow.start <= self.until)


@dataclass
class Report:
    """Flows in `window` by finding; `outside` counts the flows read but left out by the window."""

    window: Window = field(default_factory=Window)
    read: int = 0
    outside: int = 0
    sections: dict[Finding, Section] = field(default_factory=lambda: {f: Section() for f in Finding})

    def add_all(self, flows: Iterable[Flow]) -> Report:
        holds, sections = self.window.holds, self.sections
        windowed = self.window.since is not None or self.window.until is not None
        with paused_gc():  # flows are acyclic: the collector would only rescan them, a third of the time
            for flow in flows:
                self.read += flow.count
                if windowed and not holds(flow):
                    self.outside += flow.count
                    continue
                finding = classify(flow)
                if finding is not None:
                    sections[finding].add(flow)
        return self


# --- output ---------------------------------------------------------------------------------

def iso(when: float) -> str:
    """UNIX seconds as RFC 3339 UTC, to the second."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def flow_json(flow: Flow) -> dict[str, Any]:
    """A flow as the report shows an example."""
    hit = flow.pending
    return {"start": iso(flow.start), "end": iso(flow.end), "node": flow.node, "origin": str(flow.origin),
            "source": {"ip": flow.source.ip, "port": flow.source.port, "name": flow.source.name,
                       "namespace": flow.source.namespace, "type": flow.source.type},
            "destination": {"ip": flow.dest.ip, "port": flow.dest.port, "name": flow.dest.name,
                            "namespace": flow.dest.namespace, "type": flow.dest.type},
            "proto": flow.protocol, "action": flow.action, "reporter": flow.reporter,
            "policy": None if hit is None else {"tier": hit.tier, "name": hit.name, "action": hit.action,
                                                "rule": hit.rule},
            "packets": flow.packets, "flows": flow.count}


def _group_json(key: str, group: Group) -> dict[str, Any]:
    return {"key": key, "flows": group.flows, "packets": group.packets, "firstSeen": iso(group.first),
            "lastSeen": iso(group.last), "example": None if group.example is None else flow_json(group.example)}


def report_json(report: Report) -> dict[str, Any]:
    """The whole report: window, counts, and per finding its total, groups and flows per minute."""
    out: dict[str, Any] = {
        "window": {"since": _maybe_iso(report.window.since), "until": _maybe_iso(report.window.until)},
        "flowsRead": report.read, "flowsOutsideWindow": report.outside}
    for finding, section in report.sections.items():
        total = section.total
        out[_camel(finding)] = {
            "flows": total.flows, "packets": total.packets,
            "firstSeen": _maybe_iso(total.first if total.flows else None),
            "lastSeen": _maybe_iso(total.last if total.flows else None),
            "by": {_camel(d): [_group_json(k, g) for k, g in section.top(d)] for d in Dimension},
            "perMinute": [[iso(m * MINUTE), n] for m, n in sorted(section.minutes.items())]}
    return out


def _maybe_iso(when: float | None) -> str | None:
    return None if when is None else iso(when)


def _camel(text: str) -> str:
    head, *rest = text.split()
    return head + "".join(word.title() for word in rest)


CSV_HEADER = ("finding", "dimension", "key", "flows", "packets", "first_seen", "last_seen", "example_source",
              "example_destination", "example_proto", "example_port", "example_policy")


def csv_rows(report: Report) -> Iterator[tuple[str | int, ...]]:
    """One row per group of every dimension of every finding (CSV_HEADER's columns)."""
    for finding, section in report.sections.items():
        for dimension in Dimension:
            for key, group in section.top(dimension):
                e = group.example
                assert e is not None  # a group holds at least one flow
                source, dest = e.source, e.dest
                yield (str(finding), str(dimension), key, group.flows, group.packets, iso(group.first),
                       iso(group.last), host_port(source.ip, source.port), host_port(dest.ip, dest.port),
                       e.protocol, "" if dest.port is None else dest.port, policy_name(e.pending))


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(csv_rows(report))
    return out.getvalue()


def describe_flow(flow: Flow) -> str:
    """`tcp 198.18.10.10:43822 > 198.18.20.30:5432 (shop/frontend -> data/database) on node-a`."""
    ends = f"{host_port(flow.source.ip, flow.source.port)} > {host_port(flow.dest.ip, flow.dest.port)}"
    names = f" ({flow.source.workload} -> {flow.dest.workload})" if flow.origin is Origin.FLOW_LOG or \
        flow.source.name != NONE or flow.dest.name != NONE else ""
    return f"{flow.protocol} {ends}{names} on {flow.node}"


def to_table(report: Report, limit: int = 10) -> str:
    """The report for a terminal: per finding, the top `limit` groups of each dimension."""
    lines = [f"Flows read: {report.read:,}" + (f" ({report.outside:,} outside the window)" if report.outside else "")]
    for finding, section in report.sections.items():
        total = section.total
        lines.append("")
        if not total.flows:
            lines.append(f"{finding.value.capitalize()}: nothing.")
            continue
        lines.append(f"{finding.value.capitalize()}: {total.flows:,} {plural(total.flows, 'flow')}, "
                     f"{total.packets:,} {plural(total.packets, 'packet')}, "
                     f"{iso(total.first)} to {iso(total.last)}")
        for dimension in Dimension:
            ranked = section.top(dimension, limit)
            width = max(len(dimension), *(len(k) for k, _ in ranked))
            lines.append("")
            lines.append(f"  {dimension.value.upper():<{width}}  {'FLOWS':>9}  {'PACKETS':>9}  {'FIRST SEEN':<20}  "
                         f"{'LAST SEEN':<20}  EXAMPLE")
            for key, group in ranked:
                example = describe_flow(group.example) if group.example is not None else ""
                lines.append(f"  {key:<{width}}  {group.flows:>9,}  {group.packets:>9,}  {iso(group.first):<20}  "
                             f"{iso(group.last):<20}  {example}")
            more = len(section.groups[dimension]) - len(ranked)
            if more > 0:
                lines.append(f"  ... and {more:,} more")
    return "\n".join(lines)
