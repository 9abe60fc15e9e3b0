"""Recorded flows for the audit: Calico Enterprise flow log records (`flows.log`, one JSON
object a line) and kernel LOG lines, read into one `Flow` shape.

The flow log is read by Calico Enterprise's field names: `start_time`, `end_time` (UNIX
seconds), `action` (allow, deny), `reporter` (src, dst), `source_*` and `dest_*` (`ip`,
`port`, `name`, `namespace`, `type`), `proto`, `packets_in/out`,
`bytes_in/out`, `num_flows`, `host`, and `policies` with `enforced_policies` (or
`all_policies`) and `pending_policies`, each entry `<index>|<tier>|<name>|<action>|<rule>`.
Fields it does not use are skipped unread (msgspec decodes only the declared ones: a
million records in a few seconds).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import BinaryIO, NamedTuple

import msgspec

from ..core import Verdict
from ..logs import HeaderShape, LogRecord, PrefixKind
from ..logs import Summary, read_lines, record_of

NONE = "-"  # Calico Enterprise's word for a field that does not apply


class Origin(StrEnum):
    FLOW_LOG = "flow log"
    KERNEL = "kernel log"


class PolicyHit(NamedTuple):
    """One entry of a flow's policy trace: `<index>|<tier>|<name>|<action>|<rule>`. `name`
    is `[<namespace>/]<name>` as the log prints it; `rule` is None when printed `-`."""

    order: int  # the entry's index in the trace
    tier: str
    name: str
    action: str  # allow, deny, pass, eot-deny...
    rule: int | None

    @property
    def entry(self) -> str:
        """The trace entry, as a flow log writes it."""
        return f"{self.order}|{self.tier}|{self.name}|{self.action}|{NONE if self.rule is None else self.rule}"


@lru_cache(maxsize=4096)
def parse_hit(text: str) -> PolicyHit | None:
    """An entry of `enforced_policies`/`pending_policies`, or None if it is not one."""
    parts = text.split("|")
    if len(parts) != 5 or not parts[0].isdigit():
        return None
    rule = parts[4]
    return PolicyHit(int(parts[0]), parts[1], parts[2], parts[3].lower(),
                     int(rule) if rule.lstrip("-").isdigit() else None)


@lru_cache(maxsize=4096)
def deciding(entries: tuple[str, ...]) -> PolicyHit | None:
    """The entry that decides: the first allow or deny in index order (a pass goes on)."""
    hits = sorted(h for h in map(parse_hit, entries) if h is not None)
    return next((h for h in hits if h.action in ("allow", "deny") or h.action.endswith("deny")), None)


def verdict_of(hit: PolicyHit | None) -> Verdict | None:
    if hit is None:
        return None
    return Verdict.ALLOW if hit.action == "allow" else Verdict.DENY


class End(msgspec.Struct, frozen=True, gc=False):
    """One end of a flow: its address and port, and the endpoint's name, namespace and
    type (wep, hep, ns, net) as far as they are known (`-` when not)."""

    ip: str | None
    port: int | None
    name: str = NONE
    namespace: str = NONE
    type: str = NONE

    @property
    def workload(self) -> str:
        """`<namespace>/<name>`, `<name>`, else the address, else `-`."""
        if self.name != NONE:
            return f"{self.namespace}/{self.name}" if self.namespace != NONE else self.name
        return self.ip or NONE


class Policies(msgspec.Struct, frozen=True, gc=False):
    """A flow's policy traces, entries `<index>|<tier>|<name>|<action>|<rule>`."""

    enforced_policies: tuple[str, ...] = ()
    all_policies: tuple[str, ...] = ()
    pending_policies: tuple[str, ...] = ()


Time = int | float | str
_NO_POLICIES = Policies()
_PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "132": "sctp", "136": "udplite"}


class Flow(msgspec.Struct, frozen=True, gc=False):
    """A recorded flow, as a flow log record has it (the fields by their Calico Enterprise
    names, decoded straight from the line), with what the report reads as properties: when,
    where it was reported, both ends, the protocol, what the data plane did, and the policy
    that decided now (`enforced`) and with the staged policies (`pending`; the same as
    `enforced` when the record has no pending trace). Kernel lines become Flows too
    (`origin` says which)."""

    start_time: Time = 0
    end_time: Time = 0
    host: str = NONE
    action: str = ""  # allow, deny; for kernel lines: accept, drop, or - when the line does not tell
    reporter: str = NONE
    proto: str | int = NONE
    source_ip: str | None = None
    source_port: int | None = None
    source_name: str = NONE
    source_namespace: str = NONE
    source_type: str = NONE
    dest_ip: str | None = None
    dest_port: int | None = None
    dest_name: str = NONE
    dest_namespace: str = NONE
    dest_type: str = NONE
    packets_in: int = 0
    packets_out: int = 0
    num_flows: int = 1
    policies: Policies | None = None
    # Where the flow was read: set by tortie, never read from a record (no record has this key).
    origin: Origin = msgspec.field(default=Origin.FLOW_LOG, name="__tortie_origin")

    @property
    def start(self) -> float:
        """UNIX seconds."""
        t = self.start_time
        return float(t) if type(t) is int or type(t) is float else seconds(t) or 0.0

    @property
    def end(self) -> float:
        t = self.end_time
        return float(t) if type(t) is int or type(t) is float else seconds(t) or self.start

    @property
    def node(self) -> str:
        return self.host or NONE

    @property
    def source(self) -> End:
        return End(_address(self.source_ip), self.source_port, self.source_name, self.source_namespace,
                   self.source_type)

    @property
    def dest(self) -> End:
        return End(_address(self.dest_ip), self.dest_port, self.dest_name, self.dest_namespace, self.dest_type)

    @property
    def protocol(self) -> str:
        """Lower case name (tcp, udp, icmp...), or the number."""
        proto = str(self.proto).lower()
        return _PROTOCOLS.get(proto, proto)

    @property
    def port(self) -> str:
        """`<protocol>/<destination port>`, or the protocol alone."""
        return f"{self.protocol}/{self.dest_port}" if self.dest_port is not None else self.protocol

    @property
    def packets(self) -> int:
        return self.packets_in + self.packets_out

    @property
    def count(self) -> int:
        """How many flows the record stands for."""
        return max(self.num_flows, 1)

    @property
    def enforced(self) -> PolicyHit | None:
        policies = self.policies or _NO_POLICIES
        return deciding(policies.enforced_policies or policies.all_policies)

    @property
    def pending(self) -> PolicyHit | None:
        policies = self.policies or _NO_POLICIES
        return deciding(policies.pending_policies) if policies.pending_policies else self.enforced

    @property
    def verdicts(self) -> tuple[Verdict | None, Verdict | None]:
        """(the verdict now, the verdict with the staged policies): the deciding entries',
        else what the data plane did (a kernel line of an override prefix logs a denial);
        the pending verdict is the enforced one when the record has no pending trace."""
        enforced, pending = _verdicts(self.policies or _NO_POLICIES)
        if enforced is None:
            enforced = Verdict.DENY if self.origin is Origin.KERNEL else _ACTIONS.get(self.action.lower())
        return enforced, pending or enforced


_ACTIONS = {"allow": Verdict.ALLOW, "deny": Verdict.DENY}


@lru_cache(maxsize=1 << 16)  # distinct traces: about the policies times the tiers, not the flows
def _verdicts(policies: Policies) -> tuple[Verdict | None, Verdict | None]:
    """The verdicts of the deciding enforced and pending entries (None where there is none)."""
    enforced = deciding(policies.enforced_policies or policies.all_policies)
    pending = deciding(policies.pending_policies) if policies.pending_policies else enforced
    return verdict_of(enforced), verdict_of(pending)


_DECODE = msgspec.json.Decoder(Flow).decode


def flow_of(line: bytes) -> Flow | None:
    """One flow log line -> a Flow; None if it is not a flow log record of that shape."""
    try:
        flow = _DECODE(line)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    t = flow.start_time
    if (type(t) is str and seconds(t) is None) or flow.origin is not Origin.FLOW_LOG:
        return None
    return flow


def _address(text: str | None) -> str | None:
    return None if not text or text == NONE else text


# --- times ---------------------------------------------------------------------------------

def seconds(value: Time | None) -> float | None:
    """UNIX seconds from a number or an RFC 3339 text; None if it is neither."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return _iso(value)
    return None


@lru_cache(maxsize=4096)
def _iso(text: str) -> float | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@lru_cache(maxsize=4096)
def _syslog_time(text: str, year: int) -> float | None:
    """`Mar  3 09:14:21[.123]` in `year`, UTC (syslog prints neither year nor zone)."""
    head, _, fraction = text.partition(".")
    try:
        when = datetime.strptime(f"{year} {' '.join(head.split())}", "%Y %b %d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return when.timestamp() + (float("0." + fraction) if fraction.isdigit() else 0.0)


def record_time(record: LogRecord, year: int) -> float | None:
    """When a kernel line was logged, in UNIX seconds, if its header says (syslog's time
    without a year is taken in `year`, every time without a zone as UTC); else None."""
    text = record.time
    if text is None:
        return None
    if record.header is HeaderShape.RFC3164:
        return _syslog_time(text, year)
    if record.header is HeaderShape.DMESG_T:
        try:
            return datetime.strptime(text, "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC).timestamp()
        except ValueError:
            return None
    return _iso(text)


# --- kernel lines ----------------------------------------------------------------------------

# What the kernel did with a line's packet, by its prefix; - when the prefix does not say.
_KERNEL_ACTION = {PrefixKind.OVERRIDE_ACCEPT: "accept", PrefixKind.OVERRIDE_DROP: "drop"}


def flow_of_record(record: LogRecord, when: float, denied_by: PolicyHit | None = None,
                   ends: tuple[End, End] | None = None, pending: PolicyHit | None = None,
                   node: str | None = None) -> Flow | None:
    """A kernel LOG line of a denial -> a Flow at `when`, the denial `denied_by` (from a
    replay), the ends `ends` if known and the `pending` trace entry (none: the pending
    verdict is the enforced one), on `node` (none: the line's host); None for a line that
    logs no denial."""
    if record.kind is PrefixKind.OTHER:
        return None
    source, dest = ends or (End(record.src_canonical, record.spt), End(record.dst_canonical, record.dpt))
    trace = () if denied_by is None else (denied_by.entry,)
    return Flow(start_time=when, end_time=when, host=node or record.host or NONE,
                action=_KERNEL_ACTION.get(record.kind, NONE),
                proto=record.proto or NONE, source_ip=source.ip, source_port=source.port, source_name=source.name,
                source_namespace=source.namespace, source_type=source.type, dest_ip=dest.ip, dest_port=dest.port,
                dest_name=dest.name, dest_namespace=dest.namespace, dest_type=dest.type, packets_in=1,
                policies=Policies(enforced_policies=trace, pending_policies=(pending.entry,) if pending else ()),
                origin=Origin.KERNEL)


# --- reading -----------------------------------------------------------------------------------

@dataclass
class FlowSummary(Summary):
    """A read's counts: kernel lines as Summary counts them, and flow log records."""

    flow_records: int = 0
    bad_flow_records: int = 0
    untimed: int = 0  # kernel lines with no wall-clock time (dmesg, /dev/kmsg): left out


    def __str__(self) -> str:
        text = super().__str__()
        if self.flow_records or self.bad_flow_records:
            text += f"; {self.flow_records:,} flow log records"
            if self.bad_flow_records:
                text += f" ({self.bad_flow_records:,} not readable, skipped)"
        if self.untimed:
            text += f"; {self.untimed:,} kernel lines without a wall-clock time left out"
        return text


def read_flows(stream: BinaryIO, summary: FlowSummary, kernel: Callable[[LogRecord], Flow | None],
               progress: Callable[[int], None] | None = None) -> Iterator[Flow]:
    """The flows of `stream`: flow log records (a JSON object with `start_time`) and kernel
    LOG lines (turned into flows by `kernel`), mixed in any order, counted into `summary`
    (logs.stream.read_lines says how long lines and progress go). Raises OSError if
    reading fails."""
    for raw in read_lines(stream, summary, progress):
        if raw[:1] == b"{" and b'"start_time"' in raw:
            flow = flow_of(raw)
            if flow is None:
                summary.bad_flow_records += 1
            else:
                summary.flow_records += 1
                yield flow
            continue
        record = record_of(raw, summary)
        if record is not None:
            found = kernel(record)
            if found is not None:
                yield found
