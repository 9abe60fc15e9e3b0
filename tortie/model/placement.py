"""Where a packet given by its addresses enters and leaves a node."""

from __future__ import annotations

from ..calc import NodeView
from ..config import Settings
from ..plan import Plan, PlanCache, build_plan

EXTERNAL_INTERFACE = "eth0"


def route(view: NodeView, src: str, dst: str, external: str = EXTERNAL_INTERFACE) -> tuple[str | None, str | None]:
    """(in interface, out interface) of a packet on this node, from its addresses.

    A local workload's address means its interface; a local host endpoint's address
    means the host itself (None); any other address is reached through ``external``.
    """
    def place(address: str) -> str | None:
        for key in view.owners.get(address, ()):
            ep = view.endpoints.get(key)
            if ep is not None and ep.entity.kind == "HostEndpoint":
                return None
            if ep is not None and ep.entity.interface:
                return ep.entity.interface
        return external
    return place(src), place(dst)


def host_interfaces(view: NodeView, external: str = EXTERNAL_INTERFACE) -> dict[str, frozenset[str]]:
    """The node's interfaces as the model places packets: ``external`` with the addresses
    of the local host endpoints."""
    return {external: frozenset(str(a.network_address) for ep in view.endpoints.values()
                                if ep.entity.kind == "HostEndpoint" for a in ep.entity.addresses)}


def plan_for(view: NodeView, settings: Settings, external: str = EXTERNAL_INTERFACE,
             cache: PlanCache | None = None) -> Plan:
    """The plan of ``view``'s node with the interfaces the model places packets on:
    ``external`` carries the local host endpoints' addresses."""
    return build_plan(view, settings, host_interfaces(view, external), cache)
