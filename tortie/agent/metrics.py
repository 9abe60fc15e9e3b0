"""The agent's two Prometheus listeners (metrics.md §1 and §2).

``DeniedMetrics`` holds the denied-packet series {policy, srcIP}; they exist while packets
keep coming and vanish ``deletedMetricsRetentionSecs`` after the last one. The agent's own
metrics are read from its state at scrape time, so nothing on the packet path or the
apply path has to know about Prometheus.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, GCCollector, Histogram, PlatformCollector,
                               ProcessCollector, disable_created_metrics, generate_latest)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .listener import Handler, Listener, Response, TLSFiles

disable_created_metrics()  # metrics.md §2: no *_created samples

DENIED_PACKETS_HELP = "Total number of packets denied by calico policies."
DENIED_BYTES_HELP = "Total number of bytes denied by calico policies."


class DeniedMetrics(Collector):
    """Packets and bytes per {policy label, source address}, with retention."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], list[float]] = {}  # -> [packets, bytes, last seen]

    def add(self, counts: Iterable[tuple[str, str, int, int]], now: float) -> None:
        with self._lock:
            series = self._series
            for label, source, packets, size in counts:
                entry = series.get((label, source))
                if entry is None:
                    series[(label, source)] = [packets, size, now]
                else:
                    entry[0] += packets
                    entry[1] += size
                    entry[2] = now

    def expire(self, now: float, retention: float) -> None:
        with self._lock:
            self._series = {k: v for k, v in self._series.items() if now - v[2] < retention}

    def clear(self) -> None:
        with self._lock:
            self._series = {}

    def __len__(self) -> int:
        return len(self._series)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            items = [(label, source, v[0], v[1]) for (label, source), v in self._series.items()]
        packets = GaugeMetricFamily("calico_denied_packets", DENIED_PACKETS_HELP, labels=["policy", "srcIP"])
        size = GaugeMetricFamily("calico_denied_bytes", DENIED_BYTES_HELP, labels=["policy", "srcIP"])
        for label, source, count, total in items:
            packets.add_metric([label, source], count)
            size.add_metric([label, source], total)
        yield packets
        yield size


@dataclass
class AgentFigures:
    """What the agent's own metrics report; the agent fills it, scrapes read it."""

    version: str = ""
    command_stats: Any = None  # the runner's Counter: (what, table, IP version) -> runs
    chains: dict[tuple[str, int], int] = field(default_factory=dict)  # (table, IP version) -> count
    rules: dict[tuple[str, int], int] = field(default_factory=dict)
    ipsets: dict[int, int] = field(default_factory=dict)
    revision_applied: int = 0
    local_endpoints: int = 0
    local_policies: int = 0
    invalid_config_values: int = 0
    nflog_received: dict[int, int] = field(default_factory=dict)  # group -> packets
    nflog_lost: dict[int, int] = field(default_factory=dict)


class AgentCollector(Collector):
    def __init__(self, figures: Callable[[], AgentFigures]) -> None:
        self._figures = figures

    def collect(self) -> Iterator[Metric]:
        f = self._figures()
        info = GaugeMetricFamily("tortie_build_info", "Running version.", labels=["version"])
        info.add_metric([f.version], 1)
        yield info
        stats = f.command_stats or {}
        # As Felix's restore calls and errors: the writes towards the plan, retries included.
        # The tries that find what the kernel refuses (--test runs and trial writes) are apart.
        for what, name, text in (("restore", "tortie_iptables_restore_calls", "Runs of iptables-restore."),
                                 ("restore_error", "tortie_iptables_restore_errors", "Runs that failed."),
                                 ("isolation_try", "tortie_iptables_isolation_tries",
                                  "Runs of iptables-restore that look for what the kernel refuses."),
                                 ("isolation_refused", "tortie_iptables_isolation_refusals",
                                  "Isolation tries the kernel refused."),
                                 ("save", "tortie_iptables_save_calls", "Read-backs.")):
            family = CounterMetricFamily(name, text, labels=["table", "ip_version"])
            for (kind, table, version), count in sorted(stats.items()):
                if kind == what:
                    family.add_metric([table, str(version)], count)
            yield family
        for what, name, text in (("ipset_restore", "tortie_ipset_restore_calls", "ipset restore runs."),
                                 ("ipset_restore_error", "tortie_ipset_restore_errors", "ipset restore failures.")):
            yield CounterMetricFamily(name, text, value=sum(c for (k, _, _), c in stats.items() if k == what))
        for name, text, values in (("tortie_iptables_chains", "tortie chains currently programmed.", f.chains),
                                   ("tortie_iptables_rules", "tortie rules currently programmed, including hook rules.",
                                    f.rules)):
            gauge = GaugeMetricFamily(name, text, labels=["table", "ip_version"])
            for (table, version), count in sorted(values.items()):
                gauge.add_metric([table, str(version)], count)
            yield gauge
        sets = GaugeMetricFamily("tortie_ipsets", "tortie ipsets present.", labels=["ip_version"])
        for version, count in sorted(f.ipsets.items()):
            sets.add_metric([str(version)], count)
        yield sets
        for name, text, value in (
                ("tortie_datastore_revision_applied",
                 "The datastore revision whose complete state is programmed in the dataplane.", f.revision_applied),
                ("tortie_active_local_endpoints", "Local WEPs and HEPs being enforced.", f.local_endpoints),
                ("tortie_active_local_policies", "Policies applying to at least one local endpoint.",
                 f.local_policies),
                ("tortie_config_invalid_values", "Configuration values currently rejected (last good value in force).",
                 f.invalid_config_values)):
            yield GaugeMetricFamily(name, text, value=value)
        for name, text, per_group in (("tortie_nflog_packets_received", "NFLOG packets received.", f.nflog_received),
                                      ("tortie_nflog_packets_lost",
                                       "Packets known to be lost: sequence gaps, plus one per receive-buffer overrun.",
                                       f.nflog_lost)):
            family = CounterMetricFamily(name, text, labels=["group"])
            for group in (1, 2):
                family.add_metric([str(group)], per_group.get(group, 0))
            yield family


def metrics_handler(registry: CollectorRegistry) -> Handler:
    """Prometheus exposition of ``registry`` at /metrics (any query string), 404 elsewhere."""
    def answer(path: str) -> Response:
        if path.split("?")[0] != "/metrics":
            return Response(404, b"404 page not found\n", "text/plain; charset=utf-8")
        return Response(200, generate_latest(registry), CONTENT_TYPE_LATEST)

    return answer


class MetricsServer:
    """One Prometheus listener over one registry, reconfigured live."""

    def __init__(self, name: str, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._listener = Listener(name, metrics_handler(registry))

    @property
    def port(self) -> int | None:
        return self._listener.port

    def configure(self, enabled: bool, port: int, tls: TLSFiles | None) -> None:
        self._listener.configure("" if enabled else None, port, tls)

    def stop(self) -> None:
        self._listener.stop()


def denied_registry(denied: DeniedMetrics) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(denied)
    return registry


class AgentRegistry:
    """The self-metrics registry; the process and runtime collectors come and go with config."""

    def __init__(self, figures: Callable[[], AgentFigures]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(AgentCollector(figures))
        self.apply_duration = Histogram("tortie_dataplane_apply_duration_seconds",
                                        "Wall time of one dataplane apply: ipsets plus every table and family.",
                                        registry=self.registry)
        self._optional: dict[str, list[Collector]] = {}

    def include(self, process: bool, runtime: bool) -> None:
        wanted = {"process": process, "runtime": runtime}
        for name, on in wanted.items():
            if on and name not in self._optional:
                r = self.registry  # each collector registers itself
                self._optional[name] = ([ProcessCollector(registry=r)] if name == "process"
                                        else [PlatformCollector(registry=r), GCCollector(registry=r)])
            elif not on and name in self._optional:
                for c in self._optional.pop(name):
                    self.registry.unregister(c)
