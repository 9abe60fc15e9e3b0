"""Denied-packet metrics from a real agent in a lab node: exact packet and byte counts for
every kind of denial, whatever the override; retention; TLS; a flood; the flow logs."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tortie.calc import Calculator
from tortie.config import settings_for
from tortie.datastore import ResourceClient
from tortie.lab.network import NodeNetwork, Workload
from tortie.model import Packet, evaluate
from tortie.plan import build_plan
from tortie.resources import StagedGlobalNetworkPolicy, load_resource
from tortie.store import open_store

from .cli import TORTIE
from .wait import wait_until

AGENT = [sys.executable, "-m", "tortie.lab.probe_agent"]
A = ("198.18.40.1", "2001:db8:40::1")
B = ("198.18.40.2", "2001:db8:40::2")


def _gnp(name: str, selector: str, direction: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy", "metadata": {"name": name},
            "spec": {"selector": selector, "types": [direction.capitalize()], direction: rules}}


def _udp(action: str, ports: list[int | str]) -> dict[str, Any]:
    return {"action": action, "protocol": "UDP", "destination": {"ports": ports}}


def _wep(name: str, iface: str, addresses: tuple[str, str], app: str) -> dict[str, Any]:
    return {"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
            "metadata": {"name": f"n1-k8s-{name}-eth0", "namespace": "shop", "labels": {"app": app}},
            "spec": {"node": "n1", "orchestrator": "k8s", "pod": name, "endpoint": "eth0", "interfaceName": iface,
                     "ipNetworks": [f"{addresses[0]}/32", f"{addresses[1]}/128"]}}


# b's ingress: 9001 a Deny rule, 9002 the end of the tier, 9003 passed to the (absent) profiles;
# ICMP allowed but for timestamp requests (type 13). a's egress: 9011, 9012, 9013 the same way,
# ICMP allowed. Everything else between them is allowed.
ECHO = _gnp("echo", 'app == "b"', "ingress", [{"action": "Deny", "protocol": "ICMP", "icmp": {"type": 13}},
                                             {"action": "Allow", "protocol": "ICMP"}])
WORLD = [
    _wep("a", "calia", A, "a"), _wep("b", "calib", B, "b"), ECHO,
    _gnp("guard", 'app == "b"', "ingress", [_udp("Deny", [9001]), _udp("Pass", [9003]),
                                             _udp("Allow", [9004, "9011:9013"])]),
    _gnp("leash", 'app == "a"', "egress", [_udp("Deny", [9011]), _udp("Pass", [9013]), _udp("Allow", ["9001:9004"]),
                                           {"action": "Allow", "protocol": "ICMP"}]),
]
DENIED_PORTS = [9001, 9002, 9003, 9011, 9012, 9013]


class MetricsNode:
    def __init__(self, tmp: Path) -> None:
        self.url = f"sqlite://{tmp}/store.db"
        self.log = tmp / "agent.log"
        with open_store(self.url) as store:
            client = ResourceClient(store)
            client.ensure_defaults()
            for doc in WORLD:
                client.create(load_resource(doc))
        self.node_spec: dict[str, Any] = {"healthEnabled": True, "prometheusReporterEnabled": True,
                                "prometheusMetricsEnabled": True}
        self.write_config()
        self.lab = NodeNetwork(f"tortie-m{uuid.uuid4().hex[:6]}", [], [], [
            Workload("a", "calia", list(A)), Workload("b", "calib", list(B))])
        self.lab.up()
        self.agent = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.node, TORTIE, "--datastore", self.url, "agent", "--node", "n1",
             "-c", "/nonexistent"], stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        self.wait_applied(0)

    def write_config(self, **changes: object) -> int:
        self.node_spec.update(changes)
        self.node_spec = {k: v for k, v in self.node_spec.items() if v is not None}
        with open_store(self.url) as store:
            doc = ResourceClient(store).apply(load_resource({
                "apiVersion": "projectcalico.org/v3", "kind": "FelixConfiguration", "metadata": {"name": "node.n1"},
                "spec": self.node_spec}))
        return int(doc["metadata"]["resourceVersion"])

    def fetch(self, url: str, *extra: str) -> tuple[int, str]:
        code = ("import sys, ssl, urllib.request\n"
                "ctx = None\n"
                "if len(sys.argv) > 2:\n"
                "    ctx = ssl.create_default_context(cafile=sys.argv[2]); ctx.check_hostname = False\n"
                "    if len(sys.argv) > 3: ctx.load_cert_chain(sys.argv[3], sys.argv[4])\n"
                "try:\n"
                "    r = urllib.request.urlopen(sys.argv[1], timeout=5, context=ctx); print(r.status); "
                "print(r.read().decode(), end='')\n"
                "except urllib.error.HTTPError as e: print(e.code)\n")
        out = subprocess.run(["ip", "netns", "exec", self.lab.node, sys.executable, "-c", code, url, *extra],
                             capture_output=True, text=True, timeout=20)
        if out.returncode != 0:
            return 0, out.stderr
        status, _, body = out.stdout.partition("\n")
        return int(status), body

    def status(self) -> dict[str, Any]:
        code, body = self.fetch("http://localhost:9099/status")
        return json.loads(body) if code == 200 else {}

    def wait_applied(self, revision: int) -> None:
        wait_until(f"the agent to apply revision {revision}", self.status,
                   lambda s: bool(s.get("ready")) and s.get("appliedRevision", 0) >= revision,
                   details=lambda: self.log.read_text()[-3000:])

    def denied(self, port: int = 9092) -> dict[tuple[str, str, str], float]:
        code, body = self.fetch(f"http://localhost:{port}/metrics")
        assert code == 200, body
        return {(m.name, s.labels["policy"], s.labels["srcIP"]): s.value
                for m in text_string_to_metric_families(body) for s in m.samples}

    def self_metric(self, name: str, **labels: str) -> float:
        code, body = self.fetch("http://localhost:9091/metrics")
        assert code == 200, body
        return sum(s.value for m in text_string_to_metric_families(body) for s in m.samples
                   if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    def blast(self, src: str, dst: str, port: int, count: int, payload: int, flows: int = 1, sport: int = 30000,
              proto: str = "udp") -> None:
        ns = self.lab.namespace_of(src)
        subprocess.run(["ip", "netns", "exec", ns, *AGENT, "blast", src, str(sport), dst, str(port), str(count),
                        str(payload), str(flows), proto], check=True, capture_output=True, timeout=120)

    def ping(self, src: str, dst: str, ident: int, kind: int = 8) -> None:
        """One ICMP message of type ``kind`` (an echo request by default) with id ``ident``."""
        subprocess.run(["ip", "netns", "exec", self.lab.namespace_of(src), *AGENT, "send", "icmp", src, str(ident),
                        dst, str(kind), "5"], check=True, capture_output=True, timeout=30)

    def close(self) -> None:
        self.agent.terminate()
        try:
            self.agent.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.agent.kill()
            self.agent.wait()
        self.lab.down()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetricsNode]:
    n = MetricsNode(tmp_path_factory.mktemp("metrics"))
    try:
        yield n
    finally:
        n.close()


def model_labels(src: str, dst: str, port: int, protocol: int = 17) -> list[str]:
    calc = Calculator("n1")
    calc.load([load_resource(d).output() for d in WORLD])
    plan = build_plan(calc.view(), settings_for("n1", {"prometheusReporterEnabled": True}))
    in_iface, out_iface = ("calia", "calib") if src in A else ("calib", "calia")
    packet = Packet(src, dst, protocol, 30000, port, None, None, "new", in_iface, out_iface)
    return evaluate(plan, packet).metric_policies


Series = dict[tuple[str, str, str], float]


def _delta(before: Series, after: Series) -> Series:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


@pytest.mark.parametrize("override", ["Drop", "Accept", "LogAndDrop", "LogAndAccept"])
def test_every_denial_is_counted_exactly_whatever_the_override(node: MetricsNode, override: str) -> None:
    node.wait_applied(node.write_config(dropActionOverride=override))
    count, payload = 7, 50
    for family in (0, 1):
        for port in DENIED_PORTS + [9004]:
            src, dst = A[family], B[family]
            labels = [] if port == 9004 else model_labels(src, dst, port)
            size = (28 if family == 0 else 48) + payload
            want = {(name, label, src): value for label in labels
                    for name, value in (("calico_denied_packets", count), ("calico_denied_bytes", count * size))}
            before = node.denied()
            node.blast(src, dst, port, count, payload, flows=count, sport=31000 + port % 100 * 10)
            wait_until(f"the counts of {override} {src} -> {dst}:{port} (model says {labels}) to be {want}",
                       lambda: _delta(before, node.denied()), lambda got: got == want)
    # Deny rules, ends of tiers in both directions, and the end of the profiles (one label for both).
    assert len({lab for port in DENIED_PORTS for lab in model_labels(A[0], B[0], port)}) == 5


def test_retention_removes_a_series(node: MetricsNode) -> None:
    node.wait_applied(node.write_config(deletedMetricsRetentionSecs=2, dropActionOverride="Drop"))
    sent = time.monotonic()  # the agent counts the last packet after this, on the same clock
    node.blast(A[0], B[0], 9001, 3, 10, sport=32000)
    label = model_labels(A[0], B[0], 9001)[0]
    key = ("calico_denied_packets", label, A[0])
    wait_until("the series to appear", lambda: key in node.denied())
    wait_until("the series to go after its retention", lambda: key in node.denied(), lambda present: not present)
    assert time.monotonic() - sent >= 2  # not before: a slow machine can only make this later
    node.wait_applied(node.write_config(deletedMetricsRetentionSecs=None))


def test_tls_requires_a_client_certificate(node: MetricsNode, tmp_path: Path) -> None:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=tortie test CA")
    for who in ("server", "client"):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                f"{who}.key", "-out", f"{who}.csr", "-subj", f"/CN={who}")
        openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "1", "-out", f"{who}.crt")
    files = {f: str(tmp_path / f) for f in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}
    node.wait_applied(node.write_config(prometheusReporterCertFile=files["server.crt"],
                                        prometheusReporterKeyFile=files["server.key"],
                                        prometheusReporterCAFile=files["ca.crt"]))
    url = "https://localhost:9092/metrics"
    try:
        wait_until("the TLS listener", lambda: node.fetch(url, files["ca.crt"], files["client.crt"],
                                                          files["client.key"])[0], lambda code: code == 200)
        code, error = node.fetch(url, files["ca.crt"])
        # In TLS 1.3 the server checks the certificate after the handshake: the client reads its
        # alert, or only the end of the connection when the server has closed it first.
        refusals = ("certificate", "alert", "eof occurred in violation of protocol")
        assert code == 0 and any(r in error.lower() for r in refusals), error
        assert node.fetch("http://localhost:9092/metrics")[0] == 0  # plain HTTP is not served
    finally:
        node.wait_applied(node.write_config(prometheusReporterCertFile=None, prometheusReporterKeyFile=None,
                                            prometheusReporterCAFile=None))


def test_reporter_and_ports_follow_the_configuration_live(node: MetricsNode) -> None:
    assert node.fetch("http://localhost:9092/other")[0] == 404
    node.wait_applied(node.write_config(prometheusReporterPort=9192))
    wait_until("the reporter on port 9192", lambda: node.fetch("http://localhost:9192/metrics")[0],
               lambda code: code == 200)
    assert node.fetch("http://localhost:9092/metrics")[0] == 0
    node.wait_applied(node.write_config(prometheusReporterEnabled=False))
    wait_until("the reporter to stop", lambda: node.fetch("http://localhost:9192/metrics")[0], lambda code: code == 0)
    node.wait_applied(node.write_config(prometheusReporterEnabled=True, prometheusReporterPort=None))
    wait_until("the reporter back on port 9092", lambda: node.fetch("http://localhost:9092/metrics")[0],
               lambda code: code == 200)
    assert node.self_metric("tortie_iptables_restore_calls_total", table="filter", ip_version="4") > 0
    assert node.self_metric("tortie_active_local_endpoints") == 2
    assert node.self_metric("tortie_build_info") == 1


def test_flood_is_counted_or_its_loss_is_reported(node: MetricsNode) -> None:
    node.wait_applied(node.write_config(dropActionOverride="Drop"))
    label = model_labels(A[0], B[0], 9002)[0]
    key = ("calico_denied_packets", label, A[0])
    before = node.denied().get(key, 0)
    lost_before = node.self_metric("tortie_nflog_packets_lost_total")
    total = 200_000
    node.blast(A[0], B[0], 9002, total, 18, sport=33000)
    counted, lost = wait_until(
        f"{total} packets counted or reported lost",
        lambda: (node.denied().get(key, 0) - before, node.self_metric("tortie_nflog_packets_lost_total") - lost_before),
        lambda seen: sum(seen) >= total)
    print(f"flood: counted {counted}, lost {lost}")
    assert counted + lost == total, f"counted {counted}, lost {lost}"
    assert node.denied().get(("calico_denied_bytes", label, A[0]), 0) >= counted * 46


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _sum(records: list[dict[str, Any]], field: str) -> int:
    return sum(r[field] for r in records)


def test_flow_logs_of_allowed_and_denied_flows(node: MetricsNode, tmp_path: Path) -> None:
    """N allowed UDP flows (conntrack) and M denied ones (NFLOG), each of 3 packets: exact
    counts, actions, reporters and both policy lists, at the default aggregation (allowed 2,
    denied 1) and at level 0. A staged Delete of "guard" shows in the pending policies."""
    directory = tmp_path / "flows"
    path = directory / "flows.log"
    with open_store(node.url) as store:
        staged = ResourceClient(store).create(load_resource(
            {"apiVersion": "projectcalico.org/v3", "kind": "StagedGlobalNetworkPolicy",
             "metadata": {"name": "guard"}, "spec": {"stagedAction": "Delete"}}))
    node.wait_applied(node.write_config(
        flowLogsFileEnabled=True, flowLogsFileDirectory=str(directory), flowLogsFlushInterval="1s",
        flowLogsFileIncludePolicies=True, flowLogsFileIncludeLabels=True, dropActionOverride="Drop"))
    try:
        allowed, denied = 4, 2
        node.blast(A[0], B[0], 9004, 3 * allowed, 20, flows=allowed, sport=36000)
        node.blast(A[0], B[0], 9001, 3 * denied, 20, flows=denied, sport=36100)

        def settled(records: list[dict[str, Any]]) -> bool:
            allow = [r for r in records if r["action"] == "allow" and r["dest_port"] == 9004]
            deny = [r for r in records if r["action"] == "deny" and r["dest_port"] == 9001]
            return _sum([r for r in allow if r["reporter"] == "dst"], "packets_in") >= 3 * allowed \
                and _sum(deny, "packets_in") >= 3 * denied
        records = wait_until("the flow records", lambda: _records(path), settled)
        src = [r for r in records if r["dest_port"] == 9004 and r["reporter"] == "src"]
        dst = [r for r in records if r["dest_port"] == 9004 and r["reporter"] == "dst"]
        deny = [r for r in records if r["dest_port"] == 9001 and r["packets_in"]]  # earlier tests' flows: none
        size = 3 * 48  # three IPv4 UDP packets of 20 bytes of payload
        assert (_sum(src, "packets_out"), _sum(src, "bytes_out"), _sum(src, "packets_in")) == (
            3 * allowed, size * allowed, 0)
        assert (_sum(dst, "packets_in"), _sum(dst, "bytes_in"), _sum(dst, "num_flows_started")) == (
            3 * allowed, size * allowed, allowed)
        assert (_sum(deny, "packets_in"), _sum(deny, "bytes_in"), _sum(deny, "num_flows_started")) == (
            3 * denied, size * denied, denied)
        first = dst[0]
        assert {k: first[k] for k in ("action", "reporter", "proto", "source_ip", "source_name", "source_name_aggr",
                                      "source_namespace", "source_type", "source_port", "dest_ip", "dest_name",
                                      "dest_name_aggr", "dest_port", "dest_type", "policies", "host")} == {
            "action": "allow", "reporter": "dst", "proto": "udp", "source_ip": None, "source_name": "-",
            "source_name_aggr": "a", "source_namespace": "shop", "source_type": "wep", "source_port": None,
            "dest_ip": None, "dest_name": "-", "dest_name_aggr": "b", "dest_port": 9004, "dest_type": "wep",
            "policies": {"all_policies": ["0|default|guard|allow|2"], "enforced_policies": ["0|default|guard|allow|2"],
                         "pending_policies": ["0|default|echo|deny|-1"]},  # the tier's last policy
            "host": "n1"}
        assert first["dest_labels"] == {"labels": ["app=b", "projectcalico.org/namespace=shop",
                                                   "projectcalico.org/orchestrator=k8s"]}
        assert src[0]["policies"]["enforced_policies"] == ["0|default|leash|allow|2"]
        assert {(r["action"], r["reporter"], r["source_ip"], r["source_port"], r["dest_ip"]) for r in deny} == {
            ("deny", "dst", A[0], None, B[0])}  # level 1: source ports merged, addresses kept
        assert deny[0]["policies"]["enforced_policies"] == ["0|default|guard|deny|0"]
        sent = [r for r in records if r["dest_port"] == 9001 and r["reporter"] == "src" and r["packets_out"]]
        assert {(r["action"], tuple(r["policies"]["enforced_policies"])) for r in sent} == {
            ("allow", ("0|default|leash|allow|2",))}  # a's egress let them out
        assert (_sum(sent, "packets_out"), _sum(sent, "bytes_out")) == (3 * denied, size * denied)
        assert all(r["start_time"] <= r["end_time"] for r in records)

        node.wait_applied(node.write_config(flowLogsFileAggregationKindForAllowed=0))
        path.unlink()
        node.blast(A[0], B[0], 9004, 2 * 3, 20, flows=2, sport=37000)
        records = wait_until("the level-0 records", lambda: _records(path), lambda found: sum(
            r["packets_in"] for r in found if r["reporter"] == "dst" and r["source_port"] in (37000, 37001)) >= 6)
        by_port = {r["source_port"]: r for r in records if r["reporter"] == "dst" and r["dest_port"] == 9004
                   and r["source_port"] in (37000, 37001)}
        assert set(by_port) == {37000, 37001}
        assert {(r["source_ip"], r["source_name"], r["dest_ip"], r["num_flows"]) for r in by_port.values()} == {
            (A[0], "a", B[0], 1)}
    finally:
        with open_store(node.url) as store:
            ResourceClient(store).delete(StagedGlobalNetworkPolicy, "guard", None, staged["metadata"]["resourceVersion"])
        node.wait_applied(node.write_config(
            flowLogsFileEnabled=None, flowLogsFileDirectory=None, flowLogsFlushInterval=None,
            flowLogsFileIncludePolicies=None, flowLogsFileIncludeLabels=None, dropActionOverride=None,
            flowLogsFileAggregationKindForAllowed=None))


FLOW_LOGS_OFF = dict.fromkeys(("flowLogsFileEnabled", "flowLogsFileDirectory", "flowLogsFlushInterval",
                               "flowLogsFileIncludePolicies", "dropActionOverride"))


def _flow_logs_on(node: MetricsNode, path: Path, **config: object) -> None:
    """Flow logs every second into ``path``, with policies, from a first conntrack dump on:
    an allowed datagram's record shows that the dump that takes what is already there
    (counted from then on) has been made, so every later flow starts in the flow logs."""
    node.wait_applied(node.write_config(flowLogsFileEnabled=True, flowLogsFileDirectory=str(path.parent),
                                        flowLogsFlushInterval="1s", flowLogsFileIncludePolicies=True, **config))
    node.blast(A[0], B[0], 9004, 1, 1, sport=38999)
    wait_until("a first flow record", lambda: _records(path), lambda found: any(
        r["dest_port"] == 9004 for r in found))


def test_flow_logs_under_an_accepting_override_write_the_policy_verdict(node: MetricsNode, tmp_path: Path) -> None:
    """LogAndAccept lets denied flows through: conntrack counts them (NFLOG does not count
    them again), and they are written with the policies' verdict, deny. A denial at a's
    egress accepts the packets before b's ingress policies see them: only the source reports."""
    path = tmp_path / "flows.log"
    _flow_logs_on(node, path, dropActionOverride="LogAndAccept")
    try:
        node.blast(A[0], B[0], 9011, 6, 20, flows=2, sport=38000)
        node.blast(A[0], B[0], 9001, 6, 20, flows=2, sport=38100)

        def of(records: list[dict[str, Any]], port: int, reporter: str) -> list[dict[str, Any]]:
            return [r for r in records if r["dest_port"] == port and r["reporter"] == reporter
                    and r["packets_in"] + r["packets_out"]]
        records = wait_until("the flows through the override", lambda: _records(path), lambda found: (
            _sum(of(found, 9011, "src"), "packets_out"), _sum(of(found, 9001, "src"), "packets_out"),
            _sum(of(found, 9001, "dst"), "packets_in")) >= (6, 6, 6))
        size = 6 * 48
        assert {(r["action"], tuple(r["policies"]["enforced_policies"])) for r in of(records, 9011, "src")} == {
            ("deny", ("0|default|leash|deny|0",))}
        assert (_sum(of(records, 9011, "src"), "bytes_out"), _sum(of(records, 9011, "src"), "num_flows_started")) == (
            size, 2)
        assert not [r for r in records if r["dest_port"] == 9011 and r["reporter"] == "dst"]
        assert {(r["action"], tuple(r["policies"]["enforced_policies"])) for r in of(records, 9001, "src")} == {
            ("allow", ("0|default|leash|allow|2",))}
        assert {(r["action"], tuple(r["policies"]["enforced_policies"])) for r in of(records, 9001, "dst")} == {
            ("deny", ("0|default|guard|deny|0",))}
        assert (_sum(of(records, 9001, "dst"), "packets_in"), _sum(of(records, 9001, "dst"), "bytes_in")) == (6, size)
    finally:
        node.wait_applied(node.write_config(**FLOW_LOGS_OFF))


def test_flow_logs_of_icmp_follow_its_type(node: MetricsNode, tmp_path: Path) -> None:
    """An echo request is allowed and answered; a timestamp request is denied by the rule for
    its type (a's egress let both out). No record has ports, as in Calico."""
    path = tmp_path / "flows.log"
    _flow_logs_on(node, path)
    try:
        node.ping(A[0], B[0], 4242)
        node.ping(A[0], B[0], 4243, 13)

        def totals(records: list[dict[str, Any]]) -> dict[tuple[str, str, str, object, object], tuple[int, int]]:
            """(reporter, action, enforced policies, ports) -> (packets in, packets out)."""
            found: dict[tuple[str, str, str, object, object], tuple[int, int]] = {}
            for r in records:
                if r["proto"] == "icmp" and r["packets_in"] + r["packets_out"]:
                    key = (r["reporter"], r["action"], "/".join(r["policies"]["enforced_policies"]), r["source_port"],
                           r["dest_port"])
                    was = found.get(key, (0, 0))
                    found[key] = (was[0] + r["packets_in"], was[1] + r["packets_out"])
            return found
        want = {("src", "allow", "0|default|leash|allow|3", None, None): (1, 2),  # both sent, the echo answered
                ("dst", "allow", "0|default|echo|allow|1", None, None): (1, 1),
                ("dst", "deny", "0|default|echo|deny|0", None, None): (1, 0)}
        wait_until("the ICMP records", lambda: totals(_records(path)), lambda found: found == want)
    finally:
        node.wait_applied(node.write_config(**FLOW_LOGS_OFF))


def test_a_connection_opened_before_a_promote_keeps_its_enforced_trace(node: MetricsNode, tmp_path: Path) -> None:
    """A staged echo that denies ICMP, then ``tortie promote``: the echo exchange opened before
    goes on (conntrack accepts it before policy) and its records keep the enforced trace it
    was let through on, with the pending trace evaluated on the new policies; a new exchange
    is denied by the promoted policy."""
    path = tmp_path / "flows.log"
    _flow_logs_on(node, path)
    staged, enforced, promoted = ("0|default|staged:echo|deny|0",), ("0|default|echo|allow|1",), (
        "0|default|echo|deny|0",)
    kept = {"all_policies": [*staged, "1|default|echo|allow|1"], "enforced_policies": list(enforced)}

    def answered(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in records if r["proto"] == "icmp" and r["reporter"] == "dst" and r["action"] == "allow"
                and r["packets_in"] + r["packets_out"]]
    try:
        with open_store(node.url) as store:
            doc = ResourceClient(store).create(load_resource(
                {"apiVersion": "projectcalico.org/v3", "kind": "StagedGlobalNetworkPolicy",
                 "metadata": {"name": "echo"}, "spec": {"stagedAction": "Set", "selector": 'app == "b"',
                                                        "types": ["Ingress"],
                                                        "ingress": [{"action": "Deny", "protocol": "ICMP"},
                                                                    _udp("Deny", [9004])]}}))
        node.wait_applied(int(doc["metadata"]["resourceVersion"]))
        # A datagram whose pending trace names the staged policy: the pending set has it.
        node.blast(A[0], B[0], 9004, 1, 1, sport=38998)
        wait_until("the pending policy set", lambda: _records(path), lambda found: any(
            r["policies"]["pending_policies"] == ["0|default|staged:echo|deny|1"] for r in found))
        node.ping(A[0], B[0], 4300)
        wait_until("the exchange's record", lambda: _records(path), lambda found: any(
            r["packets_out"] and r["policies"] == {**kept, "pending_policies": list(staged)} for r in answered(found)))
        done = subprocess.run([TORTIE, "--datastore", node.url, "promote", "sgnp", "echo"], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        seen = len(wait_until("the pending trace on the promoted policy", lambda: _records(path), lambda found: any(
            r["policies"]["pending_policies"] == list(promoted) for r in found if r["proto"] == "icmp")))
        node.ping(A[0], B[0], 4300)  # the same exchange
        node.ping(A[0], B[0], 4301)  # a new one
        after = wait_until("both exchanges' records", lambda: _records(path)[seen:], lambda found: (
            sum(r["packets_in"] for r in answered(found)),
            sum(r["packets_in"] for r in found if r["proto"] == "icmp" and r["action"] == "deny")) >= (1, 1))
        assert {json.dumps(r["policies"]) for r in answered(after) if r["packets_in"]} == {
            json.dumps({**kept, "pending_policies": list(promoted)})}
        assert {(r["reporter"], tuple(r["policies"]["enforced_policies"])) for r in after
                if r["proto"] == "icmp" and r["action"] == "deny"} == {("dst", promoted)}
    finally:
        with open_store(node.url) as store:
            client = ResourceClient(store)
            client.apply(load_resource(ECHO))
            if any(item.name == "echo" for item in client.list(StagedGlobalNetworkPolicy).items):
                client.delete(StagedGlobalNetworkPolicy, "echo")
        node.wait_applied(node.write_config(**FLOW_LOGS_OFF))


def test_flow_logs_switched_on_show_the_pending_policies_from_their_first_records(node: MetricsNode,
                                                                                 tmp_path: Path) -> None:
    """A staged policy that would deny b's UDP 9004, then flow logs switched on while
    datagrams flow: the flow logs wait for the agent's pending policy set, so their first
    records already show the staged policy in the pending trace (never the enforced trace)."""
    path = tmp_path / "flows.log"
    with open_store(node.url) as store:
        doc = ResourceClient(store).create(load_resource(
            {"apiVersion": "projectcalico.org/v3", "kind": "StagedGlobalNetworkPolicy",
             "metadata": {"name": "echo"}, "spec": {"stagedAction": "Set", "selector": 'app == "b"',
                                                    "types": ["Ingress"], "ingress": [_udp("Deny", [9004])]}}))
    node.wait_applied(int(doc["metadata"]["resourceVersion"]))
    sports = itertools.count(37000)

    def sent_and_recorded() -> list[dict[str, Any]]:
        node.blast(A[0], B[0], 9004, 1, 1, sport=next(sports))
        return [r for r in _records(path) if r["dest_port"] == 9004 and r["reporter"] == "dst" and r["packets_in"]]
    try:
        node.write_config(flowLogsFileEnabled=True, flowLogsFileDirectory=str(tmp_path), flowLogsFlushInterval="1s",
                          flowLogsFileIncludePolicies=True)
        first = wait_until("the first records", sent_and_recorded, interval=0.5)
        assert {tuple(r["policies"]["pending_policies"]) for r in first} == {("0|default|staged:echo|deny|0",)}
    finally:
        with open_store(node.url) as store:
            ResourceClient(store).delete(StagedGlobalNetworkPolicy, "echo")
        node.wait_applied(node.write_config(**FLOW_LOGS_OFF))
