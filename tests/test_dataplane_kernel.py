"""The dataplane against a real kernel, in throwaway network namespaces."""

from __future__ import annotations

import pytest

from tortie.calc import Calculator
from tortie.config import ChainInsertMode, settings_for
from tortie.dataplane import Dataplane, Runner
from tortie.plan import build_plan
from tortie.render import chain_name, render

from .scenarios import DIRECTORY, load_cases

FILES = sorted({c.file for c in load_cases()})
CONFIGS = [
    {"dropActionOverride": "Drop"},
    {"dropActionOverride": "LogAndAccept", "logDropActionOverride": True, "prometheusReporterEnabled": True,
     "logActionRateLimit": "10/second"},
    {"dropActionOverride": "Accept", "iptablesFilterAllowAction": "Return", "iptablesMangleAllowAction": "Return",
     "defaultEndpointToHostAction": "Return", "iptablesMarkMask": 0xF8},
    {"dropActionOverride": "LogAndDrop", "ipv6Support": False, "chainInsertMode": "Append",
     "disableConntrackInvalidCheck": True, "interfacePrefix": "cali,tap"},
]


def _world(file: str):  # type: ignore[no-untyped-def]
    case = next(c for c in load_cases() if c.file == file)
    return case.view()


def _count(runner: Runner, family: int = 4) -> tuple[int, int]:
    """(tortie chains, tortie sets) in the namespace."""
    out = "".join(runner.run([f"{'ip6' if family == 6 else 'ip'}tables-nft-save", "-t", t]) for t in
                  ("filter", "raw", "mangle"))
    chains = sum(1 for line in out.splitlines() if line.startswith(":cali-"))
    sets = sum(1 for line in runner.run(["ipset", "list", "-n"]).split() if line.startswith(("cali4", "cali6")))
    return chains, sets


@pytest.mark.parametrize("file", FILES)
@pytest.mark.parametrize("overrides", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_kernel_accepts_and_converges(netns: str, file: str, overrides: dict) -> None:
    settings = settings_for("n1", overrides)
    plan = build_plan(_world(file), settings, {"eth0": frozenset({"198.18.0.1"})})
    runner = Runner(netns)
    dataplane = Dataplane(runner, insert=settings.chain_insert_mode is ChainInsertMode.INSERT)
    first = dataplane.program(plan)
    assert first.wrote
    again = dataplane.program(plan)
    assert not again.wrote, {k: p.batch for k, p in again.plans.items() if p.batch}
    chains, sets = _count(runner)
    assert chains > 5
    dataplane.cleanup()
    assert _count(runner) == (0, 0)
    assert _count(runner, 6)[0] == 0


def test_tampering_is_repaired_and_foreign_rules_stay(netns: str) -> None:
    plan = build_plan(_world("worked-examples.yaml"), settings_for("n1", {"prometheusReporterEnabled": True}))
    runner = Runner(netns)
    runner.run(["iptables-nft", "-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "DROP"])
    dataplane = Dataplane(runner)
    dataplane.program(plan)
    tampering = [
        ["iptables-nft", "-D", "cali-tw-cali2222", "3"],
        ["iptables-nft", "-F", "cali-pi-np.prod.db-access"],
        ["iptables-nft", "-D", "INPUT", "1"],
        ["iptables-nft", "-A", "cali-fw-cali1111", "-j", "ACCEPT"],
        ["iptables-nft", "-I", "FORWARD", "1", "-j", "ACCEPT"],
    ]
    rendered = render(plan)
    a_set = next(s for s in rendered.ipsets.values() if s.members and s.family == 4)
    for command in tampering + [["ipset", "del", a_set.name, next(iter(a_set.members))]]:
        runner.run(command)
        assert dataplane.program(plan).wrote, command
        assert not dataplane.program(plan).wrote, command
    save = runner.run(["iptables-nft-save", "-t", "filter"])
    lines = [line for line in save.splitlines() if line.startswith("-A INPUT")]
    assert "cali:" in lines[0] and "--dport 9 -j DROP" in lines[1]  # ours first, the foreign rule kept
    forward = [line for line in save.splitlines() if line.startswith("-A FORWARD")]
    assert "cali:" in forward[0] and forward[1] == "-A FORWARD -j ACCEPT"
    assert a_set.name in runner.run(["ipset", "list", "-n"])


def test_a_policy_change_rewrites_only_its_own_chains(netns: str) -> None:
    case = next(c for c in load_cases() if c.file == "tiers.yaml")
    settings = settings_for("n1", {"prometheusReporterEnabled": True})
    calc = Calculator("n1")
    calc.load(case.docs)
    dataplane = Dataplane(Runner(netns))
    dataplane.program(build_plan(calc.view(), settings))
    doc = next(d for d in case.docs if d["metadata"]["name"] == "pass-web")
    changed = {**doc, "spec": {**doc["spec"], "ingress": doc["spec"]["ingress"][:2]}}
    calc.update(changed)
    result = dataplane.program(build_plan(calc.view(), settings))
    rewritten = {c for p in result.plans.values() for c in p.rewritten}
    assert rewritten == {chain_name("cali-pi-", "gnp.pass-web")}


def test_scenario_directory_is_present() -> None:
    assert DIRECTORY.is_dir() and FILES


def test_dispatch_tree_with_many_workloads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import hashlib
    import uuid

    from tortie.lab.network import NodeNetwork, Workload
    from tortie.lab.traffic import probe
    from tortie.resources import load_resource

    def iface(i: int) -> str:
        return "cali" + hashlib.sha1(f"t.w{i}".encode()).hexdigest()[:11]

    docs = [load_resource(d).output() for d in [
        {"apiVersion": "projectcalico.org/v3", "kind": "Profile", "metadata": {"name": "kns.t"},
         "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}},
        {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy", "metadata": {"name": "no-ssh"},
         "spec": {"selector": "all()", "ingress": [{"action": "Deny", "protocol": "TCP",
                                                    "destination": {"ports": [22]}}, {"action": "Pass"}]}},
    ] + [{"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
          "metadata": {"name": f"w{i}", "namespace": "t"},
          "spec": {"node": "n1", "interfaceName": iface(i), "ipNetworks": [f"198.18.30.{i + 1}/32"],
                   "profiles": ["kns.t"]}} for i in range(20)]]
    calc = Calculator("n1")
    calc.load(docs)
    plan = build_plan(calc.view(), settings_for("n1"))
    rendered = render(plan)
    subtrees = [c for c in rendered.tables[(4, "filter")].chains if c.startswith("cali-from-wl-dispatch-")]
    assert subtrees and len(rendered.tables[(4, "filter")].chains["cali-from-wl-dispatch"].rules) < 20
    # w20 has a veth on the node but no WorkloadEndpoint: its interface must fail closed.
    workloads = [Workload(f"w{i}", iface(i), [f"198.18.30.{i + 1}"]) for i in range(21)]
    lab = NodeNetwork(f"tortie-t{uuid.uuid4().hex[:6]}", [], [], workloads)
    lab.up()
    try:
        Dataplane(Runner(lab.node)).program(plan)
        w = lab.workloads
        assert probe(w[0].netns, "198.18.30.1", w[19].netns, "198.18.30.20", "tcp", 23001, "80").arrived
        assert probe(w[7].netns, "198.18.30.8", w[12].netns, "198.18.30.13", "tcp", 23002, "8080").arrived
        assert not probe(w[0].netns, "198.18.30.1", w[5].netns, "198.18.30.6", "tcp", 23003, "22").arrived
        assert not probe(w[20].netns, "198.18.30.21", w[3].netns, "198.18.30.4", "tcp", 23004, "80").arrived
        assert not probe(w[3].netns, "198.18.30.4", w[20].netns, "198.18.30.21", "tcp", 23005, "80").arrived
    finally:
        lab.down()


def _cali_lines(runner: Runner, backend: str) -> int:
    return sum(line.count("cali") for table in ("filter", "raw", "mangle")
               for line in runner.run([f"iptables-{backend}-save", "-t", table]).splitlines())


@pytest.mark.parametrize("file", FILES)
def test_legacy_backend_converges_and_repairs_with_minimal_edits(netns: str, file: str) -> None:
    plan = build_plan(_world(file), settings_for("n1", {"dropActionOverride": "LogAndDrop",
                                                         "prometheusReporterEnabled": True}))
    runner = Runner(netns)
    dataplane = Dataplane(runner, backend="legacy")
    assert dataplane.program(plan).wrote
    assert not dataplane.program(plan).wrote
    chain = next(c for c in render(plan).tables[(4, "filter")].chains if c.startswith("cali-tw-"))
    runner.run(["iptables-legacy", "-D", chain, "2"])
    repair = dataplane.program(plan).plans[(4, "filter")]
    assert f":{chain} " not in repair.batch and (f"-R {chain} " in repair.batch or f"-A {chain} " in repair.batch)
    assert not dataplane.program(plan).wrote
    dataplane.cleanup()
    assert _cali_lines(runner, "legacy") == 0


def test_auto_detection(netns: str) -> None:
    from tortie.dataplane.backend import detect_backend
    runner = Runner(netns)
    assert detect_backend(runner) == "nft"  # nothing anywhere: nft, and legacy is never touched
    assert runner.run(["cat", "/proc/net/ip_tables_names"]).strip() == ""
    runner.run(["iptables-legacy", "-A", "INPUT", "-j", "ACCEPT"])
    runner.run(["iptables-legacy", "-A", "INPUT", "-p", "tcp", "-j", "ACCEPT"])
    assert detect_backend(runner) == "legacy"  # legacy holds more rules
    runner.run(["iptables-nft", "-t", "mangle", "-N", "KUBE-IPTABLES-HINT"])
    assert detect_backend(runner) == "nft"  # kubelet's hint wins
