"""NetworkSet (resources.md §7)."""

from __future__ import annotations

from .base import Model
from .resource import Resource, SpecOf
from .values import Cidr


class NetworkSetSpec(Model):
    nets: list[Cidr] | None = None


class NetworkSet(Resource):
    KIND = "NetworkSet"
    NAMESPACED = True
    PLURAL = "networksets"
    NAMES = ("networkset", "networksets", "netset", "netsets")

    spec: SpecOf[NetworkSetSpec]
