"""Random policy sets, host endpoints and packets, kernel against model (bounded in count and time).
Random staged policies come with them: the kernel must still equal the enforced model.

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
             ("w2", "calir2", ("198.18.40.3", "2001:db8:40::3"), {"app": "a", "tier": "y", "pcns.env": "r"})]
# Each workload's namespace and named ports: w2 lives in another namespace, so that named
# ports and notSelector-only sides of NetworkPolicies in "r" cross namespaces (and it claims
# namespace r's label, which Calico drops).
NAMESPACES = {"w0": "r", "w1": "r", "w2": "q"}
NAMED_PORTS = {"w1": [{"name": "web", "protocol": "TCP", "port": 8080}, {"name": "web", "protocol": "UDP", "port": 443}],
               "w2": [{"name": "web", "protocol": "TCP", "port": 80}, {"name": "dns", "protocol": "UDP", "port": 1500}]}
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
                             "app != 'a'", "host == 'yes'", "hostname == 'a'", "has(hostname) && hostname != 'b'",
                             "list == 'mixed'"])
ports = st.lists(st.sampled_from([80, 443, 8080, "1000:2000", "web", "dns"]), min_size=1, max_size=2, unique=True)
namespace_selectors = st.sampled_from(["all()", "global()", "projectcalico.org/name == 'q'", "!has(env)", "env == 'r'"])
protocols = st.sampled_from([None, *BY_NAME])
nets = st.sampled_from(["198.18.40.0/30", "198.18.40.3/32", "203.0.113.0/24", "198.18.42.0/24", "2001:db8:40::/126",
                        "2001:db8:40::3/128"])


@st.composite
def rules(draw: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"action": draw(st.sampled_from(["Allow", "Deny", "Pass", "Log"]))}
    proto = draw(protocols)
    if proto is not None:
        rule["protocol"] = proto
    if proto in ("TCP", "UDP", "SCTP") and draw(st.booleans()):
        rule["destination"] = {draw(st.sampled_from(["ports", "notPorts"])): draw(ports)}
    if proto in ("ICMP", "ICMPv6") and draw(st.booleans()):
        rule[draw(st.sampled_from(["icmp", "notICMP"]))] = {"type": draw(st.sampled_from([8, 128, 3]))}
    if draw(st.integers(0, 5)) == 0:
        rule["notProtocol"] = draw(st.sampled_from(list(BY_NAME)))
    if draw(st.integers(0, 5)) == 0:
        rule["ipVersion"] = draw(st.sampled_from([4, 6]))
    for side in ("source", "destination"):  # selector, notSelector alone, with a namespaceSelector
        if draw(st.integers(0, 2)) == 0:
            fields = draw(st.lists(st.sampled_from(["selector", "notSelector", "namespaceSelector"]), min_size=1,
                                   max_size=2, unique=True))
            rule.setdefault(side, {}).update({f: draw(namespace_selectors if f == "namespaceSelector" else selectors)
                                              for f in fields})
    if draw(st.integers(0, 3)) == 0:
        side = rule.setdefault(draw(st.sampled_from(["source", "destination"])), {})
        side[draw(st.sampled_from(["nets", "notNets"]))] = [draw(nets)]
    return rule


# Tiers: the default and built-in ones, and two that exist only when their Tier is drawn
# (either default action; a missing tier sorts last and denies at its end).
TIERS = ["default", "default", "kube-admin", "kube-baseline", "early", "late"]
TIER_DOCS = [("early", 10, "Pass"), ("early", 10, "Deny"), ("late", 2_000_000, "Pass"), ("late", 2_000_000, "Deny")]
STAGES = [{}, {"applyOnForward": True}, {"doNotTrack": True, "applyOnForward": True},
          {"preDNAT": True, "applyOnForward": True}]
# A host endpoint: its name (the tie-break order), and how it claims an interface.
HEP_KINDS: dict[str, dict[str, Any]] = {"named": {"interfaceName": "eth0"}, "ip": {"expectedIPs": [HOST]}, "star": {"interfaceName": "*"},
             "elsewhere": {"interfaceName": "eth9"}}
# Where packets come from and go to: a workload (by index), the outside world, the host.
PLACES = [0, 1, 2, "outside", "host"]


@st.composite
def policy_specs(draw: Any) -> dict[str, Any]:
    stage = draw(st.sampled_from(STAGES))
    types = [["Ingress"], ["Egress"], ["Ingress", "Egress"]]
    return {"selector": draw(selectors), "order": draw(st.sampled_from([1, 2, None])), **stage,
            "tier": draw(st.sampled_from(TIERS)), "ingress": draw(st.lists(rules(), max_size=3)),
            "egress": [] if "preDNAT" in stage else draw(st.lists(rules(), max_size=2)),
            "types": ["Ingress"] if "preDNAT" in stage else draw(st.sampled_from(types))}


@st.composite
def worlds(draw: Any) -> tuple[list[dict[str, Any]], dict[str, Any], list[tuple[Any, Any, str, int, int]]]:
    docs: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 3))):
        spec = draw(policy_specs())
        if not {"applyOnForward", "preDNAT", "doNotTrack"} & spec.keys() and draw(st.booleans()):
            docs.append({"apiVersion": API, "kind": "NetworkPolicy", "metadata": {"name": f"p{i}", "namespace": "r"},
                         "spec": spec})
        else:
            docs.append({"apiVersion": API, "kind": "GlobalNetworkPolicy", "metadata": {"name": f"p{i}"}, "spec": spec})
    # Staged policies, some named as enforced ones: they must change nothing in the kernel.
    for name in draw(st.lists(st.sampled_from(["p0", "p1", "p3"]), unique=True, max_size=2)):
        action = draw(st.sampled_from(["Set", "Delete", "Learn", "Ignore"]))
        spec = {"stagedAction": action} if action == "Delete" else {**draw(policy_specs()), "stagedAction": action}
        docs.append({"apiVersion": API, "kind": "StagedGlobalNetworkPolicy", "metadata": {"name": name}, "spec": spec})
    if draw(st.booleans()):  # a network set of both families: each family matches its own members
        docs.append({"apiVersion": API, "kind": "GlobalNetworkSet", "metadata": {"name": "mixed", "labels": {"list": "mixed"}},
                     "spec": {"nets": ["198.18.42.0/24", "2001:db8:40::2/128"]}})
    for name, order, action in draw(st.lists(st.sampled_from(TIER_DOCS), max_size=2, unique=True)):
        docs.append({"apiVersion": API, "kind": "Tier", "metadata": {"name": name},
                     "spec": {"order": order, "defaultAction": action}})
    if draw(st.booleans()):
        for namespace, labels in (("r", {"env": "r"}), ("q", {})):
            docs.append({"apiVersion": API, "kind": "Profile", "metadata": {"name": f"kns.{namespace}", "labels": labels},
                         "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}})
    for name, iface, addresses, labels in WORKLOADS:
        namespace = NAMESPACES[name]
        docs.append({"apiVersion": API, "kind": "WorkloadEndpoint", "metadata": {"name": name, "namespace": namespace,
                                                                                  "labels": labels},
                     "spec": {"node": "n1", "interfaceName": iface, "ipNetworks": [f"{a}/{32 if '.' in a else 128}"
                                                                                   for a in addresses],
                              "profiles": [f"kns.{namespace}"], "ports": NAMED_PORTS.get(name, [])}})
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
    plan = build_plan(calc.view(), settings_for("n1", overrides), read_interfaces(lab.node))
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
