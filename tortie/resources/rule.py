"""Rule and EntityRule (resources.md §5)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ..core import BY_NAME, RuleAction
from .base import Model, Problems, join
from .errors import FieldError
from .values import (Cidr, Port, Protocol, SelectorText, cidr_version, int_in, int_of, invalid, plain,
                     protocol_number)

ACTIONS = tuple(RuleAction)
TCP, UDP, ICMP, ICMPV6 = (BY_NAME[name].number for name in ("TCP", "UDP", "ICMP", "ICMPv6"))


def _check_action(value: object) -> str:
    if not isinstance(value, str) or value not in ACTIONS:
        raise invalid("invalid action")
    return value


class ICMPFields(Model):
    type: Annotated[int, plain(int_in(0, 254))] | None = None
    code: Annotated[int, plain(int_in(0, 255))] | None = None

    def problems(self, path: str) -> Problems:
        if self.code is not None and self.type is None:
            yield FieldError(join(path, "code"), self.code, "ICMP code specified without an ICMP type")


class EntityRule(Model):
    nets: list[Cidr] | None = None
    not_nets: list[Cidr] | None = None
    selector: SelectorText | None = None
    not_selector: SelectorText | None = None
    namespace_selector: SelectorText | None = None
    ports: list[Port] | None = None
    not_ports: list[Port] | None = None

    def cidrs(self) -> list[tuple[str, str]]:
        """(field name, CIDR) for every CIDR of this side."""
        return [("nets", c) for c in self.nets or []] + [("notNets", c) for c in self.not_nets or []]


class Rule(Model):
    action: Annotated[str, plain(_check_action)] = Field(default="", validate_default=True)
    ip_version: Annotated[int, plain(int_of(4, 6))] | None = None
    protocol: Protocol | None = None
    not_protocol: Protocol | None = None
    icmp: ICMPFields | None = None
    not_icmp: ICMPFields | None = Field(default=None, alias="notICMP")
    source: EntityRule | None = None
    destination: EntityRule | None = None

    def problems(self, path: str) -> Problems:
        proto = protocol_number(self.protocol) if self.protocol is not None else None
        for name, icmp in (("icmp", self.icmp), ("notICMP", self.not_icmp)):
            if icmp is not None and proto not in (ICMP, ICMPV6):
                yield FieldError(join(path, name), icmp.output(), "ICMP fields require protocol ICMP or ICMPv6")
        if (proto, self.ip_version) in ((ICMP, 6), (ICMPV6, 4)):
            yield FieldError(join(path, "protocol"), self.protocol, "ICMP protocol does not match ipVersion")
        families: set[int] = set()
        for side_name, side in (("source", self.source), ("destination", self.destination)):
            if side is None:
                continue
            at = join(path, side_name)
            for ports_name, ports in (("ports", side.ports), ("notPorts", side.not_ports)):
                if ports and proto not in (TCP, UDP):
                    yield FieldError(join(at, ports_name), ports,
                                     "rules that specify ports must set protocol to TCP or UDP")
            for field, cidr in side.cidrs():
                version = cidr_version(cidr)
                if self.ip_version is not None and version != self.ip_version:
                    yield FieldError(join(at, field), cidr, "CIDR does not match ipVersion")
                elif families and version not in families:
                    yield FieldError(join(at, field), cidr, "rule contains both IPv4 and IPv6 CIDRs")
                families.add(version)
