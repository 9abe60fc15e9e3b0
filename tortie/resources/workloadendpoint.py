"""WorkloadEndpoint (resources.md §7)."""

from __future__ import annotations

import ipaddress

from pydantic import Field

from .base import Model, Problems, join
from .endpoint import EndpointSpec
from .errors import FieldError
from .resource import NAMESPACE_LABEL, ORCHESTRATOR_LABEL, Resource, SpecOf
from .values import IP, Cidr, InterfaceName, Mac, NodeName, Str


class IPNAT(Model):
    internal_ip: IP = Field(alias="internalIP")
    external_ip: IP = Field(alias="externalIP")


class WorkloadEndpointSpec(EndpointSpec):
    node: NodeName
    orchestrator: Str | None = None
    workload: Str | None = None
    pod: Str | None = None
    endpoint: Str | None = None
    container_id: Str | None = Field(default=None, alias="containerID")
    interface_name: InterfaceName | None = None
    ip_networks: list[Cidr] | None = None
    ip_nats: list[IPNAT] | None = Field(default=None, alias="ipNATs")
    ipv4_gateway: IP | None = None
    ipv6_gateway: IP | None = None
    mac: Mac | None = None
    profiles: list[Str] | None = None

    def problems(self, path: str) -> Problems:
        yield from super().problems(path)
        addresses = set()
        for i, cidr in enumerate(self.ip_networks or []):
            net = ipaddress.ip_network(cidr, strict=False)
            if net.num_addresses != 1:
                yield FieldError(join(join(path, "ipNetworks"), i), cidr,
                                 "ipNetworks must contain single addresses (/32 or /128)")
            addresses.add(net.network_address)
        for i, nat in enumerate(self.ip_nats or []):
            if ipaddress.ip_address(nat.internal_ip) not in addresses:
                yield FieldError(join(join(join(path, "ipNATs"), i), "internalIP"), nat.internal_ip,
                                 "internalIP must be one of ipNetworks")


class WorkloadEndpoint(Resource):
    KIND = "WorkloadEndpoint"
    NAMESPACED = True
    PLURAL = "workloadendpoints"
    NAMES = ("workloadendpoint", "workloadendpoints", "wep", "weps")

    spec: SpecOf[WorkloadEndpointSpec]

    def fill_server_fields(self) -> None:
        labels = dict(self.metadata.labels or {})
        labels[NAMESPACE_LABEL] = self.metadata.namespace or "default"
        labels.pop(ORCHESTRATOR_LABEL, None)
        if self.spec.orchestrator:
            labels[ORCHESTRATOR_LABEL] = self.spec.orchestrator
        self.metadata.labels = labels
