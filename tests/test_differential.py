"""Kernel against model: every scenario packet, sent for real through a lab node that the
dataplane programmed, in all four override modes. The model is the oracle: what arrived
must be what it says the kernel does, and the LOG lines must carry its prefixes in order."""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
from typing import Iterator

import pytest

from tortie.calc import NodeView
from tortie.core import protocol
from tortie.dataplane import Dataplane, Runner, log_prefix
from tortie.lab.network import NodeNetwork, Workload
from tortie.lab.traffic import probe
from tortie.model import evaluate

from .scenarios import Case, load_cases

OVERRIDES = ("Drop", "Accept", "LogAndDrop", "LogAndAccept")
_ports = itertools.count(20000 + os.getpid() % 10000)


HOST, OUTSIDE = "host", "outside"


def _place(view: NodeView, address: str, iface: str | None, given: bool) -> str:
    """Where the lab must put an address so that the kernel routes the packet as the case says:
    on the node (host), behind eth0 (outside), or in a workload behind interface ``iface``."""
    if iface is None:
        return HOST
    workload_ifaces = {ep.entity.interface for ep in view.endpoints.values() if ep.entity.kind == "WorkloadEndpoint"}
    if iface in workload_ifaces or (given and iface.startswith("cali")):
        return iface  # a workload's, or a stray interface that no endpoint owns
    return OUTSIDE


@functools.cache
def placements(file: str) -> tuple[dict[str, str], dict[str, str]]:
    """For every address the file's packets use, where it lives; and the cases that would need
    one address in two places (those the lab cannot send)."""
    where: dict[str, str] = {}
    conflicts: dict[str, str] = {}
    for case in load_cases():
        if case.file != file:
            continue
        view = case.view()
        packet = case.build_packet(view)
        for address, iface, key in ((packet.src, packet.in_iface, "inIface"), (packet.dst, packet.out_iface, "outIface")):
            place = _place(view, address, iface, key in case.packet)
            if where.setdefault(address, place) != place:
                conflicts[case.id] = f"{address} is both in {where[address]} and {place}"
    return where, conflicts


def unsupported(case: Case) -> str | None:
    """Why the lab cannot send this packet faithfully, or None."""
    return placements(case.file)[1].get(case.id)


CASES = [(c, o) for c in load_cases() for o in OVERRIDES]


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
    where, _ = placements(case.file)
    interfaces: dict[str, list[str]] = {}
    host = [str(a.network_address) for ep in view.endpoints.values() if ep.entity.kind == "HostEndpoint"
            for a in ep.entity.addresses]
    for ep in view.endpoints.values():
        if ep.entity.kind == "WorkloadEndpoint" and ep.entity.interface:
            interfaces.setdefault(ep.entity.interface, []).extend(str(a.network_address) for a in ep.entity.addresses)
    for address, place in sorted(where.items()):
        if place == HOST:
            host.append(address)
        elif place != OUTSIDE and address not in interfaces.setdefault(place, []):
            interfaces[place].append(address)
    local = {a for addresses in interfaces.values() for a in addresses} | set(host)
    outside = sorted(set(where) - local)
    workloads = [Workload(f"w{i}", iface, addresses) for i, (iface, addresses) in enumerate(sorted(interfaces.items()))]
    tag = hashlib.sha1(f"{case.file}{os.getpid()}".encode()).hexdigest()[:6]
    lab = NodeNetwork(f"tortie-d{tag}", sorted(set(host)), outside, workloads)
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
    plan = case.plan({"eth0": frozenset(lab.host_addresses)}, dropActionOverride=override)
    Dataplane(Runner(lab.node)).program(plan)
    base = case.build_packet(plan.view)
    port = next(_ports)
    icmp = base.protocol in (1, 58)
    packet = base.__class__(**{**base.__dict__, "sport": port if not icmp else None})
    model = evaluate(plan, packet)
    proto = "icmp" if icmp else protocol(packet.protocol).iptables
    target = f"{packet.icmp_type}/{packet.icmp_code or 0}" if icmp else str(packet.dport)
    kernel = probe(lab.namespace_of(packet.src), packet.src, lab.namespace_of(packet.dst), packet.dst, proto, port,
                   target, state=packet.state, node_ns=lab.node)
    story = "\n".join(f"  {s['step']}: {s['events']}" for s in model.trace)
    assert kernel.arrived == (model.action == "accept"), f"model says {model.action}:\n{story}\nlogs: {kernel.logs}"
    # The model judges the opening packet; on an unknown interface, a connection that LogAndAccept
    # let through logs every later packet too (nothing there accepts established traffic first).
    opening = [log_prefix(line) for line in kernel.logs if proto != "tcp" or packet.state != "new" or " SYN " in line]
    assert opening == model.log_prefixes, f"{kernel.logs}\n{story}"
