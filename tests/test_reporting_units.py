"""The exporter's text and the flow stream's file handling, without a kernel."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client import generate_latest

from tortie.agent.metrics import DeniedMetrics, denied_registry
from tortie.collector import FlowKey, FlowLog


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


def key(dport: int) -> FlowKey:
    return FlowKey("shop/web", "ingress", "default", "guard", -1, "drop", "198.18.0.1", "198.18.0.2", 17, 4000, dport)


def test_flows_are_aggregated_per_window_and_written_as_json_lines(tmp_path: Path) -> None:
    flows = FlowLog("n1", str(tmp_path / "dir"), 1 << 20, 3)
    flows.add(key(80), 2, 120, 1000.0)
    flows.add(key(80), 1, 60, 1002.5)
    flows.add(key(81), 1, 60, 1001.0)
    assert flows.flush() == 2
    assert flows.flush() == 0  # a new window starts empty
    records = [json.loads(line) for line in (tmp_path / "dir" / "denied-flows.jsonl").read_text().splitlines()]
    first = next(r for r in records if r["dstPort"] == 80)
    assert (first["packets"], first["bytes"], first["firstSeen"], first["lastSeen"]) == (
        3, 180, "1970-01-01T00:16:40.000Z", "1970-01-01T00:16:42.500Z")
    assert (first["node"], first["endpoint"], first["policy"], first["ruleIndex"], first["action"]) == (
        "n1", "shop/web", "guard", -1, "drop")


def test_the_file_rotates_by_size_keeping_max_files(tmp_path: Path) -> None:
    flows = FlowLog("n1", str(tmp_path), 1500, 3)  # one window of three flows is about 1,000 bytes
    for window in range(8):
        for port in range(3):
            flows.add(key(1000 * window + port), 1, 60, float(window))
        flows.flush()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["denied-flows.jsonl", "denied-flows.jsonl.1", "denied-flows.jsonl.2"]
    assert all(p.stat().st_size <= 1500 for p in tmp_path.iterdir())
    newest = [json.loads(line)["dstPort"] for line in (tmp_path / "denied-flows.jsonl").read_text().splitlines()]
    assert 7000 in newest
