"""The demo's staged step with a running agent: a staged policy changes nothing in the kernel,
the probe and the flow log show its pending verdict, and after ``tortie promote`` the kernel
enforces it."""

from __future__ import annotations

import json
from pathlib import Path

from .test_lab import ROOT, env, tortie  # noqa: F401 - env is the lab fixture
from .wait import wait_until


def test_stage_preview_promote(env: dict[str, str]) -> None:  # noqa: F811
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
        "allow", "database", 1, {"enforced_policies": ["0|__PROFILE__|__PROFILE__.kns.shop|allow|0"],
                                 "pending_policies": ["0|default|backend-access|deny|-1"]})
    promoted = tortie(env, "promote", "sgnp", "backend-access")
    assert promoted.stdout == ("Successfully promoted StagedGlobalNetworkPolicy(backend-access): "
                               "created GlobalNetworkPolicy(backend-access)\n")
    assert tortie(env, "lab", "wait").returncode == 0
    enforced = json.loads(tortie(env, "lab", "probe", "database", "backend:9000", "-o", "json").stdout)
    assert (enforced["kernel"], enforced["model"], enforced["pending"], enforced["agree"]) == (
        "denied", "denied", "denied", True)
    allowed = json.loads(tortie(env, "lab", "probe", "frontend", "backend:9000", "-o", "json").stdout)
    assert (allowed["kernel"], allowed["pending"]) == ("allowed", "allowed")
