"""The network between a lab's nodes: one namespace holding a bridge that every node's eth0
plugs into, with routes on each node to the other nodes' workloads (as BGP would install).

Addresses are fixed: node i (from 0) has 198.19.254.<i+1>/24 and 2001:db8:fffe::<i+1>/64;
the bridge itself, the nodes' default gateway, has .254 and ::fe. Neighbours are entered
permanently, so nodes never need ARP or neighbour discovery through each other's policy.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

from .network import FabricPort, LabError, NodeNetwork, ip_batch, sysctls

FABRIC4, FABRIC6 = "198.19.254.", "2001:db8:fffe::"
GATEWAY = (FABRIC4 + "254", FABRIC6 + "fe")
GATEWAY_MAC = "02:74:6f:00:00:fe"
MAX_NODES = 253


def node_addresses(index: int) -> tuple[str, str]:
    return f"{FABRIC4}{index + 1}", f"{FABRIC6}{index + 1:x}"


def node_mac(index: int) -> str:
    return f"02:74:6f:00:{(index + 1) >> 8:02x}:{(index + 1) & 0xFF:02x}"


def _via(node: NodeNetwork, device: str) -> list[str]:
    """The commands that reach ``node`` and its workloads over the fabric through ``device``."""
    assert node.fabric is not None
    v4, v6 = node.fabric.addresses
    return ([f"neigh add {a} lladdr {node.fabric.mac} dev {device} nud permanent" for a in (v4, v6)]
            + [f"route add {a}/{128 if ':' in a else 32} via {v6 if ':' in a else v4}"
               for w in node.workloads for a in w.addresses])


@dataclass
class Fabric:
    netns: str
    namespaces: list[str] = field(default_factory=list)

    def up(self) -> None:
        proc = subprocess.run(["ip", "netns", "add", self.netns], capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise LabError(f"cannot create network namespace {self.netns}: {proc.stderr.strip()}")
        self.namespaces.append(self.netns)
        ip_batch(["link set lo up", f"link add br0 address {GATEWAY_MAC} type bridge", "link set br0 up",
                  f"addr add {GATEWAY[0]}/24 dev br0", f"addr add {GATEWAY[1]}/64 dev br0 nodad"], self.netns)
        sysctls(self.netns, {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1",
                             "net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.default.rp_filter": "0"})

    def port(self, index: int) -> FabricPort:
        if index >= MAX_NODES:
            raise LabError(f"a lab fabric holds at most {MAX_NODES} nodes")
        return FabricPort(self.netns, f"n{index}", node_addresses(index), node_mac(index), GATEWAY, GATEWAY_MAC)

    def connect(self, nodes: list[NodeNetwork]) -> None:
        """Routes and neighbours: every node, and the fabric, reach every node's workloads directly."""
        for node in nodes:
            ip_batch([c for other in nodes if other is not node for c in _via(other, "eth0")], node.node)
        ip_batch([c for node in nodes for c in _via(node, "br0")], self.netns)

    def down(self) -> None:
        for name in self.namespaces:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        self.namespaces.clear()
