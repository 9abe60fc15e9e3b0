"""HostEndpoint (api/pkg/apis/projectcalico/v3/hostendpoint.go) and its checks
(validator.go validateHostEndpointSpec, validateEndpointPort; the hostendpoints CRD)."""

from __future__ import annotations


from .resource import Resource
from .rule import check_protocol
from .schema import STRING, UINT16, UINT8_OR_STRING, Checker, List, Omit, Struct, StructType, field, join, struct
from .values import is_interface, is_name, is_port_name, parse_ip, supports_ports


def check_names(c: Checker, go: str, names: list[str] | None) -> None:
    """``dive,name``: each entry a resource name."""
    for i, name in enumerate(names or []):
        if not is_name(name):
            c.tag(f"{go}[{i}]", name, "name")


@struct
class EndpointPort(Struct):
    name: str | None = field("name", STRING, omit=Omit.NEVER)
    protocol: int | str | None = field("protocol", UINT8_OR_STRING, omit=Omit.NEVER)
    port: int | None = field("port", UINT16, omit=Omit.NEVER)

    def check(self, c: Checker, at: str) -> None:
        if not is_port_name(self.name or ""):
            c.tag("Name", self.name or "", "portName")
        protocol = self.protocol if self.protocol is not None else 0
        check_protocol(c, protocol)
        if not self.port:
            c.tag("Port", self.port or 0, "gt")
        if not supports_ports(protocol):
            c.error("EndpointPort.Protocol", protocol, "EndpointPort protocol does not support ports.")
        c.minimum(join(at, "port"), self.port or 0, 1)
        c.maximum(join(at, "port"), self.port or 0, 65535)


@struct
class HostEndpointSpec(Struct):
    node: str | None = field("node", STRING)
    interface_name: str | None = field("interfaceName", STRING)
    expected_ips: list[str] | None = field("expectedIPs", List(STRING), go="ExpectedIPs")
    profiles: list[str] | None = field("profiles", List(STRING))
    ports: list[EndpointPort] | None = field("ports", List(StructType(EndpointPort)))

    def check(self, c: Checker, at: str) -> None:
        if self.node and not is_name(self.node):
            c.tag("Node", self.node, "name")
        if self.interface_name and not is_interface(self.interface_name):
            c.tag("InterfaceName", self.interface_name, "interface")
        for i, ip in enumerate(self.expected_ips or []):
            if parse_ip(ip) is None:
                c.tag(f"ExpectedIPs[{i}]", ip, "ip")
        check_names(c, "Profiles", self.profiles)
        for i, port in enumerate(self.ports or []):
            port.check(c, join(join(at, "ports"), i))
        if not self.interface_name and not self.expected_ips:
            c.error("InterfaceName", "", "no interface or expected IPs have been specified")
            c.schema(at, "at least one of interfaceName or expectedIPs must be specified")
        if not self.node:
            c.error("InterfaceName", "", "no node has been specified")
            c.schema(at, "node must be specified")
        c.max_length(join(at, "node"), self.node, 253)
        c.max_length(join(at, "interfaceName"), self.interface_name, 15)


@struct
class HostEndpoint(Resource):
    KIND = "HostEndpoint"
    PLURAL = "hostendpoints"
    NAMES = ("hostendpoint", "hostendpoints", "hep", "heps")

    spec: HostEndpointSpec = field("spec", HostEndpointSpec, omit=Omit.NEVER)
