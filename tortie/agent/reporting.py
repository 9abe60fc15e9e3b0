"""Everything the agent reports besides health: the denied-packet metrics and their NFLOG
pipeline, the flow logs and the agent's own metrics, each following the configuration live."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from .. import __version__
from ..calc import Entity
from ..collector import DenialPipeline, FlowLogConfig, FlowLogs, PipelineSettings
from ..config import ListenerSettings, Settings
from ..core import FAMILIES
from ..dataplane import Runner
from ..plan import Plan
from ..render import Rendered
from .listener import TLSFiles
from .metrics import AgentFigures, AgentRegistry, DeniedMetrics, MetricsServer, denied_registry

log = logging.getLogger("tortie.agent")
NFLOG_STALL = 60.0


def tls_files(listener: ListenerSettings, prefix: str) -> tuple[TLSFiles | None, str | None]:
    """The listener's TLS files, or the problem when only some of the three are set."""
    files = (listener.cert_file, listener.key_file, listener.ca_file)
    if listener.cert_file and listener.key_file and listener.ca_file:
        return TLSFiles(listener.cert_file, listener.key_file, listener.ca_file), None
    if any(files):
        missing = [f"{prefix}{part}File" for part, f in zip(("Cert", "Key", "CA"), files, strict=True) if not f]
        return None, f"{prefix}: TLS needs a certificate, a key and a CA; {', '.join(missing)} not set"
    return None, None


class Reporting:
    def __init__(self, node: str, runner: Runner) -> None:
        self.node = node
        self.denied = DeniedMetrics()
        self.pipeline = DenialPipeline(node, self.denied)
        self.flow_logs = FlowLogs(node)
        self.figures = AgentFigures(version=__version__, command_stats=runner.stats)
        self.agent_registry = AgentRegistry(self._figures)
        self.reporter = MetricsServer("reporter", denied_registry(self.denied))
        self.self_metrics = MetricsServer("metrics", self.agent_registry.registry)
        self.problems: list[str] = []

    def _figures(self) -> AgentFigures:
        self.figures.nflog_received = dict(self.pipeline.received)
        self.figures.nflog_lost = self.pipeline.lost()
        return self.figures

    def configure(self, settings: Settings, invalid_values: int) -> None:
        """Start, move or stop the listeners and the NFLOG reader. Failures are logged and
        listed in ``problems``; they never stop the agent."""
        self.problems = []
        self.figures.invalid_config_values = invalid_values
        self.agent_registry.include(settings.prometheus_process_metrics, settings.prometheus_go_metrics)
        reporter_on = settings.prometheus_reporter.enabled
        for server, prefix, listener in ((self.reporter, "prometheusReporter", settings.prometheus_reporter),
                                         (self.self_metrics, "prometheusMetrics", settings.prometheus_metrics)):
            enabled, port = listener.enabled, listener.port
            tls, problem = tls_files(listener, prefix)
            if problem:
                self._problem(problem)
                enabled = False
            try:
                server.configure(enabled, port, tls)
            except OSError as exc:
                self._problem(f"{prefix}: cannot listen on port {port}: {exc}")
        flow_logs_on = settings.flow_logs.enabled
        try:
            if reporter_on or flow_logs_on:  # the flow logs' dropped flows come from NFLOG too
                self.pipeline.start()
            else:
                self.pipeline.stop()
        except OSError as exc:
            self._problem(f"{'prometheusReporter' if reporter_on else 'flowLogsFileEnabled'}: cannot read NFLOG: {exc}")
        try:
            if flow_logs_on:
                self.flow_logs.start()
            else:
                self.flow_logs.stop()
        except OSError as exc:
            self._problem(f"flowLogsFileEnabled: cannot read conntrack: {exc}")

    def _problem(self, text: str) -> None:
        log.error("%s", text)
        self.problems.append(text)

    def applied(self, plan: Plan, rendered: Rendered, revision: int, seconds: float) -> None:
        """The dataplane now holds ``rendered`` (for ``plan`` at ``revision``); ``seconds``: how
        long writing it took."""
        f = self.figures
        f.revision_applied = revision
        f.local_endpoints = len(plan.endpoints)
        f.local_policies = len(plan.view.policies)
        f.chains = {(t.name, t.family): len(t.chains) for t in rendered.tables.values()}
        f.rules = {(t.name, t.family): sum(len(c.rules) for c in t.chains.values()) + sum(map(len, t.hooks.values()))
                   for t in rendered.tables.values()}
        f.ipsets = {family: sum(1 for s in rendered.ipsets.values() if s.family == family) for family in FAMILIES}
        self.agent_registry.apply_duration.observe(seconds)

    def prepare(self, plan: Plan, rendered: Rendered, pending: Plan | None, entities: Mapping[str, Entity]) -> None:
        """Before the dataplane gets ``rendered``: teach the NFLOG pipeline the prefixes its
        rules log (``rendered.nflog``), so the first packet of a new rule is already known, and
        the flow logs the enforced and the pending plan (staged policies promoted; None while
        the agent has no pending policy set yet: the flow logs wait for it) and the cluster's
        endpoints and network sets (``entities``, by entity key, kept up to date by calc)."""
        settings = plan.settings
        flows = settings.flow_logs
        flow_logs = self.flow_logs if self.flow_logs.running else None
        if flow_logs is not None and pending is not None:
            flow_logs.update(plan, pending, entities, FlowLogConfig(
                flows.directory, flows.max_file_size, flows.max_files, flows.flush_interval or 10.0,
                flows.kind_allowed, flows.kind_denied, flows.include_labels, flows.include_policies,
                flows.pending_policies))
        if self.pipeline.running:
            self.pipeline.update(rendered.nflog, PipelineSettings(
                settings.deleted_metrics_retention, settings.drop_action_override.kernel_action), flow_logs)

    def live(self) -> bool:
        return not self.pipeline.running or time.monotonic() - self.pipeline.last_progress < NFLOG_STALL

    def status(self) -> dict[str, Any]:
        return {"deniedSeries": len(self.denied), "nflogReceived": dict(self.pipeline.received),
                "nflogLost": self.pipeline.lost(), "nflogUnknownPrefixes": self.pipeline.unknown_prefixes,
                "flowLogRecords": self.flow_logs.written}

    def stop(self) -> None:
        self.reporter.stop()
        self.self_metrics.stop()
        self.pipeline.stop()
        self.flow_logs.stop()
