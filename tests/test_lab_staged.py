"""The demo's staged and report steps with a running agent: a staged policy changes nothing in
the kernel, the probe and the flow log show its pending verdict, and after ``tortie promote`` the
kernel enforces it; then in audit mode the report names what enforcing would block, the
recommended policy allows the traffic seen, and staged, it replays as newly allowing it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from .test_lab import ROOT, env, tortie  # noqa: F401 - env is the lab fixture
from .wait import wait_until


def test_stage_preview_promote_then_report(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    assert tortie(env, "lab", "up", "-f", str(ROOT / "examples" / "lab.yaml")).returncode == 0
    flows = Path(env["TORTIE_LAB_DIR"]).parent / "flows" / "flows.log"
    spec = {"flowLogsFileEnabled": True, "flowLogsFileDirectory": str(flows.parent), "flowLogsFlushInterval": "1s",
            "flowLogsFileIncludePolicies": True}
    assert tortie(env, "patch", "felixconfig", "default", "-p", json.dumps({"spec": spec})).returncode == 0
    for example in ("policies.yaml", "staged.yaml"):
        assert tortie(env, "apply", "-f", str(ROOT / "examples" / example)).returncode == 0
    assert tortie(env, "lab", "wait").returncode == 0
    staged = json.loads(tortie(env, "lab", "probe", "database", "backend:9000", "-o", "json").stdout)
    assert (staged["kernel"], staged["model"], staged["pending"], staged["pendingDeniedBy"]) == (
        "allowed", "allowed", "denied", "node-a: default|backend-access|-1|deny")
    records = wait_until("the probe's flow record", lambda: [json.loads(line) for line in flows.read_text().splitlines()]
                         if flows.exists() else [], lambda found: any(r["dest_port"] == 9000 for r in found))
    record = next(r for r in records if r["dest_port"] == 9000 and r["reporter"] == "dst")
    assert (record["action"], record["source_name_aggr"], record["num_flows_started"], record["policies"]) == (
        "allow", "database", 1, {"all_policies": ["0|default|staged:backend-access|deny|-1",
                                                  "1|__PROFILE__|__PROFILE__.kns.shop|allow|0"],
                                 "enforced_policies": ["0|__PROFILE__|__PROFILE__.kns.shop|allow|0"],
                                 "pending_policies": ["0|default|staged:backend-access|deny|-1"]})
    promoted = tortie(env, "promote", "sgnp", "backend-access")
    assert promoted.stdout == ("Successfully promoted StagedGlobalNetworkPolicy(backend-access): "
                               "created GlobalNetworkPolicy(backend-access)\n")
    assert tortie(env, "lab", "wait").returncode == 0
    enforced = json.loads(tortie(env, "lab", "probe", "database", "backend:9000", "-o", "json").stdout)
    assert (enforced["kernel"], enforced["model"], enforced["pending"], enforced["agree"]) == (
        "denied", "denied", "denied", True)
    allowed = json.loads(tortie(env, "lab", "probe", "frontend", "backend:9000", "-o", "json").stdout)
    assert (allowed["kernel"], allowed["pending"]) == ("allowed", "allowed")

    audit_mode(env, flows, tmp_path)


def audit_mode(lab: dict[str, str], flows: Path, tmp_path: Path) -> None:
    """The demo's report step: the frontend reaches the database in audit mode (LogAndAccept),
    the backend as allowed; the flow log and the kernel's LOG line record it."""
    since = int(time.time())
    spec = {"dropActionOverride": "LogAndAccept", "flowLogsFileAggregationKindForAllowed": 0,
            "flowLogsFileAggregationKindForDenied": 0}
    assert tortie(lab, "patch", "felixconfig", "default", "-p", json.dumps({"spec": spec})).returncode == 0
    assert tortie(lab, "lab", "wait").returncode == 0
    logged = json.loads(tortie(lab, "lab", "probe", "frontend", "database:5432", "-o", "json").stdout)
    assert logged["kernel"] == "allowed" and len(logged["logs"]) == 1, logged
    drops = tmp_path / "calico-drop.log"  # as rsyslog writes it (deploy/rsyslog)
    drops.write_text(f"{datetime.now(UTC).isoformat()} node-a kernel: {logged['logs'][0]}\n")
    allowed = json.loads(tortie(lab, "lab", "probe", "backend", "database:5432", "-o", "json").stdout)
    assert (allowed["kernel"], allowed["logs"]) == ("allowed", [])
    wait_until("the backend's flow record", lambda: flows.read_text(), lambda text: any(
        r["source_ip"] == "198.18.10.20" and r["dest_port"] == 5432 and r["start_time"] >= since
        for r in map(json.loads, text.splitlines())))

    report = tortie(lab, "audit", "report", "--replay", "--since", str(since), "-o", "json", str(drops))
    assert report.returncode == 0, report.stderr
    block = json.loads(report.stdout)["wouldBlock"]

    def keys(found: dict[str, Any], by: str) -> list[tuple[str, int]]:
        return [(g["key"], g["flows"]) for g in found["by"][by]]

    assert (block["flows"], keys(block, "policy"), keys(block, "source"), keys(block, "destination")) == (
        1, [("database-access [default]", 1)], [("shop/frontend", 1)], [("data/database", 1)])

    recommended = tortie(lab, "recommend", "-n", "data", "--since", str(since), str(flows), str(drops))
    assert recommended.returncode == 0, recommended.stderr
    policies = [d for d in yaml.safe_load_all(recommended.stdout) if d["kind"] == "StagedNetworkPolicy"]
    assert [p["metadata"]["name"] for p in policies] == ["recommended.app-database-role-db"]
    assert policies[0]["spec"]["egress"] == []
    assert policies[0]["spec"]["ingress"] == [
        {"action": "Allow", "protocol": "TCP", "destination": {"ports": [5432]}, "source": {
            "selector": f'app == "{app}" && role == "{role}"', "namespaceSelector": 'projectcalico.org/name == "shop"'}}
        for app, role in (("backend", "api"), ("frontend", "web"))]
    staged = tmp_path / "recommended.yaml"
    staged.write_text(recommended.stdout)
    for command in ("validate", "apply"):
        done = tortie(lab, command, "-f", str(staged))
        assert done.returncode == 0, done.stdout + done.stderr
    replayed = tortie(lab, "audit", "replay", "--since", str(since), "-o", "json", str(flows), str(drops))
    assert replayed.returncode == 0, replayed.stderr
    found = json.loads(replayed.stdout)
    assert found["wouldBlock"]["flows"] == 0
    assert [key for key, _ in keys(found["newlyAllowed"], "source")] == ["shop/frontend"]
    assert [key for key, _ in keys(found["newlyAllowed"], "policy")] == ["database-access [default]"]
