"""The audit over lab traffic: the shop in audit mode (LogAndAccept), real packets between
network namespaces, the kernel's own LOG lines as rsyslog would write them; the report,
explain and recommend give exact counts and name the policy."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .test_lab import ROOT, env, tortie

__all__ = ["env"]  # the lab fixture, brought down after the test

PROBES = 3


def test_lab_traffic_in_audit_mode(env: dict[str, str], tmp_path: Path) -> None:
    assert tortie(env, "lab", "up", "-f", str(ROOT / "examples" / "lab.yaml")).returncode == 0
    assert tortie(env, "apply", "-f", str(ROOT / "examples" / "policies.yaml")).returncode == 0
    assert tortie(env, "patch", "felixconfig", "default", "-p",
                  '{"spec":{"dropActionOverride":"LogAndAccept"}}').returncode == 0
    assert tortie(env, "lab", "wait").returncode == 0
    lines = []
    for n in range(PROBES):
        probe = json.loads(tortie(env, "lab", "probe", "frontend", "database:5432/TCP", "-o", "json").stdout)
        assert probe["kernel"] == "allowed" and probe["agree"], probe  # audit mode lets it through, logged
        lines += [f"Mar  3 09:14:{20 + n:02d} node-a kernel: {line}" for line in probe["logs"]]
    allowed = json.loads(tortie(env, "lab", "probe", "backend", "database:5432/TCP", "-o", "json").stdout)
    assert allowed["kernel"] == "allowed" and allowed["logs"] == []
    assert len(lines) == PROBES
    log = tmp_path / "kern.log"
    log.write_text("".join(line + "\n" for line in lines))

    report = tortie(env, "audit", "report", "--replay", "--year", "2026", "-o", "json", str(log))
    assert report.returncode == 0, report.stderr
    block = json.loads(report.stdout)["wouldBlock"]
    assert (block["flows"], block["firstSeen"], block["lastSeen"]) == (
        PROBES, "2026-03-03T09:14:20Z", f"2026-03-03T09:14:{20 + PROBES - 1}Z")
    assert [(g["key"], g["flows"]) for g in block["by"]["policy"]] == [("database-access [default]", PROBES)]
    assert [g["key"] for g in block["by"]["destinationNamespace"]] == ["data"]
    assert [g["key"] for g in block["by"]["port"]] == ["tcp/5432"]

    explained = tortie(env, "logs", "explain", "-o", "json", str(log))
    assert explained.returncode == 0, explained.stderr
    for line in explained.stdout.splitlines():
        found = json.loads(line)
        assert (found["verdict"], found["action"], found["policy"], found["rule"]) == (
            "deny", "accept", "database-access", -1)
        assert found["source"].startswith("WorkloadEndpoint shop/") and "frontend" in found["source"]

    recommended = tortie(env, "recommend", "-n", "shop", str(log))
    assert recommended.returncode == 0, recommended.stderr
    policies = {d["metadata"]["name"]: d for d in yaml.safe_load_all(recommended.stdout)
                if d["kind"] == "StagedNetworkPolicy"}
    frontend = policies["recommended.app-frontend-role-web"]["spec"]
    assert frontend["egress"] == [{"action": "Allow", "protocol": "TCP", "destination": {
        "selector": 'app == "database" && role == "db"', "namespaceSelector": 'projectcalico.org/name == "data"',
        "ports": [5432]}}]
    assert frontend["ingress"] == []
    assert f"# {PROBES} flows" in recommended.stdout
