"""The reference verdict for a packet on a node, with a trace: the oracle for tests."""

from __future__ import annotations

from ..calc import NodeView
from ..config import EffectiveConfig
from ..config import expand_log_prefix
from .evaluate import Denial, Result, evaluate
from .packet import PROTOCOL_NAMES, Packet, protocol_number

__all__ = ["Denial", "PROTOCOL_NAMES", "Packet", "Result", "evaluate", "expand_log_prefix", "explain",
           "protocol_number", "route"]

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


def explain(view: NodeView, config: EffectiveConfig, src: str, dst: str, protocol: int, sport: int | None = None,
            dport: int | None = None, icmp_type: int | None = None, icmp_code: int | None = None,
            state: str = "new", external: str = EXTERNAL_INTERFACE) -> tuple[Packet, Result]:
    """Place a packet given by its addresses on the node, then evaluate it."""
    in_iface, out_iface = route(view, src, dst, external)
    host_addresses = {str(a.network_address) for ep in view.endpoints.values()
                      if ep.entity.kind == "HostEndpoint" for a in ep.entity.addresses}
    packet = Packet(src, dst, protocol, sport, dport, icmp_type, icmp_code, state, in_iface, out_iface)
    return packet, evaluate(view, config, packet, {external: host_addresses})
