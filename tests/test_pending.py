"""The pending verdict: the enforced model over the store with every staged policy promoted.

The property's oracle is built by the test itself from what each stagedAction means (Set and
Learn stand in for the enforced policy of the same name, Delete removes it, Ignore does
nothing), not by ``promote_staged``; `tortie explain` and `tortie promote` are checked against
the same meaning."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tortie.config import settings_for
from tortie.core import BY_NAME
from tortie.model import explain, pending_plans, store_plans
from tortie.datastore import NotFound, NotSupported, ResourceClient, StoredResource, resource_key
from tortie.resources import ResourceError, load_resource
from tortie.datastore import PendingFeed, promote_staged
from tortie.resources.staged import STAGED_KINDS
from tortie.store import open_store

from .cli import run_cli
from .profiles import examples

API = "projectcalico.org/v3"
NODE = "n1"
A, B = "10.65.0.1", "10.65.0.2"
WORLD: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "labels": {"env": "prod"}}},
    *({"apiVersion": API, "kind": "WorkloadEndpoint",
       "metadata": {"name": f"n1-k8s-{pod}-eth0", "namespace": "n", "labels": {"app": pod}},
       "spec": {"node": NODE, "orchestrator": "k8s", "pod": pod, "endpoint": "eth0", "interfaceName": iface,
                "ipNetworks": [f"{ip}/32"], "profiles": ["kns.n"],
                "ports": [{"name": "web", "protocol": "TCP", "port": 80}]}}
      for pod, iface, ip in (("a", "calia", A), ("b", "calib", B))),
]
PACKETS = [(src, dst, port) for src, dst in ((A, B), (B, A)) for port in (80, 443, 5432)]

selectors = st.sampled_from(["app == 'a'", "app == 'b'", "all()", "has(app)"])
calico_rules = st.lists(st.fixed_dictionaries(
    {"action": st.sampled_from(["Allow", "Deny", "Pass"])},
    optional={"protocol": st.just("TCP"),
              "source": st.fixed_dictionaries({"selector": selectors}),
              "destination": st.fixed_dictionaries({"ports": st.sampled_from([[80], [443], ["web"]])})}),
    max_size=2).map(lambda rules: [r if "protocol" in r or "destination" not in r else {**r, "protocol": "TCP"}
                                   for r in rules])
calico_specs = st.fixed_dictionaries({"selector": selectors, "ingress": calico_rules, "egress": calico_rules},
                                     optional={"order": st.sampled_from([1, 2, 1000])})
k8s_specs = st.fixed_dictionaries({
    "podSelector": st.sampled_from([{}, {"matchLabels": {"app": "a"}}, {"matchLabels": {"app": "b"}}]),
    "ingress": st.lists(st.fixed_dictionaries({}, optional={
        "from": st.just([{"podSelector": {"matchLabels": {"app": "a"}}}]),
        "ports": st.sampled_from([[{"port": 80}], [{"port": 400, "endPort": 500}], [{"port": "web"}]])}),
        max_size=2)})
actions = st.sampled_from(["Set", "Delete", "Learn", "Ignore", None])


def _doc(kind: str, name: str, spec: dict[str, Any], api: str = API) -> dict[str, Any]:
    meta = {"name": name} if kind in ("GlobalNetworkPolicy", "StagedGlobalNetworkPolicy") else {
        "name": name, "namespace": "n"}
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}


@st.composite
def stores(draw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(enforced docs, staged docs, the enforced docs with the staged ones promoted)."""
    enforced: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, names, specs, api in (("GlobalNetworkPolicy", ["p0", "p1"], calico_specs, API),
                                    ("NetworkPolicy", ["q0", "q1"], calico_specs, API),
                                    ("NetworkPolicy", ["k0", "k1"], k8s_specs, "networking.k8s.io/v1")):
        for name in draw(st.lists(st.sampled_from(names), unique=True)):
            enforced[(api + kind, name)] = _doc(kind, name, draw(specs), api)
    staged: list[dict[str, Any]] = []
    promoted = dict(enforced)
    for kind, enforced_kind, names, specs, api in (
            ("StagedGlobalNetworkPolicy", "GlobalNetworkPolicy", ["p0", "p1", "p2"], calico_specs, API),
            ("StagedNetworkPolicy", "NetworkPolicy", ["q0", "q2"], calico_specs, API),
            ("StagedKubernetesNetworkPolicy", "NetworkPolicy", ["k0", "k2"], k8s_specs, "networking.k8s.io/v1")):
        for name in draw(st.lists(st.sampled_from(names), unique=True)):
            action = draw(actions)
            spec = {"stagedAction": action} if action == "Delete" else draw(specs)
            if action not in (None, "Delete"):
                spec = {**spec, "stagedAction": action}
            staged.append(_doc(kind, name, spec))
            if action == "Delete":
                promoted.pop((api + enforced_kind, name), None)
            elif action != "Ignore":
                promoted[(api + enforced_kind, name)] = _doc(
                    enforced_kind, name, {k: v for k, v in spec.items() if k != "stagedAction"}, api)
    return list(enforced.values()), staged, list(promoted.values())


def stored(docs: list[dict[str, Any]]) -> list[StoredResource]:
    out = []
    for doc in docs:
        r = load_resource(doc)
        out.append(StoredResource(resource_key(type(r), r.name, r.namespace), type(r), r.name, r.namespace,
                                  r.output()))
    return out


def verdicts(plans: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    out = []
    for src, dst, port in PACKETS:
        _, result = explain(plans[NODE], src, dst, BY_NAME["TCP"].number, 40000, port)
        out.append((str(result.verdict), str(result.action), result.denied_by))
    return out


@settings(max_examples=examples(60))
@given(stores())
def test_pending_is_the_enforced_verdict_with_the_staged_policies_promoted(
        store: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    enforced, staged, promoted = store
    config = {NODE: settings_for(NODE)}
    try:
        world, expected = stored(WORLD + enforced + staged), stored(WORLD + promoted)
    except ResourceError:
        return  # a drawn spec Calico refuses (e.g. a Delete with types)
    assert verdicts(pending_plans(world, config)) == verdicts(store_plans(expected, config))
    # Staged policies never change what is enforced.
    assert verdicts(store_plans(world, config)) == verdicts(store_plans(stored(WORLD + enforced), config))


def test_without_staged_policies_pending_equals_enforced() -> None:
    world = stored(WORLD + [_doc("GlobalNetworkPolicy", "p0", {"selector": "all()", "ingress": [{"action": "Deny"}]})])
    assert promote_staged(world) == world


def test_a_staged_policy_that_does_not_load_stages_nothing() -> None:
    world = stored(WORLD)
    bad = load_resource(_doc("StagedGlobalNetworkPolicy", "x", {"selector": "all()", "ingress": [{"action": "Deny"}]}))
    doc = {**bad.output(), "spec": {"selector": "all(", "ingress": [{"action": "Deny"}]}}
    garbage = StoredResource(resource_key(type(bad), "x", None), type(bad), "x", None, doc)
    assert promote_staged([*world, garbage]) == world


def test_explain_shows_both_verdicts(tmp_path: Path) -> None:
    lockdown = _doc("StagedNetworkPolicy", "lockdown", {
        "selector": "app == 'b'", "ingress": [{"action": "Allow", "protocol": "TCP", "destination": {"ports": [443]}}]})
    url = f"sqlite://{tmp_path}/t.db"
    assert run_cli(["apply", "-f", "-"], datastore=url, stdin=yaml.safe_dump_all(WORLD + [lockdown]))[0] == 0
    args = ["explain", "--node", NODE, "--config-file", "/dev/null", "--src", f"{A}:40000", "--dst", f"{B}:80",
            "--proto", "TCP"]
    code, out, _ = run_cli([*args, "-o", "json"], datastore=url)
    data = json.loads(out)
    assert (code, data["verdict"], data["action"]) == (0, "allow", "accept")
    assert {k: v for k, v in data["pending"].items() if k != "trace"} == {
        "verdict": "deny", "action": "drop", "deniedBy": "default|n/lockdown|-1|deny"}
    assert any("NetworkPolicy n/lockdown" in event for step in data["pending"]["trace"] for event in step["events"])
    code, text, _ = run_cli(args, datastore=url)
    assert "Verdict: allow. The kernel accepts the packet." in text
    assert ("Pending verdict: deny (end of tier default). With dropActionOverride Drop the kernel would drop it.\n"
            "Denied by: default|n/lockdown|-1|deny") in text
    assert run_cli(["delete", "snp", "lockdown", "-n", "n"], datastore=url)[0] == 0
    assert run_cli(args, datastore=url)[1].endswith("Pending verdict: the same (there are no staged policies).\n")


@settings(max_examples=examples(25))
@given(stores())
def test_pending_is_what_promote_enforces(
        store: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    enforced, staged, _ = store
    config = {NODE: settings_for(NODE)}
    with tempfile.TemporaryDirectory() as tmp, open_store(f"sqlite://{tmp}/t.db") as db:
        client = ResourceClient(db)
        client.ensure_defaults()
        for doc in WORLD + enforced + staged:
            client.create(load_resource(doc))
        before = client.snapshot().items
        for item in before:
            if item.kind in STAGED_KINDS:
                try:
                    client.promote(item.kind, item.name, item.namespace)
                except (NotFound, NotSupported):  # a Delete of nothing, an Ignore: nothing to do
                    pass
        after = client.snapshot().items
    assert all(item.doc["spec"]["stagedAction"] in ("Ignore", "Delete") for item in after if item.kind in STAGED_KINDS)
    assert verdicts(pending_plans(before, config)) == verdicts(store_plans(after, config))


@settings(max_examples=examples(60))
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5), stores()), min_size=1, max_size=6))
def test_the_pending_feed_keeps_promote_staged_of_the_store(
        steps: list[tuple[bool, int, tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]]]) -> None:
    """Random writes and deletes: the changes PendingFeed gives, applied to a copy, always make
    ``promote_staged`` of the store."""
    feed = PendingFeed()
    store: dict[str, StoredResource] = {}
    pending = {i.key: i for i in feed.load([])}
    for delete, pick, (enforced, staged, _) in steps:
        try:
            items = stored(enforced + staged)
        except ResourceError:
            continue
        if delete and store:
            gone = sorted(store)[pick % len(store)]
            changes = feed.delete(store.pop(gone))
        elif items:
            item = items[pick % len(items)]
            store[item.key] = item
            changes = feed.update(item)
        else:
            continue
        for change in changes:
            if isinstance(change, StoredResource):
                pending[change.key] = change
            else:
                pending.pop(change.key, None)
        assert pending == {i.key: i for i in promote_staged(store.values())}
