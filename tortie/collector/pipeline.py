"""From NFLOG packets to denied-packet metrics and the denied flows of the flow logs.

A thread reads the kernel's batches and reduces each packet to its flow (prefix, addresses,
protocol, ports) with a packet and byte count: a dict update per packet, nothing more.
Several times a second the flows are folded into the metric series and the flow logs; the
prefix table (which denial each prefix stands for) is the one the renderer returned with
the rules it rendered, handed over before they are applied.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..core import ICMP, ICMPV6, PORT_PROTOCOLS, KernelAction
from ..plan import Denial
from .flowlogs import FlowLogs
from .nflog import NflogReader

log = logging.getLogger("tortie.collector")
FOLD_EVERY = 0.2
EXPIRE_EVERY = 1.0
_PORTS = struct.Struct("!HH")
_U16 = struct.Struct("!H")


class DeniedCounter(Protocol):
    """Where denied packets are counted: series by (policy label, source address)."""

    def add(self, counts: Iterable[tuple[str, str, int, int]], now: float) -> None: ...

    def expire(self, now: float, retention: float) -> None: ...

    def clear(self) -> None: ...


@dataclass(frozen=True)
class PipelineSettings:
    retention: float  # deletedMetricsRetentionSecs, in seconds
    action: KernelAction  # what the override enforces on a denial


def flow_of(header: bytes) -> tuple[bytes, bytes, int, bytes, int] | None:
    """(source, destination, protocol, ports, length on the wire) from an IP header. The
    ports are the four bytes of the source and destination port; for ICMP the id and then
    the type and code (Calico's ``type << 8 | code``); empty for other protocols or a header
    cut short."""
    if len(header) < 20:
        return None
    version = header[0] >> 4
    if version == 4:
        start = (header[0] & 0x0F) * 4
        return header[12:16], header[16:20], header[9], _ports(header, start, header[9]), \
            _U16.unpack_from(header, 2)[0]
    if version == 6 and len(header) >= 40:
        return header[8:24], header[24:40], header[6], _ports(header, 40, header[6]), \
            _U16.unpack_from(header, 4)[0] + 40
    return None


def _ports(header: bytes, start: int, protocol: int) -> bytes:
    if protocol in PORT_PROTOCOLS:
        ports = header[start:start + 4]
    elif protocol in (ICMP.number, ICMPV6.number):
        ports = header[start + 4:start + 6] + header[start:start + 2]
    else:
        return b""
    return ports if len(ports) == 4 else b""


def _address(packed: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(packed) == 16 else socket.AF_INET, packed)


class DenialPipeline:
    """Owns the NFLOG reader thread while the reporter is on."""

    def __init__(self, node: str, metrics: DeniedCounter) -> None:
        self.node = node
        self.metrics = metrics
        self.received: Counter[int] = Counter()
        self.unknown_prefixes = 0
        self.last_progress = time.monotonic()
        self._lock = threading.Lock()
        self._table: dict[bytes, Denial] = {}
        self._removed: dict[bytes, tuple[Denial, float]] = {}  # kept for the retention time
        self._settings = PipelineSettings(30.0, KernelAction.DROP)
        self._flow_logs: FlowLogs | None = None
        self._reader: NflogReader | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- control, from the agent's loop -----------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None

    def lost(self) -> dict[int, int]:
        if self._reader is None:
            return {}
        lost = dict(self._reader.parser.losses.gaps)
        if self._reader.parser.losses.overruns:  # an overrun loses a batch of unknown groups: count it once
            lost[1] = lost.get(1, 0) + self._reader.parser.losses.overruns
        return lost

    def start(self) -> None:
        if self._thread is not None:
            return
        self._reader = NflogReader()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="nflog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        assert self._reader is not None
        self._reader.close()
        self._reader = None
        self.metrics.clear()

    def update(self, table: Mapping[str, Denial], settings: PipelineSettings, flow_logs: FlowLogs | None) -> None:
        """A new prefix table (``Rendered.nflog``: prefixes that left stay for the retention
        time), settings, and the flow logs that take the dropped flows (None: flow logs are off)."""
        now = time.monotonic()
        encoded = {prefix.encode(): denial for prefix, denial in table.items()}
        with self._lock:
            for prefix, denial in self._table.items():
                if prefix not in encoded:
                    self._removed[prefix] = (denial, now + settings.retention)
            for prefix in encoded:
                self._removed.pop(prefix, None)
            self._table = encoded
            self._settings = settings
            self._flow_logs = flow_logs

    # --- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        assert self._reader is not None
        reader = self._reader
        flows: dict[tuple[bytes, bytes, bytes, int, bytes], list[int]] = {}  # the prefix says the group
        next_fold = next_expire = time.monotonic()
        while not self._stop.is_set():
            try:
                packets = reader.read(FOLD_EVERY)
            except OSError as exc:
                log.error("reading NFLOG failed: %s", exc)
                self._stop.wait(1.0)
                continue
            for group, prefix, header in packets:
                self.received[group] += 1
                flow = flow_of(header)
                if flow is None:
                    continue
                key = (prefix, flow[0], flow[1], flow[2], flow[3])
                entry = flows.get(key)
                if entry is None:
                    flows[key] = [1, flow[4]]
                else:
                    entry[0] += 1
                    entry[1] += flow[4]
            now = time.monotonic()
            self.last_progress = now
            if now >= next_fold or not packets:
                self._fold(flows, now)
                flows = {}
                next_fold = now + FOLD_EVERY
            if now >= next_expire:
                self._expire(now)
                next_expire = now + EXPIRE_EVERY

    def _fold(self, flows: dict[tuple[bytes, bytes, bytes, int, bytes], list[int]], now: float) -> None:
        if not flows:
            return
        counts: dict[tuple[str, str], list[int]] = {}
        with self._lock:
            table, removed = self._table, self._removed
            # When the override accepts, conntrack shows the connection to the flow logs.
            flow_logs = self._flow_logs if self._settings.action is KernelAction.DROP else None
            for (prefix, src, dst, protocol, ports), (packets, size) in flows.items():
                denial = table.get(prefix) or removed.get(prefix, (None, 0.0))[0]
                if denial is None:
                    self.unknown_prefixes += packets
                    continue
                source = _address(src)
                entry = counts.get((denial.label, source))
                if entry is None:
                    counts[(denial.label, source)] = [packets, size]
                else:
                    entry[0] += packets
                    entry[1] += size
                if flow_logs is not None:
                    sport, dport = _PORTS.unpack(ports) if len(ports) == 4 else (None, None)
                    flow_logs.denied(denial.direction, source, _address(dst), protocol, sport, dport, packets, size)
        self.metrics.add(((label, source, p, b) for (label, source), (p, b) in counts.items()), now)

    def _expire(self, now: float) -> None:
        retention = self._settings.retention
        self.metrics.expire(now, retention)
        with self._lock:
            self._removed = {p: (d, until) for p, (d, until) in self._removed.items() if until > now}
