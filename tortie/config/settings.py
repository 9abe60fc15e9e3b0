"""The parameters tortie acts on, typed, built once from an effective configuration.

Every consumer (plan, renderer, model, agent, reporting, explain) reads these fields; the
effective configuration keeps the values as written, with their sources, for
``tortie config show``. Values were validated on the way in (felixconfig.md §2, Felix's
config_params.go), so building Settings does not fail on anything the effective
configuration accepted.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Iterable, Mapping

from ..core import FAMILIES, DropActionOverride, Protocol, parse_protocol
from ..resources import parse_duration


class EndpointToHostAction(StrEnum):
    DROP = "Drop"
    ACCEPT = "Accept"
    RETURN = "Return"


class AllowAction(StrEnum):
    """What a policy allow does in the filter or mangle table (iptables*AllowAction)."""

    ACCEPT = "Accept"
    RETURN = "Return"


class ChainInsertMode(StrEnum):
    INSERT = "Insert"
    APPEND = "Append"


class SourceSpoofing(StrEnum):
    """``workloadSourceSpoofing``: whether a workload's ``allowSpoofedSourcePrefixes`` is honoured."""

    DISABLED = "Disabled"
    ANY = "Any"


class IptablesBackend(StrEnum):
    NFT = "NFT"
    LEGACY = "Legacy"
    AUTO = "Auto"


@dataclass(frozen=True)
class Marks:
    """The five mark bits tortie uses (dataplane.md §3), the mask's set bits, lowest first:
    a (accept), p (pass), d (deny) and the scratch bits s0 and s1."""

    a: int
    p: int
    d: int
    s0: int
    s1: int

    @classmethod
    def from_mask(cls, mask: int) -> Marks:
        """Raises ValueError when the mask has fewer than 5 bits set."""
        bits = [1 << i for i in range(32) if mask & (1 << i)]
        if len(bits) < 5:
            raise ValueError(f"iptablesMarkMask {mask:#x} has fewer than 5 bits set")
        return cls(*bits[:5])

    @property
    def all(self) -> int:
        return self.a | self.p | self.d | self.s0 | self.s1


@dataclass(frozen=True)
class FailsafePort:
    protocol: Protocol  # TCP or UDP
    port: int  # 0-65535


@dataclass(frozen=True)
class RateLimit:
    """``logActionRateLimit`` and its burst: iptables' ``-m limit`` arguments."""

    rate: str  # N/second|minute|hour|day, N 1-9999
    burst: int  # 0: iptables' default


@dataclass(frozen=True)
class InterfaceExclusions:
    """``interfaceExclude``: interface names and /regular expressions/ (searched, as Felix
    does), in the order written."""

    entries: tuple[str | re.Pattern[str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> InterfaceExclusions:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return cls(tuple(re.compile(p[1:-1]) if len(p) > 1 and p.startswith("/") and p.endswith("/") else p
                         for p in parts))

    def matches(self, interface: str) -> bool:
        return any(interface == e if isinstance(e, str) else e.search(interface) for e in self.entries)

    def expand(self, interfaces: Iterable[str]) -> tuple[str, ...]:
        """The excluded interface names: each name, and the present ``interfaces`` each
        expression finds (sorted), in the order written, without repeats."""
        present = sorted(interfaces)
        out: dict[str, None] = {}
        for e in self.entries:
            for name in [e] if isinstance(e, str) else [i for i in present if e.search(i)]:
                out.setdefault(name)
        return tuple(out)


@dataclass(frozen=True)
class ListenerSettings:
    enabled: bool
    port: int
    cert_file: str | None
    key_file: str | None
    ca_file: str | None


@dataclass(frozen=True)
class FlowLogSettings:
    enabled: bool
    directory: str
    flush_interval: float  # seconds; 0 means the default of 10 s
    max_files: int
    max_file_size: int  # bytes
    kind_allowed: int  # aggregation level of allowed flows, 0-2
    kind_denied: int
    include_labels: bool
    include_policies: bool
    pending_policies: bool  # flowLogsPolicyEvaluationMode Continuous (False: None, pending_policies empty)


_LEVELS = {"Debug": logging.DEBUG, "Info": logging.INFO, "Warning": logging.WARNING, "Error": logging.ERROR,
           "Fatal": logging.CRITICAL}


def _seconds(value: str) -> float:
    return parse_duration(value) / 1e9


def _failsafe(entries: list[dict[str, Any]]) -> tuple[FailsafePort, ...]:
    return tuple(FailsafePort(parse_protocol(e["protocol"]), int(e["port"])) for e in entries)


@dataclass(frozen=True)
class Settings:
    """Typed parameters. Durations are in seconds (0: off)."""

    drop_action_override: DropActionOverride
    log_drop_action_override: bool
    log_prefix: str  # the template: %t %k %n %p %%
    log_rate_limit: RateLimit | None
    default_endpoint_to_host_action: EndpointToHostAction
    chain_insert_mode: ChainInsertMode
    iptables_backend: IptablesBackend
    iptables_refresh_interval: float
    iptables_post_write_check_interval: float
    marks: Marks
    filter_allow_action: AllowAction
    mangle_allow_action: AllowAction
    disable_conntrack_invalid_check: bool
    interface_prefixes: tuple[str, ...]
    interface_exclude: InterfaceExclusions
    failsafe_inbound: tuple[FailsafePort, ...]
    failsafe_outbound: tuple[FailsafePort, ...]
    ipv6_support: bool
    max_ipset_size: int
    workload_source_spoofing: SourceSpoofing
    prometheus_reporter: ListenerSettings
    deleted_metrics_retention: float
    prometheus_metrics: ListenerSettings
    prometheus_process_metrics: bool
    prometheus_go_metrics: bool
    health_enabled: bool
    health_host: str
    health_port: int
    log_level: int  # logSeverityScreen as a logging level
    flow_logs: FlowLogSettings

    @classmethod
    def from_values(cls, v: Mapping[str, Any]) -> Settings:
        """From effective values in resource form (parameter name -> value)."""
        rate = v["logActionRateLimit"]
        return cls(
            drop_action_override=DropActionOverride(v["dropActionOverride"]),
            log_drop_action_override=v["logDropActionOverride"],
            log_prefix=v["logPrefix"],
            log_rate_limit=RateLimit(rate, v["logActionRateLimitBurst"]) if rate else None,
            default_endpoint_to_host_action=EndpointToHostAction(v["defaultEndpointToHostAction"]),
            chain_insert_mode=ChainInsertMode(v["chainInsertMode"]),
            iptables_backend=IptablesBackend(v["iptablesBackend"]),
            iptables_refresh_interval=_seconds(v["iptablesRefreshInterval"]),
            iptables_post_write_check_interval=_seconds(v["iptablesPostWriteCheckInterval"]),
            marks=Marks.from_mask(v["iptablesMarkMask"]),
            filter_allow_action=AllowAction(v["iptablesFilterAllowAction"]),
            mangle_allow_action=AllowAction(v["iptablesMangleAllowAction"]),
            disable_conntrack_invalid_check=v["disableConntrackInvalidCheck"],
            interface_prefixes=tuple(p.strip() for p in v["interfacePrefix"].split(",") if p.strip()),
            interface_exclude=InterfaceExclusions.parse(v["interfaceExclude"]),
            failsafe_inbound=_failsafe(v["failsafeInboundHostPorts"]),
            failsafe_outbound=_failsafe(v["failsafeOutboundHostPorts"]),
            ipv6_support=v["ipv6Support"],
            max_ipset_size=v["maxIpsetSize"],
            workload_source_spoofing=SourceSpoofing(v["workloadSourceSpoofing"]),
            prometheus_reporter=ListenerSettings(
                v["prometheusReporterEnabled"], v["prometheusReporterPort"], v["prometheusReporterCertFile"] or None,
                v["prometheusReporterKeyFile"] or None, v["prometheusReporterCAFile"] or None),
            deleted_metrics_retention=float(v["deletedMetricsRetentionSecs"]),
            prometheus_metrics=ListenerSettings(
                v["prometheusMetricsEnabled"], v["prometheusMetricsPort"], v["prometheusMetricsCertFile"] or None,
                v["prometheusMetricsKeyFile"] or None, v["prometheusMetricsCAFile"] or None),
            prometheus_process_metrics=v["prometheusProcessMetricsEnabled"],
            prometheus_go_metrics=v["prometheusGoMetricsEnabled"],
            health_enabled=v["healthEnabled"],
            health_host=v["healthHost"],
            health_port=v["healthPort"],
            log_level=_LEVELS.get(v["logSeverityScreen"], logging.INFO),
            flow_logs=FlowLogSettings(v["flowLogsFileEnabled"], v["flowLogsFileDirectory"],
                                      _seconds(v["flowLogsFlushInterval"]), v["flowLogsFileMaxFiles"],
                                      v["flowLogsFileMaxFileSizeMB"] << 20,
                                      v["flowLogsFileAggregationKindForAllowed"],
                                      v["flowLogsFileAggregationKindForDenied"], v["flowLogsFileIncludeLabels"],
                                      v["flowLogsFileIncludePolicies"],
                                      v["flowLogsPolicyEvaluationMode"] == "Continuous"),
        )

    @property
    def families(self) -> tuple[int, ...]:
        """The IP versions tortie enforces."""
        return FAMILIES if self.ipv6_support else (4,)

    def is_workload_interface(self, interface: str) -> bool:
        """interfacePrefix: the interface belongs to a workload (evaluation.md §3)."""
        return interface.startswith(self.interface_prefixes)

    @property
    def drop_log_prefix(self) -> str:
        """The LOG prefix of a denial under LogAndDrop or LogAndAccept (product rule 1)."""
        if not self.log_drop_action_override:
            return "calico-drop: "
        action = "LOGandDROP" if self.drop_action_override is DropActionOverride.LOG_AND_DROP else "LOGandACCEPT"
        return f"calico-drop {action}: "
