"""The node plan: which endpoint governs each interface (and the kernel and the model both
obey it), which rules apply per family, denials named once, reuse by identity."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from hypothesis import given, settings

from tortie.calc import Calculator, resource_id
from tortie.config import settings_for
from tortie.core import Direction, Stage
from tortie.dataplane import Dataplane, Runner, read_interfaces, rule_text
from tortie.datastore import ResourceClient
from tortie.lab.network import NodeNetwork
from tortie.lab.traffic import probe
from tortie.model import Packet, evaluate
from tortie.plan import InterfaceKind, PlanCache, build_plan, policy_denial
from tortie.render import RenderCache, render
from tortie.resources import load_resource
from tortie.store import open_store

from .profiles import examples
from .test_calc import histories

API = "projectcalico.org/v3"
HOST, OUTSIDE = "198.18.43.1", "198.18.44.1"
TORTIE = str(Path(sys.executable).with_name("tortie"))


def _doc(kind: str, name: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return load_resource({"apiVersion": API, "kind": kind, "metadata": {"name": name, **meta}, "spec": spec}).output()


def _hep(name: str, **spec: Any) -> dict[str, Any]:
    return _doc("HostEndpoint", name, {"node": "n1", **spec}, labels={"hep": name})


def _allow_udp(name: str, hep: str, port: int) -> dict[str, Any]:
    return _doc("GlobalNetworkPolicy", name, {"selector": f"hep == '{hep}'", "types": ["Ingress"], "ingress": [
        {"action": "Allow", "protocol": "UDP", "destination": {"ports": [port]}}]})


# The reproduction of issue 11: a-byip claims eth0 by its address, b-named by its name. Each has
# a policy of its own: a-byip lets UDP 7001 in, b-named UDP 7002.
TIE = [_hep("a-byip", expectedIPs=[HOST]), _hep("b-named", interfaceName="eth0"),
       _allow_udp("for-a", "a-byip", 7001), _allow_udp("for-b", "b-named", 7002)]


def _view(docs: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
    calc = Calculator("n1")
    calc.load(docs)
    return calc.view()


def test_the_host_endpoint_whose_name_sorts_first_governs_an_interface() -> None:
    plan = build_plan(_view(TIE), settings_for("n1"), {"eth0": frozenset({HOST}), "eth1": frozenset()})
    governor = plan.governor("eth0")
    assert (governor.kind, governor.endpoint.entity.name) == (InterfaceKind.HOST, "a-byip")  # type: ignore[union-attr]
    assert plan.warnings == ("interface eth0 is claimed by host endpoints a-byip, b-named: a-byip governs it "
                             "(its name sorts first)",)
    assert plan.governor("eth1").kind is InterfaceKind.OTHER


def test_names_addresses_stars_and_exclusions() -> None:
    docs = [_hep("z-star", interfaceName="*"), _hep("a-star", interfaceName="*"),
            _hep("m-named", interfaceName="eth2"),  # names another interface: never matches eth1 by address
            _hep("n-byip", expectedIPs=["198.18.45.1"]), _hep("x-excluded", expectedIPs=["198.18.46.1"])]
    interfaces = {"eth1": frozenset({"198.18.45.1"}), "veth0": frozenset({"198.18.46.1"}), "lo": frozenset(),
                  "cali12": frozenset()}
    plan = build_plan(_view(docs), settings_for("n1", {"interfaceExclude": "kube-ipvs0,/^veth/"}), interfaces)
    names = {iface: plan.governor(iface).endpoint.entity.name if plan.governor(iface).endpoint else None
             for iface in ("eth1", "eth2", "eth3", "veth0", "lo", "kube-ipvs0")}
    assert names == {"eth1": "n-byip", "eth2": "m-named", "eth3": "a-star", "veth0": None, "lo": None,
                     "kube-ipvs0": None}
    assert plan.excluded == ("kube-ipvs0", "veth0")  # the addresses of excluded interfaces are not looked at
    assert plan.governor("cali12").kind is InterfaceKind.WORKLOAD and plan.governor("cali12").endpoint is None
    assert any("a-star, z-star" in w for w in plan.warnings)


def test_kernel_and_model_follow_the_same_host_endpoint() -> None:
    lab = NodeNetwork(f"tortie-p{uuid.uuid4().hex[:6]}", [HOST], [OUTSIDE], [])
    lab.up()
    try:
        runner = Runner(lab.node)
        plan = build_plan(_view(TIE), settings_for("n1"), read_interfaces(lab.node))
        Dataplane(runner).program(plan)
        assert plan.governor("eth0").endpoint.entity.name == "a-byip"  # type: ignore[union-attr]
        outcomes = {}
        for port, sport in ((7001, 25001), (7002, 25002)):
            model = evaluate(plan, Packet(OUTSIDE, HOST, 17, sport, port, in_iface="eth0", out_iface=None))
            kernel = probe(lab.outside, OUTSIDE, lab.node, HOST, "udp", sport, str(port))
            assert kernel.arrived == (model.action == "accept"), model.trace
            outcomes[port] = kernel.arrived
        assert outcomes == {7001: True, 7002: False}  # a-byip's policy, not b-named's
    finally:
        lab.down()


def test_explain_names_the_governing_host_endpoint_and_the_tie(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/store.db"
    with open_store(url) as store:
        client = ResourceClient(store)
        client.ensure_defaults()
        for doc in TIE:
            client.create(load_resource(doc))
    out = subprocess.run([TORTIE, "--datastore", url, "explain", "--node", "n1", "--src", f"{OUTSIDE}:25003",
                          "--dst", f"{HOST}:7002", "--proto", "UDP", "-o", "json", "--config-file", "/dev/null"],
                         capture_output=True, text=True, timeout=60)
    result = json.loads(out.stdout)
    assert (result["verdict"], result["deniedBy"]) == ("deny", "default|for-a|-1|deny")
    assert any("HostEndpoint a-byip" in step["step"] for step in result["trace"])
    assert any("a-byip, b-named" in p for p in result["problems"])


def test_rules_per_family_and_denials_are_decided_once() -> None:
    docs = [_hep("h", interfaceName="eth0"), _doc("GlobalNetworkPolicy", "p", {"selector": "all()", "ingress": [
        {"action": "Deny", "protocol": "ICMP"}, {"action": "Deny", "source": {"nets": ["2001:db8::/32"]}},
        {"action": "Log", "protocol": "TCP"}, {"action": "Allow"}]})]
    plan = build_plan(_view(docs), settings_for("n1", {"prometheusReporterEnabled": True}))
    ruleset = plan.endpoints["HostEndpoint/h"].tiers_at(Stage.NORMAL, Direction.INGRESS)[0].policies[0].ingress
    assert [(r.skip(4), r.skip(6)) for r in ruleset.rules] == [
        (None, "ICMP protocol of the other IP version"), ("no IPv4 CIDR in source nets", None), (None, None), (None, None)]
    assert ruleset.rules[0].denial is policy_denial("default", "p", Direction.INGRESS, 0)
    rendered = render(plan)
    # The renderer's NFLOG table is what it rendered: both deny rules, the end of the tier, no match.
    assert sorted(rendered.nflog) == ["DPI-1|default|p", "DPI0|default|p", "DPI1|default|p", "DRE0|__NO_MATCH__",
                                      "DRI0|__NO_MATCH__"]
    assert rendered.nflog["DPI1|default|p"].label == "default|p|1|deny"


def test_plans_of_unchanged_objects_are_reused() -> None:
    calc = Calculator("n1")
    calc.load(TIE)
    cache = PlanCache()
    settings = settings_for("n1")
    first = build_plan(calc.view(), settings, {"eth0": frozenset({HOST})}, cache)
    calc.update(_allow_udp("for-b", "b-named", 7003))
    second = build_plan(calc.view(), settings, {"eth0": frozenset({HOST})}, cache)
    a, b = "HostEndpoint/a-byip", "HostEndpoint/b-named"
    assert second.endpoints[a] is first.endpoints[a]
    assert second.endpoints[b] is not first.endpoints[b]
    assert build_plan(calc.view(), settings_for("n1", {"dropActionOverride": "Accept"}), {},
                      cache).endpoints[a] is first.endpoints[a]  # plans do not depend on the override
    assert build_plan(calc.view(), settings_for("n1", {"logPrefix": "x"}), {}, cache).endpoints[a] \
        is not first.endpoints[a]  # they do on the logPrefix template


def _rendered(rendered: Any) -> Any:
    return ({key: {name: [rule_text(r) for r in chain.rules] for name, chain in table.chains.items()}
             for key, table in rendered.tables.items()},
            {name: (s.family, s.type, s.members) for name, s in rendered.ipsets.items()}, dict(rendered.nflog))


@settings(max_examples=examples(100))
@given(histories())
def test_cached_plans_and_renders_equal_fresh_ones(history: list[tuple[str, dict[str, Any]]]) -> None:
    """Plan and render reuse by identity (calc/view.py's contract); after every change what
    they give is what planning and rendering from scratch gives."""
    calc = Calculator("n1")
    typed = settings_for("n1", {"prometheusReporterEnabled": True, "dropActionOverride": "LogAndDrop"})
    plans, renders = PlanCache(), RenderCache()
    for op, doc in history:
        if op == "delete":
            calc.delete(*resource_id(doc))
        else:
            calc.update(doc)
        view = calc.view()
        cached = render(build_plan(view, typed, {}, plans), renders)
        assert _rendered(cached) == _rendered(render(build_plan(view, typed, {}))), (op, doc)
