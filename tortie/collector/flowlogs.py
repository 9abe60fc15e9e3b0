"""Flow logs for all traffic, as Calico Enterprise writes them: JSON lines in
``<flowLogsFileDirectory>/flows.log``, one record per reporter and aggregated flow per flush
interval, with Enterprise's field names (``start_time``, ``source_name``, ``packets_in``,
``num_flows_started``, ``policies.enforced_policies``, ...).

Allowed connections come from conntrack (``conntrack.py``), denied ones from the NFLOG
pipeline (a dropped connection never reaches the connection table; when dropActionOverride
accepts, conntrack sees it and NFLOG is not used, so nothing is counted twice). Which
policies a flow hit is the model's answer for its first packet, on the enforced plan and on
the pending plan (staged policies promoted): the same plan the kernel's rules come from.

Aggregation (``flowLogsFileAggregationKindForAllowed`` / ``ForDenied``, Enterprise's levels):
0 keeps every connection apart; 1 merges source ports; 2 also merges the endpoints of one
workload prefix, so addresses are left out and names become ``-`` beside ``*_name_aggr``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from ..core import Direction, protocol
from ..model import Packet, PolicyHit, Result, evaluate, route
from ..plan import PROFILE_TIER, Plan
from .conntrack import Conn, dump, enable_accounting

log = logging.getLogger("tortie.collector")
FILE_NAME = "flows.log"
TICK = 0.25  # seconds between looks at the timers
DUMP_EVERY = 5.0  # seconds at most between conntrack dumps (conntrack.py)
NONE = "-"
INGRESS, EGRESS = Direction.INGRESS, Direction.EGRESS


@dataclass(frozen=True)
class FlowLogConfig:
    directory: str
    max_bytes: int
    max_files: int
    flush_interval: float  # seconds
    kind_allowed: int  # aggregation levels 0-2
    kind_denied: int
    include_labels: bool
    include_policies: bool


@dataclass(frozen=True)
class Party:
    """One end of a flow, as flow logs name it."""

    ip: str | None
    port: int | None
    name: str
    name_aggr: str
    namespace: str
    type: str  # wep, hep, ns (a network set) or net
    labels: tuple[str, ...] | None


@dataclass(frozen=True)
class RecordKey:
    reporter: str  # src or dst
    action: str  # allow or deny
    proto: str
    source: Party
    dest: Party
    enforced: tuple[str, ...]
    pending: tuple[str, ...]


@dataclass
class _Totals:
    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    flows: set[object] = field(default_factory=set)
    started: int = 0
    completed: int = 0


@dataclass
class _Connection:
    records: tuple[RecordKey, ...]
    seen: float  # monotonic time of its first entry
    counters: tuple[int, int, int, int] = (0, 0, 0, 0)  # packets out, bytes out, packets in, bytes in
    completed: bool = False


@lru_cache(maxsize=1 << 12)
def _net_name(address: str) -> str:
    """Enterprise's name for an address outside the cluster: private or public."""
    return "pvt" if ipaddress.ip_address(address).is_private else "pub"


def policy_strings(hits: Iterable[PolicyHit]) -> tuple[str, ...]:
    """``<index>|<tier>|<name>|<action>|<rule>``; a profile is ``__PROFILE__.<name>`` in tier
    ``__PROFILE__``."""
    return tuple(f"{i}|{h.tier}|{PROFILE_TIER + '.' + h.name if h.tier == PROFILE_TIER else h.name}|{h.action}|{h.rule}"
                 for i, h in enumerate(hits))


class FlowLogs:
    """Collects the flows of a node and writes them every flush interval.

    ``update`` gives it the enforced and pending plans and the settings; ``start`` and ``stop``
    run its timer, which dumps conntrack (``listed``) and writes the records (``flush``).
    ``denied`` takes the NFLOG pipeline's dropped flows. Thread-safe.
    """

    def __init__(self, node: str) -> None:
        self.node = node
        self.written = 0  # records written
        self._lock = threading.Lock()
        self._plan: Plan | None = None
        self._pending: Plan | None = None
        self._config: FlowLogConfig | None = None
        self._sport_matters = True
        self._described: dict[tuple[int, str, str, int | None, int | None, str], tuple[RecordKey, ...]] = {}
        self._connections: dict[int, _Connection] = {}
        self._totals: dict[RecordKey, _Totals] = {}
        self._denied_seen: set[tuple[str, str, int, int | None, int | None]] = set()
        self._interval_start = time.time()
        self._baseline = True  # the first dump: what it lists began before the flow logs
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    # --- control ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._timer is not None

    def update(self, plan: Plan, pending: Plan, config: FlowLogConfig) -> None:
        with self._lock:
            self._plan, self._pending, self._config = plan, pending, config
            # Flows that differ only in their source port share their records, unless the
            # records name source ports (level 0) or a rule looks at them.
            self._sport_matters = 0 in (config.kind_allowed, config.kind_denied) or _source_ports_matter(plan) \
                or _source_ports_matter(pending)
            self._described.clear()

    def start(self) -> None:
        """Raises OSError when conntrack cannot run or accounting cannot be turned on."""
        if self._timer is not None:
            return
        enable_accounting()
        self._stop.clear()
        self._baseline = True
        self._interval_start = time.time()
        self._timer = threading.Thread(target=self._run, name="flowlogs", daemon=True)
        self._timer.start()

    def stop(self) -> None:
        if self._timer is None:
            return
        self._stop.set()
        self._timer.join()
        self._timer = None
        self.flush()

    def _interval(self) -> float:
        return self._config.flush_interval if self._config is not None else 10.0

    def _run(self) -> None:
        next_flush = next_dump = time.monotonic()
        next_flush += self._interval()
        while not self._stop.wait(TICK):
            now = time.monotonic()
            if now < next_dump and now < next_flush:
                continue
            try:
                self.listed(dump(), now)
                if now >= next_flush:
                    self.flush()
                    next_flush = now + self._interval()
            except OSError as exc:
                log.error("flow logs: %s", exc)
            next_dump = now + min(DUMP_EVERY, self._interval())

    # --- input ---------------------------------------------------------------------------------

    def listed(self, conns: Iterable[Conn], started: float) -> None:
        """A dump of the live entries, begun at monotonic time ``started``: their counters so
        far. A connection first listed has started (unless this is the first dump); one that
        reaches TIME_WAIT or CLOSE, or is no longer listed, has completed."""
        with self._lock:
            live = set()
            for conn in conns:
                live.add(conn.id)
                self._take(conn)
            for cid in [c for c, known in self._connections.items() if known.seen < started and c not in live]:
                known = self._connections.pop(cid)
                if not known.completed:
                    for key in known.records:
                        self._totals_of(key).completed += 1
            self._baseline = False

    def _take(self, conn: Conn) -> None:
        known = self._connections.get(conn.id)
        if known is None:
            records = self._describe(conn.protocol, conn.src, conn.dst, conn.sport, conn.dport, None)
            if not records:
                return
            known = self._connections[conn.id] = _Connection(records, time.monotonic())
            if self._baseline:  # it began before the flow logs did: count from now on
                known.counters = (conn.packets_out, conn.bytes_out, conn.packets_in, conn.bytes_in)
            else:
                for key in records:
                    self._totals_of(key).started += 1
        out_p, out_b, in_p, in_b = known.counters
        delta = (conn.packets_out - out_p, conn.bytes_out - out_b, conn.packets_in - in_p, conn.bytes_in - in_b)
        known.counters = (conn.packets_out, conn.bytes_out, conn.packets_in, conn.bytes_in)
        finished = conn.completed and not known.completed
        known.completed |= conn.completed
        for key in known.records:
            totals = self._totals_of(key)
            totals.flows.add(conn.id)
            # The source reports what it sent as out; the destination, the same packets as in.
            sent, sent_bytes, replies, reply_bytes = delta if key.reporter == "src" else (
                delta[2], delta[3], delta[0], delta[1])
            totals.packets_out += sent
            totals.bytes_out += sent_bytes
            totals.packets_in += replies
            totals.bytes_in += reply_bytes
            totals.completed += finished

    def denied(self, direction: Direction, src: str, dst: str, proto: int, sport: int | None, dport: int | None,
               packets: int, size: int) -> None:
        """Packets a policy or profile dropped (NFLOG), at ``direction`` of the local endpoint."""
        reporter = "dst" if direction is INGRESS else "src"
        with self._lock:
            flow = (src, dst, proto, sport, dport)
            for key in self._describe(proto, src, dst, sport, dport, reporter):
                totals = self._totals_of(key)
                if reporter == "dst":
                    totals.packets_in += packets
                    totals.bytes_in += size
                else:
                    totals.packets_out += packets
                    totals.bytes_out += size
                totals.started += flow not in totals.flows and flow not in self._denied_seen
                totals.flows.add(flow)

    def _totals_of(self, key: RecordKey) -> _Totals:
        totals = self._totals.get(key)
        if totals is None:
            totals = self._totals[key] = _Totals()
        return totals

    # --- what a flow is --------------------------------------------------------------------------

    def _describe(self, proto: int, src: str, dst: str, sport: int | None, dport: int | None,
                  only: str | None) -> tuple[RecordKey, ...]:
        """The record keys of a flow: one per local end (``only``: that reporter's), with the
        policies the model says its first packet hit on the enforced and the pending plan."""
        plan, pending, config = self._plan, self._pending, self._config
        if plan is None or pending is None or config is None:
            return ()
        cache_key = (proto, src, dst, sport if self._sport_matters else None, dport, only or "")
        found = self._described.get(cache_key)
        if found is not None:
            return found
        enforced_result, pending_result = (_first_packet(p, proto, src, dst, sport, dport) for p in (plan, pending))
        keys = []
        for reporter, address, direction in (("src", src, EGRESS), ("dst", dst, INGRESS)):
            if only not in (None, reporter):
                continue
            endpoint = _local_endpoint(plan, address)
            if endpoint is None:
                continue
            hits = enforced_result.hits_of(endpoint, direction)
            action = "deny" if only is not None or (hits and hits[-1].action == "deny") else "allow"
            level = config.kind_denied if action == "deny" else config.kind_allowed
            keys.append(RecordKey(
                reporter, action, protocol(proto).name.lower(),
                _party(plan, src, sport, level, config.include_labels, source=True),
                _party(plan, dst, dport, level, config.include_labels, source=False),
                policy_strings(hits) if config.include_policies else (),
                policy_strings(pending_result.hits_of(_local_endpoint(pending, address) or endpoint, direction))
                if config.include_policies else ()))
        found = self._described[cache_key] = tuple(keys)
        return found

    # --- output --------------------------------------------------------------------------------

    def flush(self) -> int:
        """Write the interval's records (its live connections count in ``num_flows``) and start
        the next interval. Returns the number of records; logs a failed write."""
        now = time.time()
        with self._lock:
            config = self._config
            for cid, connection in self._connections.items():
                for key in connection.records:
                    self._totals_of(key).flows.add(cid)
            totals, self._totals = self._totals, {}
            self._denied_seen = {f for t in totals.values() for f in t.flows if isinstance(f, tuple)}
            start, self._interval_start = self._interval_start, now
        if config is None or not totals:
            return 0
        lines = "".join(json.dumps(self.record(key, t, start, now, config), separators=(",", ":")) + "\n"
                        for key, t in totals.items())
        try:
            write_rotated(os.path.join(config.directory, FILE_NAME), lines, config.max_bytes, config.max_files)
        except OSError as exc:
            log.error("flow logs: cannot write to %s: %s", config.directory, exc)
            return 0
        self.written += len(totals)
        return len(totals)

    def record(self, key: RecordKey, t: _Totals, start: float, end: float,
               config: FlowLogConfig) -> dict[str, object]:
        record: dict[str, object] = {"start_time": int(start), "end_time": int(end), "host": self.node}
        for prefix, party in (("source", key.source), ("dest", key.dest)):
            record.update({f"{prefix}_ip": party.ip, f"{prefix}_name": party.name,
                           f"{prefix}_name_aggr": party.name_aggr, f"{prefix}_namespace": party.namespace,
                           f"{prefix}_port": party.port, f"{prefix}_type": party.type,
                           f"{prefix}_labels": {"labels": list(party.labels)} if party.labels is not None else None})
        record.update({
            "proto": key.proto, "action": key.action, "reporter": key.reporter,
            "policies": {"enforced_policies": list(key.enforced), "pending_policies": list(key.pending)}
            if config.include_policies else None,
            "bytes_in": t.bytes_in, "bytes_out": t.bytes_out, "packets_in": t.packets_in,
            "packets_out": t.packets_out, "num_flows": len(t.flows), "num_flows_started": t.started,
            "num_flows_completed": t.completed})
        return record


def _first_packet(plan: Plan, proto: int, src: str, dst: str, sport: int | None, dport: int | None) -> Result:
    in_iface, out_iface = route(plan.view, src, dst)
    icmp = protocol(proto).name in ("ICMP", "ICMPv6")
    return evaluate(plan, Packet(src, dst, proto, None if icmp else sport, None if icmp else dport,
                                 (8 if proto == 1 else 128) if icmp else None, 0 if icmp else None, "new",
                                 in_iface, out_iface))


def _local_endpoint(plan: Plan, address: str) -> str | None:
    """The name (``[<namespace>/]<name>``) of the local workload endpoint that has ``address``."""
    for key in plan.view.owners.get(address, ()):
        ep = plan.endpoints.get(key)
        if ep is not None and not ep.is_host:
            return ep.name
    return None


def _party(plan: Plan, address: str, port: int | None, level: int, include_labels: bool, source: bool) -> Party:
    view = plan.view
    keys = view.owners.get(address, ())
    kind, namespace, name = (keys[0].split("/", 2) + ["", ""])[:3] if keys else ("", "", "")
    if kind and not name:  # a global kind: <Kind>/<name>
        namespace, name = "", namespace
    typ = {"WorkloadEndpoint": "wep", "HostEndpoint": "hep", "NetworkSet": "ns", "GlobalNetworkSet": "ns"}.get(
        kind, "net")
    local = view.endpoints.get(keys[0]) if keys else None
    if local is not None and local.entity.workload:
        name = local.entity.workload
    labels = tuple(sorted(f"{k}={v}" for k, v in local.entity.labels.items())) if include_labels and local else None
    aggr = name if typ != "net" else _net_name(address)
    return Party(None if level >= 2 else address, None if (source and level >= 1) else port,
                 NONE if level >= 2 or typ == "net" else name, aggr, namespace or NONE, typ, labels)


def _source_ports_matter(plan: Plan) -> bool:
    """Whether any rule in the plan, or a host endpoint's failsafe ports, looks at source ports."""
    if any(ep.is_host for ep in plan.endpoints.values()):
        return True
    rules = [r for p in plan.view.policies.values() for r in (*p.ingress, *p.egress)]
    rules += [r for p in plan.view.profiles.values() for r in (*p.ingress, *p.egress)]
    return any(r.source.ports or r.source.named_ports or r.source.not_ports or r.source.not_named_ports for r in rules)


def write_rotated(path: str, text: str, max_bytes: int, max_files: int) -> None:
    """Append ``text`` to ``path``, first renaming it to ``.1`` (``.1`` to ``.2``, ... keeping
    ``max_files`` files in all) when it would grow past ``max_bytes``. Raises OSError."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        size = 0
    if size and size + len(text.encode()) > max_bytes:
        if max_files <= 1:
            os.truncate(path, 0)
        else:
            for index in range(max_files - 1, 0, -1):  # .1 is the newest old file
                newer = f"{path}.{index - 1}" if index > 1 else path
                if os.path.exists(newer):
                    os.replace(newer, f"{path}.{index}")
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)

