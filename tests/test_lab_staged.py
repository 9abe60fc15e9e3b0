"""The demo's staged step with a running agent: a staged policy changes nothing in the kernel,
the probe shows its pending verdict, and after ``tortie promote`` the kernel enforces it."""

from __future__ import annotations

import json

from .test_lab import ROOT, env, tortie  # noqa: F401 - env is the lab fixture


def test_stage_preview_promote(env: dict[str, str]) -> None:  # noqa: F811
    assert tortie(env, "lab", "up", "-f", str(ROOT / "examples" / "lab.yaml")).returncode == 0
    for example in ("policies.yaml", "staged.yaml"):
        assert tortie(env, "apply", "-f", str(ROOT / "examples" / example)).returncode == 0
    assert tortie(env, "lab", "wait").returncode == 0
    staged = json.loads(tortie(env, "lab", "probe", "database", "backend:9000", "-o", "json").stdout)
    assert (staged["kernel"], staged["model"], staged["pending"], staged["pendingDeniedBy"]) == (
        "allowed", "allowed", "denied", "node-a: default|backend-access|-1|deny")
    promoted = tortie(env, "promote", "sgnp", "backend-access")
    assert promoted.stdout == ("Successfully promoted StagedGlobalNetworkPolicy(backend-access): "
                               "created GlobalNetworkPolicy(backend-access)\n")
    assert tortie(env, "lab", "wait").returncode == 0
    enforced = json.loads(tortie(env, "lab", "probe", "database", "backend:9000", "-o", "json").stdout)
    assert (enforced["kernel"], enforced["model"], enforced["pending"], enforced["agree"]) == (
        "denied", "denied", "denied", True)
    allowed = json.loads(tortie(env, "lab", "probe", "frontend", "backend:9000", "-o", "json").stdout)
    assert (allowed["kernel"], allowed["pending"]) == ("allowed", "allowed")
