"""The reference verdict for a packet on a node, with a trace: the oracle for tests and
what ``tortie explain`` tells. It evaluates the node plan the kernel's rules come from."""

from __future__ import annotations

from ..plan import Plan
from .evaluate import PolicyHit, Result, StageHits, evaluate
from .packet import Packet
from .path import Hop, PathResult, evaluate_path
from .pending import pending_plans, store_plans
from .placement import EXTERNAL_INTERFACE, host_interfaces, plan_for, route

__all__ = ["EXTERNAL_INTERFACE", "Hop", "Packet", "PathResult", "PolicyHit", "Result", "StageHits", "evaluate",
           "evaluate_path", "explain", "host_interfaces", "pending_plans", "plan_for", "route", "store_plans"]


def explain(plan: Plan, src: str, dst: str, protocol: int, sport: int | None = None, dport: int | None = None,
            icmp_type: int | None = None, icmp_code: int | None = None, state: str = "new",
            external: str = EXTERNAL_INTERFACE, arrives_on: str | None = None) -> tuple[Packet, Result]:
    """Place a packet given by its addresses on the node (``route``), then evaluate it.
    ``plan`` should come from ``plan_for`` with the same ``external``. ``arrives_on`` names
    the interface the packet comes in on instead of the one its source is placed on (a
    workload's, to see what anti-spoofing makes of a source that is not its own)."""
    in_iface, out_iface = route(plan.view, src, dst, external)
    in_iface = arrives_on or in_iface
    packet = Packet(src, dst, protocol, sport, dport, icmp_type, icmp_code, state, in_iface, out_iface)
    return packet, evaluate(plan, packet)
