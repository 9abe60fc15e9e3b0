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

A flow is Calico's tuple: for ICMP the "ports" are the echo id and ``type << 8 | code``
(felix/collector/iptables.go), so the trace is the one of the real type and code. A
connection keeps the enforced trace of its first packet (the kernel accepts its later
packets before policy); its pending trace is evaluated again whenever the plans change, as
Felix's continuous policy evaluation does (felix/collector/collector.go).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from ..calc import Entity
from ..core import ICMP, ICMPV6, Direction, IPNetwork
from ..model import Packet, PolicyHit, Result, evaluate, route
from ..plan import PROFILE_TIER, Plan
from .conntrack import Conn, dump, enable_accounting

log = logging.getLogger("tortie.collector")
FILE_NAME = "flows.log"
TICK = 0.25  # seconds between looks at the timers
DUMP_EVERY = 5.0  # seconds at most between conntrack dumps (conntrack.py)
NONE = "-"
INGRESS, EGRESS = Direction.INGRESS, Direction.EGRESS
# Calico's protocol names in flow logs; any other protocol is written as its number.
PROTO_NAMES = {1: "icmp", 4: "ipip", 6: "tcp", 17: "udp", 50: "esp", 58: "icmp6", 132: "sctp"}
ICMPS = frozenset((ICMP.number, ICMPV6.number))
# RFC 1918: the only addresses Calico calls private (felix/collector/types/endpoint).
PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
# What Calico Enterprise writes for what tortie does not collect: Kubernetes services, DNS
# names, process information, HTTP requests, ingress source addresses and TCP statistics
# (its flow log JSON serializer; process fields as with process collection off).
NOT_COLLECTED: dict[str, object] = {
    "dest_service_namespace": NONE, "dest_service_name": NONE, "dest_service_port": NONE,
    "dest_service_port_num": None, "dest_domains": None, "nat_outgoing_ports": None,
    "http_requests_allowed_in": 0, "http_requests_denied_in": 0,
    "process_name": NONE, "num_process_names": 0, "process_id": NONE, "num_process_ids": 0,
    "process_args": [NONE], "num_process_args": 0, "original_source_ips": None, "num_original_source_ips": 0,
    **dict.fromkeys(("tcp_mean_send_congestion_window", "tcp_min_send_congestion_window", "tcp_mean_smooth_rtt",
                     "tcp_max_smooth_rtt", "tcp_mean_min_rtt", "tcp_max_min_rtt", "tcp_mean_mss", "tcp_min_mss",
                     "tcp_total_retransmissions", "tcp_lost_packets", "tcp_unrecovered_to"), 0),
}


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
    pending_policies: bool  # flowLogsPolicyEvaluationMode Continuous; None leaves pending_policies empty


@dataclass(frozen=True)
class Party:
    """One end of a flow, as flow logs name it."""

    ip: str | None
    port: int | None
    name: str
    name_aggr: str
    namespace: str
    type: str  # wep, hep, ns (a network set) or net


Labels = frozenset[tuple[str, str]]
# A flow: protocol, source, destination, source port (ICMP: the id), destination port (ICMP:
# type << 8 | code).
Flow = tuple[int, str, str, int | None, int | None]


@dataclass(frozen=True)
class RecordKey:
    """What keeps records apart: the pending trace and the labels are not part of it (a
    record shows the latest pending trace of its flows, as Felix replaces it, and the labels
    all its ends have)."""

    reporter: str  # src or dst
    action: str  # allow or deny: the enforced policies' verdict, whatever the override did
    proto: str
    source: Party
    dest: Party
    enforced: tuple[str, ...]
    all: tuple[str, ...]  # enforced and staged policies up to the enforced verdict


@dataclass(frozen=True)
class Described:
    """One reporter's record of a flow, the flow's pending trace and its ends' labels (None:
    labels are not written)."""

    key: RecordKey
    pending: tuple[str, ...]
    labels: tuple[Labels, Labels] | None = None


@dataclass
class _Totals:
    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    flows: set[object] = field(default_factory=set)
    started: int = 0
    completed: int = 0
    pending: tuple[str, ...] = ()
    labels: tuple[Labels, Labels] | None = None


@dataclass
class _Connection:
    records: tuple[Described, ...]
    flow: Flow
    seen: float  # monotonic time of its first entry
    generation: int  # of the plans its pending traces were evaluated on
    counters: tuple[int, int, int, int] = (0, 0, 0, 0)  # packets out, bytes out, packets in, bytes in
    completed: bool = False


@lru_cache(maxsize=1 << 12)
def _net_name(address: str) -> str:
    """Enterprise's name for an address outside the cluster: private (RFC 1918) or public."""
    ip = ipaddress.ip_address(address)
    return "pvt" if any(ip in net for net in PRIVATE if net.version == ip.version) else "pub"


def staged_name(name: str) -> str:
    """A staged policy's flow-log name: ``staged:`` before the name, after any namespace."""
    namespace, slash, rest = name.rpartition("/")
    return f"{namespace}{slash}staged:{rest}"


def policy_strings(hits: Iterable[PolicyHit], staged: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """``<index>|<tier>|<name>|<action>|<rule>``; a profile is ``__PROFILE__.<name>`` in tier
    ``__PROFILE__``; a hit of a policy named in ``staged`` (the staged policies standing in
    for enforced ones in the pending plan) is ``staged:<name>``."""
    return tuple(f"{i}|{h.tier}|{_hit_name(h, staged)}|{h.action}|{h.rule}" for i, h in enumerate(hits))


def _hit_name(hit: PolicyHit, staged: frozenset[str]) -> str:
    if hit.tier == PROFILE_TIER:
        return f"{PROFILE_TIER}.{hit.name}"
    return staged_name(hit.name) if hit.name in staged else hit.name


def all_policies(enforced: tuple[PolicyHit, ...], pending: tuple[PolicyHit, ...],
                 staged: frozenset[str]) -> tuple[PolicyHit, ...]:
    """The enforced trace with the staged policies' hits (named ``staged:<name>``) where they
    come in the walk: each staged hit of the pending trace goes before the enforced hit that
    follows it there. Once the two traces part, later staged hits have no place in the
    enforced walk."""
    out: list[PolicyHit] = []
    at = 0
    for hit in enforced:
        while at < len(pending) and pending[at].tier != PROFILE_TIER and pending[at].name in staged:
            staged_hit = pending[at]
            out.append(PolicyHit(staged_hit.tier, staged_name(staged_hit.name), staged_hit.action, staged_hit.rule))
            at += 1
        at = at + 1 if at < len(pending) and pending[at] == hit else len(pending)
        out.append(hit)
    return tuple(out)


def _network_sets(entities: Mapping[str, Entity]) -> tuple[tuple[IPNetwork, Entity], ...]:
    """Every network set's nets, the longest prefixes first (of one length, the lowest key)."""
    nets = [(net, e) for e in entities.values() if not e.is_endpoint for net in e.addresses]
    return tuple(sorted(nets, key=lambda found: (-found[0].prefixlen, found[1].key)))


def _labels(entity: Entity | None) -> Labels:
    return frozenset(entity.labels.items()) if entity is not None else frozenset()


def _merge_labels(into: Labels, other: Labels) -> Labels:
    """The labels two merged ends share; when they differ, without Calico's own
    (``projectcalico.org/...``), which Felix leaves out when it intersects
    (felix/collector/utils IntersectAndFilterLabels)."""
    if into == other:
        return into
    return frozenset(kv for kv in into & other if not kv[0].startswith("projectcalico.org/"))


def _staged_policies(plan: Plan, pending: Plan) -> frozenset[str]:
    """The names of the policies a staged policy changed: in the pending plan, unlike in the
    enforced one."""
    if pending is plan:
        return frozenset()
    enforced = plan.view.policies
    return frozenset(p.data.label_name for key, p in pending.view.policies.items() if enforced.get(key) != p)


class FlowLogs:
    """Collects the flows of a node and writes them every flush interval.

    ``update`` gives it the enforced and pending plans, the cluster's endpoints and network
    sets and the settings; ``start`` and ``stop`` run its timer, which dumps conntrack
    (``listed``) and writes the records (``flush``). ``denied`` takes the NFLOG pipeline's
    dropped flows. Thread-safe.
    """

    def __init__(self, node: str) -> None:
        self.node = node
        self.written = 0  # records written
        self._lock = threading.Lock()
        self._plan: Plan | None = None
        self._pending: Plan | None = None
        self._entities: Mapping[str, Entity] = {}
        self._network_sets: tuple[tuple[IPNetwork, Entity], ...] = ()
        self._staged: frozenset[str] = frozenset()
        self._config: FlowLogConfig | None = None
        self._sport_matters = True
        self._generation = 0  # counts the plans given to update
        self._described: dict[tuple[int, str, str, int | None, int | None, str], tuple[Described, ...]] = {}
        self._connections: dict[int, _Connection] = {}
        self._totals: dict[RecordKey, _Totals] = {}
        self._denied_seen: set[Flow] = set()
        self._interval_start = time.time()
        self._before: set[int] | None = None  # connections listed when the flow logs started
        self._stop = threading.Event()
        self._plans_came = threading.Event()  # the first plans since start: dump at once
        self._timer: threading.Thread | None = None

    # --- control ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._timer is not None

    def update(self, plan: Plan, pending: Plan, entities: Mapping[str, Entity], config: FlowLogConfig) -> None:
        """``plan`` and ``pending``: the enforced plan and the one with the staged policies
        promoted; ``entities``: every endpoint and network set by entity key (read, never
        changed: names and labels of remote endpoints come from it). Call it from the thread
        that changes ``entities``: it reads them all."""
        network_sets = _network_sets(entities)
        with self._lock:
            if self._plan is None:
                self._plans_came.set()
            self._plan, self._pending, self._entities, self._config = plan, pending, entities, config
            self._network_sets = network_sets
            self._staged = _staged_policies(plan, pending)
            # Flows that differ only in their source port share their records, unless the
            # records name source ports (level 0) or a rule looks at them.
            self._sport_matters = 0 in (config.kind_allowed, config.kind_denied) or _source_ports_matter(plan) \
                or _source_ports_matter(pending)
            self._described.clear()
            self._generation += 1

    def start(self) -> None:
        """Raises OSError when conntrack cannot run or accounting cannot be turned on."""
        if self._timer is not None:
            return
        enable_accounting()
        self._stop.clear()
        self._before = None
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
        # Switched on again, they wait for plans of their own: these may be long out of date.
        with self._lock:
            self._plan = self._pending = None
            self._described.clear()
            self._connections.clear()

    def _interval(self) -> float:
        return self._config.flush_interval if self._config is not None else 10.0

    def _run(self) -> None:
        next_flush = next_dump = time.monotonic()
        next_flush += self._interval()
        while not self._stop.wait(TICK):
            now = time.monotonic()
            if now < next_dump and now < next_flush and not self._plans_came.is_set():
                continue
            self._plans_came.clear()
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
        far. A connection first listed has started, unless the first dump after ``start``
        listed it; one that reaches TIME_WAIT or CLOSE, or is no longer listed, has completed.
        Until ``update`` has given the plans, connections are only listed, not described: the
        first records already have the traces of the plans in force (with the pending set)."""
        with self._lock:
            if self._before is None:
                conns = list(conns)
                self._before = {conn.id for conn in conns}
            live = set()
            for conn in conns:
                live.add(conn.id)
                self._take(conn)
            for cid in [c for c, known in self._connections.items() if known.seen < started and c not in live]:
                known = self._connections.pop(cid)
                if not known.completed:
                    for described in known.records:
                        self._totals_of(described, None).completed += 1
            self._before &= live

    def _take(self, conn: Conn) -> None:
        known = self._connections.get(conn.id)
        if known is None:
            flow = (conn.protocol, conn.src, conn.dst, conn.sport, conn.dport)
            records = self._describe(flow, None)
            if not records:
                return
            known = self._connections[conn.id] = _Connection(records, flow, time.monotonic(), self._generation)
            if self._before is not None and conn.id in self._before:  # it began before the flow logs did
                known.counters = (conn.packets_out, conn.bytes_out, conn.packets_in, conn.bytes_in)
            else:
                for described in records:
                    self._totals_of(described, conn.id).started += 1
        elif known.generation != self._generation:
            self._reevaluate(known)
        out_p, out_b, in_p, in_b = known.counters
        delta = (conn.packets_out - out_p, conn.bytes_out - out_b, conn.packets_in - in_p, conn.bytes_in - in_b)
        known.counters = (conn.packets_out, conn.bytes_out, conn.packets_in, conn.bytes_in)
        finished = conn.completed and not known.completed
        known.completed |= conn.completed
        for described in known.records:
            totals = self._totals_of(described, conn.id)
            # The source reports what it sent as out; the destination, the same packets as in.
            sent, sent_bytes, replies, reply_bytes = delta if described.key.reporter == "src" else (
                delta[2], delta[3], delta[0], delta[1])
            totals.packets_out += sent
            totals.bytes_out += sent_bytes
            totals.packets_in += replies
            totals.bytes_in += reply_bytes
            totals.completed += finished

    def _reevaluate(self, known: _Connection) -> None:
        """New plans: the connection keeps its records (the kernel let it through on the old
        ones) and takes the pending traces of the new ones."""
        pending = {d.key.reporter: d.pending for d in self._describe(known.flow, None)}
        known.records = tuple(Described(d.key, pending.get(d.key.reporter, d.pending), d.labels) for d in known.records)
        known.generation = self._generation

    def denied(self, direction: Direction, src: str, dst: str, proto: int, sport: int | None, dport: int | None,
               packets: int, size: int) -> None:
        """Packets a policy or profile dropped (NFLOG), at ``direction`` of the local endpoint;
        a local source whose egress let them out reports them too, as allowed. For ICMP
        ``sport`` is the id and ``dport`` the type and code (``type << 8 | code``)."""
        with self._lock:
            flow = (proto, src, dst, sport, dport)
            for described in self._describe(flow, "dst" if direction is INGRESS else "src"):
                known = self._totals.get(described.key)
                new = known is None or flow not in known.flows
                totals = self._totals_of(described, flow)
                if described.key.reporter == "dst":
                    totals.packets_in += packets
                    totals.bytes_in += size
                else:
                    totals.packets_out += packets
                    totals.bytes_out += size
                totals.started += new and flow not in self._denied_seen

    def _totals_of(self, described: Described, flow: object | None) -> _Totals:
        """The record's totals, with ``flow`` (a connection id or a dropped flow; None: no flow
        to count) among its flows. Its labels are those all its flows' ends have (Felix
        intersects them as it merges flows, felix/collector/flowlog/types.go aggregateFlowLabels)."""
        totals = self._totals.get(described.key)
        if totals is None:
            totals = self._totals[described.key] = _Totals(labels=described.labels)
        elif flow is not None and flow not in totals.flows and totals.labels is not None \
                and described.labels is not None:
            totals.labels = (_merge_labels(totals.labels[0], described.labels[0]),
                             _merge_labels(totals.labels[1], described.labels[1]))
        if flow is not None:
            totals.flows.add(flow)
        totals.pending = described.pending
        return totals

    # --- what a flow is --------------------------------------------------------------------------

    def _describe(self, flow: Flow, denied_by: str | None) -> tuple[Described, ...]:
        """The records of a flow: one per local end whose policies gave a verdict, with the
        policies the model says its first packet hit on the enforced and the pending plan.
        ``denied_by``: the reporter whose policies dropped it (NFLOG), whose action is deny;
        what the source drops the destination never sees. An end with no verdict has no
        record, as in Felix: under an accepting dropActionOverride a denial at the source
        accepts the packet before the destination's policies see it."""
        plan, pending, config = self._plan, self._pending, self._config
        if plan is None or pending is None or config is None:
            return ()
        proto, src, dst, sport, dport = flow
        cache_key = (proto, src, dst, sport if self._sport_matters else None, dport, denied_by or "")
        found = self._described.get(cache_key)
        if found is not None:
            return found
        enforced_result, pending_result = (_first_packet(p, flow) for p in (plan, pending))
        staged, policies = self._staged, config.include_policies
        ends = self._ends(src, dst)
        labels = (_labels(ends[0]), _labels(ends[1])) if config.include_labels else None
        records = []
        for reporter, address, direction in (("src", src, EGRESS), ("dst", dst, INGRESS)):
            if denied_by == "src" and reporter == "dst":
                continue
            endpoint = _local_endpoint(plan, address)
            if endpoint is None:
                continue
            hits = enforced_result.hits_of(endpoint, direction)
            if not hits and denied_by != reporter:
                continue
            pending_hits = pending_result.hits_of(_local_endpoint(pending, address) or endpoint, direction)
            action = "deny" if denied_by == reporter or hits[-1].action == "deny" else "allow"
            level = config.kind_denied if action == "deny" else config.kind_allowed
            key = RecordKey(
                reporter, action, PROTO_NAMES.get(proto, str(proto)),
                self._party(ends[0], src, proto, sport, level, source=True),
                self._party(ends[1], dst, proto, dport, level, source=False),
                policy_strings(hits) if policies else (),
                policy_strings(all_policies(hits, pending_hits, staged)) if policies else ())
            records.append(Described(key, policy_strings(pending_hits, staged) if policies and config.pending_policies
                                     else (), labels))
        found = self._described[cache_key] = tuple(records)
        return found

    def _ends(self, src: str, dst: str) -> tuple[Entity | None, Entity | None]:
        """What names each end (felix/collector/collector.go findEndpointBestMatch): the
        endpoint that owns the address, else a network set holding it, one in the other end's
        namespace first, then a global one, then one in any other namespace, each by longest
        prefix (felix/calc/iplpm.go GetLongestPrefixCidrWithNamespaceIsolation). The source's
        set prefers the destination endpoint's namespace, the destination's the source's
        (endpoint or set)."""
        source, dest = self._endpoint(src), self._endpoint(dst)
        if source is None:
            source = self._network_set(src, dest.namespace if dest is not None else None)
        if dest is None:
            dest = self._network_set(dst, source.namespace if source is not None else None)
        return source, dest

    def _endpoint(self, address: str) -> Entity | None:
        keys = self._plan.view.owners.get(address, ()) if self._plan is not None else ()
        return next((e for e in map(self._entities.get, keys) if e is not None and e.is_endpoint), None)

    def _network_set(self, address: str, namespace: str | None) -> Entity | None:
        ip = ipaddress.ip_address(address)
        found = [e for net, e in self._network_sets if net.version == ip.version and ip in net]
        return next((e for e in found if namespace is not None and e.namespace == namespace), None) \
            or next((e for e in found if e.namespace is None), None) or next(iter(found), None)

    @staticmethod
    def _party(entity: Entity | None, address: str, proto: int, port: int | None, level: int,
               source: bool) -> Party:
        """One end as Calico names it (felix/collector/types/endpoint): a workload endpoint by
        its pod, a host endpoint by its name beside its node, a network set by its name; any
        other address is ``net``, ``pvt`` or ``pub``."""
        if entity is None:
            typ, name, aggr, namespace = "net", NONE, _net_name(address), NONE
        elif entity.kind == "WorkloadEndpoint":
            typ, name, namespace = "wep", entity.workload or entity.name, entity.namespace or NONE
            aggr = name
        elif entity.kind == "HostEndpoint":
            typ, name, aggr, namespace = "hep", entity.name, entity.node or entity.name, NONE
        else:
            typ, name, namespace = "ns", entity.name, entity.namespace or NONE
            aggr = name
        if proto == ICMP.number:  # Calico writes no ports for ICMP (for ICMPv6 it does)
            port = None
        return Party(None if level >= 2 else address, None if (source and level >= 1) else port,
                     NONE if level >= 2 else name, aggr, namespace, typ)

    # --- output --------------------------------------------------------------------------------

    def flush(self) -> int:
        """Write the interval's records (its live connections count in ``num_flows``) and start
        the next interval. Returns the number of records; logs a failed write."""
        now = time.time()
        with self._lock:
            config = self._config
            for cid, connection in self._connections.items():
                if connection.generation != self._generation:
                    self._reevaluate(connection)
                for described in connection.records:
                    self._totals_of(described, cid)
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
        """One JSON record with the fields of Calico Enterprise's serializer, and ``host``."""
        record: dict[str, object] = {"start_time": int(start), "end_time": int(end)}
        for end, (prefix, party) in enumerate((("source", key.source), ("dest", key.dest))):
            record.update({f"{prefix}_ip": party.ip, f"{prefix}_name": party.name,
                           f"{prefix}_name_aggr": party.name_aggr, f"{prefix}_namespace": party.namespace,
                           f"{prefix}_port": party.port, f"{prefix}_type": party.type,
                           f"{prefix}_labels": None if t.labels is None else
                           {"labels": sorted(f"{k}={v}" for k, v in t.labels[end])}})
        record.update(NOT_COLLECTED)
        record.update({
            "proto": key.proto, "action": key.action, "reporter": key.reporter,
            "policies": {"all_policies": list(key.all), "enforced_policies": list(key.enforced),
                         "pending_policies": list(t.pending)} if config.include_policies else None,
            "bytes_in": t.bytes_in, "bytes_out": t.bytes_out, "num_flows": len(t.flows),
            "num_flows_started": t.started, "num_flows_completed": t.completed, "packets_in": t.packets_in,
            "packets_out": t.packets_out, "host": self.node})
        return record


def _first_packet(plan: Plan, flow: Flow) -> Result:
    proto, src, dst, sport, dport = flow
    in_iface, out_iface = route(plan.view, src, dst)
    if proto in ICMPS:
        kind, code = (None, None) if dport is None else (dport >> 8, dport & 0xFF)
        packet = Packet(src, dst, proto, None, None, kind, code, "new", in_iface, out_iface)
    else:
        packet = Packet(src, dst, proto, sport, dport, None, None, "new", in_iface, out_iface)
    return evaluate(plan, packet)


def _local_endpoint(plan: Plan, address: str) -> str | None:
    """The name (``[<namespace>/]<name>``) of the local workload endpoint that has ``address``."""
    for key in plan.view.owners.get(address, ()):
        ep = plan.endpoints.get(key)
        if ep is not None and not ep.is_host:
            return ep.name
    return None


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

