"""Kernel against model: every scenario packet, sent for real through a lab node that the
dataplane programmed, in all four override modes. The model is the oracle: what arrived
must be what it says the kernel does, and the LOG lines must carry its prefixes in order."""

from __future__ import annotations

import hashlib
import itertools
import os
from typing import Iterator

import pytest

from tortie.config import effective_config
from tortie.dataplane import Dataplane, Runner
from tortie.lab.network import NodeNetwork, Workload
from tortie.lab.probe import probe
from tortie.model import evaluate, route

from .scenarios import Case, load_cases

OVERRIDES = ("Drop", "Accept", "LogAndDrop", "LogAndAccept")
_ports = itertools.count(20000 + os.getpid() % 10000)


def unsupported(case: Case) -> str | None:
    """Why the lab cannot send this packet faithfully yet, or None."""
    p = case.packet
    if p.get("state", "new") != "new":
        return "conntrack state other than new"
    if "inIface" in p or "outIface" in p:
        view = case.view()
        packet = case.build_packet(view)
        if (packet.in_iface, packet.out_iface) != route(view, packet.src, packet.dst):
            return "placed on an interface the lab does not route through"
    if str(p["proto"]).upper() == "ICMPV6" and p.get("icmpType") in (130, 131, 132, 133, 135, 136):
        return "neighbour discovery"
    return None


CASES = [(c, o) for c in load_cases() for o in OVERRIDES]


def _addresses(case: Case) -> set[str]:
    from tortie.ctl.explain import parse_endpoint
    return {parse_endpoint(str(case.packet[k]), k)[0] for k in ("src", "dst")}


@pytest.fixture(scope="module")
def labs() -> Iterator[dict[str, NodeNetwork]]:
    built: dict[str, NodeNetwork] = {}
    try:
        yield built
    finally:
        for lab in built.values():
            lab.down()


def _lab(labs: dict[str, NodeNetwork], case: Case) -> NodeNetwork:
    if case.file in labs:
        return labs[case.file]
    view = case.view()
    workloads, host = [], []
    for i, ep in enumerate(sorted(view.endpoints.values(), key=lambda e: e.key)):
        addresses = [str(a.network_address) for a in ep.entity.addresses]
        if ep.entity.kind == "WorkloadEndpoint" and ep.entity.interface:
            workloads.append(Workload(f"w{i}", ep.entity.interface, addresses))
        elif ep.entity.kind == "HostEndpoint":
            host += addresses
    local = {a for w in workloads for a in w.addresses} | set(host)
    outside = sorted({a for c in load_cases() if c.file == case.file and not unsupported(c)
                      for a in _addresses(c)} - local)
    tag = hashlib.sha1(f"{case.file}{os.getpid()}".encode()).hexdigest()[:6]
    lab = NodeNetwork(f"tortie-d{tag}", host, outside, workloads)
    lab.up()
    labs[case.file] = lab
    return lab


@pytest.mark.parametrize("case,override", CASES,
                         ids=[f"{c.id} {o}" + (f" [skip: {unsupported(c)}]" if unsupported(c) else "")
                              for c, o in CASES])
def test_kernel_equals_model(labs: dict[str, NodeNetwork], case: Case, override: str) -> None:
    reason = unsupported(case)
    if reason:
        pytest.skip(reason)
    lab = _lab(labs, case)
    view = case.view()
    config = effective_config(case.node, {**case.config, "dropActionOverride": override}, case.node_config,
                              "/nonexistent", {})
    interfaces = {"eth0": set(lab.host_addresses)}
    Dataplane(Runner(lab.node)).program(view, config, interfaces)
    base = case.build_packet(view)
    port = next(_ports)
    icmp = base.protocol in (1, 58)
    packet = base.__class__(**{**base.__dict__, "sport": port if not icmp else None})
    model = evaluate(view, config, packet, interfaces)
    proto = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}[packet.protocol]
    target = f"{packet.icmp_type}/{packet.icmp_code or 0}" if icmp else str(packet.dport)
    kernel = probe(lab.namespace_of(packet.src), packet.src, lab.namespace_of(packet.dst), packet.dst, proto, port,
                   target)
    story = "\n".join(f"  {s['step']}: {s['events']}" for s in model.trace)
    assert kernel.arrived == (model.action == "accept"), f"model says {model.action}:\n{story}\nlogs: {kernel.logs}"
    assert kernel.prefixes == model.log_prefixes, f"{kernel.logs}\n{story}"
