"""Anti-spoofing (issue 15, class 2), the kernel as the judge: a workload cannot send as
another workload, nor from an address a policy trusts (a GlobalNetworkSet, rule ``nets``),
except from the prefixes its endpoint lists in ``allowSpoofedSourcePrefixes`` while
``workloadSourceSpoofing`` is Any (Felix's raw-table rpfilter, rpf-skip chain and per-interface
rp_filter). Forged IPv4 and IPv6 UDP goes out of raw sockets; the model, and ``tortie explain``
on a datastore holding the same resources, must agree."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from tortie.calc import Calculator
from tortie.config import settings_for
from tortie.core import UDP
from tortie.dataplane import Dataplane, Runner, read_interfaces
from tortie.lab.network import NodeNetwork, Workload
from tortie.lab.traffic import probe
from tortie.model import Packet, evaluate
from tortie.plan import Plan, build_plan
from tortie.resources import load_resource

from .cli import run_cli

API = "projectcalico.org/v3"
ATTACKER, SERVER, PEER = "attacker", "server", "peer"
ADDRESSES = {ATTACKER: ("198.18.50.1", "2001:db8:50::1"), SERVER: ("198.18.50.2", "2001:db8:50::2"),
             PEER: ("198.18.50.3", "2001:db8:50::3")}
IFACES = {ATTACKER: "calis0", SERVER: "calis1", PEER: "calis2"}
TRUSTED_SET = ("198.19.77.0/24", "2001:db8:77::/64")  # a GlobalNetworkSet the server trusts
TRUSTED_NETS = ("198.19.88.0/24", "2001:db8:88::/64")  # a rule's nets the server trusts
ALLOWED_SPOOF = ["198.19.77.0/28", "2001:db8:77::/124"]  # inside TRUSTED_SET
PORT = 7000
_ports = itertools.count(30000 + os.getpid() % 5000)


@pytest.fixture(scope="module")
def lab() -> Iterator[NodeNetwork]:
    net = NodeNetwork(f"tortie-s{uuid.uuid4().hex[:6]}", [], [],
                      [Workload(name, IFACES[name], list(ADDRESSES[name])) for name in (ATTACKER, SERVER, PEER)])
    net.up()
    try:
        yield net
    finally:
        net.down()


def _wep(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "WorkloadEndpoint", "metadata": {
        "name": f"n1-k8s-{name}-eth0", "namespace": "spoof", "labels": {"app": name}}, "spec": {
        "node": "n1", "orchestrator": "k8s", "pod": name, "endpoint": "eth0", "interfaceName": IFACES[name],
        "profiles": ["kns.spoof"], "ipNetworks": [f"{ADDRESSES[name][0]}/32", f"{ADDRESSES[name][1]}/128"], **spec}}


def _world(spoofing: list[str] | None) -> list[Any]:
    """The server takes UDP only from the peer, the trusted set and the trusted nets."""
    docs = [
        {"apiVersion": API, "kind": "Profile", "metadata": {"name": "kns.spoof"},
         "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}},
        {"apiVersion": API, "kind": "GlobalNetworkSet", "metadata": {"name": "trusted", "labels": {"trust": "yes"}},
         "spec": {"nets": list(TRUSTED_SET)}},
        {"apiVersion": API, "kind": "GlobalNetworkPolicy", "metadata": {"name": "server"}, "spec": {
            "selector": f"app == '{SERVER}'", "types": ["Ingress"], "ingress": [
                {"action": "Allow", "protocol": "UDP", "source": {"selector": f"app == '{PEER}'"}},
                {"action": "Allow", "protocol": "UDP", "source": {"selector": "trust == 'yes'"}},
                *({"action": "Allow", "protocol": "UDP", "source": {"nets": [net]}} for net in TRUSTED_NETS)]}},
        _wep(SERVER), _wep(PEER),
        _wep(ATTACKER, **({"allowSpoofedSourcePrefixes": spoofing} if spoofing else {})),
    ]
    return [load_resource(d).output() for d in docs]


def _program(lab: NodeNetwork, tmp: Path, spoofing: list[str] | None, config: dict[str, Any]) -> tuple[Plan, str]:
    """Program the node with the world and ``config``; write both into a datastore of their
    own for ``tortie explain``. Returns the plan and the datastore's URL."""
    world = _world(spoofing)
    calc = Calculator("n1")
    calc.load(world)
    runner = Runner(lab.node)
    plan = build_plan(calc.view(), settings_for("n1", config), read_interfaces(runner.netns))
    Dataplane(runner).program(plan)
    datastore = f"sqlite://{tmp}/spoofing.db"
    felix = {"apiVersion": API, "kind": "FelixConfiguration", "metadata": {"name": "default"}, "spec": config}
    code, out, err = run_cli(["apply", "-f", "-"], datastore=datastore, stdin=yaml.safe_dump_all([*world, felix]))
    assert code == 0, out + err
    return plan, datastore


def _send(lab: NodeNetwork, programmed: tuple[Plan, str], src: str, family: int) -> bool:
    """Forged UDP from the attacker's namespace with source ``src`` to the server: whether it
    arrived, after checking that the model and ``tortie explain --from-workload`` say the same."""
    plan, datastore = programmed
    attacker, server = lab.workloads[0], lab.workloads[1]
    dst = ADDRESSES[SERVER][0 if family == 4 else 1]
    sport = next(_ports)
    kernel = probe(attacker.netns, src, server.netns, dst, "udp-forged", sport, str(PORT))
    model = evaluate(plan, Packet(src, dst, UDP.number, sport, PORT, in_iface=attacker.interface,
                                  out_iface=server.interface))
    story = "\n".join(f"  {s['step']}: {s['events']}" for s in model.trace)
    assert kernel.arrived == (model.action == "accept"), f"{src}: kernel arrived={kernel.arrived}\n{story}"
    code, out, err = run_cli(
        ["explain", "--from-workload", f"spoof/{ATTACKER}", "--src", f"[{src}]:{sport}" if family == 6 else
         f"{src}:{sport}", "--dst", f"[{dst}]:{PORT}" if family == 6 else f"{dst}:{PORT}", "--proto", "UDP",
         "--config-file", "/dev/null", "-o", "json"], datastore=datastore)
    assert code == 0, out + err
    explained = json.loads(out)
    assert explained["inInterface"] == attacker.interface, out
    assert kernel.arrived == (explained["action"] == "accept"), f"{src}: kernel arrived={kernel.arrived}\n{out}"
    return kernel.arrived


def _rp_filter(lab: NodeNetwork, iface: str) -> str:
    return subprocess.run(["ip", "netns", "exec", lab.node, "cat", f"/proc/sys/net/ipv4/conf/{iface}/rp_filter"],
                          capture_output=True, text=True, check=True, timeout=10).stdout.strip()


@pytest.mark.parametrize("family", [4, 6])
def test_a_workload_cannot_send_as_another_or_as_a_trusted_source(lab: NodeNetwork, tmp_path: Path,
                                                                   family: int) -> None:
    programmed = _program(lab, tmp_path, None, {})
    i = 0 if family == 4 else 1
    assert _send(lab, programmed, ADDRESSES[PEER][i], family) is False  # another workload's address
    assert _send(lab, programmed, TRUSTED_SET[i].replace("0/", "5/").split("/")[0], family) is False
    assert _send(lab, programmed, TRUSTED_NETS[i].replace("0/", "5/").split("/")[0], family) is False
    assert _send(lab, programmed, ADDRESSES[ATTACKER][i], family) is False  # its own: the policy denies it
    peer, server = lab.workloads[2], lab.workloads[1]
    honest = probe(peer.netns, ADDRESSES[PEER][i], server.netns, ADDRESSES[SERVER][i], "udp-forged", next(_ports),
                   str(PORT))
    assert honest.arrived  # the same raw packet from the peer itself is let through
    assert {_rp_filter(lab, iface) for iface in IFACES.values()} == {"1"}


@pytest.mark.parametrize("family", [4, 6])
def test_allowed_spoofed_prefixes_let_exactly_those_through(lab: NodeNetwork, tmp_path: Path, family: int) -> None:
    programmed = _program(lab, tmp_path, ALLOWED_SPOOF, {"workloadSourceSpoofing": "Any"})
    i = 0 if family == 4 else 1
    inside, outside = ("198.19.77.5", "198.19.77.20") if family == 4 else ("2001:db8:77::5", "2001:db8:77::20")
    assert _send(lab, programmed, inside, family) is True  # in the allowed prefix and trusted by the policy
    assert _send(lab, programmed, outside, family) is False  # trusted, but outside the allowed prefix
    assert _send(lab, programmed, ADDRESSES[PEER][i], family) is False
    assert _send(lab, programmed, TRUSTED_NETS[i].replace("0/", "5/").split("/")[0], family) is False
    assert _rp_filter(lab, IFACES[ATTACKER]) == "0" and _rp_filter(lab, IFACES[PEER]) == "1"


def test_spoofed_prefixes_without_workload_source_spoofing_any_make_the_endpoint_missing(lab: NodeNetwork,
                                                                                        tmp_path: Path) -> None:
    programmed = plan, _ = _program(lab, tmp_path, ALLOWED_SPOOF, {})
    assert any("allows spoofed source prefixes but FelixConfiguration workloadSourceSpoofing is not Any" in w
               for w in plan.warnings)
    assert IFACES[ATTACKER] not in plan.workloads  # its interface fails closed, as for an unknown one
    assert _send(lab, programmed, "198.19.77.5", 4) is False
    assert _rp_filter(lab, IFACES[ATTACKER]) == "1"
