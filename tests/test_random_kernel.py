"""Random policy sets, host endpoints and packets, kernel against model (bounded in count and time).

The worlds mix workload policies with host endpoints of every kind (named, ``*``, by
``expectedIPs``, several claiming one interface) and policies in every stage, and rules and
packets of every protocol of the table. Packets cross the node between workloads, the
outside world behind eth0 and the host itself. Packets that cross a host endpoint are
single datagrams (UDP, UDP-Lite, SCTP INIT, ICMP echo), so that what arrives is what the
policies did to that packet (a TCP handshake would also need its untracked replies allowed).
"""

from __future__ import annotations

import itertools
import os
import uuid
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tortie.calc import Calculator
from tortie.config import settings_for
from tortie.core import BY_NAME, ICMP, ICMPV6
from tortie.dataplane import Dataplane, Runner, read_interfaces
from tortie.lab.network import NodeNetwork, Workload
from tortie.lab.traffic import probe
from tortie.model import Packet, evaluate
from tortie.plan import build_plan
from tortie.resources import ResourceError, load_resource

from .profiles import examples

API = "projectcalico.org/v3"
WORKLOADS = [("w0", "calir0", ("198.18.40.1", "2001:db8:40::1"), {"app": "a", "tier": "x"}),
             ("w1", "calir1", ("198.18.40.2", "2001:db8:40::2"), {"app": "b", "tier": "x"}),
             ("w2", "calir2", ("198.18.40.3", "2001:db8:40::3"), {"app": "a", "tier": "y"})]
HOST, OUTSIDE = "198.18.41.1", "198.18.42.1"  # on the node's eth0; behind it
_ports = itertools.count(24000 + os.getpid() % 5000)


@pytest.fixture(scope="module")
def lab() -> Iterator[NodeNetwork]:
    net = NodeNetwork(f"tortie-r{uuid.uuid4().hex[:6]}", [HOST], [OUTSIDE],
                      [Workload(name, iface, list(addresses)) for name, iface, addresses, _ in WORKLOADS])
    net.up()
    try:
        yield net
    finally:
        net.down()


selectors = st.sampled_from(["app == 'a'", "app == 'b'", "tier == 'x'", "all()", "!has(tier)", "tier in {'x', 'y'}",
                             "app != 'a'", "host == 'yes'", "hostname == 'a'", "has(hostname) && hostname != 'b'"])
ports = st.lists(st.sampled_from([80, 443, 8080, "1000:2000"]), min_size=1, max_size=2, unique=True)
protocols = st.sampled_from([None, *BY_NAME])
nets = st.sampled_from(["198.18.40.0/30", "198.18.40.3/32", "203.0.113.0/24", "198.18.42.0/24", "2001:db8:40::/126",
                        "2001:db8:40::3/128"])


@st.composite
def rules(draw: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"action": draw(st.sampled_from(["Allow", "Deny", "Pass", "Log"]))}
    proto = draw(protocols)
    if proto is not None:
        rule["protocol"] = proto
    if proto in ("TCP", "UDP") and draw(st.booleans()):
        rule["destination"] = {draw(st.sampled_from(["ports", "notPorts"])): draw(ports)}
    if proto in ("ICMP", "ICMPv6") and draw(st.booleans()):
        rule[draw(st.sampled_from(["icmp", "notICMP"]))] = {"type": draw(st.sampled_from([8, 128, 3]))}
    if draw(st.integers(0, 5)) == 0:
        rule["notProtocol"] = draw(st.sampled_from(list(BY_NAME)))
    if draw(st.integers(0, 5)) == 0:
        rule["ipVersion"] = draw(st.sampled_from([4, 6]))
    if draw(st.booleans()):
        rule["source"] = {draw(st.sampled_from(["selector", "notSelector"])): draw(selectors)}
    if draw(st.integers(0, 3)) == 0:
        side = rule.setdefault(draw(st.sampled_from(["source", "destination"])), {})
        side[draw(st.sampled_from(["nets", "notNets"]))] = [draw(nets)]
    return rule


STAGES = [{}, {"applyOnForward": True}, {"doNotTrack": True, "applyOnForward": True},
          {"preDNAT": True, "applyOnForward": True}]
# A host endpoint: its name (the tie-break order), and how it claims an interface.
HEP_KINDS = {"named": {"interfaceName": "eth0"}, "ip": {"expectedIPs": [HOST]}, "star": {"interfaceName": "*"},
             "elsewhere": {"interfaceName": "eth9"}}
# Where packets come from and go to: a workload (by index), the outside world, the host.
PLACES = [0, 1, 2, "outside", "host"]


@st.composite
def worlds(draw: Any) -> tuple[list[dict[str, Any]], dict[str, Any], list[tuple[Any, Any, str, int, int]]]:
    docs: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 3))):
        stage = draw(st.sampled_from(STAGES))
        types = [["Ingress"], ["Egress"], ["Ingress", "Egress"]]
        spec = {"selector": draw(selectors), "order": draw(st.sampled_from([1, 2, None])), **stage,
                "ingress": draw(st.lists(rules(), max_size=3)),
                "egress": [] if "preDNAT" in stage else draw(st.lists(rules(), max_size=2)),
                "types": ["Ingress"] if "preDNAT" in stage else draw(st.sampled_from(types))}
        docs.append({"apiVersion": API, "kind": "GlobalNetworkPolicy", "metadata": {"name": f"p{i}"}, "spec": spec})
    if draw(st.booleans()):
        docs.append({"apiVersion": API, "kind": "Profile", "metadata": {"name": "kns.r"},
                     "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}})
    for name, iface, addresses, labels in WORKLOADS:
        docs.append({"apiVersion": API, "kind": "WorkloadEndpoint", "metadata": {"name": name, "namespace": "r",
                                                                                  "labels": labels},
                     "spec": {"node": "n1", "interfaceName": iface, "ipNetworks": [f"{a}/{32 if '.' in a else 128}"
                                                                                   for a in addresses],
                              "profiles": ["kns.r"]}})
    heps = draw(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from(list(HEP_KINDS))), max_size=3,
                         unique_by=lambda h: h[0]))
    for letter, kind in heps:
        docs.append({"apiVersion": API, "kind": "HostEndpoint",
                     "metadata": {"name": f"{letter}-hep", "labels": {"host": "yes", "hostname": letter}},
                     "spec": {"node": "n1", **HEP_KINDS[kind], "profiles": draw(st.sampled_from([[], ["kns.r"]]))}})
    config = {"dropActionOverride": draw(st.sampled_from(["Drop", "Accept", "LogAndDrop", "LogAndAccept"])),
              "defaultEndpointToHostAction": draw(st.sampled_from(["Drop", "Accept", "Return"]))}
    packets = draw(st.lists(st.tuples(st.sampled_from(PLACES), st.sampled_from(PLACES),
                                      st.sampled_from(["tcp", "udp", "udplite", "sctp", "icmp"]),
                                      st.sampled_from([80, 443, 1500, 8080]), st.sampled_from([4, 6]))
                            .filter(lambda p: p[0] != p[1]), min_size=1, max_size=4))
    return docs, config, packets


def _where(lab: NodeNetwork, place: Any, family: int) -> tuple[str, str, str | None]:
    """(namespace, address, interface on the node) of a place; the host has no interface."""
    if place == "host":
        return lab.node, HOST, None
    if place == "outside":
        return lab.outside, OUTSIDE, "eth0"
    w = lab.workloads[place]
    return w.netns, w.addresses[0 if family == 4 else 1], w.interface


@settings(max_examples=examples(15), suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                               HealthCheck.too_slow])
@given(worlds())
def test_random_policies_kernel_equals_model(lab: NodeNetwork, world: Any) -> None:
    docs, overrides, packets = world
    try:
        stored = [load_resource(d).output() for d in docs]
    except ResourceError:
        return  # an invalid combination (for example ICMP with ipVersion 6): nothing to compare
    calc = Calculator("n1")
    calc.load(stored)
    runner = Runner(lab.node)
    plan = build_plan(calc.view(), settings_for("n1", overrides), read_interfaces(runner))
    Dataplane(runner).program(plan)
    for src_place, dst_place, proto, port, family in packets:
        crosses_host = {src_place, dst_place} & {"outside", "host"}
        if crosses_host:  # single datagrams, IPv4 (no neighbour discovery through host policy)
            family, proto = 4, "udp" if proto == "tcp" else proto
        src_ns, src, in_iface = _where(lab, src_place, family)
        dst_ns, dst, out_iface = _where(lab, dst_place, family)
        sport = next(_ports)
        icmp = (ICMP if family == 4 else ICMPV6) if proto == "icmp" else None
        number = icmp.number if icmp else BY_NAME[{"udplite": "UDPLite"}.get(proto, proto.upper())].number
        echo = 8 if family == 4 else 128
        packet = Packet(src, dst, number, None if icmp else sport, None if icmp else port, echo if icmp else None,
                        0 if icmp else None, "new", in_iface, out_iface)
        model = evaluate(plan, packet)
        kernel = probe(src_ns, src, dst_ns, dst, proto, sport, f"{echo}/0" if icmp else str(port))
        story = "\n".join(f"  {s['step']}: {s['events']}" for s in model.trace)
        where = f"{proto}/{family} {src_place} -> {dst_place}:{port}"
        assert kernel.arrived == (model.action == "accept"), f"{where}\n{docs}\n{overrides}\n{story}"
        assert kernel.prefixes == model.log_prefixes, f"{where}\n{kernel.logs}\n{story}"
