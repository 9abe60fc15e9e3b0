"""GlobalNetworkSet (resources.md §7): a cluster-scoped NetworkSet."""

from __future__ import annotations

from .networkset import NetworkSetSpec
from .resource import Resource, SpecOf


class GlobalNetworkSet(Resource):
    KIND = "GlobalNetworkSet"
    PLURAL = "globalnetworksets"
    NAMES = ("globalnetworkset", "globalnetworksets", "gns")

    spec: SpecOf[NetworkSetSpec]
