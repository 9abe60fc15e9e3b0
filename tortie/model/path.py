"""A packet's way through a cluster: the node of its source, then the node of its destination,
each deciding with its own plan. The packet arrives when every node on the way lets it
through; it stops at the first that drops it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from ..calc import Entity
from ..core import KernelAction
from ..plan import Plan
from .evaluate import Result, evaluate
from .packet import Packet
from .placement import EXTERNAL_INTERFACE, route


@dataclass(frozen=True)
class Hop:
    node: str
    packet: Packet  # as this node sees it (its interfaces)
    result: Result


@dataclass(frozen=True)
class PathResult:
    hops: tuple[Hop, ...]

    @property
    def action(self) -> KernelAction:
        accepted = self.hops and all(h.result.action is KernelAction.ACCEPT for h in self.hops)
        return KernelAction.ACCEPT if accepted else KernelAction.DROP

    @property
    def denied_by(self) -> str | None:
        return next((f"{h.node}: {h.result.denied_by}" for h in self.hops if h.result.denied_by), None)

    @property
    def log_prefixes(self) -> list[str]:
        return [p for h in self.hops for p in h.result.log_prefixes]

    @property
    def metric_policies(self) -> dict[str, list[str]]:
        return {h.node: h.result.metric_policies for h in self.hops if h.result.metric_policies}


def _local(plan: Plan, address: str) -> bool:
    return any(key in plan.endpoints for key in plan.view.owners.get(address, ()))


def evaluate_path(plans: Mapping[str, Plan], packet: Packet, sender: Entity | None = None,
                  external: str = EXTERNAL_INTERFACE) -> PathResult:
    """``plans``: each node's plan, by node name (``model.plan_for`` builds one the way the
    model places packets). ``packet``'s interfaces are ignored: each node places it by its
    own addresses. The hops are the source's node, then the destination's. With ``sender``,
    the workload endpoint the packet comes from whatever its source address (a spoofed
    one meets anti-spoofing there), the first hop is the sender's node, where the packet
    arrives on the sender's interface, and a later node sees it arrive on ``external``."""
    if sender is not None:
        order = [n for n in plans if n == sender.node]
    else:
        order = [n for n, plan in plans.items() if _local(plan, packet.src)]
    order += [n for n, plan in plans.items() if _local(plan, packet.dst) and n not in order]
    hops = []
    for node in order:
        in_iface, out_iface = route(plans[node].view, packet.src, packet.dst, external)
        if sender is not None:
            in_iface = sender.interface if node == sender.node else external
        seen = replace(packet, in_iface=in_iface, out_iface=out_iface, dnat=False)
        result = evaluate(plans[node], seen)
        hops.append(Hop(node, seen, result))
        if result.action is not KernelAction.ACCEPT:
            break
    return PathResult(tuple(hops))
