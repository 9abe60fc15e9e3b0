"""FelixConfiguration: every field of Calico v3.32 (api/pkg/apis/projectcalico/v3/felixconfig.go)
and tortie's audit-mode fields (felixconfig.md §1-§2, Calico Enterprise's names).

``PARAMETERS`` is the one table of them: JSON and Go names, Go type, the validator's
checks (validator.go: field tags and validateFelixConfigSpec) and the CRD's
(api/config/crd/projectcalico.org_felixconfigurations.yaml), the agent's default and
whether the agent acts on it. The spec struct is generated from it; the effective
configuration (tortie/config) reads ``default``, ``kind``, ``choices`` and ``check``.

A resource keeps a value as written (``chainInsertMode: append``); ``Param.check`` gives
the value as the agent uses it, checked the way Felix parses it (enums in any case).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable

from .errors import ResourceError
from .resource import Resource
from .schema import (BOOL, DURATION, INT, PORT, STRING, UINT16, UINT32, UINT8_OR_STRING, Checker, Decoder, GoType, List,
                     Map, Omit, Struct, StructType, field, join, struct)
from .rule import check_ports
from .values import (IFACE_FILTER, INTERFACE, invalid, is_cidr, is_dns_label, is_interface, is_name, parse_cidr_or_ip,
                     parse_ip, port_bounds)

Rule = Callable[[Checker, str, "Param", Any], None]
SEVERITIES = ("Trace", "Debug", "Info", "Warning", "Error", "Fatal")


# --- nested structs ----------------------------------------------------------------------

@struct
class ProtoPort(Struct):
    protocol: str | None = field("protocol", STRING)
    port: int | None = field("port", UINT16, omit=Omit.NEVER)
    net: str | None = field("net", STRING)


@struct
class HealthTimeoutOverride(Struct):
    name: str | None = field("name", STRING, omit=Omit.NEVER)
    timeout: str | None = field("timeout", DURATION, omit=Omit.NEVER)

    def check(self, c: Checker, at: str) -> None:
        if not re.fullmatch("[a-zA-Z0-9_ -]+", self.name or ""):
            c.error("HealthTimeoutOverride.Name", self.encode(), "name should match regex ^[a-zA-Z0-9_ -]+$")
        if (self.timeout or "").startswith("-"):
            c.error("HealthTimeoutOverride.Timeout", self.encode(), "Timeout should not be negative")


@struct
class RouteTableRange(Struct):
    min: int | None = field("min", INT, omit=Omit.NEVER)
    max: int | None = field("max", INT, omit=Omit.NEVER)

    def check(self, c: Checker, at: str) -> None:
        lo, hi = self.min or 0, self.max or 0
        if not (lo >= 1 and hi >= lo and hi <= 250):
            c.error("RouteTableRange", self.encode(), "must be a range of route table indices within 1..250")


@struct
class RouteTableIDRange(Struct):
    min: int | None = field("min", INT, omit=Omit.NEVER)
    max: int | None = field("max", INT, omit=Omit.NEVER)

    def check(self, c: Checker, at: str) -> None:
        lo, hi = self.min or 0, self.max or 0
        if lo > hi:
            c.error("RouteTableRange", self.encode(), "min value cannot be greater than max value")
        if lo <= 0:
            c.error("RouteTableRange", self.encode(), "cannot target indices < 1")
        if hi > 0xFFFFFFFF:
            c.error("RouteTableRange", self.encode(), "max index too high")


_CONNTRACK_TIMEOUT = "^(([0-9]*(\\.[0-9]*)?(ms|s|h|m|us)+)+|Auto)$"


@struct
class BPFConntrackTimeouts(Struct):
    creation_grace_period: str | None = field("creationGracePeriod", STRING, omit=Omit.POINTER)
    tcp_syn_sent: str | None = field("tcpSynSent", STRING, go="TCPSynSent", omit=Omit.POINTER)
    tcp_established: str | None = field("tcpEstablished", STRING, go="TCPEstablished", omit=Omit.POINTER)
    tcp_fins_seen: str | None = field("tcpFinsSeen", STRING, go="TCPFinsSeen", omit=Omit.POINTER)
    tcp_reset_seen: str | None = field("tcpResetSeen", STRING, go="TCPResetSeen", omit=Omit.POINTER)
    udp_timeout: str | None = field("udpTimeout", STRING, go="UDPTimeout", omit=Omit.POINTER)
    generic_timeout: str | None = field("genericTimeout", STRING, omit=Omit.POINTER)
    icmp_timeout: str | None = field("icmpTimeout", STRING, go="ICMPTimeout", omit=Omit.POINTER)

    def check(self, c: Checker, at: str) -> None:
        for info in self.fields_info():
            c.pattern(join(at, info.json), getattr(self, info.attr), _CONNTRACK_TIMEOUT)


# --- the parameter table -------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Param:
    """One FelixConfiguration field.

    ``rules`` are the validator's then the CRD's checks of a value (``omit`` decides when a
    value counts as set); ``agent`` checks a value as the agent reads it and returns its
    canonical form; ``implemented`` is False for the parameters the agent stores and ignores.
    """

    name: str
    type: GoType
    go: str = ""
    omit: Omit = Omit.POINTER
    rules: tuple[Rule, ...] = ()
    default: Any = None
    implemented: bool = False
    choices: tuple[str, ...] = ()
    agent: Callable[[Any], Any] | None = None

    @property
    def go_name(self) -> str:
        return self.go or self.name[:1].upper() + self.name[1:]

    @property
    def kind(self) -> str:
        """bool, int, duration, enum, string, port, portlist, protoports, cidrs (a list of
        strings) or struct: how a file or environment value is read (tortie/config)."""
        if self.choices:
            return "enum"
        t = self.type
        if isinstance(t, List):
            item = t.item
            if isinstance(item, StructType):
                return "protoports" if item.cls is ProtoPort else "struct"
            return "portlist" if item is PORT else "cidrs"
        return {BOOL: "bool", DURATION: "duration", STRING: "string", PORT: "port"}.get(
            t, "int" if t.go.startswith(("int", "uint")) else "struct")

    def set(self, value: Any) -> bool:
        """Whether a decoded value is present in the resource (json.Marshal would print it)."""
        if self.omit is Omit.NEVER:
            return True
        if value is None:
            return False
        return self.omit is Omit.POINTER or value not in ("", 0, False, [], {})

    def check(self, value: Any) -> Any:
        """A value as the agent uses it. Raises the ``invalid`` error with the reason."""
        d = Decoder()
        try:
            decoded = self.type.decode(value, "", self.name, d)
        except ResourceError as exc:
            raise invalid(str(exc)) from None
        if d.saved is not None:
            raise invalid(str(d.saved))
        if decoded is None:
            raise invalid("value is not set")
        c = Checker()
        self.apply(c, "spec", decoded)
        if c.errors():
            raise invalid(c.errors()[0].reason)
        decoded = _plain(decoded)
        if self.choices:
            decoded = _canonical(decoded, self.choices)
        return self.agent(decoded) if self.agent is not None else decoded

    def apply(self, c: Checker, at: str, value: Any) -> None:
        if value is None and self.omit is Omit.NEVER:
            value = self.type.zero
        if not self.set(value):
            return
        for rule in self.rules:
            rule(c, at, self, value)
        if isinstance(value, Struct):
            value.check(c, join(at, self.name))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, Struct):
                    item.check(c, join(join(at, self.name), i))


def _plain(value: Any) -> Any:
    if isinstance(value, Struct):
        return value.encode()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _canonical(value: Any, choices: tuple[str, ...]) -> Any:
    """Felix reads enumerated values in any case."""
    for choice in choices:
        if isinstance(value, str) and choice.lower() == value.lower():
            return choice
    raise invalid("must be one of " + ", ".join(choices))


# --- validator rules (tags report the field's Go name) ----------------------------------------

def tag(test: Callable[[Any], bool], name: str) -> Rule:
    def rule(c: Checker, at: str, p: Param, value: Any) -> None:
        if not test(value):
            c.tag(p.go_name, value, name)
    return rule


def oneof(*choices: str, name: str = "oneof") -> Rule:
    """An exact-case choice: Go's ``oneof`` tag, or one of Calico's own tags (``name``)."""
    return tag(lambda v: v in choices, name)


def between(lo: int | None = None, hi: int | None = None, lo_open: bool = False, hi_open: bool = False) -> Rule:
    """gte/gt and lte/lt tags."""
    def rule(c: Checker, at: str, p: Param, value: Any) -> None:
        if lo is not None and (value <= lo if lo_open else value < lo):
            c.tag(p.go_name, value, "gt" if lo_open else "gte")
        elif hi is not None and (value >= hi if hi_open else value > hi):
            c.tag(p.go_name, value, "lt" if hi_open else "lte")
    return rule


def regexp_valid(text: str) -> bool:
    """Go's regexp.Compile (RE2): no look-around, back-references or atomic groups."""
    if re.search(r"\(\?(?:[=!>(]|<[=!])|\\[1-9]", text):
        return False
    try:
        re.compile(text)
    except re.error:
        return False
    return True


_KEY_VALUE = re.compile(r"\s*(\w+)=(.*)", re.ASCII)


def key_value_list(text: str) -> bool:
    return not text.strip() or all(not item or _KEY_VALUE.fullmatch(item) for item in text.split(","))


def ports_rule(c: Checker, at: str, p: Param, value: Any) -> None:
    check_ports(c, value)


def port_rule(c: Checker, at: str, p: Param, value: Any) -> None:
    check_ports(c, [value])


# --- CRD rules (report the JSON path) -----------------------------------------------------------

def pattern(regex: str) -> Rule:
    def rule(c: Checker, at: str, p: Param, value: Any) -> None:
        c.pattern(join(at, p.name), value, regex)
    return rule


def enum(*choices: str) -> Rule:
    def rule(c: Checker, at: str, p: Param, value: Any) -> None:
        c.enum(join(at, p.name), value, choices)
    return rule


def minimum(n: int) -> Rule:
    def rule(c: Checker, at: str, p: Param, value: Any) -> None:
        c.minimum(join(at, p.name), value, n)
    return rule


def maximum(n: int) -> Rule:
    def rule(c: Checker, at: str, p: Param, value: Any) -> None:
        c.maximum(join(at, p.name), value, n)
    return rule


def max_length(n: int) -> Rule:
    def rule(c: Checker, at: str, p: Param, value: Any) -> None:
        c.max_length(join(at, p.name), value, n)
    return rule


# The CRD's duration pattern. Its doubled backslash makes the fraction match a literal
# backslash, so "1.5s" is refused; normalised durations such as "1m30s" pass.
DURATION_PATTERN = pattern("^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))*$")


# --- the agent's readings (Felix's parameter checks) ---------------------------------------------

def agent_int(lo: int, hi: int) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not lo <= value <= hi:
            raise invalid(f"must be {lo}-{hi}")
        return value
    return check


def agent_regex(regex: str, reason: str) -> Callable[[Any], Any]:
    compiled = re.compile(regex)

    def check(value: Any) -> Any:
        if not compiled.fullmatch(value):
            raise invalid(reason)
        return value
    return check


def agent_proto_ports(value: Any) -> Any:
    out = []
    for entry in value:
        proto = (entry.get("protocol") or "TCP").upper()
        if proto not in ("TCP", "UDP"):
            raise invalid(f"protocol must be TCP or UDP, not {entry.get('protocol')}")
        out.append({"protocol": proto, "port": entry["port"]})
    return out


def agent_mark_mask(value: Any) -> Any:
    if bin(value).count("1") < 5:
        raise invalid("must have at least 5 bits set")
    return value


def agent_interface_exclude(value: Any) -> Any:
    for part in (p.strip() for p in value.split(",")):
        if len(part) > 1 and part.startswith("/") and part.endswith("/"):
            if not regexp_valid(part[1:-1]):
                raise invalid(f"invalid regular expression {part}")
        elif not re.fullmatch(r"[A-Za-z0-9_.:-]{1,15}", part):
            raise invalid(f"invalid interface name {part}")
    return value


def agent_host(value: Any) -> Any:
    if is_name(value.lower()) or parse_ip(value) is not None:
        return value
    raise invalid("must be a host name or an IP address")


def agent_numeric_port(value: Any) -> Any:
    if port_bounds(value) is None:
        raise invalid("named ports are not allowed")
    return value


def agent_numeric_ports(value: Any) -> Any:
    return [agent_numeric_port(v) for v in value]


def agent_cidrs(value: Any) -> Any:
    for v in value:
        if not is_cidr(v):
            raise invalid(f"invalid CIDR {v}")
    return value


# --- builders --------------------------------------------------------------------------------

def flag(name: str, default: bool | None = None, implemented: bool = False, go: str = "") -> Param:
    return Param(name, BOOL, go, Omit.POINTER, (), default, implemented)


def number(name: str, *rules: Rule, default: int | None = None, implemented: bool = False, go: str = "",
           type_: GoType = INT, agent: Callable[[Any], Any] | None = None) -> Param:
    return Param(name, type_, go, Omit.POINTER, rules, default, implemented, (), agent)


def duration(name: str, default: str | None = None, implemented: bool = False, go: str = "",
             crd: bool = True) -> Param:
    return Param(name, DURATION, go, Omit.POINTER, (DURATION_PATTERN,) if crd else (), default, implemented)


def text(name: str, *rules: Rule, default: str | None = None, implemented: bool = False, go: str = "",
         pointer: bool = False, choices: tuple[str, ...] = (), agent: Callable[[Any], Any] | None = None) -> Param:
    return Param(name, STRING, go, Omit.POINTER if pointer else Omit.EMPTY, rules, default, implemented, choices,
                 agent)


def choice(name: str, choices: tuple[str, ...], *rules: Rule, pointer: bool = True, default: str | None = None,
           implemented: bool = False, go: str = "") -> Param:
    """A string enum: the agent reads it in any case and uses the canonical spelling."""
    return Param(name, STRING, go, Omit.POINTER if pointer else Omit.EMPTY, rules, default, implemented, choices)


def strings(name: str, *rules: Rule, go: str = "", agent: Callable[[Any], Any] | None = None) -> Param:
    return Param(name, List(STRING), go, Omit.POINTER, rules, agent=agent)


def _failsafe(name: str, ports: list[tuple[str, int]]) -> Param:
    return Param(name, List(StructType(ProtoPort)), "", Omit.POINTER, (),
                 [{"protocol": p, "port": n} for p, n in ports], True, agent=agent_proto_ports)


def _iface_filters(value: Any) -> bool:
    return all(IFACE_FILTER.fullmatch(v) for v in value)


def _log_filters(value: Any) -> bool:
    return all(INTERFACE.fullmatch(k) for k in value)


LOG_LEVEL = (oneof(*SEVERITIES, name="logLevel"), pattern("^(?i)(Trace|Debug|Info|Warning|Error|Fatal)?$"))
ACCEPT_RETURN = (oneof("Accept", "Return", name="acceptReturn"), pattern("^(?i)(Accept|Return)?$"))
DROP_REJECT = (oneof("Drop", "Reject", name="dropReject"), pattern("^(?i)(Drop|Reject)?$"))
ROUTE_PRIORITY = between(1, 2147483646)
ENABLED = ("Enabled", "Disabled")

CALICO: list[Param] = [
    text("nodeSelector", max_length(1024), pointer=True),
    flag("useInternalDataplaneDriver"),
    text("dataplaneDriver"),
    duration("dataplaneWatchdogTimeout", crd=False),
    flag("ipv6Support", True, True, go="IPv6Support"),
    duration("routeRefreshInterval"),
    duration("interfaceRefreshInterval"),
    duration("iptablesRefreshInterval", "1m30s", True),
    duration("iptablesPostWriteCheckInterval", "1s", True),
    duration("iptablesLockProbeInterval"),
    text("featureDetectOverride", tag(key_value_list, "keyValueList"),
         pattern("^([a-zA-Z0-9-_]+=(true|false|),)*([a-zA-Z0-9-_]+=(true|false|))?$")),
    text("featureGates", tag(key_value_list, "keyValueList"),
         pattern("^([a-zA-Z0-9-_]+=([^=]+),)*([a-zA-Z0-9-_]+=([^=]+))?$")),
    duration("ipsetsRefreshInterval", "10s", True),
    number("maxIpsetSize", default=1048576, implemented=True, agent=agent_int(1, 2**31)),
    choice("iptablesBackend", ("NFT", "Legacy", "Auto"), oneof("Legacy", "NFT", "Auto", name="iptablesBackend"),
           enum("Legacy", "NFT", "Auto"), pattern("^(?i)(Auto|Legacy|NFT)?$"), default="NFT", implemented=True),
    duration("xdpRefreshInterval", go="XDPRefreshInterval"),
    duration("netlinkTimeout"),
    text("metadataAddr"),
    number("metadataPort"),
    text("openstackRegion"),
    text("interfacePrefix", default="cali", implemented=True,
         agent=agent_regex(r"[A-Za-z0-9_-]{1,15}(,[A-Za-z0-9_-]{1,15})*",
                           "must be a comma list of [A-Za-z0-9_-]{1,15}")),
    text("interfaceExclude", default="kube-ipvs0", implemented=True, agent=agent_interface_exclude),
    choice("chainInsertMode", ("Insert", "Append"), pattern("^(?i)(Insert|Append)?$"), pointer=False,
           default="Insert", implemented=True),
    choice("defaultEndpointToHostAction", ("Drop", "Accept", "Return"),
           oneof("Drop", "Accept", "Return", name="dropAcceptReturn"), pattern("^(?i)(Drop|Accept|Return)?$"),
           pointer=False, default="Drop", implemented=True),
    choice("iptablesFilterAllowAction", ("Accept", "Return"), *ACCEPT_RETURN, pointer=False, default="Accept",
           implemented=True),
    choice("iptablesMangleAllowAction", ("Accept", "Return"), *ACCEPT_RETURN, pointer=False, default="Accept",
           implemented=True),
    choice("iptablesFilterDenyAction", ("Drop", "Reject"), *DROP_REJECT, pointer=False),
    text("logPrefix", pattern("^([a-zA-Z0-9%: /_-])*$"), default="calico-packet", implemented=True),
    text("logActionRateLimit", pattern("^[1-9]\\d{0,3}/(?:second|minute|hour|day)$"), pointer=True,
         implemented=True),
    number("logActionRateLimitBurst", minimum(0), maximum(9999), default=5, implemented=True),
    text("logFilePath", default="none", implemented=True),
    choice("logSeverityFile", SEVERITIES, *LOG_LEVEL, pointer=False, default="Info", implemented=True),
    choice("logSeverityScreen", SEVERITIES, *LOG_LEVEL, pointer=False, default="Info", implemented=True),
    choice("logSeveritySys", SEVERITIES, *LOG_LEVEL, pointer=False),
    text("logDebugFilenameRegex", tag(regexp_valid, "regexp")),
    flag("ipipEnabled", go="IPIPEnabled"),
    number("ipipMTU", go="IPIPMTU"),
    flag("vxlanEnabled", go="VXLANEnabled"),
    number("vxlanMTU", go="VXLANMTU"),
    number("vxlanMTUV6", go="VXLANMTUV6"),
    number("vxlanPort", go="VXLANPort"),
    number("vxlanVNI", go="VXLANVNI"),
    flag("allowVXLANPacketsFromWorkloads"),
    flag("allowIPIPPacketsFromWorkloads"),
    duration("reportingInterval"),
    duration("reportingTTL"),
    flag("endpointReportingEnabled"),
    duration("endpointReportingDelay"),
    text("endpointStatusPathPrefix"),
    number("iptablesMarkMask", type_=UINT32, default=0xFFFF0000, implemented=True, agent=agent_mark_mask),
    flag("disableConntrackInvalidCheck", False, True),
    flag("healthEnabled", False, True),
    text("healthHost", pointer=True, default="localhost", implemented=True, agent=agent_host),
    number("healthPort", default=9099, implemented=True, agent=agent_int(0, 65535)),
    Param("healthTimeoutOverrides", List(StructType(HealthTimeoutOverride)), omit=Omit.EMPTY),
    flag("prometheusMetricsEnabled", False, True),
    text("prometheusMetricsHost", tag(lambda v: re.fullmatch("[a-zA-Z0-9:._+-]{1,64}", v) is not None,
                                      "prometheusHost")),
    number("prometheusMetricsPort", default=9091, implemented=True, agent=agent_int(0, 65535)),
    flag("prometheusGoMetricsEnabled", True, True),
    flag("prometheusProcessMetricsEnabled", True, True),
    flag("prometheusWireGuardMetricsEnabled"),
    text("prometheusMetricsCAFile", pointer=True, implemented=True),
    text("prometheusMetricsCertFile", pointer=True, implemented=True),
    text("prometheusMetricsKeyFile", pointer=True, implemented=True),
    choice("prometheusMetricsClientAuth", ("RequireAndVerifyClientCert", "RequireAnyClientCert",
                                           "VerifyClientCertIfGiven", "NoClientCert"),
           oneof("RequireAndVerifyClientCert", "RequireAnyClientCert", "VerifyClientCertIfGiven", "NoClientCert")),
    _failsafe("failsafeInboundHostPorts", [("TCP", 22), ("UDP", 68), ("TCP", 179), ("TCP", 2379), ("TCP", 2380),
                                           ("TCP", 6666), ("TCP", 6667)]),
    _failsafe("failsafeOutboundHostPorts", [("UDP", 53), ("UDP", 67), ("TCP", 179), ("TCP", 2379), ("TCP", 2380),
                                            ("TCP", 6666), ("TCP", 6667)]),
    Param("kubeNodePortRanges", List(PORT), rules=(ports_rule,), agent=agent_numeric_ports),
    text("policySyncPathPrefix"),
    flag("usageReportingEnabled"),
    duration("usageReportingInitialDelay"),
    duration("usageReportingInterval"),
    Param("natPortRange", PORT, go="NATPortRange", rules=(port_rule,), agent=agent_numeric_port),
    text("natOutgoingAddress", go="NATOutgoingAddress"),
    choice("natOutgoingExclusions", ("IPPoolsOnly", "IPPoolsAndHostIPs"), oneof("IPPoolsOnly", "IPPoolsAndHostIPs"),
           enum("IPPoolsOnly", "IPPoolsAndHostIPs"), go="NATOutgoingExclusions"),
    text("deviceRouteSourceAddress"),
    text("deviceRouteSourceAddressIPv6", go="DeviceRouteSourceAddressIPv6"),
    number("deviceRouteProtocol"),
    flag("removeExternalRoutes"),
    choice("programClusterRoutes", ENABLED, enum(*ENABLED)),
    choice("ipForwarding", ENABLED, enum(*ENABLED), pointer=False, go="IPForwarding"),
    strings("externalNodesList", go="ExternalNodesCIDRList", agent=agent_cidrs),
    text("debugMemoryProfilePath"),
    flag("debugDisableLogDropping"),
    duration("debugSimulateCalcGraphHangAfter"),
    duration("debugSimulateDataplaneHangAfter"),
    duration("debugSimulateDataplaneApplyDelay"),
    text("debugHost", pointer=True),
    number("debugPort", between(0, 65535)),
    text("iptablesNATOutgoingInterfaceFilter", tag(lambda v: IFACE_FILTER.fullmatch(v) is not None, "ifaceFilter"),
         go="IptablesNATOutgoingInterfaceFilter"),
    flag("sidecarAccelerationEnabled"),
    flag("xdpEnabled", go="XDPEnabled"),
    flag("genericXDPEnabled", go="GenericXDPEnabled"),
    choice("nftablesMode", ("Disabled", "Enabled", "Auto"), enum("Disabled", "Enabled", "Auto"),
           go="NFTablesMode"),
    duration("nftablesRefreshInterval", crd=False),
    choice("nftablesFilterAllowAction", ("Accept", "Return"), *ACCEPT_RETURN, pointer=False),
    choice("nftablesMangleAllowAction", ("Accept", "Return"), *ACCEPT_RETURN, pointer=False),
    choice("nftablesFilterDenyAction", ("Drop", "Reject"), *DROP_REJECT, pointer=False),
    number("nftablesMarkMask", type_=UINT32),
    flag("bpfEnabled", go="BPFEnabled"),
    flag("bpfDisableUnprivileged", go="BPFDisableUnprivileged"),
    choice("bpfJITHardening", ("Auto", "Strict"), oneof("Auto", "Strict"), enum("Auto", "Strict"),
           go="BPFJITHardening"),
    Param("bpfLogLevel", STRING, "BPFLogLevel", Omit.NEVER,
          (tag(lambda v: v in ("", "Debug", "Info", "Off"), "bpfLogLevel"), pattern("^(?i)(Off|Info|Debug)?$")),
          choices=("", "Off", "Info", "Debug")),
    choice("bpfConntrackLogLevel", ("Off", "Debug"), oneof("Off", "Debug"), enum("Off", "Debug"), pointer=False,
           go="BPFConntrackLogLevel"),
    choice("bpfConntrackMode", ("Auto", "Userspace", "BPFProgram"), oneof("Auto", "Userspace", "BPFProgram"),
           enum("Auto", "Userspace", "BPFProgram"), go="BPFConntrackCleanupMode"),
    Param("bpfConntrackTimeouts", StructType(BPFConntrackTimeouts), "BPFConntrackTimeouts"),
    Param("bpfLogFilters", Map(STRING), "BPFLogFilters", rules=(tag(_log_filters, "bpfLogFilters"),)),
    text("bpfCTLBLogFilter", go="BPFCTLBLogFilter"),
    text("bpfDataIfacePattern", tag(regexp_valid, "regexp"), go="BPFDataIfacePattern"),
    text("bpfL3IfacePattern", tag(regexp_valid, "regexp"), go="BPFL3IfacePattern"),
    flag("bpfConnectTimeLoadBalancingEnabled", go="BPFConnectTimeLoadBalancingEnabled"),
    choice("bpfConnectTimeLoadBalancing", ("TCP", "Enabled", "Disabled"), oneof("TCP", "Enabled", "Disabled"),
           enum("TCP", "Enabled", "Disabled"), go="BPFConnectTimeLoadBalancing"),
    choice("bpfHostNetworkedNATWithoutCTLB", ENABLED, oneof(*ENABLED), enum(*ENABLED),
           go="BPFHostNetworkedNATWithoutCTLB"),
    choice("bpfExternalServiceMode", ("Tunnel", "DSR"), oneof("Tunnel", "DSR", name="bpfServiceMode"),
           pattern("^(?i)(Tunnel|DSR)?$"), pointer=False, go="BPFExternalServiceMode"),
    strings("bpfDSROptoutCIDRs", tag(lambda v: all(is_cidr(x) for x in v), "cidrs"), go="BPFDSROptoutCIDRs"),
    number("bpfExtToServiceConnmark", between(0, 4294967295), go="BPFExtToServiceConnmark"),
    flag("bpfKubeProxyIptablesCleanupEnabled", go="BPFKubeProxyIptablesCleanupEnabled"),
    duration("bpfKubeProxyMinSyncPeriod", go="BPFKubeProxyMinSyncPeriod"),
    number("bpfKubeProxyHealthzPort", between(0, 65535), go="BPFKubeProxyHealthzPort"),
    Param("bpfPSNATPorts", PORT, "BPFPSNATPorts", rules=(port_rule,)),
    number("bpfMapSizeNATFrontend", go="BPFMapSizeNATFrontend"),
    number("bpfMapSizeNATBackend", go="BPFMapSizeNATBackend"),
    number("bpfMapSizeNATAffinity", go="BPFMapSizeNATAffinity"),
    number("bpfMapSizeRoute", go="BPFMapSizeRoute"),
    number("bpfMapSizeConntrack", go="BPFMapSizeConntrack"),
    number("bpfMapSizePerCpuConntrack", go="BPFMapSizePerCPUConntrack"),
    choice("bpfMapSizeConntrackScaling", ("Disabled", "DoubleIfFull"), pattern("^(?i)(Disabled|DoubleIfFull)?$"),
           pointer=False, go="BPFMapSizeConntrackScaling"),
    number("bpfMapSizeConntrackCleanupQueue", between(1), minimum(1), go="BPFMapSizeConntrackCleanupQueue"),
    number("bpfMapSizeIPSets", go="BPFMapSizeIPSets"),
    number("bpfMapSizeIfState", go="BPFMapSizeIfState"),
    flag("bpfHostConntrackBypass", go="BPFHostConntrackBypass"),
    choice("bpfEnforceRPF", ("Disabled", "Strict", "Loose"), pattern("^(?i)(Disabled|Strict|Loose)?$"),
           pointer=False, go="BPFEnforceRPF"),
    flag("bpfPolicyDebugEnabled", go="BPFPolicyDebugEnabled"),
    strings("bpfForceTrackPacketsFromIfaces", tag(_iface_filters, "ifaceFilterSlice"),
            go="BPFForceTrackPacketsFromIfaces"),
    text("bpfDisableGROForIfaces", tag(regexp_valid, "regexp"), go="BPFDisableGROForIfaces"),
    strings("bpfExcludeCIDRsFromNAT", tag(lambda v: all(is_cidr(x) for x in v), "cidrs"),
            go="BPFExcludeCIDRsFromNAT"),
    # Calico's tag ("cidrs" on an integer) makes its validator panic on any value; tortie takes any integer.
    number("bpfExportBufferSizeMB", go="BPFExportBufferSizeMB"),
    choice("istioAmbientMode", ENABLED, enum(*ENABLED)),
    Param("istioDSCPMark", UINT8_OR_STRING, "IstioDSCPMark"),
    text("cgroupV2Path"),
    choice("flowLogsPolicyEvaluationMode", ("None", "Continuous"), enum("None", "Continuous"), default="Continuous",
           implemented=True),
    choice("bpfRedirectToPeer", ENABLED, enum(*ENABLED), pointer=False, go="BPFRedirectToPeer"),
    choice("bpfAttachType", ("TC", "TCX"), oneof("TC", "TCX"), enum("TC", "TCX"), go="BPFAttachType"),
    duration("flowLogsFlushInterval", "10s", True),
    flag("flowLogsCollectorDebugTrace"),
    text("flowLogsGoldmaneServer", pointer=True),
    choice("flowLogsLocalReporter", ("Disabled", "Enabled"), enum("Disabled", "Enabled")),
    choice("bpfProfiling", ENABLED, enum(*ENABLED), pointer=False, go="BPFProfiling"),
    text("routeSource", tag(regexp_valid, "routeSource"), pattern("^(?i)(WorkloadIPs|CalicoIPAM)?$")),
    Param("routeTableRanges", List(StructType(RouteTableIDRange))),
    Param("routeTableRange", StructType(RouteTableRange)),
    flag("routeSyncDisabled"),
    number("ipv4NormalRoutePriority", ROUTE_PRIORITY, go="IPv4NormalRoutePriority"),
    number("ipv4ElevatedRoutePriority", ROUTE_PRIORITY, go="IPv4ElevatedRoutePriority"),
    number("ipv6NormalRoutePriority", ROUTE_PRIORITY, go="IPv6NormalRoutePriority"),
    number("ipv6ElevatedRoutePriority", ROUTE_PRIORITY, go="IPv6ElevatedRoutePriority"),
    Param("liveMigrationRouteConvergenceTime", DURATION, rules=(pattern("^([0-9]+(\\.[0-9]+)?(ms|s|m|h))*$"),)),
    flag("wireguardEnabled"),
    flag("wireguardEnabledV6"),
    flag("wireguardThreadingEnabled"),
    number("wireguardListeningPort", between(0, 65535, lo_open=True)),
    number("wireguardListeningPortV6", between(0, 65535, lo_open=True)),
    number("wireguardRoutingRulePriority", between(0, 32766, lo_open=True, hi_open=True)),
    text("wireguardInterfaceName", tag(is_interface, "interface")),
    text("wireguardInterfaceNameV6", tag(is_interface, "interface")),
    number("wireguardMTU", go="WireguardMTU"),
    number("wireguardMTUV6", go="WireguardMTUV6"),
    flag("wireguardHostEncryptionEnabled"),
    duration("wireguardKeepAlive", go="WireguardPersistentKeepAlive"),
    choice("awsSrcDstCheck", ("DoNothing", "Enable", "Disable"), oneof("DoNothing", "Enable", "Disable"),
           enum("DoNothing", "Enable", "Disable"), go="AWSSrcDstCheck"),
    choice("serviceLoopPrevention", ("Drop", "Reject", "Disabled"), oneof("Drop", "Reject", "Disabled"),
           pattern("^(?i)(Drop|Reject|Disabled)?$"), pointer=False),
    choice("workloadSourceSpoofing", ("Disabled", "Any"), oneof("Disabled", "Any"),
           pattern("^(?i)(Disabled|Any)?$"), pointer=False, default="Disabled", implemented=True),
    text("mtuIfacePattern", tag(regexp_valid, "regexp"), go="MTUIfacePattern"),
    choice("floatingIPs", ENABLED, enum(*ENABLED), go="FloatingIPs"),
    choice("windowsManageFirewallRules", ENABLED, oneof(*ENABLED), enum(*ENABLED)),
    number("goGCThreshold", between(-1), go="GoGCThreshold"),
    number("goMemoryLimitMB", between(-1), go="GoMemoryLimitMB"),
    number("goMaxProcs", between(-1)),
    flag("requireMTUFile", go="RequireMTUFile"),
    number("bpfMaglevMaxEndpointsPerService", between(0, 3000, lo_open=True), go="BPFMaglevMaxEndpointsPerService"),
    number("bpfMaglevMaxServices", between(0, 3000, lo_open=True), go="BPFMaglevMaxServices"),
]

# Calico Enterprise's fields that tortie implements (audit mode, denied-packet metrics,
# flow logs) or stores (felixconfig.md §1-§2). calicoctl v3.32 does not know them.
ENTERPRISE: list[Param] = [
    choice("dropActionOverride", ("Drop", "Accept", "LogAndDrop", "LogAndAccept"),
           oneof("Drop", "Accept", "LogAndDrop", "LogAndAccept"), default="Drop", implemented=True),
    flag("logDropActionOverride", False, True),
    flag("prometheusReporterEnabled", False, True),
    number("prometheusReporterPort", default=9092, implemented=True, agent=agent_int(1, 65535)),
    text("prometheusReporterCertFile", pointer=True, implemented=True),
    text("prometheusReporterKeyFile", pointer=True, implemented=True),
    text("prometheusReporterCAFile", pointer=True, implemented=True),
    number("deletedMetricsRetentionSecs", between(0, 86400), default=30, implemented=True),
    flag("flowLogsFileEnabled", False, True),
    text("flowLogsFileDirectory", pointer=True, default="/var/log/calico/flowlogs", implemented=True),
    number("flowLogsFileMaxFiles", between(0), default=5, implemented=True),
    number("flowLogsFileMaxFileSizeMB", between(0), default=100, implemented=True),
    number("flowLogsFileAggregationKindForAllowed", between(0, 2), default=2, implemented=True),
    number("flowLogsFileAggregationKindForDenied", between(0, 2), default=1, implemented=True),
    flag("flowLogsFileIncludeLabels", False, True),
    flag("flowLogsFileIncludePolicies", False, True),
    *[flag(name) for name in (
        "ignoreLooseRPF ipsecAllowUnsecuredTraffic flowLogsEnableHostEndpoint flowLogsEnableNetworkSets "
        "cloudWatchLogsReporterEnabled "
        "cloudWatchLogsIncludeLabels cloudWatchMetricsReporterEnabled cloudWatchNodeHealthStatusEnabled").split()],
    *[duration(name, crd=False) for name in (
        "iptablesLockTimeout ipsecPolicyRefreshInterval cloudWatchLogsFlushInterval").split()],
    *[number(name, between(0)) for name in (
        "cloudWatchLogsRetentionDays cloudWatchMetricsPushIntervalSecs cloudWatchNodeHealthPushIntervalSecs").split()],
    *[number(name, between(0, 2)) for name in (
        "cloudWatchLogsAggregationKindForAllowed cloudWatchLogsAggregationKindForDenied").split()],
    *[text(name, pointer=True) for name in (
        "iptablesLockFilePath ipsecMode ipsecIKEAlgorithm ipsecESPAlgorithm cloudWatchLogsLogGroupName "
        "nfNetlinkBufSize statsDumpFilePath syslogReporterNetwork syslogReporterAddress").split()],
    choice("ipsecLogLevel", ("None", "Notice", "Info", "Debug", "Verbose"),
           oneof("None", "Notice", "Info", "Debug", "Verbose")),
]

PARAMETERS: dict[str, Param] = {p.name: p for p in CALICO + ENTERPRISE}
_REGION_PREFIX = "openstack-region-"


def check_spec(c: Checker, spec: Any) -> None:
    """validateFelixConfigSpec and the CRD's rule on the spec."""
    ranges = spec.kubeNodePortRanges
    if ranges is not None:
        if len(ranges) > 7:
            c.error("KubeNodePortRanges", ranges, "node port ranges list is too long (max 7)")
        for port in ranges:
            if port_bounds(port) is None:
                c.error("KubeNodePortRanges", ranges, "node port ranges should not contain named ports")
    for cidr in spec.externalNodesList or []:
        parsed = parse_cidr_or_ip(cidr)
        if parsed is None:
            c.error("ExternalNodesCIDRList", cidr, "has invalid CIDR(s)")
        elif parsed[1].version != 4:
            c.error("ExternalNodesCIDRList", cidr, "has invalid IPv6 CIDR")
    region = spec.openstackRegion or ""
    if len(region) > 63 - len(_REGION_PREFIX):
        c.error("OpenstackRegion", region, "is too long")
    elif region and not is_dns_label(region):
        c.error("OpenstackRegion", region, "must be a valid DNS label")
    for go, value, version in (("NATOutgoingAddress", spec.natOutgoingAddress, 4),
                               ("DeviceRouteSourceAddress", spec.deviceRouteSourceAddress, 4),
                               ("DeviceRouteSourceAddressIPv6", spec.deviceRouteSourceAddressIPv6, 6)):
        ip = parse_ip(value) if value else None
        if value and (ip is None or ip.version != version):
            c.error(go, value, f"is not a valid IPv{version} address")
    if spec.routeTableRange is not None and spec.routeTableRanges is not None:
        c.error("RouteTableRange", spec.routeTableRange.encode(), "cannot be set when `RouteTableRanges` is also set")
        c.schema("spec", "routeTableRange and routeTableRanges cannot both be set")
    if spec.routeTableRanges is not None:
        tables = sum((r.max or 0) - (r.min or 0) + 1 for r in spec.routeTableRanges)
        if tables > 0xFFFF:
            c.error("RouteTableRanges", [r.encode() for r in spec.routeTableRanges], "targets too many tables")


class _SpecBase(Struct):
    """The spec's constructor, written once for its hundreds of fields: the one dataclasses
    would generate takes milliseconds to compile at import, which every command would pay
    (``==`` and repr are Struct's, as for every struct). It behaves as the generated one."""

    __slots__ = ()

    def __init__(self, **values: Any) -> None:
        for name in PARAMETERS:  # the fields, in order
            setattr(self, name, values.pop(name, None))
        if values:
            raise TypeError(f"FelixConfigurationSpec has no field {next(iter(values))!r}")

    def check(self, c: Checker, at: str) -> None:
        for param in PARAMETERS.values():
            param.apply(c, at, getattr(self, param.name))
        check_spec(c, self)


FelixConfigurationSpec: type[Struct] = dataclasses.make_dataclass(
    "FelixConfigurationSpec",
    [(p.name, Any, field(p.name, p.type, go=p.go_name, omit=p.omit)) for p in PARAMETERS.values()],
    bases=(_SpecBase,), slots=True, init=False, repr=False, eq=False)


@struct
class FelixConfiguration(Resource):
    """``default`` holds global settings, ``node.<name>`` one node's (felixconfig.md)."""

    KIND = "FelixConfiguration"
    PLURAL = "felixconfigurations"
    NAMES = ("felixconfiguration", "felixconfigurations", "felixconfig", "felixconfigs")

    spec: Any = field("spec", FelixConfigurationSpec, omit=Omit.NEVER)

    def crd_defaults(self) -> None:
        if self.spec.nftablesMode is None:
            self.spec.nftablesMode = "Auto"

    def check(self, c: Checker, at: str) -> None:
        Resource.check(self, c, at)  # zero-argument super() fails in a slots dataclass
        name = self.name
        if (name == "default" or name.startswith("node.")) and self.spec.nodeSelector is not None:
            c.schema("FelixConfiguration", "nodeSelector must not be set on the 'default' or per-node ('node.*') "
                                           "FelixConfiguration")

