"""The reference verdict for a packet on a node, with a trace: the oracle for tests."""

from __future__ import annotations

from ..calc import NodeView
from ..config import EffectiveConfig, expand_log_prefix
from .evaluate import Denial, Result, evaluate
from .packet import PROTOCOL_NAMES, Packet, protocol_number
from .path import Hop, PathResult, evaluate_path
from .placement import EXTERNAL_INTERFACE, host_interfaces, route

__all__ = ["EXTERNAL_INTERFACE", "Denial", "Hop", "PROTOCOL_NAMES", "Packet", "PathResult", "Result", "evaluate",
           "evaluate_path", "expand_log_prefix", "explain", "host_interfaces", "protocol_number", "route"]

def explain(view: NodeView, config: EffectiveConfig, src: str, dst: str, protocol: int, sport: int | None = None,
            dport: int | None = None, icmp_type: int | None = None, icmp_code: int | None = None,
            state: str = "new", external: str = EXTERNAL_INTERFACE) -> tuple[Packet, Result]:
    """Place a packet given by its addresses on the node, then evaluate it."""
    in_iface, out_iface = route(view, src, dst, external)
    packet = Packet(src, dst, protocol, sport, dport, icmp_type, icmp_code, state, in_iface, out_iface)
    return packet, evaluate(view, config, packet, host_interfaces(view, external))
