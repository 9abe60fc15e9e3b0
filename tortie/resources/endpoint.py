"""What host and workload endpoints share: named ports and profiles (resources.md §4, §7)."""

from __future__ import annotations

from typing import Annotated, Any

from .base import Model, Problems, join
from .errors import FieldError
from .values import int_in, invalid, named_port_problem, one_of, plain


def _check_port_name(value: Any) -> str:
    reason = named_port_problem(value)
    if reason:
        raise invalid(reason)
    return value


class EndpointPort(Model):
    name: Annotated[str, plain(_check_port_name)]
    protocol: Annotated[str, plain(one_of("TCP", "UDP"))]
    port: Annotated[int, plain(int_in(1, 65535))]


class EndpointSpec(Model):
    """Base of HostEndpoint and WorkloadEndpoint specs."""

    ports: list[EndpointPort] | None = None

    def problems(self, path: str) -> Problems:
        seen: set[str] = set()
        for i, port in enumerate(self.ports or []):
            if port.name in seen:
                yield FieldError(join(join(join(path, "ports"), i), "name"), port.name,
                                 "named port names must be unique within an endpoint")
            seen.add(port.name)
