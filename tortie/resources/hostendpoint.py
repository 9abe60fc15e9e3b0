"""HostEndpoint (resources.md §7)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from .base import Problems, join
from .endpoint import EndpointSpec
from .errors import FieldError
from .resource import Resource, SpecOf
from .values import IP, NodeName, Str, matching, plain

ALL_INTERFACES = "*"
_interface = matching(r"[A-Za-z0-9_.-]{1,15}", "must match ^[A-Za-z0-9_.-]{1,15}$ or be *")


def _check_interface(value: Any) -> str:
    return value if value == ALL_INTERFACES else _interface(value)


class HostEndpointSpec(EndpointSpec):
    node: NodeName
    interface_name: Annotated[str, plain(_check_interface)] | None = None
    expected_ips: list[IP] | None = Field(default=None, alias="expectedIPs")
    profiles: list[Str] | None = None

    def problems(self, path: str) -> Problems:
        yield from super().problems(path)
        if not self.interface_name and not self.expected_ips:
            yield FieldError(join(path, "interfaceName"), "",
                             "at least one of interfaceName and expectedIPs must be specified")


class HostEndpoint(Resource):
    KIND = "HostEndpoint"
    PLURAL = "hostendpoints"
    NAMES = ("hostendpoint", "hostendpoints", "hep", "heps")

    spec: SpecOf[HostEndpointSpec]
