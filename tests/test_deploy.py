"""deploy/ files load as they are: Prometheus config and alert rules through promtool (with the
rules' own unit tests), the Grafana dashboard's queries through promtool, and every metric they
name is one the agent exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from tortie.agent.metrics import AgentCollector, AgentFigures, DeniedMetrics

DEPLOY = Path(__file__).parent.parent / "deploy"
DASHBOARD = DEPLOY / "grafana" / "tortie-denied.json"
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1h", "$instance": ".*"}


def promtool(*args: str) -> str:
    out = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def exported_names() -> set[str]:
    denied = DeniedMetrics()
    denied.add([("p", "198.18.0.1", 1, 60)], 0.0)
    families = list(denied.collect()) + list(AgentCollector(AgentFigures).collect())
    return {m.name + ("_total" if m.type == "counter" else "") for m in families}


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p["targets"]]


def test_prometheus_config_and_alert_rules_pass_promtool_and_their_unit_tests() -> None:
    promtool("check", "config", str(DEPLOY / "prometheus" / "prometheus.yml"))
    assert "SUCCESS" in promtool("test", "rules", str(DEPLOY / "prometheus" / "tortie-alerts.test.yml"))


def test_dashboard_is_a_grafana_dashboard_whose_queries_parse(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "instance"}
    titles = " ".join(p["title"] for p in dashboard["panels"])
    assert "by policy" in titles and "by source" in titles
    rules = []
    for i, expr in enumerate(dashboard_queries()):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:query{i}", "expr": expr})
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    promtool("check", "rules", str(path))


def test_every_metric_named_in_deploy_is_exported() -> None:
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "tortie-alerts.yml").read_text())
    exprs = dashboard_queries() + [r["expr"] for g in alerts["groups"] for r in g["rules"]]
    named = {name for expr in exprs for name in re.findall(r"\b((?:calico|tortie)_[a-z_]+)", expr)}
    assert named and named <= exported_names(), named - exported_names()
