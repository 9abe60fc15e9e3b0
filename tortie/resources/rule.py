"""Rule and EntityRule (api/pkg/apis/projectcalico/v3/policy_common.go) and their checks
(validator.go validateRule, validateEntityRule, validateICMPFields, validateHTTPRule,
validatePort; the Rule rules of the policy CRDs)."""

from __future__ import annotations

import re

from ..core import TABLE
from .resource import check_annotations
from .schema import (INT, PORT, STRING, UINT8_OR_STRING, Checker, List, Map, Omit, Struct, StructType, field, join,
                     struct)
from .values import (is_name, is_net, is_port_name, only_global, parse_cidr, port_bounds, selector_problem,
                     supports_ports)

ACTIONS = ("Allow", "Deny", "Log", "Pass")  # RuleAction's values in the CRD's order, as its messages list them
PROTOCOL_NAMES = re.compile("|".join(p.name for p in TABLE))
GLOBAL = "global()"
GLOBAL_IN_ENTITY_RULE = "global() can only be used in an EntityRule namespaceSelector"
PORTS_NEED_PROTOCOL = "rules that specify ports must set protocol to TCP or UDP or SCTP"
NUMERIC_PORTS_NEED_PROTOCOL = "rules with numeric port or port range must set protocol to TCP or UDP or SCTP"


def check_selector(c: Checker, name: str, text: str | None) -> None:
    """The validator's ``selector`` tag (empty means none). A selector beyond tortie's own
    bounds, which Calico would take, is refused with the bound that it passes."""
    problem = selector_problem(text) if text else None
    if problem is None:
        return
    from ..selector import SelectorLimitError  # loaded with the selector compiler (values.selector_problem)
    if isinstance(problem, SelectorLimitError):
        c.error(name, text, f"invalid selector: {problem}")
    else:
        c.tag(name, text, "selector")


@struct
class ICMPFields(Struct):
    type: int | None = field("type", INT, omit=Omit.POINTER)
    code: int | None = field("code", INT, omit=Omit.POINTER)

    def check(self, c: Checker, at: str) -> None:
        for name, value, hi in (("Type", self.type, 254), ("Code", self.code, 255)):
            if value is not None and value < 0:
                c.tag(name, value, "gte")
            elif value is not None and value > hi:
                c.tag(name, value, "lte")
            c.minimum(join(at, name.lower()), value, 0)
            c.maximum(join(at, name.lower()), value, hi)
        if self.code is not None and self.type is None:
            c.error("Code", self.code, "ICMP code specified without an ICMP type")
            c.schema(at, "ICMP code specified without an ICMP type")


@struct
class HTTPPath(Struct):
    exact: str | None = field("exact", STRING)
    prefix: str | None = field("prefix", STRING)


@struct
class HTTPMatch(Struct):
    methods: list[str] | None = field("methods", List(STRING))
    paths: list[HTTPPath] | None = field("paths", List(StructType(HTTPPath)))

    def check(self, c: Checker, at: str) -> None:
        methods = self.methods or []
        if len(set(methods)) != len(methods):
            c.error("Methods", methods, f"Invalid methods (duplicates): [{' '.join(methods)}]")
        problem = _path_problem(self.paths or [])
        if problem:
            c.error("Paths", [p.encode() for p in self.paths or []], problem)
        c.max_items(join(at, "methods"), self.methods, 20)
        c.max_items(join(at, "paths"), self.paths, 20)
        for i, p in enumerate(self.paths or []):
            c.max_length(join(join(join(at, "paths"), i), "exact"), p.exact, 1024)
            c.max_length(join(join(join(at, "paths"), i), "prefix"), p.prefix, 1024)


def _path_problem(paths: list[HTTPPath]) -> str | None:
    for p in paths:
        if p.exact and p.prefix:
            return "Invalid path match. Both 'exact' and 'prefix' are set"
        value = p.exact or p.prefix
        if not value:
            return "Invalid path match. Either 'exact' or 'prefix' must be set"
        if not value.startswith("/") or any(ch in value for ch in "? #"):
            return f"Invalid path {value}. (must start with `/` and not contain `?` or `#`"
    return None


@struct
class ServiceMatch(Struct):
    name: str | None = field("name", STRING)
    namespace: str | None = field("namespace", STRING)

    def check(self, c: Checker, at: str) -> None:
        for go, value in (("Name", self.name), ("Namespace", self.namespace)):
            if value and not is_name(value):
                c.tag(go, value, "name")


@struct
class ServiceAccountMatch(Struct):
    names: list[str] | None = field("names", List(STRING))
    selector: str | None = field("selector", STRING)

    def check(self, c: Checker, at: str) -> None:
        check_selector(c, "Selector", self.selector)


@struct
class EntityRule(Struct):
    nets: list[str] | None = field("nets", List(STRING))
    selector: str | None = field("selector", STRING)
    namespace_selector: str | None = field("namespaceSelector", STRING)
    services: ServiceMatch | None = field("services", ServiceMatch, omit=Omit.POINTER)
    ports: list[int | str] | None = field("ports", List(PORT))
    not_nets: list[str] | None = field("notNets", List(STRING))
    not_selector: str | None = field("notSelector", STRING)
    not_ports: list[int | str] | None = field("notPorts", List(PORT))
    service_accounts: ServiceAccountMatch | None = field("serviceAccounts", ServiceAccountMatch, omit=Omit.POINTER)

    def check(self, c: Checker, at: str) -> None:
        for i, net in enumerate(self.nets or []):
            if not is_net(net):
                c.tag(f"Nets[{i}]", net, "net")
        check_selector(c, "Selector", self.selector)
        check_selector(c, "NamespaceSelector", self.namespace_selector)
        if self.services is not None:
            self.services.check(c, join(at, "services"))
        check_ports(c, self.ports)
        for i, net in enumerate(self.not_nets or []):
            if not is_net(net):
                c.tag(f"NotNets[{i}]", net, "net")
        check_selector(c, "NotSelector", self.not_selector)
        check_ports(c, self.not_ports)
        if self.service_accounts is not None:
            self.service_accounts.check(c, join(at, "serviceAccounts"))
        self._check_rule(c)

    def _check_rule(self, c: Checker) -> None:
        if self.selector and GLOBAL in self.selector:
            c.error("Selector field", self.selector, GLOBAL_IN_ENTITY_RULE)
        ns = self.namespace_selector
        if ns and "global(" in ns and ns != GLOBAL and not only_global(ns):
            c.error("NamespaceSelector field", ns, "global() cannot be combined with other selectors")
        s = self.services
        if s is not None:
            shown = s.encode()
            if not s.name:
                c.error("Services field", shown, "must specify a service name")
            if ns:
                c.error("Services field", shown, "cannot specify NamespaceSelector and Services on the same rule")
            if self.selector or self.not_selector:
                c.error("Services field", shown, "cannot specify Selector/NotSelector and Services on the same rule")
            if self.service_accounts is not None:
                c.error("Services field", shown, "cannot specify ServiceAccounts and Services on the same rule")
            if self.nets or self.not_nets:
                c.error("Services field", shown, "cannot specify Nets/NotNets and Services on the same rule")


def check_ports(c: Checker, ports: list[int | str] | None) -> None:
    """Each port: a named port's name (``portName``), then validatePort."""
    for port in ports or []:
        bounds = port_bounds(port)
        if bounds is None:
            if not is_port_name(str(port)):
                c.tag("PortName", port, "portName")
        elif bounds[0] < 1:
            c.error("Port", bounds[0], "port range invalid, port number must be between 1 and 65535")
        elif bounds[1] < 1:
            c.error("Port", bounds[1], "port range invalid, port number must be between 1 and 65535")


@struct
class RuleMetadata(Struct):
    annotations: dict[str, str] | None = field("annotations", Map(STRING))

    def check(self, c: Checker, at: str) -> None:
        check_annotations(c, self.annotations)


def check_protocol(c: Checker, value: int | str | None) -> None:
    """validateProtocol: a number 1-255 or one of the names, in exact case."""
    if value is None:
        return
    if isinstance(value, int):
        if value == 0:
            c.error("Protocol", value, "protocol number invalid")
    elif not PROTOCOL_NAMES.fullmatch(value):
        c.error("Protocol", value, "protocol name invalid")


@struct
class Rule(Struct):
    action: str = field("action", STRING, omit=Omit.NEVER)  # set in every rule that passed validation
    ip_version: int | None = field("ipVersion", INT, go="IPVersion", omit=Omit.POINTER)
    protocol: int | str | None = field("protocol", UINT8_OR_STRING, omit=Omit.POINTER)
    icmp: ICMPFields | None = field("icmp", ICMPFields, go="ICMP", omit=Omit.POINTER)
    not_protocol: int | str | None = field("notProtocol", UINT8_OR_STRING, omit=Omit.POINTER)
    not_icmp: ICMPFields | None = field("notICMP", ICMPFields, go="NotICMP", omit=Omit.POINTER)
    source: EntityRule | None = field("source", EntityRule, omit=Omit.ZERO)
    destination: EntityRule | None = field("destination", EntityRule, omit=Omit.ZERO)
    http: HTTPMatch | None = field("http", HTTPMatch, go="HTTP", omit=Omit.POINTER)
    metadata: RuleMetadata | None = field("metadata", RuleMetadata, omit=Omit.POINTER)

    def check(self, c: Checker, at: str) -> None:
        if self.action not in ACTIONS:
            c.tag("Action", self.action or "", "action")
        if self.ip_version is not None and self.ip_version not in (4, 6):
            c.tag("IPVersion", self.ip_version, "ipVersion")
        check_protocol(c, self.protocol)
        if self.icmp is not None:
            self.icmp.check(c, join(at, "icmp"))
        check_protocol(c, self.not_protocol)
        if self.not_icmp is not None:
            self.not_icmp.check(c, join(at, "notICMP"))
        if self.source is not None:
            self.source.check(c, join(at, "source"))
        if self.destination is not None:
            self.destination.check(c, join(at, "destination"))
        if self.http is not None:
            self.http.check(c, join(at, "http"))
        if self.metadata is not None:
            self.metadata.check(c, join(at, "metadata"))
        self._check_rule(c)
        self._check_schema(c, at)

    def sides(self) -> tuple[tuple[str, EntityRule], ...]:
        return tuple((name, side) for name, side in (("Source", self.source), ("Destination", self.destination))
                     if side is not None)

    def _check_rule(self, c: Checker) -> None:
        """validateRule."""
        proto = self.protocol
        for name, side in self.sides():
            for go, ports in (("Ports", side.ports), ("NotPorts", side.not_ports)):
                if not ports:
                    continue
                if proto is None and any(port_bounds(p) is not None for p in ports):
                    c.error(f"{name}.{go}", ports, NUMERIC_PORTS_NEED_PROTOCOL)
                elif proto is not None and not supports_ports(proto):
                    c.error(f"{name}.{go}", ports, PORTS_NEED_PROTOCOL)
        if self.http is not None and proto is not None and proto != "TCP":
            c.error("Protocol", proto, "rules that specify HTTP fields must set protocol to TCP or empty")
        if self.icmp is not None and proto not in ("ICMP", "ICMPv6"):
            c.error("ICMP", self.icmp.encode(), "rules that specify ICMP fields must set protocol to ICMP")
        shown = self.icmp.encode() if self.icmp is not None else None
        if "ICMP" in (proto, self.not_protocol) and self.ip_version is not None and self.ip_version != 4:
            c.error("IPVersion", shown, "must set ipversion to '4' with protocol icmp")
        if "ICMPv6" in (proto, self.not_protocol) and self.ip_version is not None and self.ip_version != 6:
            c.error("IPVersion", shown, "must set ipversion to '6' with protocol icmpv6")
        self._check_nets(c)
        if self.http is not None and self.action != "Allow":
            c.error("HTTP", self.http.encode(), "only valid for Allow rules")
        dst = self.destination
        if dst is not None and dst.services is not None:
            if dst.ports:
                c.error("Destination.Ports", dst.ports, "cannot specify ports with a service selector")
            if dst.not_ports:
                c.error("Destination.NotPorts", dst.not_ports, "cannot specify notports with a service selector")

    def _check_nets(self, c: Checker) -> None:
        seen: set[int] = set()
        for name, side in self.sides():
            for go, nets in (("Nets", side.nets), ("NotNets", side.not_nets)):
                where = f"{name}.{go}"
                versions: set[int] = set()
                for net in nets or []:
                    parsed = parse_cidr(net)
                    if parsed is None:
                        c.error(where, net, "invalid CIDR")
                        continue
                    versions.add(parsed[1].version)
                    if go == "NotNets" and ((parsed[1].version == 4 and net == "0.0.0.0/0")
                                            or (parsed[1].version == 6 and parsed[1].prefixlen == 0)):
                        c.error(where, net, "catch-all CIDR in negation creates logical contradiction "
                                            "(matches no traffic)")
                if self.ip_version is not None and versions - {self.ip_version}:
                    c.error(where, nets, "rule IP version doesn't match CIDR version")
                if versions and len(versions | seen) > 1:
                    c.error(where, nets, "rule contains both IPv4 and IPv6 CIDRs")
                seen |= versions

    def _check_schema(self, c: Checker, at: str) -> None:
        """The policy CRDs' rules for a Rule."""
        c.enum(join(at, "action"), self.action or "", ACTIONS)
        c.enum(join(at, "ipVersion"), self.ip_version, (4, 6))
        if self.http is not None and self.protocol is not None and self.protocol not in ("TCP", 6):
            c.schema(at, "rules with HTTP match must have protocol TCP or unset")
        if self.http is not None and self.action != "Allow":
            c.schema(at, "HTTP match is only valid on Allow rules")
        dst = self.destination
        if dst is not None and dst.services is not None and (dst.ports or dst.not_ports):
            c.schema(at, "ports and notPorts cannot be specified with services")
