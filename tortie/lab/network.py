"""Virtual nodes and workloads in network namespaces, wired the way Calico wires them.

A node is a namespace that forwards. Each workload is a namespace whose ``eth0`` holds
its /32 and /128 and routes everything through a link-local gateway; on the node side
the ``cali…`` veth end has proxy ARP and a host route to the workload. The "outside"
namespace sits behind the node's ``eth0`` and holds every address that is not a local
workload (other nodes' workloads, the internet), so traffic to and from them really
crosses the node.
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass, field

GATEWAY4 = "169.254.1.1"
GATEWAY6 = "fe80::1"
NODE_GATEWAY_MAC = "ee:ee:ee:ee:ee:ee"
OUTSIDE_LINK4 = ("198.18.255.1", "198.18.255.2")  # node eth0, outside ext0 (/30)
OUTSIDE_LINK6 = ("2001:db8:ffff::1", "2001:db8:ffff::2")


class LabError(RuntimeError):
    pass


def ip_batch(commands: list[str], netns: str | None = None) -> None:
    """Run ``ip -batch`` (optionally in a namespace); one process for many changes."""
    if not commands:
        return
    argv = ["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    proc = subprocess.run(argv, input="\n".join(commands) + "\n", capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise LabError(f"ip -batch failed: {' '.join(proc.stderr.split())[:400]}")


def sysctls(netns: str, settings: dict[str, str]) -> None:
    args = [f"{k}={v}" for k, v in settings.items()]
    proc = subprocess.run(["ip", "netns", "exec", netns, "sysctl", "-qw", *args], capture_output=True, text=True,
                          timeout=30)
    if proc.returncode != 0:
        raise LabError(f"sysctl in {netns} failed: {' '.join(proc.stderr.split())[:300]}")


@dataclass
class Workload:
    name: str
    interface: str  # the node-side veth, as in the WorkloadEndpoint
    addresses: list[str]  # single addresses, IPv4 and/or IPv6
    netns: str = ""


@dataclass(frozen=True)
class FabricPort:
    """Where a node's eth0 plugs into a lab fabric (see fabric.py)."""

    netns: str  # the fabric's namespace
    port: str  # the veth end in the fabric namespace
    addresses: tuple[str, str]  # the node's eth0 addresses, IPv4 and IPv6, in the fabric subnets
    mac: str
    gateway: tuple[str, str]  # the fabric's own addresses, the nodes' default route
    gateway_mac: str


@dataclass
class NodeNetwork:
    """One node with its workloads, and behind eth0 either an outside world of its own or,
    when ``fabric`` is given, a lab fabric shared with other nodes."""

    prefix: str  # namespace name prefix, unique per lab
    host_addresses: list[str] = field(default_factory=list)  # on the node's eth0
    outside_addresses: list[str] = field(default_factory=list)  # reachable through eth0
    workloads: list[Workload] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    fabric: FabricPort | None = None

    @property
    def node(self) -> str:
        return f"{self.prefix}-node"

    @property
    def outside(self) -> str:
        return f"{self.prefix}-out"

    def up(self) -> None:
        try:
            self._up()
        except Exception:
            self.down()
            raise

    def _up(self) -> None:
        if self.fabric is None:
            self._uplink_to_outside()
        else:
            self._uplink_to_fabric(self.fabric)
        node_routes = [f"route add {a}/{_max(a)} via {OUTSIDE_LINK6[1] if ':' in a else OUTSIDE_LINK4[1]} dev eth0"
                       for a in self.outside_addresses if self.fabric is None]
        for w in self.workloads:
            w.netns = f"{self.prefix}-w-{w.name}"[:64]
            self._add_namespace(w.netns)
            ip_batch([f"link add {w.interface} type veth peer name eth0 netns {w.netns}",
                      f"link set {w.interface} address {NODE_GATEWAY_MAC}", f"link set {w.interface} up",
                      f"addr add {GATEWAY6}/64 dev {w.interface} nodad"], self.node)
            node_routes += [f"route add {a}/{_max(a)} dev {w.interface} scope link" for a in w.addresses]
            ip_batch(["link set eth0 up"]
                     + [f"addr add {a}/{_max(a)} dev eth0" + (" nodad" if ":" in a else "") for a in w.addresses]
                     + [f"route add {GATEWAY4} dev eth0 scope link", f"route add default via {GATEWAY4} dev eth0",
                        f"neigh add {GATEWAY4} lladdr {NODE_GATEWAY_MAC} dev eth0 nud permanent",
                        f"route add ::/0 via {GATEWAY6} dev eth0",
                        f"neigh add {GATEWAY6} lladdr {NODE_GATEWAY_MAC} dev eth0 nud permanent"], w.netns)
        ip_batch(node_routes, self.node)
        # Conntrack checks UDP-Lite checksums against a UDP pseudo header, so with checksum checks
        # on it calls every UDP-Lite packet INVALID; the lab's nodes leave checksums to the endpoints.
        # Reverse-path filtering is per interface: the agent makes each workload interface's
        # strict, or off where the endpoint allows spoofed prefixes (Felix's endpoint_mgr.go);
        # interfaces made later start strict.
        node_sysctls = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1",
                        "net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.default.rp_filter": "1",
                        "net.netfilter.nf_conntrack_checksum": "0"}
        for w in self.workloads:
            node_sysctls[f"net.ipv4.conf.{w.interface}.proxy_arp"] = "1"
            node_sysctls[f"net.ipv6.conf.{w.interface}.proxy_ndp"] = "1"
        sysctls(self.node, node_sysctls)
        if self.fabric is None:
            sysctls(self.outside, {"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.default.rp_filter": "0"})

    def _uplink_to_outside(self) -> None:
        for ns in (self.node, self.outside):
            self._add_namespace(ns)
        ip_batch([f"link add eth0 type veth peer name ext0 netns {self.outside}", "link set eth0 up",
                  f"addr add {OUTSIDE_LINK4[0]}/30 dev eth0", f"addr add {OUTSIDE_LINK6[0]}/64 dev eth0 nodad"]
                 + [f"addr add {a}/{_max(a)} dev eth0" + (" nodad" if ":" in a else "") for a in self.host_addresses],
                 self.node)
        outside = ["link set ext0 up", f"addr add {OUTSIDE_LINK4[1]}/30 dev ext0",
                   f"addr add {OUTSIDE_LINK6[1]}/64 dev ext0 nodad",
                   f"route add default via {OUTSIDE_LINK4[0]}", f"route add ::/0 via {OUTSIDE_LINK6[0]}"]
        outside += [f"addr add {a}/{_max(a)} dev ext0" + (" nodad" if ":" in a else "") for a in self.outside_addresses]
        ip_batch(outside, self.outside)

    def _uplink_to_fabric(self, fabric: FabricPort) -> None:
        self._add_namespace(self.node)
        (v4, v6), (gw4, gw6) = fabric.addresses, fabric.gateway
        ip_batch([f"link add eth0 address {fabric.mac} type veth peer name {fabric.port} netns {fabric.netns}",
                  "link set eth0 up", f"addr add {v4}/24 dev eth0", f"addr add {v6}/64 dev eth0 nodad",
                  f"neigh add {gw4} lladdr {fabric.gateway_mac} dev eth0 nud permanent",
                  f"neigh add {gw6} lladdr {fabric.gateway_mac} dev eth0 nud permanent",
                  f"route add default via {gw4}", f"route add ::/0 via {gw6}"]
                 + [f"addr add {a}/{_max(a)} dev eth0" + (" nodad" if ":" in a else "") for a in self.host_addresses],
                 self.node)
        ip_batch([f"link set {fabric.port} master br0", f"link set {fabric.port} up"], fabric.netns)

    def _add_namespace(self, name: str) -> None:
        proc = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise LabError(f"cannot create network namespace {name}: {proc.stderr.strip()}")
        self.namespaces.append(name)
        ip_batch(["link set lo up"], name)

    def down(self) -> None:
        """Delete every namespace this network created (their veths go with them)."""
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        self.namespaces.clear()

    def namespace_of(self, address: str) -> str:
        """The namespace that owns an address: a workload, the node or the outside."""
        for w in self.workloads:
            if address in w.addresses:
                return w.netns
        if address in self.host_addresses:
            return self.node
        if address in self.outside_addresses and self.fabric is None:
            return self.outside
        raise LabError(f"no namespace holds {address}")


def _max(address: str) -> int:
    return ipaddress.ip_address(address).max_prefixlen
