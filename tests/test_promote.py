"""``tortie promote``: a staged policy becomes the enforced one in one datastore transaction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tortie.store import open_store

from .cli import run_cli

API = "projectcalico.org/v3"
K8S = "networking.k8s.io/v1"


class Store:
    def __init__(self, tmp: Path) -> None:
        self.url = f"sqlite://{tmp}/t.db"

    def __call__(self, *args: str, stdin: str | None = None) -> tuple[int, str]:
        code, out, err = run_cli(args, datastore=self.url, stdin=stdin)
        assert "Traceback" not in out + err
        return code, out + err

    def apply(self, *docs: dict[str, Any]) -> None:
        assert self("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))[0] == 0

    def get(self, *args: str) -> Any:
        code, out = self("get", *args, "-o", "json")
        return json.loads(out) if code == 0 else None

    def revision(self) -> int:
        with open_store(self.url) as store:
            return store.revision()


@pytest.fixture
def db(tmp_path: Path) -> Store:
    return Store(tmp_path)


def gnp(name: str, spec: dict[str, Any], kind: str = "GlobalNetworkPolicy", **meta: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": kind, "metadata": {"name": name, **meta}, "spec": spec}


DENY = {"selector": "app == 'web'", "ingress": [{"action": "Deny"}]}
ALLOW = {"selector": "app == 'web'", "ingress": [{"action": "Allow"}], "order": 5}


def test_set_creates_the_enforced_policy_and_removes_the_staged_one(db: Store) -> None:
    db.apply(gnp("tighten", DENY, "StagedGlobalNetworkPolicy", labels={"team": "a"}))
    start = db.revision()
    assert db("promote", "sgnp", "tighten") == (
        0, "Successfully promoted StagedGlobalNetworkPolicy(tighten): created GlobalNetworkPolicy(tighten)\n")
    enforced = db.get("gnp", "tighten")
    assert enforced["spec"] == {"selector": "app == 'web'", "ingress": [{"action": "Deny"}], "tier": "default",
                                "types": ["Ingress"]}
    assert enforced["metadata"]["labels"] == {"team": "a", "projectcalico.org/tier": "default"}
    assert db.get("sgnp", "tighten") is None
    assert db.revision() == start + 2  # the enforced write and the staged delete, committed together


def test_set_replaces_and_keeps_the_enforced_identity(db: Store) -> None:
    db.apply(gnp("web", ALLOW), gnp("web", DENY, "StagedGlobalNetworkPolicy"))
    before = db.get("gnp", "web")["metadata"]
    assert db("promote", "stagedglobalnetworkpolicy", "web")[1].endswith("replaced GlobalNetworkPolicy(web)\n")
    after = db.get("gnp", "web")
    assert after["spec"]["ingress"] == [{"action": "Deny"}] and "order" not in after["spec"]
    assert (after["metadata"]["uid"], after["metadata"]["creationTimestamp"]) == (
        before["uid"], before["creationTimestamp"])


def test_delete_removes_the_enforced_policy(db: Store) -> None:
    db.apply(gnp("web", ALLOW, "NetworkPolicy", namespace="prod"),
             gnp("web", {"stagedAction": "Delete"}, "StagedNetworkPolicy", namespace="prod"))
    assert db("promote", "snp", "web", "-n", "prod") == (
        0, "Successfully promoted StagedNetworkPolicy(prod/web): deleted NetworkPolicy(prod/web)\n")
    assert db.get("np", "web", "-n", "prod") is None and db.get("snp", "web", "-n", "prod") is None


def test_staged_kubernetes_policy_becomes_the_kubernetes_policy(db: Store) -> None:
    db.apply({"apiVersion": API, "kind": "StagedKubernetesNetworkPolicy", "metadata": {"name": "db", "namespace": "x"},
              "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]}})
    assert db("promote", "sknp", "db", "-n", "x")[0] == 0
    assert db.get("knp", "db", "-n", "x")["spec"] == {"podSelector": {"matchLabels": {"app": "db"}},
                                                       "policyTypes": ["Ingress"]}


def test_dry_run_prints_the_resource_and_writes_nothing(db: Store) -> None:
    db.apply(gnp("tighten", DENY, "StagedGlobalNetworkPolicy"))
    start = db.revision()
    code, out = db("promote", "sgnp", "tighten", "--dry-run")
    assert code == 0 and yaml.safe_load(out) == {
        "apiVersion": API, "kind": "GlobalNetworkPolicy",
        "metadata": {"name": "tighten", "labels": {"projectcalico.org/tier": "default"}},
        "spec": {"selector": "app == 'web'", "ingress": [{"action": "Deny"}], "tier": "default", "types": ["Ingress"]}}
    assert db.revision() == start
    db.apply(gnp("web", ALLOW), gnp("web", {"stagedAction": "Delete"}, "StagedGlobalNetworkPolicy"))
    assert db("promote", "sgnp", "web", "--dry-run") == (
        0, "Would delete GlobalNetworkPolicy(web) and StagedGlobalNetworkPolicy(web)\n")
    assert db.get("gnp", "web") is not None


@pytest.mark.parametrize("args,message", [
    (["sgnp", "missing"], "Failed to promote sgnp missing: resource does not exist: StagedGlobalNetworkPolicy(missing)\n"),
    (["sgnp", "gone"], "Failed to promote sgnp gone: resource does not exist: GlobalNetworkPolicy(gone)\n"),
    (["sgnp", "quiet"], "Failed to promote sgnp quiet: operation promote is not supported on "
                        "StagedGlobalNetworkPolicy(quiet): its stagedAction is Ignore: there is nothing to promote\n"),
    (["gnp", "web"], "Failed to promote gnp web: operation promote is not supported on GlobalNetworkPolicy(web): "
                     "only staged policies can be promoted\n"),
    (["thing", "web"], "Failed to promote: resource type 'thing' is not supported\n"),
    (["sgnp", "web", "-n", "x"], "Failed to promote: StagedGlobalNetworkPolicy is not namespaced\n"),
])
def test_bad_promotions_say_why_in_one_line_and_write_nothing(db: Store, args: list[str], message: str) -> None:
    db.apply(gnp("web", ALLOW), gnp("gone", {"stagedAction": "Delete"}, "StagedGlobalNetworkPolicy"),
             gnp("quiet", DENY | {"stagedAction": "Ignore"}, "StagedGlobalNetworkPolicy"))
    start = db.revision()
    assert db("promote", *args) == (1, message)
    assert db.revision() == start
