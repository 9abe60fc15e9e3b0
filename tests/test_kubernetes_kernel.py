"""Kubernetes NetworkPolicies in a lab node: the upstream network-policy e2e cases that one node
can run (allow from a namespace, from a pod, to a named port, from an ipBlock with an except,
egress to a port range), with real packets. The kernel is the judge; the model must agree."""

from __future__ import annotations

import itertools
import os
import uuid
from typing import Any, Iterator

import pytest

from tortie.calc import Calculator
from tortie.config import settings_for
from tortie.core import TCP
from tortie.dataplane import Dataplane, Runner, read_interfaces
from tortie.lab.network import NodeNetwork, Workload
from tortie.lab.traffic import probe
from tortie.model import Packet, evaluate
from tortie.plan import build_plan
from tortie.resources import load_resource

API = "projectcalico.org/v3"
K8S = "networking.k8s.io/v1"
# name, namespace, labels, interface, address
PODS = [("web", "prod", {"app": "web"}, "caliweb", "198.18.50.1"),
        ("db", "prod", {"app": "db"}, "calidb", "198.18.50.2"),
        ("dev", "dev", {"app": "web"}, "calidev", "198.18.50.3")]
_ports = itertools.count(26000 + os.getpid() % 5000)


@pytest.fixture(scope="module")
def lab() -> Iterator[NodeNetwork]:
    net = NodeNetwork(f"tortie-k{uuid.uuid4().hex[:6]}", ["198.18.51.1"], [],
                      [Workload(name, iface, [address]) for name, _, _, iface, address in PODS])
    net.up()
    try:
        yield net
    finally:
        net.down()


def world() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"team": ns}}}
        for ns in ("prod", "dev")]
    for name, ns, labels, iface, address in PODS:
        docs.append({"apiVersion": API, "kind": "WorkloadEndpoint",
                     "metadata": {"name": f"n1-k8s-{name}-eth0", "namespace": ns, "labels": labels},
                     "spec": {"node": "n1", "orchestrator": "k8s", "pod": name, "endpoint": "eth0",
                              "interfaceName": iface, "ipNetworks": [f"{address}/32"], "profiles": [f"kns.{ns}"],
                              "ports": [{"name": "pg", "protocol": "TCP", "port": 5432}]}})
    return docs


def policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": K8S, "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": "prod"}, "spec": spec}


DB = {"matchLabels": {"app": "db"}}
CASES = {
    "allow from a namespace": (policy("from-prod", {"podSelector": DB, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"team": "prod"}}}]}]}),
        [("web", "db", 5432, True), ("dev", "db", 5432, False)]),
    "allow from a pod (same namespace)": (policy("from-web", {"podSelector": DB, "ingress": [
        {"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]}),
        [("web", "db", 5432, True), ("dev", "db", 5432, False)]),
    "allow to a named port": (policy("to-pg", {"podSelector": DB, "ingress": [{"ports": [{"port": "pg"}]}]}),
                              [("web", "db", 5432, True), ("web", "db", 5433, False), ("dev", "db", 5432, True)]),
    "allow from an ipBlock with an except": (policy("block", {"podSelector": DB, "ingress": [{"from": [
        {"ipBlock": {"cidr": "198.18.50.0/29", "except": ["198.18.50.3/32"]}}]}]}),
        [("web", "db", 5432, True), ("dev", "db", 5432, False)]),
    "allow egress to a port range": (policy("egress-range", {
        "podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"],
        "egress": [{"ports": [{"port": 5000, "endPort": 5500}]}]}),
        [("web", "db", 5432, True), ("web", "db", 5501, False), ("dev", "db", 5501, True)]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_kubernetes_policy_in_the_kernel(lab: NodeNetwork, case: str) -> None:
    doc, packets = CASES[case]
    calc = Calculator("n1")
    calc.load([load_resource(d).output() for d in [*world(), doc]])
    runner = Runner(lab.node)
    plan = build_plan(calc.view(), settings_for("n1"), read_interfaces(lab.node))
    Dataplane(runner).program(plan)
    workloads = {w.name: w for w in lab.workloads}
    for src, dst, port, allowed in packets:
        s, d = workloads[src], workloads[dst]
        sport = next(_ports)
        model = evaluate(plan, Packet(s.addresses[0], d.addresses[0], TCP.number, sport, port, None, None, "new",
                                      s.interface, d.interface))
        kernel = probe(s.netns, s.addresses[0], d.netns, d.addresses[0], "tcp", sport, str(port))
        where = f"{case}: {src} -> {dst}:{port}"
        assert kernel.arrived is allowed, where
        assert (model.action == "accept") is allowed, f"{where}\n{model.trace}"
        if not allowed:
            name = doc["metadata"]["name"]
            assert model.denied_by == f"default|prod/knp.default.{name}|-1|deny", where
