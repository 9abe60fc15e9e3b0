"""Kubernetes NetworkPolicy and Namespace input: converted as libcalico-go conversion.go converts
them (the behaviours its conversion tests cover, in cases of our own), checked as the
Kubernetes API server checks them, and through the CLI."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tortie.calc import Calculator
from tortie.datastore import PREFIX
from tortie.datastore.kubernetes import calico_uid
from tortie.resources import ResourceError, load_resource
from tortie.resources.kubernetes import simplify_ports
from tortie.store import open_store

from .cli import run_cli

K8S = "networking.k8s.io/v1"
POD = "projectcalico.org/orchestrator == 'k8s'"


def knp(spec: dict[str, Any], name: str = "test.policy", namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": K8S, "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


def converted(spec: dict[str, Any]) -> dict[str, Any]:
    doc = load_resource(knp(spec)).calico_doc()  # type: ignore[attr-defined]
    load_resource(doc)  # a valid Calico NetworkPolicy
    assert doc["metadata"] == {"name": "knp.default.test.policy", "namespace": "default"}
    spec = dict(doc["spec"])
    assert (spec.pop("tier"), spec.pop("order")) == ("default", 1000)
    return spec


LABELS = {"matchLabels": {"label": "value", "label2": "value2"}}
SELECTED = f"{POD} && label == 'value' && label2 == 'value2'"
PEER = {"podSelector": {"matchLabels": {"k": "v", "k2": "v2"}}}
PEER_SELECTOR = f"{POD} && k == 'v' && k2 == 'v2'"

CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("a basic policy: pod selectors, TCP by default", {
        "podSelector": LABELS, "ingress": [{"from": [PEER], "ports": [{"port": 80}]}], "policyTypes": ["Ingress"]},
     {"selector": SELECTED, "types": ["Ingress"], "ingress": [
         {"action": "Allow", "protocol": "TCP", "source": {"selector": PEER_SELECTOR}, "destination": {"ports": [80]}}]}),
    ("no ports: no protocol", {"podSelector": LABELS, "ingress": [{"from": [PEER]}], "policyTypes": ["Ingress"]},
     {"selector": SELECTED, "types": ["Ingress"], "ingress": [
         {"action": "Allow", "source": {"selector": PEER_SELECTOR}}]}),
    ("a blank port entry allows every TCP port", {
        "podSelector": LABELS, "ingress": [{"from": [PEER], "ports": [{"port": 80}, {}]}]},
     {"selector": SELECTED, "types": ["Ingress"], "ingress": [
         {"action": "Allow", "protocol": "TCP", "source": {"selector": PEER_SELECTOR}}]}),
    ("egress with a blank port entry and a UDP rule", {
        "podSelector": LABELS, "policyTypes": ["Egress"],
        "egress": [{"ports": [{}, {"port": 80}], "to": [PEER]}, {"ports": [{"port": 53, "protocol": "UDP"}]}]},
     {"selector": SELECTED, "types": ["Egress"], "egress": [
         {"action": "Allow", "protocol": "TCP", "destination": {"selector": PEER_SELECTOR}},
         {"action": "Allow", "protocol": "UDP", "destination": {"ports": [53]}}]}),
    ("no rules and no policyTypes: ingress only", {"podSelector": LABELS}, {"selector": SELECTED, "types": ["Ingress"]}),
    ("default-deny egress", {"podSelector": {}, "policyTypes": ["Egress"]}, {"selector": POD, "types": ["Egress"]}),
    ("both directions, in Calico's order", {
        "podSelector": {}, "policyTypes": ["Egress", "Ingress"], "ingress": [{}], "egress": [{}]},
     {"selector": POD, "types": ["Ingress", "Egress"], "ingress": [{"action": "Allow"}],
      "egress": [{"action": "Allow"}]}),
    ("one rule per peer", {"podSelector": {}, "ingress": [{"from": [
        PEER, {"podSelector": {"matchLabels": {"k3": "v3"}}}]}]},
     {"selector": POD, "types": ["Ingress"], "ingress": [
         {"action": "Allow", "source": {"selector": PEER_SELECTOR}},
         {"action": "Allow", "source": {"selector": f"{POD} && k3 == 'v3'"}}]}),
    ("one rule per protocol (in name order) and peer", {"podSelector": {}, "ingress": [{
        "from": [PEER, {"namespaceSelector": {"matchLabels": {"team": "x"}}}],
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 80}, {"port": 443, "protocol": "TCP"}]}]},
     {"selector": POD, "types": ["Ingress"], "ingress": [
         {"action": "Allow", "protocol": "TCP", "source": {"selector": PEER_SELECTOR},
          "destination": {"ports": [80, 443]}},
         {"action": "Allow", "protocol": "TCP", "source": {"selector": POD, "namespaceSelector": "team == 'x'"},
          "destination": {"ports": [80, 443]}},
         {"action": "Allow", "protocol": "UDP", "source": {"selector": PEER_SELECTOR}, "destination": {"ports": [53]}},
         {"action": "Allow", "protocol": "UDP", "source": {"selector": POD, "namespaceSelector": "team == 'x'"},
          "destination": {"ports": [53]}}]}),
    ("expressions: In, NotIn, Exists, DoesNotExist", {"podSelector": {"matchExpressions": [
        {"key": "a", "operator": "In", "values": ["x", "y"]}, {"key": "b", "operator": "NotIn", "values": ["z"]},
        {"key": "c", "operator": "Exists"}, {"key": "d", "operator": "DoesNotExist"}]}},
     {"selector": f"{POD} && a in {{ 'x', 'y' }} && b not in {{ 'z' }} && has(c) && ! has(d)",
      "types": ["Ingress"]}),
    ("an empty namespace selector is every namespace", {"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {}}]}]},
     {"selector": POD, "types": ["Ingress"], "ingress": [
         {"action": "Allow", "source": {"selector": POD, "namespaceSelector": "all()"}}]}),
    ("pod and namespace selectors in one peer", {"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"team": "x"}}, "podSelector": {"matchLabels": {"app": "web"}}}]}]},
     {"selector": POD, "types": ["Ingress"], "ingress": [
         {"action": "Allow", "source": {"selector": f"{POD} && app == 'web'", "namespaceSelector": "team == 'x'"}}]}),
    ("ports only, a range by endPort, a named port", {"podSelector": {}, "ingress": [{"ports": [
        {"port": 32000, "endPort": 32768}, {"port": "http"}]}]},
     {"selector": POD, "types": ["Ingress"], "ingress": [
         {"action": "Allow", "protocol": "TCP", "destination": {"ports": ["http", "32000:32768"]}}]}),
    ("egress to a port range", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [
        {"port": 8000, "endPort": 8080, "protocol": "UDP"}]}]},
     {"selector": POD, "types": ["Egress"], "egress": [
         {"action": "Allow", "protocol": "UDP", "destination": {"ports": ["8000:8080"]}}]}),
    ("ipBlock with except, normalised", {"podSelector": {}, "ingress": [{"from": [
        {"ipBlock": {"cidr": "192.168.7.9/16", "except": ["192.168.3.0/24"]}}]}]},
     {"selector": POD, "types": ["Ingress"], "ingress": [
         {"action": "Allow", "source": {"nets": ["192.168.0.0/16"], "notNets": ["192.168.3.0/24"]}}]}),
    ("egress ipBlock and ports", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
        "to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 5432}]}]},
     {"selector": POD, "types": ["Egress"], "egress": [
         {"action": "Allow", "protocol": "TCP", "destination": {"nets": ["10.0.0.0/8"], "ports": [5432]}}]}),
    ("ports merged into the fewest ranges, named ones first", {"podSelector": {}, "ingress": [{"ports": [
        {"port": 82}, {"port": 80}, {"port": "foo"}, {"port": 81}, {"port": 9090}]}]},
     {"selector": POD, "types": ["Ingress"], "ingress": [
         {"action": "Allow", "protocol": "TCP", "destination": {"ports": ["foo", "80:82", 9090]}}]}),
]


@pytest.mark.parametrize("spec,expected", [(s, e) for _, s, e in CASES], ids=[c[0] for c in CASES])
def test_conversion(spec: dict[str, Any], expected: dict[str, Any]) -> None:
    assert converted(spec) == expected


def test_simplify_ports() -> None:
    assert simplify_ports(None) is None
    assert simplify_ports([80]) == [80]
    assert simplify_ports([80, "http"]) == [80, "http"]  # one number: as given
    assert simplify_ports(["10:12", 13, 20, "x"]) == ["x", "10:13", 20]


def test_namespace_is_its_profile() -> None:
    ns = load_resource({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"env": "p"}}})
    assert ns.profile_doc()["spec"] == {  # type: ignore[attr-defined]
        "ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}],
        "labelsToApply": {"pcns.env": "p", "pcns.projectcalico.org/name": "prod"}}
    bare = load_resource({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"}})
    assert bare.profile_doc()["spec"]["labelsToApply"] == {"pcns.projectcalico.org/name": "dev"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("spec,error", [
    ({"podSelector": {"matchLabels": {"a b": "x"}}}, "spec.podSelector.matchLabels = 'a b'"),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
     "spec.podSelector.matchExpressions[0].values (must be specified when `operator` is 'In' or 'NotIn')"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "protocol": "ICMP"}]}]},
     "spec.ingress[0].ports[0].protocol = 'ICMP' (supported values"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]}, "must be between 1 and 65535, inclusive"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": "web--x"}]}]}, "an IANA service name"),
    ({"podSelector": {}, "egress": [{"to": [{}]}]}, "spec.egress[0].to[0] (must specify a peer)"),
    ({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0"}}]}]},
     "spec.egress[0].to[0].ipBlock.cidr = '10.0.0.0' (must be a valid CIDR"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}}]}]},
     "must be a strict subset of `cidr`"),
    ({"podSelector": {}, "policyTypes": ["Ingress", "Egress", "Ingress"]}, "may not have more than 2 items"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "endport": 90}]}]}, None),  # Go matches keys in any case
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "endPorts": 90}]}]},
     "field in document is not recognized or is in the wrong location: spec.ingress[0].ports[0].endPorts"),
])
def test_kubernetes_checks(spec: dict[str, Any], error: str | None) -> None:
    if error is None:
        load_resource(knp(spec))
        return
    with pytest.raises(ResourceError) as info:
        load_resource(knp(spec))
    assert error in str(info.value)


def test_calc_enforces_the_converted_policy_beside_a_calico_one_of_the_same_name() -> None:
    wep = {"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
           "metadata": {"name": "n1-k8s-db-eth0", "namespace": "default", "labels": {"app": "db"}},
           "spec": {"node": "n1", "orchestrator": "k8s", "pod": "db", "endpoint": "eth0", "interfaceName": "calidb",
                    "ipNetworks": ["10.0.0.1/32"]}}
    calico = {"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
              "metadata": {"name": "test.policy", "namespace": "default"}, "spec": {"selector": "all()"}}
    calc = Calculator("n1")
    calc.load([load_resource(d).output() for d in (wep, calico, knp({"podSelector": {}}))])
    assert sorted(calc.view().policies) == ["default/knp.default.test.policy", "default/test.policy"]
    data = calc.view().policies["default/knp.default.test.policy"].data
    assert (data.kind, data.kind_short_name, data.name, data.label_name) == (
        "KubernetesNetworkPolicy", "knp", "test.policy", "default/knp.default.test.policy")
    calc.delete("KubernetesNetworkPolicy", "default/knp.default.test.policy")
    assert sorted(calc.view().policies) == ["default/test.policy"]


def test_cli_round_trip(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/t.db"
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"env": "prod"}}},
            knp({"podSelector": {"matchLabels": {"app": "db"}}}, name="db", namespace="prod")]
    assert run_cli(["create", "-f", "-"], datastore=url, stdin=yaml.safe_dump_all(docs))[:2] == (
        0, "Successfully created 2 resource(s)\n")
    code, out, _ = run_cli(["get", "knp", "db", "-n", "prod", "-o", "json"], datastore=url)
    got = json.loads(out)
    assert (code, got["apiVersion"], got["kind"], got["spec"]) == (
        0, K8S, "NetworkPolicy", {"podSelector": {"matchLabels": {"app": "db"}}})
    assert run_cli(["get", "ns", "-o", "wide"], datastore=url)[1] == "NAME   LABELS     \nprod   env=prod   \n\n"
    replaced = {**knp({"podSelector": {}}, name="db", namespace="prod")}
    assert run_cli(["replace", "-f", "-"], datastore=url, stdin=yaml.safe_dump(replaced))[0] == 0
    assert run_cli(["get", "networkpolicy.networking.k8s.io", "-n", "prod"], datastore=url)[1] == (
        "NAMESPACE   NAME   \nprod        db     \n\n")
    bad = knp({"podSelector": {}, "ingress": [{"ports": [{"port": 0}]}]}, name="db", namespace="prod")
    assert run_cli(["apply", "-f", "-"], datastore=url, stdin=yaml.safe_dump(bad))[::2] == (  # errors: stderr
        1, "failed to apply 'NetworkPolicy' resource: [error with field spec.ingress[0].ports[0].port = '0' "
           "(must be between 1 and 65535, inclusive)]\n")
    assert run_cli(["delete", "knp", "db", "-n", "prod"], datastore=url)[0] == 0
    assert run_cli(["delete", "namespace", "prod"], datastore=url)[0] == 0


def test_calico_policy_commands_show_the_converted_kubernetes_policies(tmp_path: Path) -> None:
    """As calicoctl with an etcd datastore, where kube-controllers writes each Kubernetes
    NetworkPolicy as the Calico NetworkPolicy knp.default.<name>: listed and got with the
    Calico ones, never written or deleted through them (calicoctl/resourcemgr/networkpolicy.go)."""
    url = f"sqlite://{tmp_path}/t.db"

    def cli(*args: str, stdin: str | None = None) -> tuple[int, str]:
        code, out, err = run_cli(args, datastore=url, stdin=stdin)
        return code, out + err

    calico = [{"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
               "metadata": {"name": name, "namespace": "prod"}, "spec": {"selector": "all()"}} for name in ("a", "z")]
    docs = [*calico, knp({"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{"ports": [{"port": 5432}]}]},
                         name="db", namespace="prod"), knp({"podSelector": {}}, name="web", namespace="dev")]
    assert cli("create", "-f", "-", stdin=yaml.safe_dump_all(docs)) == (
        0, "Successfully created 4 'NetworkPolicy' resource(s)\n")
    assert cli("get", "networkpolicy", "-n", "prod") == (
        0, "NAMESPACE   NAME             TIER      \nprod        a                default   \n"
           "prod        knp.default.db   default   \nprod        z                default   \n\n")
    assert [re.split(" {2,}", line.strip()) for line in cli("get", "np", "-A", "-o", "wide")[1].splitlines()[1:3]] \
        == [["dev", "knp.default.web", "default", "1000", POD], ["prod", "a", "default", "<nil>", "all()"]]
    original = json.loads(cli("get", "knp", "db", "-n", "prod", "-o", "json")[1])
    code, out = cli("get", "np", "knp.default.db", "-n", "prod", "-o", "json")
    got = json.loads(out)
    assert (code, got["apiVersion"], got["kind"], got["spec"]) == (0, "projectcalico.org/v3", "NetworkPolicy", {
        "tier": "default", "order": 1000, "selector": f"{POD} && app == 'db'", "types": ["Ingress"],
        "ingress": [{"action": "Allow", "protocol": "TCP", "destination": {"ports": [5432]}}]})
    meta = got["metadata"]
    assert {k: meta[k] for k in ("name", "namespace", "labels", "creationTimestamp", "resourceVersion")} == {
        "name": "knp.default.db", "namespace": "prod", "labels": {"projectcalico.org/tier": "default"},
        "creationTimestamp": original["metadata"]["creationTimestamp"],
        "resourceVersion": original["metadata"]["resourceVersion"]}
    assert meta["uid"] == calico_uid(original["metadata"]["uid"]) != original["metadata"]["uid"]
    listed = yaml.safe_load(cli("get", "np", "-A", "-o", "yaml")[1])
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"]] == [
        ("dev", "knp.default.web"), ("prod", "a"), ("prod", "knp.default.db"), ("prod", "z")]
    assert cli("get", "np", "knp.default.web", "-n", "prod") == (
        1, "resource does not exist: NetworkPolicy(prod/knp.default.web)\n")
    refused = "is not supported on NetworkPolicy(prod/knp.default.db): kubernetes network policies must be " \
              "managed through the kubernetes API"
    assert cli("replace", "-f", "-", stdin=json.dumps(got)) == (
        1, f"failed to replace 'NetworkPolicy' resource: operation apply or replace {refused}\n")
    assert cli("apply", "-f", "-", stdin=json.dumps(got)) == (
        1, f"failed to apply 'NetworkPolicy' resource: [operation apply or replace {refused}]\n")
    assert cli("delete", "np", "knp.default.db", "-n", "prod") == (
        1, f"Failed to delete 'NetworkPolicy' resource: operation delete {refused}\n")
    assert cli("label", "np", "knp.default.db", "-n", "prod", "x=y")[0] == 1
    assert cli("delete", "knp", "db", "-n", "prod")[0] == 0
    assert [i["metadata"]["name"] for i in yaml.safe_load(cli("get", "np", "-n", "prod", "-o", "yaml")[1])["items"]] \
        == ["a", "z"]
    with open_store(url) as store:  # a Kubernetes policy written around the API, that does not load
        store.create(f"{PREFIX}kubernetesnetworkpolicies/dev/bad", json.dumps(
            knp({"podSelector": {"matchLabels": {"a b": "x"}}}, name="bad", namespace="dev")).encode())
    code, out, err = run_cli(["get", "np", "-n", "dev"], datastore=url)
    assert (code, out) == (0, "NAMESPACE   NAME              TIER      \ndev         knp.default.web   default   \n\n")
    assert err.startswith("Warning: /calico/resources/v3/projectcalico.org/kubernetesnetworkpolicies/dev/bad holds "
                          "no valid NetworkPolicy: ") and err.endswith("; skipped\n"), err
    code, out = cli("get", "np", "knp.default.bad", "-n", "dev")
    assert code == 1 and out.startswith("NetworkPolicy(dev/bad) is not valid in the datastore ("), out


@given(st.uuids())
def test_a_converted_uid_keeps_version_and_variant_and_converts_back(uid: uuid.UUID) -> None:
    converted = calico_uid(str(uid))
    assert converted is not None and calico_uid(converted) == str(uid)
    assert (uuid.UUID(converted).version, uuid.UUID(converted).variant) == (uid.version, uid.variant)


def test_profile_commands_show_the_namespace_profiles(tmp_path: Path) -> None:
    """A Namespace is the Profile kns.<name> (conversion.go NamespaceToProfile) to get, listed
    with the stored ones, instead of a stored Profile of that name while it exists (as calc
    takes it, and as kube-controllers keeps an etcd datastore's)."""
    url = f"sqlite://{tmp_path}/t.db"

    def cli(*args: str, stdin: str | None = None) -> tuple[int, str]:
        code, out, err = run_cli(args, datastore=url, stdin=stdin)
        return code, out + err

    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"env": "prod"}}},
            *({"apiVersion": "projectcalico.org/v3", "kind": "Profile", "metadata": {"name": name},
               "spec": {"ingress": [{"action": "Deny"}]}} for name in ("kns.prod", "kns.lab"))]
    assert cli("create", "-f", "-", stdin=yaml.safe_dump_all(docs))[0] == 0
    assert cli("get", "profiles") == (0, "NAME                          \nkns.lab                       \n"
                                         "kns.prod                      \nprojectcalico-default-allow   \n\n")
    namespace = json.loads(cli("get", "ns", "prod", "-o", "json")[1])
    profile = json.loads(cli("get", "profile", "kns.prod", "-o", "json")[1])
    assert profile == {"apiVersion": "projectcalico.org/v3", "kind": "Profile", "metadata": {
        "name": "kns.prod", "creationTimestamp": namespace["metadata"]["creationTimestamp"],
        "resourceVersion": namespace["metadata"]["resourceVersion"], "uid": calico_uid(namespace["metadata"]["uid"])},
        "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}],
                 "labelsToApply": {"pcns.env": "prod", "pcns.projectcalico.org/name": "prod"}}}
    listed = yaml.safe_load(cli("get", "profiles", "-o", "yaml")[1])["items"]
    assert [p["spec"]["ingress"] for p in listed[:2]] == [[{"action": "Deny"}], [{"action": "Allow"}]]
    assert cli("delete", "namespace", "prod")[0] == 0  # the stored Profile is seen again
    assert json.loads(cli("get", "profile", "kns.prod", "-o", "json")[1])["spec"] == {"ingress": [{"action": "Deny"}]}
