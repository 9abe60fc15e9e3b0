"""FelixConfiguration (felixconfig.md §1–§2).

``PARAMETERS`` is the one table of every field: its type, default and the check of a
resource value. The spec model is generated from it, and the effective-configuration
code reads defaults and types from the same table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable

from pydantic import Field, create_model

from .base import Model
from .resource import Resource, SpecOf
from .values import (check_cidr, check_duration, check_ip, check_numeric_port, check_str, int_in, invalid,
                     is_dns_subdomain, is_int, matching, one_of, plain)

SEVERITIES = ("Debug", "Info", "Warning", "Error", "Fatal")


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # bool, int, duration, enum, string, protoports, portlist, port, cidrs
    check: Callable[[Any], Any]
    default: Any = None
    implemented: bool = True
    choices: tuple[str, ...] = field(default=())


def check_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid("must be a boolean")
    return value


def check_proto_ports(value: Any) -> list[dict[str, Any]]:
    """A list of {protocol, port}: protocol TCP or UDP in any case (stored upper-case), port 0-65535."""
    if not isinstance(value, list):
        raise invalid("must be a list of {protocol, port}")
    out = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"protocol", "port"}:
            raise invalid("each entry must be {protocol, port}")
        proto = item.get("protocol", "TCP")
        if not isinstance(proto, str) or proto.upper() not in ("TCP", "UDP"):
            raise invalid(f"protocol must be TCP or UDP, not {proto!r}")
        port = item.get("port")
        if not is_int(port) or not 0 <= port <= 65535:
            raise invalid(f"port must be 0-65535, not {port!r}")
        out.append({"protocol": proto.upper(), "port": port})
    return out


def check_mark_mask(value: Any) -> int:
    int_in(0, 0xFFFFFFFF)(value)
    if bin(value).count("1") < 5:
        raise invalid("must have at least 5 bits set")
    return value


def list_of(check: Callable[[Any], Any], at_most: int | None = None) -> Callable[[Any], list[Any]]:
    def checked(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise invalid("must be a list")
        if at_most is not None and len(value) > at_most:
            raise invalid(f"must have at most {at_most} entries")
        return [check(v) for v in value]
    return checked


def comma_list(item_regex: str, reason: str) -> Callable[[Any], str]:
    item = re.compile(item_regex)

    def check(value: Any) -> str:
        if not isinstance(value, str) or not all(item.fullmatch(p.strip()) for p in value.split(",")):
            raise invalid(reason)
        return value
    return check


def check_interface_exclude(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid("must be a string")
    for part in (p.strip() for p in value.split(",")):
        if len(part) > 1 and part.startswith("/") and part.endswith("/"):
            try:
                re.compile(part[1:-1])
            except re.error as exc:
                raise invalid(f"invalid regular expression {part}: {exc}") from None
        elif not re.fullmatch(r"[A-Za-z0-9_.:-]{1,15}", part):
            raise invalid(f"invalid interface name {part!r}")
    return value


def check_host(value: Any) -> str:
    if isinstance(value, str) and is_dns_subdomain(value.lower()):
        return value
    return check_ip(value)


def _bool(name: str, default: bool | None = None, implemented: bool = True) -> Param:
    return Param(name, "bool", check_bool, default, implemented)


def _int(name: str, lo: int, hi: int, default: int | None = None, implemented: bool = True) -> Param:
    return Param(name, "int", int_in(lo, hi), default, implemented)


def _duration(name: str, default: str | None = None, implemented: bool = True) -> Param:
    return Param(name, "duration", check_duration, default, implemented)


def _enum(name: str, choices: tuple[str, ...], default: str | None = None, implemented: bool = True) -> Param:
    return Param(name, "enum", one_of(*choices), default, implemented, choices)


def _string(name: str, default: str | None = None, check: Callable[[Any], Any] = check_str,
            implemented: bool = True) -> Param:
    return Param(name, "string", check, default, implemented)


def _proto_ports(name: str, default: list[tuple[str, int]]) -> Param:
    return Param(name, "protoports", check_proto_ports, [{"protocol": p, "port": n} for p, n in default])


_IMPLEMENTED = [
    _enum("dropActionOverride", ("Drop", "Accept", "LogAndDrop", "LogAndAccept"), "Drop"),
    _bool("logDropActionOverride", False),
    _string("logPrefix", "calico-packet",
            matching(r"[A-Za-z0-9 %:/_.-]{0,64}", "must be 0-64 characters from [A-Za-z0-9 %:/_.-]")),
    _string("logActionRateLimit", None,
            matching(r"[1-9][0-9]{0,3}/(second|minute|hour|day)", "must be N/second|minute|hour|day, N 1-9999")),
    _int("logActionRateLimitBurst", 0, 9999, 5),
    _enum("defaultEndpointToHostAction", ("Drop", "Accept", "Return"), "Drop"),
    _enum("chainInsertMode", ("Insert", "Append"), "Insert"),
    _enum("iptablesBackend", ("NFT", "Legacy", "Auto"), "NFT"),
    _duration("iptablesRefreshInterval", "1m30s"),
    _duration("iptablesPostWriteCheckInterval", "1s"),
    Param("iptablesMarkMask", "int", check_mark_mask, 0xFFFF0000),
    _enum("iptablesFilterAllowAction", ("Accept", "Return"), "Accept"),
    _enum("iptablesMangleAllowAction", ("Accept", "Return"), "Accept"),
    _bool("disableConntrackInvalidCheck", False),
    _string("interfacePrefix", "cali", comma_list(r"[A-Za-z0-9_-]{1,15}",
                                                  "must be a comma list of [A-Za-z0-9_-]{1,15}")),
    _string("interfaceExclude", "kube-ipvs0", check_interface_exclude),
    _proto_ports("failsafeInboundHostPorts",
                 [("TCP", 22), ("UDP", 68), ("TCP", 179), ("TCP", 2379), ("TCP", 2380), ("TCP", 6666),
                  ("TCP", 6667)]),
    _proto_ports("failsafeOutboundHostPorts",
                 [("UDP", 53), ("UDP", 67), ("TCP", 179), ("TCP", 2379), ("TCP", 2380), ("TCP", 6666),
                  ("TCP", 6667)]),
    _bool("ipv6Support", True),
    _int("maxIpsetSize", 1, 2**31, 1048576),
    _duration("ipsetsRefreshInterval", "10s"),
    _bool("prometheusReporterEnabled", False),
    _int("prometheusReporterPort", 1, 65535, 9092),
    _string("prometheusReporterCertFile"),
    _string("prometheusReporterKeyFile"),
    _string("prometheusReporterCAFile"),
    _int("deletedMetricsRetentionSecs", 0, 86400, 30),
    _bool("prometheusMetricsEnabled", False),
    _int("prometheusMetricsPort", 1, 65535, 9091),
    _string("prometheusMetricsCertFile"),
    _string("prometheusMetricsKeyFile"),
    _string("prometheusMetricsCAFile"),
    _bool("prometheusProcessMetricsEnabled", True),
    _bool("prometheusGoMetricsEnabled", True),
    _bool("healthEnabled", False),
    _string("healthHost", "localhost", check_host),
    _int("healthPort", 1, 65535, 9099),
    _enum("logSeverityScreen", SEVERITIES, "Info"),
    _enum("logSeverityFile", SEVERITIES, "Info"),
    _string("logFilePath", "none"),
    # The denied-flow stream (Calico Enterprise's names; tortie writes denied flows only).
    _bool("flowLogsFileEnabled", False),
    _string("flowLogsFileDirectory", "/var/log/calico/flowlogs"),
    _duration("flowLogsFlushInterval", "10s"),
    _int("flowLogsFileMaxFiles", 0, 2**63 - 1, 5),
    _int("flowLogsFileMaxFileSizeMB", 0, 2**63 - 1, 100),
]

_STORED_BOOLS = (
    "useInternalDataplaneDriver ignoreLooseRPF ipipEnabled vxlanEnabled endpointReportingEnabled "
    "usageReportingEnabled xdpEnabled genericXDPEnabled debugDisableLogDropping ipsecAllowUnsecuredTraffic "
    "flowLogsEnableHostEndpoint flowLogsEnableNetworkSets flowLogsFileIncludeLabels "
    "flowLogsFileIncludePolicies cloudWatchLogsReporterEnabled cloudWatchLogsIncludeLabels "
    "cloudWatchMetricsReporterEnabled cloudWatchNodeHealthStatusEnabled"
)
_STORED_DURATIONS = (
    "routeRefreshInterval iptablesLockTimeout iptablesLockProbeInterval netlinkTimeout reportingInterval "
    "reportingTTL endpointReportingDelay usageReportingInitialDelay usageReportingInterval xdpRefreshInterval "
    "debugSimulateCalcGraphHangAfter debugSimulateDataplaneHangAfter ipsecPolicyRefreshInterval "
    "cloudWatchLogsFlushInterval"
)
_STORED_INTS = (
    "ipipMTU vxlanMTU vxlanVNI cloudWatchLogsRetentionDays "
    "cloudWatchMetricsPushIntervalSecs cloudWatchNodeHealthPushIntervalSecs"
)
_STORED_AGGREGATION = (
    "flowLogsFileAggregationKindForAllowed flowLogsFileAggregationKindForDenied "
    "cloudWatchLogsAggregationKindForAllowed cloudWatchLogsAggregationKindForDenied"
)
_STORED_STRINGS = (
    "dataplaneDriver iptablesLockFilePath metadataAddr policySyncPathPrefix debugMemoryProfilePath ipsecMode "
    "ipsecIKEAlgorithm ipsecESPAlgorithm cloudWatchLogsLogGroupName nfNetlinkBufSize "
    "statsDumpFilePath syslogReporterNetwork syslogReporterAddress"
)

_STORED = (
    [_bool(n, implemented=False) for n in _STORED_BOOLS.split()]
    + [_duration(n, implemented=False) for n in _STORED_DURATIONS.split()]
    + [_int(n, 0, 2**63 - 1, implemented=False) for n in _STORED_INTS.split()]
    + [_int(n, 0, 65535, implemented=False) for n in ("metadataPort", "vxlanPort")]
    + [_int(n, 0, 2, implemented=False) for n in _STORED_AGGREGATION.split()]
    + [_string(n, implemented=False) for n in _STORED_STRINGS.split()]
    + [
        _enum("logSeveritySys", SEVERITIES, implemented=False),
        _enum("ipsecLogLevel", ("None", "Notice", "Info", "Debug", "Verbose"), implemented=False),
        _string("iptablesNATOutgoingInterfaceFilter", None,
                matching(r"[A-Za-z0-9:._+-]{1,15}", "must match ^[A-Za-z0-9:._+-]{1,15}$"), implemented=False),
        Param("natPortRange", "port", check_numeric_port, implemented=False),
        Param("kubeNodePortRanges", "portlist", list_of(check_numeric_port, at_most=7), implemented=False),
        Param("externalNodesCIDRList", "cidrs", list_of(check_cidr), implemented=False),
    ]
)

PARAMETERS: dict[str, Param] = {p.name: p for p in _IMPLEMENTED + _STORED}


class _SpecBase(Model):
    keep_false_and_empty = True


FelixConfigurationSpec: type[Model] = create_model(  # type: ignore[call-overload]
    "FelixConfigurationSpec",
    __base__=_SpecBase,
    **{
        name: (Annotated[Any, plain(p.check)] | None, Field(default=None, alias=name))
        for name, p in PARAMETERS.items()
    },
)


class FelixConfiguration(Resource):
    """``default`` holds global settings, ``node.<name>`` one node's (felixconfig.md)."""

    KIND = "FelixConfiguration"
    PLURAL = "felixconfigurations"
    NAMES = ("felixconfiguration", "felixconfigurations", "felixconfig", "felixconfigs")

    spec: SpecOf[FelixConfigurationSpec]  # type: ignore[valid-type]
