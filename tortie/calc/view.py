"""What calc hands to the model and the dataplane: plain immutable data."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cached_property
from typing import Mapping

from .inputs import Entity, IPNetwork, PolicyData
from .rules import CalcRule

STAGES = ("U", "D", "N", "F")
DIRECTIONS = ("ingress", "egress")


@dataclass(frozen=True)
class TierView:
    name: str
    order: float | None
    policies: tuple[str, ...]  # policy keys, in evaluation order


@dataclass(frozen=True)
class EndpointView:
    entity: Entity
    labels: Mapping[str, str]  # effective labels
    tiers: Mapping[tuple[str, str], tuple[TierView, ...]]  # (stage, direction) -> tiers in order

    @property
    def key(self) -> str:
        return self.entity.key


@dataclass(frozen=True)
class PolicyView:
    data: PolicyData
    ingress: tuple[CalcRule, ...]
    egress: tuple[CalcRule, ...]


@dataclass(frozen=True)
class ProfileView:
    name: str
    ingress: tuple[CalcRule, ...]
    egress: tuple[CalcRule, ...]


@dataclass(frozen=True)
class IPSet:
    """A selector set (members: CIDRs, /32 and /128 written bare) or a named-port set
    (members: ``<ip>,<proto>:<port>``), with both families in one set."""

    id: str
    kind: str  # "selector" or "namedport"
    members: frozenset[str]

    @cached_property
    def _nets(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(m, strict=False) for m in self.members if "/" in m)

    def contains(self, address: str) -> bool:
        """Selector sets: is the address inside any member?"""
        if address in self.members:
            return True
        ip = ipaddress.ip_address(address)
        return any(ip in net for net in self._nets if net.version == ip.version)


@dataclass(frozen=True)
class NodeView:
    node: str
    endpoints: Mapping[str, EndpointView]  # local endpoints by entity key
    policies: Mapping[str, PolicyView]  # policies that apply to some local endpoint
    profiles: Mapping[str, ProfileView]  # profiles listed by local endpoints (existing ones)
    ipsets: Mapping[str, IPSet]
    owners: Mapping[str, tuple[str, ...]]  # address -> keys of the entities that own it, any node

    def endpoint_by_interface(self, interface: str) -> EndpointView | None:
        for ep in self.endpoints.values():
            if ep.entity.interface == interface:
                return ep
        return None
