"""What the lab benchmarks share: a node with two workloads, and a store holding their world."""

from __future__ import annotations

import uuid
from typing import Any

from tortie.datastore import ResourceClient
from tortie.lab.network import NodeNetwork, Workload
from tortie.resources import load_resource
from tortie.store import open_store


def two_workloads(tag: str, a: str, b: str) -> NodeNetwork:
    """A lab node (not yet up) with workloads a (interface calia) and b (calib) at these addresses."""
    return NodeNetwork(f"tortie-{tag}{uuid.uuid4().hex[:6]}", [], [], [Workload("a", "calia", [a]),
                                                                       Workload("b", "calib", [b])])


def seed(url: str, docs: list[dict[str, Any]]) -> None:
    """The datastore at ``url`` initialised, with ``docs`` applied through the client."""
    with open_store(url) as store:
        client = ResourceClient(store)
        client.ensure_defaults()
        for doc in docs:
            client.apply(load_resource(doc))
