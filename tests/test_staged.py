"""Staged policies (snp, sgnp, sknp) as Calico v3.32 has them: names, defaults, the checks of
validator.go validateStaged*, and the CLI through them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tortie.calc import Calculator
from tortie.config import settings_for
from tortie.core import TCP
from tortie.model import explain, plan_for
from tortie.resources import ResourceError, kind_from_cli, load_resource

from .cli import run_cli

API = "projectcalico.org/v3"


def staged(kind: str, spec: dict[str, Any], name: str = "p1", namespace: str | None = "ns1") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if kind != "StagedGlobalNetworkPolicy" and namespace:
        meta["namespace"] = namespace
    return {"apiVersion": API, "kind": kind, "metadata": meta, "spec": spec}


def error_of(doc: dict[str, Any]) -> str:
    with pytest.raises(ResourceError) as info:
        load_resource(doc)
    return str(info.value)


@pytest.mark.parametrize("kind,names", [
    ("StagedNetworkPolicy", ["stagednetworkpolicy", "stagednetworkpolicies", "stagedpolicy", "snp",
                             "stagedpolicies", "spol", "spols", "SNP"]),
    ("StagedGlobalNetworkPolicy", ["stagedglobalnetworkpolicy", "stagedglobalnetworkpolicies", "sgnp", "sgnps"]),
    ("StagedKubernetesNetworkPolicy", ["stagedkubernetesnetworkpolicy", "stagedkubernetesnetworkpolicies",
                                       "stagedkubernetespolicy", "sknp", "stagedkubernetespolicies", "skpol",
                                       "skpols"]),
])
def test_calicoctl_names(kind: str, names: list[str]) -> None:
    assert {kind_from_cli(n).KIND for n in names} == {kind}


@pytest.mark.parametrize("kind", ["StagedNetworkPolicy", "StagedGlobalNetworkPolicy"])
def test_defaults_set_action_tier_types_and_tier_label(kind: str) -> None:
    out = load_resource(staged(kind, {"egress": [{"action": "Deny"}]})).output()
    assert out["spec"] == {"stagedAction": "Set", "tier": "default", "types": ["Egress"],
                           "egress": [{"action": "Deny"}]}
    assert out["metadata"]["labels"] == {"projectcalico.org/tier": "default"}


@pytest.mark.parametrize("kind", ["StagedNetworkPolicy", "StagedGlobalNetworkPolicy"])
@pytest.mark.parametrize("spec,error", [
    ({"stagedAction": "Delete"}, None),
    ({"stagedAction": "Delete", "tier": "security"}, None),
    ({"stagedAction": "Delete", "types": ["Ingress"]}, None),  # clientv3 clears a Delete's types
    ({"stagedAction": "Delete", "selector": "app == 'x'"},
     "Spec fields, except Tier, should all be zero-value if stagedAction is Delete"),
    ({"stagedAction": "Delete", "order": 0}, "should all be zero-value"),
    ({"stagedAction": "Learn", "ingress": [{"action": "Allow"}]}, None),
    ({"stagedAction": "Ignore"}, None),
    ({"stagedAction": "delete"}, "StagedAction = 'delete' (Reason: failed to validate Field: StagedAction because "
                                 "of Tag: stagedAction )"),
    ({"stagedAction": "Remove"}, 'spec.stagedAction (Unsupported value: "Remove": supported values: "Set", '
                                 '"Delete", "Learn", "Ignore")'),
    ({"types": ["Ingress", "Ingress"]}, "'Ingress' type specified more than once"),
    ({"selector": "global()"}, "Selector = 'global()' (global() can only be used in an EntityRule"),
    ({"ingress": [{"action": "Allow", "protocol": "TCP", "destination": {"ports": [99999]}}]},
     "cannot unmarshal number 99999 into field spec.ingress[0].destination.ports[0] of type uint16"),
])
def test_checks(kind: str, spec: dict[str, Any], error: str | None) -> None:
    doc = staged(kind, spec)
    if error is None:
        load_resource(doc)
    else:
        assert error in error_of(doc)


def test_the_delete_error_names_the_staged_spec() -> None:
    assert error_of(staged("StagedGlobalNetworkPolicy", {"stagedAction": "Delete", "selector": "all()"})) == (
        "error with field StagedGlobalNetworkPolicySpec = '{\"selector\":\"all()\"}' (Spec fields, except Tier, "
        "should all be zero-value if stagedAction is Delete)")


@pytest.mark.parametrize("name,error", [
    ("allow-web", None), ("knp.default.web", None), ("Web", "name must consist of lower case alphanumeric"),
])
def test_names_are_checked_as_the_enforced_kind(name: str, error: str | None) -> None:
    doc = staged("StagedNetworkPolicy", {}, name=name)
    if error is None:
        load_resource(doc)
    else:
        assert error in error_of(doc)


@pytest.mark.parametrize("spec,error", [
    ({"podSelector": {}}, None),
    ({"stagedAction": "Delete"}, None),
    ({"stagedAction": "Delete", "podSelector": {"matchLabels": {"a": "b"}}},
     "Spec fields should all be zero-value if stagedAction is Delete"),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Is"}]}},
     "spec.podSelector.matchExpressions[0].operator = 'Is' (not a valid selector operator)"),
    ({"ingress": [{"ports": [{"port": 0}]}]}, "must be between 1 and 65535, inclusive"),
    ({"ingress": [{"ports": [{"port": "http", "endPort": 90}]}]}, "may not be specified when `port` is not a number"),
    ({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]},
     "may not specify both ipBlock and another peer"),
    ({"policyTypes": ["ingress"]}, 'spec.policyTypes[0] = \'ingress\' (supported values: "Ingress", "Egress")'),
])
def test_staged_kubernetes_policy_checks(spec: dict[str, Any], error: str | None) -> None:
    doc = staged("StagedKubernetesNetworkPolicy", spec)
    if error is None:
        assert load_resource(doc).output()["spec"]["stagedAction"] == spec.get("stagedAction", "Set")
    else:
        assert error in error_of(doc)


@pytest.mark.parametrize("name", ["", "a/b", "Web"])
def test_a_staged_kubernetes_policy_name_is_a_subdomain_and_nothing_is_stored_otherwise(
        tmp_path: Path, name: str) -> None:
    doc = staged("StagedKubernetesNetworkPolicy", {"podSelector": {}}, name=name)
    code, out = _cli(tmp_path, "apply", "-f", "-", stdin=yaml.safe_dump(doc))
    assert (code, out.count("\n")) == (1, 1) and "error with field metadata.name" in out
    code, out = _cli(tmp_path, "get", "sknp", "-A", "-o", "yaml")
    assert code == 0 and yaml.safe_load(out)["items"] == []


def test_enforced_forms() -> None:
    snp = load_resource(staged("StagedNetworkPolicy", {"order": 10, "selector": "app == 'web'",
                                                       "ingress": [{"action": "Deny"}]}))
    assert snp.enforced_doc() == {  # type: ignore[attr-defined]
        "apiVersion": API, "kind": "NetworkPolicy",
        "metadata": {"name": "p1", "namespace": "ns1", "labels": {"projectcalico.org/tier": "default"}},
        "spec": {"tier": "default", "order": 10, "selector": "app == 'web'", "types": ["Ingress"],
                 "ingress": [{"action": "Deny"}]}}
    sknp = load_resource(staged("StagedKubernetesNetworkPolicy", {"podSelector": {"matchLabels": {"app": "db"}}}))
    assert sknp.enforced_doc()["metadata"] == {"name": "knp.default.p1", "namespace": "ns1"}  # type: ignore[attr-defined]
    assert sknp.kubernetes_doc() == {  # type: ignore[attr-defined]
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p1", "namespace": "ns1"},
        "spec": {"podSelector": {"matchLabels": {"app": "db"}}}}


def _cli(tmp: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    code, out, err = run_cli(args, datastore=f"sqlite://{tmp}/t.db", stdin=stdin)
    assert "Traceback" not in out + err
    return code, out + err


def test_cli_apply_get_delete_and_tier_rules(tmp_path: Path) -> None:
    docs = [staged("StagedGlobalNetworkPolicy", {"tier": "security", "selector": "all()"}, name="g1")]
    assert _cli(tmp_path, "apply", "-f", "-", stdin=yaml.safe_dump(docs)) == (
        1, "failed to apply 'StagedGlobalNetworkPolicy' resource: [resource does not exist: Tier(security)]\n")
    tier = {"apiVersion": API, "kind": "Tier", "metadata": {"name": "security"}, "spec": {"order": 100}}
    assert _cli(tmp_path, "apply", "-f", "-", stdin=yaml.safe_dump_all([tier, *docs]))[0] == 0
    assert _cli(tmp_path, "get", "sgnp", "-o", "wide") == (
        0, "NAME   TIER       ORDER   SELECTOR   \ng1     security   <nil>   all()      \n\n")
    assert _cli(tmp_path, "delete", "tier", "security") == (
        1, "Failed to delete 'Tier' resource: operation delete is not supported on security: Cannot delete a "
           "non-empty tier\n")
    assert _cli(tmp_path, "delete", "sgnp", "g1")[0] == 0
    assert _cli(tmp_path, "delete", "tier", "security")[0] == 0
    code, out = _cli(tmp_path, "apply", "-f", "-", stdin=yaml.safe_dump(
        staged("StagedNetworkPolicy", {"stagedAction": "Delete", "ingress": [{"action": "Allow"}]})))
    assert (code, out.count("\n")) == (1, 1) and "should all be zero-value if stagedAction is Delete" in out
    assert _cli(tmp_path, "get", "snp", "-A") == (0, "NAMESPACE   NAME   TIER   \n\n")


def test_staged_policies_never_reach_the_dataplane() -> None:
    """A tier whose only policy for an endpoint is staged is not in its view: no end-of-tier
    deny (felix/calc gives the dataplane no staged policy); a broken staged document is ignored."""
    wep = {"apiVersion": API, "kind": "WorkloadEndpoint", "metadata": {"name": "n1-k8s-a-eth0", "namespace": "ns1"},
           "spec": {"node": "n1", "orchestrator": "k8s", "pod": "a", "endpoint": "eth0", "interfaceName": "calia",
                    "ipNetworks": ["10.0.0.1/32"], "profiles": ["projectcalico-default-allow"]}}
    tier = {"apiVersion": API, "kind": "Tier", "metadata": {"name": "security"}, "spec": {"order": 10}}
    sgnp = staged("StagedGlobalNetworkPolicy", {"tier": "security", "selector": "all()",
                                                "ingress": [{"action": "Deny"}]}, name="security.lock")
    allow = {"apiVersion": API, "kind": "Profile", "metadata": {"name": "projectcalico-default-allow"},
             "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}}
    calc = Calculator("n1")
    delta = calc.load([load_resource(d).output() for d in (allow, wep, tier, sgnp)])
    broken = {**sgnp, "spec": {"selector": "all(", "stagedAction": 7}}
    assert not calc.update(broken).problems and not delta.problems
    view = calc.view()
    assert not view.policies and all(not tiers for ep in view.endpoints.values() for tiers in ep.tiers.values())
    _, result = explain(plan_for(view, settings_for("n1")), "10.0.0.9", "10.0.0.1", TCP.number, 1000, 80)
    assert str(result.verdict) == "allow"
