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
        """Routes and neighbours: every node reaches every other node's workloads directly."""
        fabric_routes = []
        for node in nodes:
            assert node.fabric is not None
            commands = []
            for other in nodes:
                if other is node:
                    continue
                assert other.fabric is not None
                (o4, o6) = other.fabric.addresses
                commands += [f"neigh add {o4} lladdr {other.fabric.mac} dev eth0 nud permanent",
                             f"neigh add {o6} lladdr {other.fabric.mac} dev eth0 nud permanent"]
                commands += [f"route add {a}/{128 if ':' in a else 32} via {o6 if ':' in a else o4}"
                             for w in other.workloads for a in w.addresses]
            ip_batch(commands, node.node)
            (n4, n6) = node.fabric.addresses
            fabric_routes += [f"neigh add {n4} lladdr {node.fabric.mac} dev br0 nud permanent",
                              f"neigh add {n6} lladdr {node.fabric.mac} dev br0 nud permanent"]
            fabric_routes += [f"route add {a}/{128 if ':' in a else 32} via {n6 if ':' in a else n4}"
                              for w in node.workloads for a in w.addresses]
        ip_batch(fabric_routes, self.netns)

    def down(self) -> None:
        for name in self.namespaces:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        self.namespaces.clear()
