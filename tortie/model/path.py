"""A packet's way through a cluster: the node of its source, then the node of its destination,
each deciding with its own view and configuration. The packet arrives when every node on
the way lets it through; it stops at the first that drops it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..calc import NodeView
from ..config import EffectiveConfig
from .evaluate import Result, evaluate
from .packet import Packet
from .placement import host_interfaces, route


@dataclass(frozen=True)
class Hop:
    node: str
    packet: Packet  # as this node sees it (its interfaces)
    result: Result


@dataclass(frozen=True)
class PathResult:
    hops: tuple[Hop, ...]

    @property
    def action(self) -> str:
        return "accept" if self.hops and all(h.result.action == "accept" for h in self.hops) else "drop"

    @property
    def denied_by(self) -> str | None:
        return next((f"{h.node}: {h.result.denied_by}" for h in self.hops if h.result.denied_by), None)

    @property
    def log_prefixes(self) -> list[str]:
        return [p for h in self.hops for p in h.result.log_prefixes]

    @property
    def metric_policies(self) -> dict[str, list[str]]:
        return {h.node: h.result.metric_policies for h in self.hops if h.result.metric_policies}


def _local(view: NodeView, address: str) -> bool:
    return any(key in view.endpoints for key in view.owners.get(address, ()))


def evaluate_path(views: Mapping[str, NodeView], configs: Mapping[str, EffectiveConfig], packet: Packet) -> PathResult:
    """``packet``'s interfaces are ignored: each node places it by its own addresses."""
    order = [n for n, v in views.items() if _local(v, packet.src)]
    order += [n for n, v in views.items() if _local(v, packet.dst) and n not in order]
    hops = []
    for node in order:
        view = views[node]
        in_iface, out_iface = route(view, packet.src, packet.dst)
        seen = Packet(packet.src, packet.dst, packet.protocol, packet.sport, packet.dport, packet.icmp_type,
                      packet.icmp_code, packet.state, in_iface, out_iface)
        result = evaluate(view, configs[node], seen, host_interfaces(view))
        hops.append(Hop(node, seen, result))
        if result.action != "accept":
            break
    return PathResult(tuple(hops))
