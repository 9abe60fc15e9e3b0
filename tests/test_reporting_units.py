"""The exporter's text, and the flow logs' records and file handling, without a kernel."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from tortie.agent.metrics import DeniedMetrics, denied_registry
from tortie.calc import Calculator
from tortie.collector import Conn, FlowLogConfig, FlowLogs, parse, write_rotated
from tortie.config import settings_for
from tortie.core import Direction
from tortie.model import pending_plans, store_plans
from tortie.datastore import StoredResource, promote_staged, resource_key
from tortie.resources import load_resource


def test_exposition_matches_the_spec_example() -> None:
    denied = DeniedMetrics()
    denied.add([("default|prod/db-access|-1|deny", "10.65.0.10", 3, 180),
                ("__PROFILE__|__NO_MATCH__|0|deny", "2001:db8::7", 1, 80)], 0.0)
    text = generate_latest(denied_registry(denied)).decode()
    assert text == (
        "# HELP calico_denied_packets Total number of packets denied by calico policies.\n"
        "# TYPE calico_denied_packets gauge\n"
        'calico_denied_packets{policy="default|prod/db-access|-1|deny",srcIP="10.65.0.10"} 3.0\n'
        'calico_denied_packets{policy="__PROFILE__|__NO_MATCH__|0|deny",srcIP="2001:db8::7"} 1.0\n'
        "# HELP calico_denied_bytes Total number of bytes denied by calico policies.\n"
        "# TYPE calico_denied_bytes gauge\n"
        'calico_denied_bytes{policy="default|prod/db-access|-1|deny",srcIP="10.65.0.10"} 180.0\n'
        'calico_denied_bytes{policy="__PROFILE__|__NO_MATCH__|0|deny",srcIP="2001:db8::7"} 80.0\n')


def test_series_expire_after_their_last_packet_and_restart_from_zero() -> None:
    denied = DeniedMetrics()
    denied.add([("p", "198.18.0.1", 2, 100)], 10.0)
    denied.add([("p", "198.18.0.1", 1, 50)], 20.0)
    denied.expire(45.0, 30.0)
    assert len(denied) == 1
    denied.expire(50.0, 30.0)
    assert len(denied) == 0
    denied.add([("p", "198.18.0.1", 1, 50)], 60.0)
    assert b"} 1.0" in generate_latest(denied_registry(denied))


API = "projectcalico.org/v3"
WEB, DB, CACHE, OFFICE = "198.18.0.1", "198.18.0.2", "198.18.0.3", "198.18.5.7"
WEB6, DB6 = "2001:db8::1", "2001:db8::2"


def _wep(pod: str, node: str, addresses: tuple[str, ...]) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "WorkloadEndpoint",
            "metadata": {"name": f"{node}-k8s-{pod}-eth0", "namespace": "shop", "labels": {"app": pod}},
            "spec": {"node": node, "orchestrator": "k8s", "pod": pod, "endpoint": "eth0",
                     "interfaceName": f"cali{pod}", "ipNetworks": [f"{a}/{128 if ':' in a else 32}" for a in addresses],
                     "profiles": ["kns.shop"]}}


WORLD = [
    _wep("web", "n1", (WEB, WEB6)), _wep("db", "n1", (DB, DB6)), _wep("cache", "n2", (CACHE,)),
    {"apiVersion": API, "kind": "GlobalNetworkSet", "metadata": {"name": "office", "labels": {"site": "hq"}},
     "spec": {"nets": ["198.18.5.0/24"]}},
    {"apiVersion": API, "kind": "GlobalNetworkSet", "metadata": {"name": "campus", "labels": {"site": "all"}},
     "spec": {"nets": ["198.18.0.0/16"]}},
    {"apiVersion": API, "kind": "Profile", "metadata": {"name": "kns.shop"},
     "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}},
    {"apiVersion": API, "kind": "GlobalNetworkPolicy", "metadata": {"name": "db"},
     "spec": {"selector": "app == 'db'", "ingress": [{"action": "Allow", "protocol": "TCP",
                                                      "destination": {"ports": [5432]}}]}},
    {"apiVersion": API, "kind": "GlobalNetworkPolicy", "metadata": {"name": "ping"},
     "spec": {"selector": "app == 'db'", "ingress": [{"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8}}]}},
    {"apiVersion": API, "kind": "StagedGlobalNetworkPolicy", "metadata": {"name": "db"},
     "spec": {"selector": "app == 'db'", "ingress": [{"action": "Deny", "source": {"selector": "app == 'web'"}}]}},
]


def stored(docs: list[dict[str, Any]]) -> list[StoredResource]:
    return [StoredResource(resource_key(type(r), r.name, r.namespace), type(r), r.name, r.namespace, r.output())
            for r in map(load_resource, docs)]


def flow_logs(tmp_path: Path, allowed: int = 2, denied: int = 1, labels: bool = False,
              items: list[StoredResource] | None = None, logs: FlowLogs | None = None,
              override: str = "Drop", pending: bool = True) -> FlowLogs:
    """Flow logs on node n1 of ``items`` (WORLD by default), as the agent feeds them."""
    items = stored(WORLD) if items is None else items
    config = {"n1": settings_for("n1", {"dropActionOverride": override})}
    calc = Calculator("n1")
    calc.load(items)
    logs = FlowLogs("n1") if logs is None else logs
    logs.update(store_plans(items, config)["n1"], pending_plans(items, config)["n1"], calc.entities,
                FlowLogConfig(str(tmp_path / "flows"), 1 << 20, 3, 1.0, allowed, denied, labels, True,
                              pending))
    return logs


def conn(cid: int, sport: int, counters: tuple[int, int, int, int] = (0, 0, 0, 0), state: str = "") -> Conn:
    return Conn(cid, 6, WEB, DB, sport, 5432, *counters, state)


def records(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "flows" / "flows.log").read_text().splitlines()]


def test_conntrack_lines() -> None:
    tcp = parse("ipv4     2 tcp      6 119 TIME_WAIT src=198.18.0.1 dst=198.18.0.2 sport=40000 dport=5432 "
                "packets=4 bytes=216 src=198.18.0.2 dst=198.18.0.1 sport=5432 dport=40000 packets=3 bytes=218 "
                "[ASSURED] mark=0 use=1 id=9")
    assert tcp == Conn(9, 6, WEB, DB, 40000, 5432, 4, 216, 3, 218, "TIME_WAIT") and tcp.completed
    udp = parse("ipv6     10 udp      17 29 src=2001:db8::1 dst=2001:db8::2 sport=5 dport=53 packets=2 bytes=120 "
                "[UNREPLIED] src=2001:db8::2 dst=2001:db8::1 sport=53 dport=5 packets=0 bytes=0 mark=0 use=1 id=7")
    assert udp is not None and (udp.src, udp.packets_out, udp.packets_in, udp.state, udp.completed) == (
        "2001:db8::1", 2, 0, "", False)
    icmp = parse("ipv4     2 icmp     1 29 src=198.18.0.1 dst=198.18.0.2 type=8 code=0 id=3 packets=1 bytes=84 "
                 "[UNREPLIED] src=198.18.0.2 dst=198.18.0.1 type=0 code=0 id=3 packets=0 bytes=0 mark=0 use=1 id=11")
    # Calico's stand-ins for ports: the echo id, and type << 8 | code.
    assert icmp is not None and (icmp.protocol, icmp.sport, icmp.dport, icmp.id) == (1, 3, 8 << 8, 11)
    assert parse("conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.") is None


def test_connections_are_counted_per_reporter_with_both_policy_lists(tmp_path: Path) -> None:
    logs = flow_logs(tmp_path)
    logs.listed([conn(7, 39000, (9, 900, 9, 900), "ESTABLISHED")], time.monotonic())  # the first: a baseline
    logs.listed([conn(7, 39000, (9, 900, 9, 900), "ESTABLISHED"), conn(1, 40000, (3, 180, 2, 120), "ESTABLISHED"),
                 conn(2, 40001, (5, 300, 4, 240), "CLOSE")], time.monotonic())
    assert logs.flush() == 2
    by_reporter = {r["reporter"]: r for r in records(tmp_path)}
    src, dst = by_reporter["src"], by_reporter["dst"]
    assert (src["packets_out"], src["bytes_out"], src["packets_in"], src["bytes_in"]) == (8, 480, 6, 360)
    assert (dst["packets_in"], dst["bytes_in"], dst["packets_out"], dst["bytes_out"]) == (8, 480, 6, 360)
    assert (dst["num_flows"], dst["num_flows_started"], dst["num_flows_completed"]) == (3, 2, 1)
    assert (dst["source_ip"], dst["source_port"], dst["source_name"], dst["source_name_aggr"]) == (
        None, None, "-", "web")  # level 2
    # The staged db denies web before the enforced db allows it (Enterprise's three lists).
    assert dst["policies"] == {"all_policies": ["0|default|staged:db|deny|0", "1|default|db|allow|0"],
                               "enforced_policies": ["0|default|db|allow|0"],
                               "pending_policies": ["0|default|staged:db|deny|0"]}
    profile = ["0|__PROFILE__|__PROFILE__.kns.shop|allow|0"]
    assert src["policies"] == {"all_policies": profile, "enforced_policies": profile, "pending_policies": profile}
    logs.listed([conn(1, 40000, (4, 240, 2, 120), "TIME_WAIT")], time.monotonic())  # 7 and 2 are gone
    assert logs.flush() == 2
    later = {r["reporter"]: r for r in records(tmp_path)[2:]}["dst"]
    # 1 reached TIME_WAIT and 7 went unseen; 2 had completed (CLOSE) before: counted once.
    assert (later["packets_in"], later["num_flows"], later["num_flows_started"], later["num_flows_completed"]) == (
        1, 1, 0, 2)
    logs.listed([], time.monotonic())
    assert logs.flush() == 0  # nothing happened


def test_aggregation_levels_and_denied_flows(tmp_path: Path) -> None:
    logs = flow_logs(tmp_path, allowed=0, denied=1)
    logs.listed([], time.monotonic())
    logs.listed([conn(1, 40000), conn(2, 40001)], time.monotonic())
    logs.denied(Direction.INGRESS, WEB, DB, 6, 50000, 22, 2, 120)
    logs.denied(Direction.INGRESS, WEB, DB, 6, 50001, 22, 1, 60)
    logs.flush()
    allowed = [r for r in records(tmp_path) if r["action"] == "allow" and r["reporter"] == "dst"]
    assert sorted((r["source_port"], r["source_ip"], r["source_name"], r["num_flows"]) for r in allowed) == [
        (40000, WEB, "web", 1), (40001, WEB, "web", 1)]
    denied = [r for r in records(tmp_path) if r["action"] == "deny"]
    assert [(r["reporter"], r["source_port"], r["source_ip"], r["dest_port"], r["packets_in"], r["num_flows"],
             r["num_flows_started"]) for r in denied] == [("dst", None, WEB, 22, 3, 2, 2)]
    # web's egress let them out: web reports them as allowed (level 0: one record per flow).
    sent = [r for r in records(tmp_path) if r["reporter"] == "src" and r["dest_port"] == 22]
    assert sorted((r["action"], r["source_port"], r["packets_out"], r["bytes_out"], r["num_flows_started"],
                   r["policies"]["enforced_policies"][0]) for r in sent) == [
        ("allow", 50000, 2, 120, 1, "0|__PROFILE__|__PROFILE__.kns.shop|allow|0"),
        ("allow", 50001, 1, 60, 1, "0|__PROFILE__|__PROFILE__.kns.shop|allow|0")]
    assert denied[0]["policies"]["enforced_policies"] == ["0|default|ping|deny|-1"]  # the tier's last policy


def test_icmp_flows_carry_type_and_code(tmp_path: Path) -> None:
    """The trace is the one of the real ICMP type and code; ports are written as Calico does:
    none for ICMP, the id and type << 8 | code for ICMPv6 (level 0: per id)."""
    logs = flow_logs(tmp_path, allowed=0, denied=0)
    logs.listed([], time.monotonic())
    logs.listed([Conn(1, 1, WEB, DB, 77, 8 << 8, 2, 168, 2, 168)], time.monotonic())  # echo: ping allows it
    logs.denied(Direction.INGRESS, WEB, DB, 1, 77, 13 << 8, 1, 40)  # timestamp: nothing allows it
    logs.denied(Direction.INGRESS, WEB6, DB6, 58, 9, 128 << 8, 1, 104)  # ICMPv6 echo: not ICMP
    logs.flush()
    found = {(r["proto"], r["action"], r["reporter"]): r for r in records(tmp_path)}
    echo, timestamp, echo6 = found["icmp", "allow", "dst"], found["icmp", "deny", "dst"], found["icmp6", "deny", "dst"]
    assert echo["policies"]["enforced_policies"] == ["0|default|ping|allow|0"]
    assert timestamp["policies"]["enforced_policies"] == ["0|default|ping|deny|-1"]
    assert (echo["source_port"], echo["dest_port"], timestamp["dest_port"], echo["packets_in"]) == (None, None, None, 2)
    assert (echo6["source_port"], echo6["dest_port"], echo6["packets_in"]) == (9, 128 << 8, 1)


def test_remote_ends_are_named_and_labelled_and_uncollected_fields_written(tmp_path: Path) -> None:
    """A remote workload by its pod with its labels (not the network set that holds its
    address), the network set with the longest prefix with its own, other addresses private
    (RFC 1918 only) or public; service, process, DNS and TCP fields as
    Enterprise writes them when it does not collect them."""
    logs = flow_logs(tmp_path, allowed=0, labels=True)
    logs.listed([], time.monotonic())
    logs.listed([Conn(i, 6, source, DB, 40000, 5432, 1, 60, 1, 60)
                 for i, source in enumerate((CACHE, OFFICE, "10.1.2.3", "203.0.113.9"))], time.monotonic())
    logs.flush()
    found = {r["source_ip"]: r for r in records(tmp_path)}
    assert set(found) == {CACHE, OFFICE, "10.1.2.3", "203.0.113.9"}  # db reports; the sources are not local
    shown = ("source_type", "source_name", "source_name_aggr", "source_namespace", "source_labels")
    assert [tuple(found[a][k] for k in shown) for a in found] == [
        ("wep", "cache", "cache", "shop", {"labels": ["app=cache", "projectcalico.org/namespace=shop",
                                                     "projectcalico.org/orchestrator=k8s"]}),
        ("ns", "office", "office", "-", {"labels": ["site=hq"]}),
        ("net", "-", "pvt", "-", {"labels": []}),
        ("net", "-", "pub", "-", {"labels": []})]
    cache = found[CACHE]
    assert {k: cache[k] for k in ("dest_service_name", "dest_service_namespace", "dest_service_port",
                                  "dest_service_port_num", "process_name", "num_process_names", "process_id",
                                  "num_process_ids", "process_args", "num_process_args", "dest_domains")} == {
        "dest_service_name": "-", "dest_service_namespace": "-", "dest_service_port": "-",
        "dest_service_port_num": None, "process_name": "-", "num_process_names": 0, "process_id": "-",
        "num_process_ids": 0, "process_args": ["-"], "num_process_args": 0, "dest_domains": None}


def test_network_sets_in_the_other_ends_namespace_come_first(tmp_path: Path) -> None:
    """An address no endpoint owns is named by a network set in the other end's namespace
    (shop, db's), even a shorter one, before a global one, before one of another namespace;
    another namespace's set names an address only global and shop sets do not hold."""
    sets = [{"apiVersion": API, "kind": "NetworkSet", "metadata": {"name": near, "namespace": namespace,
                                                                    "labels": {"zone": near}},
             "spec": {"nets": nets}}
            for near, namespace, nets in (("near", "shop", ["198.18.0.0/16"]),
                                          ("far", "depot", ["198.18.5.0/28", "203.0.113.0/24"]))]
    logs = flow_logs(tmp_path, allowed=0, labels=True, items=stored([*WORLD, *sets]))
    logs.listed([], time.monotonic())
    logs.listed([Conn(i, 6, source, DB, 40000, 5432, 1, 60, 1, 60) for i, source in enumerate((OFFICE, "203.0.113.9"))],
                time.monotonic())
    logs.flush()
    assert sorted((r["source_ip"], r["source_type"], r["source_name"], r["source_namespace"], r["source_labels"])
                  for r in records(tmp_path)) == [
        (OFFICE, "ns", "near", "shop", {"labels": ["zone=near"]}),
        ("203.0.113.9", "ns", "far", "depot", {"labels": ["zone=far"]})]


def test_labels_of_merged_flows_are_the_ones_all_their_ends_have(tmp_path: Path) -> None:
    """web is relabelled between two connections that one level-2 record merges: the record
    shows the labels both had, without Calico's own (as Felix intersects them); db, the
    same for both, keeps all of its own."""
    logs = flow_logs(tmp_path, labels=True)
    logs.listed([], time.monotonic())
    logs.listed([conn(1, 40000, (1, 60, 1, 60), "ESTABLISHED")], time.monotonic())
    relabelled = [{**doc, "metadata": {**doc["metadata"], "labels": {"app": "web", "tier": "front"}}}
                  if doc["metadata"]["name"] == "n1-k8s-web-eth0" else doc for doc in WORLD]
    flow_logs(tmp_path, labels=True, items=stored(relabelled), logs=logs)
    logs.listed([conn(1, 40000, (1, 60, 1, 60), "ESTABLISHED"), conn(2, 40001, (1, 60, 1, 60), "ESTABLISHED")],
                time.monotonic())
    logs.flush()
    dst = {r["reporter"]: r for r in records(tmp_path)}["dst"]
    assert (dst["num_flows"], dst["source_labels"], dst["dest_labels"]) == (2, {"labels": ["app=web"]}, {
        "labels": ["app=db", "projectcalico.org/namespace=shop", "projectcalico.org/orchestrator=k8s"]})


def test_an_end_whose_policies_gave_no_verdict_reports_nothing(tmp_path: Path) -> None:
    """dropActionOverride Accept: web's egress denies, the kernel accepts before db's ingress
    policies see the packet. The source reports the denial (action deny, counted from
    conntrack); the destination, which gave no verdict, reports nothing."""
    leash = {"apiVersion": API, "kind": "GlobalNetworkPolicy", "metadata": {"name": "leash"},
             "spec": {"selector": "app == 'web'", "egress": [{"action": "Deny", "protocol": "TCP"}]}}
    logs = flow_logs(tmp_path, items=stored([*WORLD, leash]), override="Accept")
    logs.listed([], time.monotonic())
    logs.listed([Conn(1, 6, WEB, DB, 40000, 5432, 3, 180, 2, 120, "ESTABLISHED")], time.monotonic())
    logs.flush()
    assert [(r["reporter"], r["action"], r["packets_out"], r["policies"]["enforced_policies"])
            for r in records(tmp_path)] == [("src", "deny", 3, ["0|default|leash|deny|0"])]


def test_a_connection_keeps_its_enforced_trace_and_follows_the_pending_one(tmp_path: Path) -> None:
    """After the staged db is promoted, a connection opened before keeps the enforced trace
    the kernel let it through on; its pending trace is evaluated on the new policies."""
    logs = flow_logs(tmp_path)
    logs.listed([], time.monotonic())
    logs.listed([conn(1, 40000, (3, 180, 2, 120), "ESTABLISHED")], time.monotonic())
    logs.flush()
    flow_logs(tmp_path, items=promote_staged(stored(WORLD)), logs=logs)
    logs.listed([conn(1, 40000, (5, 300, 4, 240), "ESTABLISHED")], time.monotonic())
    logs.flush()
    before, after = ({r["reporter"]: r for r in records(tmp_path)[i:i + 2]}["dst"] for i in (0, 2))
    assert before["policies"]["pending_policies"] == ["0|default|staged:db|deny|0"]
    assert after["policies"] == {"all_policies": ["0|default|staged:db|deny|0", "1|default|db|allow|0"],
                                 "enforced_policies": ["0|default|db|allow|0"],
                                 "pending_policies": ["0|default|db|deny|0"]}
    assert (after["packets_in"], after["num_flows"], after["num_flows_started"]) == (2, 1, 0)


def test_flow_logs_wait_for_their_plans_and_count_what_began_meanwhile(tmp_path: Path) -> None:
    """Switched on, the flow logs list connections before the agent has the pending policy
    set; one that began then is described once the plans come, as started, with the staged
    policy in its pending trace; one listed by the first dump began before and is not started."""
    logs = FlowLogs("n1")
    logs.listed([conn(7, 39000, (2, 120, 2, 120))], time.monotonic())
    logs.listed([conn(7, 39000, (2, 120, 2, 120)), conn(1, 40000, (1, 60, 1, 60))], time.monotonic())
    assert logs.flush() == 0
    flow_logs(tmp_path, allowed=0, logs=logs)
    logs.listed([conn(7, 39000, (3, 180, 2, 120)), conn(1, 40000, (3, 180, 2, 120))], time.monotonic())
    logs.flush()
    dst = {r["source_port"]: r for r in records(tmp_path) if r["reporter"] == "dst"}
    assert {port: (r["num_flows_started"], r["packets_in"]) for port, r in dst.items()} == {39000: (0, 0),
                                                                                         40000: (1, 3)}
    assert dst[40000]["policies"]["pending_policies"] == ["0|default|staged:db|deny|0"]


def test_policy_evaluation_mode_none_leaves_the_pending_policies_empty(tmp_path: Path) -> None:
    """flowLogsPolicyEvaluationMode None: Felix never fills its pending policy store, so
    pending_policies is empty; the enforced and all policies are as in Continuous."""
    logs = flow_logs(tmp_path, pending=False)
    logs.listed([], time.monotonic())
    logs.listed([conn(1, 40000, (3, 180, 2, 120), "ESTABLISHED")], time.monotonic())
    logs.flush()
    assert {r["reporter"]: r["policies"] for r in records(tmp_path)}["dst"] == {
        "all_policies": ["0|default|staged:db|deny|0", "1|default|db|allow|0"],
        "enforced_policies": ["0|default|db|allow|0"], "pending_policies": []}


def test_the_file_rotates_by_size_keeping_max_files(tmp_path: Path) -> None:
    for window in range(8):
        write_rotated(str(tmp_path / "flows.log"), f"{window:0500d}\n", 1500, 3)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["flows.log", "flows.log.1", "flows.log.2"]
    assert all(p.stat().st_size <= 1500 for p in tmp_path.iterdir())
    assert (tmp_path / "flows.log").read_text().splitlines()[-1].endswith("7")
