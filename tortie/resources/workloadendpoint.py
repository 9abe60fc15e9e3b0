"""WorkloadEndpoint (libcalico-go lib/apis/internalapi/workloadendpoint.go) and its checks
(validator.go validateWorkloadEndpointSpec, validateWorkloadEndpointPort, validateIPNAT).

libcalico-go's client also derives the name from the spec's identifiers (the client
checks that, lib/names/workloadendpoint.go) and sets the namespace and orchestrator
labels before storing."""

from __future__ import annotations


from .errors import FieldError
from .hostendpoint import check_names
from .resource import NAMESPACE_LABEL, ORCHESTRATOR_LABEL, Resource
from .rule import check_protocol
from .schema import INT64, STRING, UINT16, UINT8_OR_STRING, Checker, List, Omit, Struct, StructType, field, join, struct
from .values import (CONTAINER_ID, is_cidr, is_interface, is_mac, is_name, is_net, is_port_name, parse_cidr_or_ip,
                     parse_ip, supports_ports)


@struct
class WorkloadEndpointPort(Struct):
    name: str | None = field("name", STRING, omit=Omit.NEVER)
    protocol: int | str | None = field("protocol", UINT8_OR_STRING, omit=Omit.NEVER)
    port: int | None = field("port", UINT16, omit=Omit.NEVER)
    host_port: int | None = field("hostPort", UINT16, omit=Omit.NEVER)
    host_ip: str | None = field("hostIP", STRING, go="HostIP", omit=Omit.NEVER)

    def check(self, c: Checker, at: str) -> None:
        if self.name and not is_port_name(self.name):
            c.tag("Name", self.name, "portName")
        protocol = self.protocol if self.protocol is not None else 0
        check_protocol(c, protocol)
        if not self.port:
            c.tag("Port", self.port or 0, "gt")
        if self.host_ip and not is_net(self.host_ip):
            c.tag("HostIP", self.host_ip, "net")
        if not supports_ports(protocol):
            c.error("WorkloadEndpointPort.Protocol", protocol, "WorkloadEndpointPort protocol does not support ports.")
        if not self.name and not self.host_port:
            c.error("WorkloadEndpointPort.Name", "", "WorkloadEndpointPort name must not be empty if no HostPort is "
                                                     "specified")


@struct
class IPNAT(Struct):
    internal_ip: str | None = field("internalIP", STRING, go="InternalIP", omit=Omit.NEVER)
    external_ip: str | None = field("externalIP", STRING, go="ExternalIP", omit=Omit.NEVER)

    def check(self, c: Checker, at: str) -> None:
        versions = []
        for go, value in (("InternalIP", self.internal_ip), ("ExternalIP", self.external_ip)):
            if value and parse_ip(value) is None:
                c.tag(go, value, "ip")
            parsed = parse_cidr_or_ip(value or "")
            if parsed is None:
                c.error(go, value, "invalid IP address")
            versions.append(parsed[0].version if parsed is not None and parsed[0] is not None else 0)
        if versions[0] != versions[1]:
            c.error("ExternalIP", self.external_ip, "mismatched IP versions")


@struct
class QoSControls(Struct):
    ingress_bandwidth: int | None = field("ingressBandwidth", INT64)
    ingress_burst: int | None = field("ingressBurst", INT64)
    ingress_peakrate: int | None = field("ingressPeakrate", INT64)
    ingress_minburst: int | None = field("ingressMinburst", INT64)
    egress_bandwidth: int | None = field("egressBandwidth", INT64)
    egress_burst: int | None = field("egressBurst", INT64)
    egress_peakrate: int | None = field("egressPeakrate", INT64)
    egress_minburst: int | None = field("egressMinburst", INT64)
    ingress_packet_rate: int | None = field("ingressPacketRate", INT64)
    ingress_packet_burst: int | None = field("ingressPacketBurst", INT64)
    egress_packet_rate: int | None = field("egressPacketRate", INT64)
    egress_packet_burst: int | None = field("egressPacketBurst", INT64)
    ingress_max_connections: int | None = field("ingressMaxConnections", INT64)
    egress_max_connections: int | None = field("egressMaxConnections", INT64)
    dscp: int | str | None = field("dscp", UINT8_OR_STRING, go="DSCP", omit=Omit.POINTER)


@struct
class WorkloadEndpointSpec(Struct):
    orchestrator: str | None = field("orchestrator", STRING)
    workload: str | None = field("workload", STRING)
    node: str | None = field("node", STRING)
    container_id: str | None = field("containerID", STRING, go="ContainerID")
    pod: str | None = field("pod", STRING)
    endpoint: str | None = field("endpoint", STRING)
    service_account_name: str | None = field("serviceAccountName", STRING)
    ip_networks: list[str] | None = field("ipNetworks", List(STRING), go="IPNetworks")
    ip_nats: list[IPNAT] | None = field("ipNATs", List(StructType(IPNAT)), go="IPNATs")
    ipv4_gateway: str | None = field("ipv4Gateway", STRING, go="IPv4Gateway")
    ipv6_gateway: str | None = field("ipv6Gateway", STRING, go="IPv6Gateway")
    profiles: list[str] | None = field("profiles", List(STRING))
    interface_name: str | None = field("interfaceName", STRING)
    mac: str | None = field("mac", STRING, go="MAC")
    ports: list[WorkloadEndpointPort] | None = field("ports", List(StructType(WorkloadEndpointPort)))
    allow_spoofed_source_prefixes: list[str] | None = field("allowSpoofedSourcePrefixes", List(STRING))
    qos_controls: QoSControls | None = field("qosControls", QoSControls, go="QoSControls", omit=Omit.POINTER)

    def check(self, c: Checker, at: str) -> None:
        for go, value in (("Orchestrator", self.orchestrator), ("Workload", self.workload), ("Node", self.node)):
            if value and not is_name(value):
                c.tag(go, value, "name")
        if self.container_id and not CONTAINER_ID.fullmatch(self.container_id):
            c.tag("ContainerID", self.container_id, "containerID")
        for go, value in (("Pod", self.pod), ("Endpoint", self.endpoint),
                          ("ServiceAccountName", self.service_account_name)):
            if value and not is_name(value):
                c.tag(go, value, "name")
        for i, net in enumerate(self.ip_networks or []):
            if not is_net(net):
                c.tag(f"IPNetworks[{i}]", net, "net")
        for i, nat in enumerate(self.ip_nats or []):
            nat.check(c, join(join(at, "ipNATs"), i))
        for go, value, version in (("IPv4Gateway", self.ipv4_gateway, 4), ("IPv6Gateway", self.ipv6_gateway, 6)):
            ip = parse_ip(value) if value else None
            if value and (ip is None or ip.version != version):
                c.tag(go, value, f"ipv{version}")
        check_names(c, "Profiles", self.profiles)
        if not is_interface(self.interface_name or ""):
            c.tag("InterfaceName", self.interface_name or "", "interface")
        if self.mac and not is_mac(self.mac):
            c.tag("MAC", self.mac, "mac")
        for i, port in enumerate(self.ports or []):
            port.check(c, join(join(at, "ports"), i))
        for i, prefix in enumerate(self.allow_spoofed_source_prefixes or []):
            if not is_cidr(prefix):
                c.tag(f"AllowSpoofedSourcePrefixes[{i}]", prefix, "cidr")
        self._check_spec(c)

    def _check_spec(self, c: Checker) -> None:
        """validateWorkloadEndpointSpec."""
        networks = []
        for net in self.ip_networks or []:
            parsed = parse_cidr_or_ip(net)
            if parsed is None:
                c.error("IPNetworks", net, "invalid CIDR")
                continue
            networks.append(parsed[1])
            if parsed[1].num_addresses != 1:
                c.error("IPNetworks", self.ip_networks, "IP network contains multiple addresses")
        for go, value, version in (("IPv4Gateway", self.ipv4_gateway, 4), ("IPv6Gateway", self.ipv6_gateway, 6)):
            parsed = parse_cidr_or_ip(value or "")
            if parsed is None:
                c.error(go, value, "invalid CIDR")
            elif parsed[0] is not None and parsed[0].version != version:
                c.error(go, value, f"invalid IPv{version} gateway address specified")
        if self.ip_nats:
            inside = False
            for nat in self.ip_nats:
                parsed = parse_cidr_or_ip(nat.internal_ip or "")
                if parsed is None:
                    c.error("IPNATs", nat.internal_ip, "invalid InternalIP CIDR")
                    inside = False
                    break
                address = parsed[1].network_address
                inside = any(address in n for n in networks if n.version == address.version)
                if not inside:
                    break
            if not inside:
                c.error("IPNATs", [n.encode() for n in self.ip_nats], "NAT is not in the endpoint networks")

    def identity_name(self) -> tuple[str | None, FieldError | None]:
        """The name libcalico-go derives from the spec (names.CalculateWorkloadEndpointName),
        or the problem with the identifiers."""
        if not self.node:
            return None, FieldError("node", None, "field should be assigned")
        orchestrator = self.orchestrator or ""
        middle = {"k8s": ("pod", self.pod), "cni": ("containerID", self.container_id),
                  "libnetwork": ("orchestrator", orchestrator)}.get(orchestrator, ("workload", self.workload))
        parts = []
        for name, value in (("node", self.node), ("orchestrator", orchestrator), middle, ("endpoint", self.endpoint)):
            if not value:
                return None, FieldError(name, None, "field should be assigned")
            if value.startswith("-"):
                return None, FieldError(name, value, "field must not begin with a '-'")
            if value.endswith("-"):
                return None, FieldError(name, value, "field must not end with a '-'")
            parts.append(value.replace("-", "--"))
        return "-".join(parts), None


@struct
class WorkloadEndpoint(Resource):
    KIND = "WorkloadEndpoint"
    NAMESPACED = True
    PLURAL = "workloadendpoints"
    NAMES = ("workloadendpoint", "workloadendpoints", "wep", "weps")

    spec: WorkloadEndpointSpec = field("spec", WorkloadEndpointSpec, omit=Omit.NEVER)

    def client_defaults(self) -> None:
        """A name derived from the spec when none is given, and the namespace and orchestrator
        labels the client stores (assignOrValidateName, updateLabelsForStorage)."""
        if not self.metadata.name:
            self.metadata.name = self.spec.identity_name()[0]
        labels = {**(self.metadata.labels or {}), NAMESPACE_LABEL: self.namespace or ""}
        labels.pop(ORCHESTRATOR_LABEL, None)
        if self.spec.orchestrator:  # calicoctl cannot store a workload endpoint without one
            labels[ORCHESTRATOR_LABEL] = self.spec.orchestrator
        self.metadata.labels = labels
