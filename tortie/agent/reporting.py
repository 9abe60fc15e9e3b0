"""Everything the agent reports besides health: the denied-packet metrics and their NFLOG
pipeline, the denied-flow stream and the agent's own metrics, each following the
configuration live."""

from __future__ import annotations

import logging
import time
from typing import Any

from .. import __version__
from ..calc import NodeView
from ..config import EffectiveConfig
from ..dataplane import Rendered, Runner
from ..dataplane.prefixes import nflog_table
from .denials import DenialPipeline, Settings
from .flows import FlowLog
from .listener import TLSFiles
from .metrics import AgentFigures, AgentRegistry, DeniedMetrics, MetricsServer, denied_registry

log = logging.getLogger("tortie.agent")
NFLOG_STALL = 60.0


def tls_files(config: EffectiveConfig, prefix: str) -> tuple[TLSFiles | None, str | None]:
    """The listener's TLS files, or the problem when only some of the three are set."""
    files = [config[f"{prefix}{part}File"] for part in ("Cert", "Key", "CA")]
    if all(files):
        return TLSFiles(*files), None
    if any(files):
        missing = [f"{prefix}{part}File" for part, f in zip(("Cert", "Key", "CA"), files, strict=True) if not f]
        return None, f"{prefix}: TLS needs a certificate, a key and a CA; {', '.join(missing)} not set"
    return None, None


class Reporting:
    def __init__(self, node: str, runner: Runner) -> None:
        self.node = node
        self.denied = DeniedMetrics()
        self.pipeline = DenialPipeline(node, self.denied)
        self.figures = AgentFigures(version=__version__, command_stats=runner.stats)
        self.agent_registry = AgentRegistry(self._figures)
        self.reporter = MetricsServer("reporter", denied_registry(self.denied))
        self.self_metrics = MetricsServer("metrics", self.agent_registry.registry)
        self.problems: list[str] = []

    def _figures(self) -> AgentFigures:
        self.figures.nflog_received = dict(self.pipeline.received)
        self.figures.nflog_lost = self.pipeline.lost()
        return self.figures

    def configure(self, config: EffectiveConfig) -> None:
        """Start, move or stop the listeners and the NFLOG reader. Failures are logged and
        listed in ``problems``; they never stop the agent."""
        self.problems = []
        self.figures.invalid_config_values = len(config.problems)
        self.agent_registry.include(config["prometheusProcessMetricsEnabled"], config["prometheusGoMetricsEnabled"])
        reporter_on = config["prometheusReporterEnabled"]
        for server, prefix, enabled, port in (
                (self.reporter, "prometheusReporter", reporter_on, config["prometheusReporterPort"]),
                (self.self_metrics, "prometheusMetrics", config["prometheusMetricsEnabled"],
                 config["prometheusMetricsPort"])):
            tls, problem = tls_files(config, prefix)
            if problem:
                self._problem(problem)
                enabled = False
            try:
                server.configure(enabled, port, tls)
            except OSError as exc:
                self._problem(f"{prefix}: cannot listen on port {port}: {exc}")
        try:
            if reporter_on:
                self.pipeline.start()
            else:
                self.pipeline.stop()
        except OSError as exc:
            self._problem(f"prometheusReporter: cannot read NFLOG: {exc}")

    def _problem(self, text: str) -> None:
        log.error("%s", text)
        self.problems.append(text)

    def applied(self, view: NodeView, rendered: Rendered, revision: int, seconds: float) -> None:
        """The dataplane now holds ``rendered`` (for ``view`` at ``revision``)."""
        f = self.figures
        f.revision_applied = revision
        f.local_endpoints = len(view.endpoints)
        f.local_policies = len({key for ep in view.endpoints.values() for tiers in ep.tiers.values()
                                for tier in tiers for key in tier.policies})
        f.chains = {(t.name, t.family): len(t.chains) for t in rendered.tables.values()}
        f.rules = {(t.name, t.family): sum(map(len, t.chains.values())) + sum(map(len, t.hooks.values()))
                   for t in rendered.tables.values()}
        f.ipsets = {family: sum(1 for s in rendered.ipsets.values() if s.family == family) for family in (4, 6)}
        self.agent_registry.apply_duration.observe(seconds)

    def prepare(self, view: NodeView, config: EffectiveConfig) -> None:
        """Before the dataplane gets rules for ``view``: teach the NFLOG pipeline their prefixes."""
        if not self.pipeline.running:
            return
        override = config["dropActionOverride"]
        flow_log = None
        if config["flowLogsFileEnabled"]:
            flow_log = FlowLog(self.node, config["flowLogsFileDirectory"],
                               config["flowLogsFileMaxFileSizeMB"] << 20, config["flowLogsFileMaxFiles"])
        window = (config.seconds("flowLogsFlushInterval") or 10.0) if flow_log else 0.0
        settings = Settings(float(config["deletedMetricsRetentionSecs"]),
                            "drop" if override in ("Drop", "LogAndDrop") else "accept", window)
        self.pipeline.update(nflog_table(view), view, settings, flow_log)

    def live(self) -> bool:
        return not self.pipeline.running or time.monotonic() - self.pipeline.last_progress < NFLOG_STALL

    def status(self) -> dict[str, Any]:
        return {"deniedSeries": len(self.denied), "nflogReceived": dict(self.pipeline.received),
                "nflogLost": self.pipeline.lost(), "nflogUnknownPrefixes": self.pipeline.unknown_prefixes}

    def stop(self) -> None:
        self.reporter.stop()
        self.self_metrics.stop()
        self.pipeline.stop()
