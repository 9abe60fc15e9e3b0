"""Random policy sets and packets, kernel against model (bounded in count and time)."""

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
from tortie.dataplane import Dataplane, Runner
from tortie.lab.network import NodeNetwork, Workload
from tortie.lab.probe import probe
from tortie.model import Packet, evaluate
from tortie.plan import build_plan
from tortie.resources import ResourceError, load_resource

from .profiles import examples

API = "projectcalico.org/v3"
WORKLOADS = [("w0", "calir0", "198.18.40.1", {"app": "a", "tier": "x"}),
             ("w1", "calir1", "198.18.40.2", {"app": "b", "tier": "x"}),
             ("w2", "calir2", "198.18.40.3", {"app": "a", "tier": "y"})]
_ports = itertools.count(24000 + os.getpid() % 5000)


@pytest.fixture(scope="module")
def lab() -> Iterator[NodeNetwork]:
    net = NodeNetwork(f"tortie-r{uuid.uuid4().hex[:6]}", [], [],
                      [Workload(name, iface, [ip]) for name, iface, ip, _ in WORKLOADS])
    net.up()
    try:
        yield net
    finally:
        net.down()


selectors = st.sampled_from(["app == 'a'", "app == 'b'", "tier == 'x'", "all()", "!has(tier)", "tier in {'x', 'y'}",
                             "app != 'a'"])
ports = st.lists(st.sampled_from([80, 443, 8080, "1000:2000"]), min_size=1, max_size=2, unique=True)


@st.composite
def rules(draw: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"action": draw(st.sampled_from(["Allow", "Deny", "Pass", "Log"]))}
    if draw(st.booleans()):
        rule["protocol"] = draw(st.sampled_from(["TCP", "UDP"]))
        if draw(st.booleans()):
            rule["destination"] = {draw(st.sampled_from(["ports", "notPorts"])): draw(ports)}
    if draw(st.booleans()):
        rule["source"] = {draw(st.sampled_from(["selector", "notSelector"])): draw(selectors)}
    if draw(st.integers(0, 4)) == 0:
        side = rule.setdefault("source", {})
        side[draw(st.sampled_from(["nets", "notNets"]))] = [draw(st.sampled_from(
            ["198.18.40.0/30", "198.18.40.3/32", "203.0.113.0/24"]))]
    return rule


@st.composite
def worlds(draw: Any) -> tuple[list[dict[str, Any]], dict[str, Any], list[tuple[int, int, str, int]]]:
    docs: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 3))):
        spec = {"selector": draw(selectors), "order": draw(st.sampled_from([1, 2, None])),
                "ingress": draw(st.lists(rules(), max_size=3)), "egress": draw(st.lists(rules(), max_size=2)),
                "types": draw(st.sampled_from([["Ingress"], ["Egress"], ["Ingress", "Egress"]]))}
        docs.append({"apiVersion": API, "kind": "GlobalNetworkPolicy", "metadata": {"name": f"p{i}"}, "spec": spec})
    profile = draw(st.booleans())
    if profile:
        docs.append({"apiVersion": API, "kind": "Profile", "metadata": {"name": "kns.r"},
                     "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}})
    for name, iface, ip, labels in WORKLOADS:
        docs.append({"apiVersion": API, "kind": "WorkloadEndpoint", "metadata": {"name": name, "namespace": "r",
                                                                                  "labels": labels},
                     "spec": {"node": "n1", "interfaceName": iface, "ipNetworks": [f"{ip}/32"],
                              "profiles": ["kns.r"]}})
    config = {"dropActionOverride": draw(st.sampled_from(["Drop", "Accept", "LogAndDrop", "LogAndAccept"]))}
    packets = draw(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.sampled_from(["tcp", "udp"]),
                                      st.sampled_from([80, 443, 1500, 8080])).filter(lambda p: p[0] != p[1]),
                            min_size=1, max_size=3))
    return docs, config, packets


@settings(max_examples=examples(12), suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                               HealthCheck.too_slow])
@given(worlds())
def test_random_policies_kernel_equals_model(lab: NodeNetwork, world: Any) -> None:
    docs, overrides, packets = world
    try:
        stored = [load_resource(d).output() for d in docs]
    except ResourceError:
        return  # an invalid combination (for example ports with a notProtocol): nothing to compare
    calc = Calculator("n1")
    calc.load(stored)
    plan = build_plan(calc.view(), settings_for("n1", overrides))
    Dataplane(Runner(lab.node)).program(plan)
    for src_i, dst_i, proto, port in packets:
        src, dst = lab.workloads[src_i], lab.workloads[dst_i]
        sport = next(_ports)
        packet = Packet(src.addresses[0], dst.addresses[0], 6 if proto == "tcp" else 17, sport, port, None, None,
                        "new", src.interface, dst.interface)
        model = evaluate(plan, packet)
        kernel = probe(src.netns, src.addresses[0], dst.netns, dst.addresses[0], proto, sport, str(port))
        story = "\n".join(f"  {s['step']}: {s['events']}" for s in model.trace)
        assert kernel.arrived == (model.action == "accept"), f"{docs}\n{overrides}\n{story}"
        assert kernel.prefixes == model.log_prefixes, f"{kernel.logs}\n{story}"
