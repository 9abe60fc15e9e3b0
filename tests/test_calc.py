"""Calc: labels, applicability and order, IP sets, deltas, inconsistent input, and the
incremental calculator against a from-scratch calculation."""

from __future__ import annotations

import copy

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tortie.calc import Calculator, NodeView, resource_id
from tortie.core import Direction, Stage
from tortie.selector.parser import MAX_NESTING
from tortie.resources import load_resource

from .profiles import examples

API = "projectcalico.org/v3"


def res(kind: str, name: str, spec: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    return load_resource({"apiVersion": API, "kind": kind, "metadata": {"name": name, **meta},
                          "spec": spec or {}}).output()


NORMAL_IN = (Stage.NORMAL, Direction.INGRESS)


def wep(name: str, node: str, ip: str, ns: str = "ns1", labels: dict[str, str] | None = None,
        profiles: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    return res("WorkloadEndpoint", name, {"node": node, "interfaceName": f"cali{name}"[:15],
                                          "ipNetworks": [ip], "profiles": profiles or [], **spec},
               namespace=ns, labels=labels or {})


def gnp(name: str, selector: str, **spec: Any) -> dict[str, Any]:
    return res("GlobalNetworkPolicy", name, {"selector": selector, **spec})


def test_effective_labels_inherit_profiles_and_namespace() -> None:
    calc = Calculator("n1")
    calc.load([
        res("Profile", "kns.ns1", labels={"env": "prod"}),
        res("Profile", "p1", {"labelsToApply": {"team": "a", "app": "from-profile"}}),
        res("Profile", "p2", {"labelsToApply": {"team": "b", "tier": "web"}}),
        wep("w1", "n1", "198.18.0.1/32", labels={"app": "own"}, profiles=["p1", "p2"]),
    ])
    labels = dict(calc.view().endpoints["WorkloadEndpoint/ns1/w1"].labels)
    assert labels == {"app": "own", "team": "a", "tier": "web", "projectcalico.org/namespace": "ns1",
                      "pcns.env": "prod", "pcns.projectcalico.org/name": "ns1"}


def test_namespace_label_change_reaches_endpoints_at_once() -> None:
    calc = Calculator("n1")
    calc.load([wep("w1", "n1", "198.18.0.1/32"), gnp("prod-only", 'pcns.env == "prod"', ingress=[{"action": "Allow"}])])
    assert calc.view().endpoints["WorkloadEndpoint/ns1/w1"].tiers[NORMAL_IN] == ()
    before = calc.view().endpoints["WorkloadEndpoint/ns1/w1"]
    assert calc.update(res("Profile", "kns.ns1", labels={"env": "prod"}))
    assert calc.view().endpoints["WorkloadEndpoint/ns1/w1"] is not before  # rebuilt: view.py's identity contract
    tiers = calc.view().endpoints["WorkloadEndpoint/ns1/w1"].tiers[NORMAL_IN]
    assert [t.policies for t in tiers] == [("prod-only",)]


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return load_resource({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
                         ).output()


def test_a_namespace_and_a_profile_of_its_name_both_stay_and_the_namespace_wins() -> None:
    """Namespace ns1 is the profile kns.ns1 (conversion.go NamespaceToProfile); a stored Profile
    kns.ns1 beside it is kept but not used while the namespace exists, whatever the order of
    writes (kube-controllers' namespace controller keeps the namespace's profile)."""
    stored = res("Profile", "kns.ns1", {"ingress": [{"action": "Deny"}]}, labels={"env": "dev"})
    endpoint = wep("w1", "n1", "198.18.0.1/32", profiles=["kns.ns1"])
    ns1 = namespace("ns1", env="prod")
    for order in ([stored, ns1], [ns1, stored]):
        calc = Calculator("n1")
        for doc in [endpoint, *order]:
            calc.update(doc)
        assert resource_id(stored) == ("Profile", "kns.ns1") and resource_id(ns1) == ("Namespace", "ns1")
        assert calc.index.labels["WorkloadEndpoint/ns1/w1"]["pcns.env"] == "prod"
        assert [r.action for r in calc.view().profiles["kns.ns1"].ingress] == ["Allow"]
        assert ("Profile kns.ns1 is not used: Namespace ns1 stands for it (as Calico's kube-controllers keeps a "
                "namespace's profile)") in calc.problems()
        assert not calc.delete("Profile", "kns.ns1")  # the namespace's stays in force: nothing changes
        assert not any("is not used" in p for p in calc.problems())
        calc.update(stored)
        assert calc.delete("Namespace", "ns1")  # the stored Profile takes over
        assert calc.index.labels["WorkloadEndpoint/ns1/w1"]["pcns.env"] == "dev"
        assert [r.action for r in calc.view().profiles["kns.ns1"].ingress] == ["Deny"]
        assert calc.delete("Profile", "kns.ns1")
        assert "kns.ns1" not in calc.view().profiles
        assert "pcns.env" not in calc.index.labels["WorkloadEndpoint/ns1/w1"]


def test_order_of_tiers_and_policies() -> None:
    calc = Calculator("n1")
    calc.load([
        res("Tier", "b", {"order": 10}), res("Tier", "a", {"order": 10}), res("Tier", "c", {"order": 5}),
        wep("w", "n1", "198.18.0.1/32", labels={"x": "1"}),
        gnp("b.p", "has(x)", tier="b"), gnp("a.p", "has(x)", tier="a"), gnp("c.p", "has(x)", tier="c"),
        gnp("zeta", "has(x)", order=1), gnp("alpha", "has(x)"), gnp("beta", "has(x)"), gnp("mid", "has(x)", order=1.5),
        res("NetworkPolicy", "np", {"selector": "has(x)", "order": 1}, namespace="ns1"),
        gnp("missing-tier.p", "has(x)", tier="missing-tier"),
    ])
    tiers = calc.view().endpoints["WorkloadEndpoint/ns1/w"].tiers[NORMAL_IN]
    assert [(t.name, t.policies) for t in tiers] == [
        ("c", ("c.p",)), ("a", ("a.p",)), ("b", ("b.p",)),
        ("default", ("ns1/np", "zeta", "mid", "alpha", "beta")),
        ("missing-tier", ("missing-tier.p",)),
    ]
    assert any("tier missing-tier" in p for p in calc.problems())


def test_applicability_by_kind_namespace_stage_and_type() -> None:
    calc = Calculator("n1")
    calc.load([
        wep("w", "n1", "198.18.0.1/32", ns="ns1", labels={"x": "1"}),
        res("HostEndpoint", "h", {"node": "n1", "interfaceName": "eth0"}, labels={"x": "1"}),
        res("NetworkPolicy", "same-ns", {"selector": "has(x)"}, namespace="ns1"),
        res("NetworkPolicy", "other-ns", {"selector": "has(x)"}, namespace="ns2"),
        gnp("untracked", "has(x)", doNotTrack=True, applyOnForward=True),
        gnp("prednat", "has(x)", preDNAT=True, applyOnForward=True),
        gnp("forward", "has(x)", applyOnForward=True),
        gnp("egress-only", "has(x)", egress=[{"action": "Allow"}]),
    ])
    view = calc.view()

    def names(key: str, stage: str, direction: str) -> list[str]:
        return [p for t in view.endpoints[key].tiers.get((Stage(stage), Direction(direction)), ()) for p in t.policies]

    w, h = "WorkloadEndpoint/ns1/w", "HostEndpoint/h"
    assert names(w, "N", "ingress") == ["forward", "ns1/same-ns"]
    assert names(w, "N", "egress") == ["egress-only"]
    assert set(view.endpoints[w].tiers) == {("N", "ingress"), ("N", "egress")}
    assert names(h, "U", "ingress") == ["untracked"]
    assert names(h, "D", "ingress") == ["prednat"]
    assert names(h, "N", "ingress") == ["forward"]
    assert names(h, "F", "ingress") == ["forward"]
    assert ("D", "egress") not in view.endpoints[h].tiers


def test_ip_sets_follow_labels_scopes_and_named_ports() -> None:
    calc = Calculator("n1")
    calc.load([
        res("Profile", "kns.ns2", labels={"env": "prod"}),
        wep("local", "n1", "198.18.0.1/32", labels={"role": "db"}),
        wep("web1", "n2", "198.18.0.2/32", labels={"role": "web"},
            ports=[{"name": "http", "protocol": "TCP", "port": 8080}]),
        wep("web2", "n3", "198.18.0.3/32", ns="ns2", labels={"role": "web"}),
        res("GlobalNetworkSet", "outside", {"nets": ["203.0.113.0/24", "2001:db8::/32"]}, labels={"role": "web"}),
        res("NetworkPolicy", "np", {"selector": "all()", "ingress": [
            {"action": "Allow", "source": {"selector": "role == 'web'"}},
            {"action": "Allow", "protocol": "TCP", "source": {"namespaceSelector": "env == 'prod'"},
             "destination": {"ports": ["http"]}}]}, namespace="ns1"),
        gnp("g", "all()", ingress=[{"action": "Allow", "source": {"selector": "role == 'web'"}}]),
    ])
    sets = {s.id: s for s in calc.view().ipsets.values()}
    members = sorted(sorted(s.members) for s in sets.values())
    assert ["198.18.0.2"] in members  # NetworkPolicy scope: its own namespace only
    assert ["198.18.0.2", "198.18.0.3", "2001:db8::/32", "203.0.113.0/24"] in members  # global scope + sets
    assert ["198.18.0.3"] in members  # namespaceSelector env == prod: ns2 only
    named = [s for s in sets.values() if s.kind == "namedport"]
    assert [sorted(s.members) for s in named] == [["198.18.0.2,tcp:8080"]]


def test_delta_of_one_label_change() -> None:
    """What changed is told by identity (calc/view.py): a remote label change changes one set's
    members and nothing else; a local one changes its endpoint and drops the set."""
    calc = Calculator("n1")
    calc.load([wep("local", "n1", "198.18.0.1/32", labels={"role": "db"}),
               wep("far", "n2", "198.18.0.2/32", labels={"role": "web"}),
               gnp("g", "role == 'db'", ingress=[{"action": "Allow", "source": {"selector": "role == 'web'"}}])])
    before = calc.view()
    set_id = next(iter(before.ipsets))
    assert calc.update(wep("far", "n2", "198.18.0.2/32", labels={"role": "cache"}))
    after = calc.view()
    assert after.ipsets.keys() == before.ipsets.keys() and after.ipsets[set_id] is not before.ipsets[set_id]
    assert after.endpoints["WorkloadEndpoint/ns1/local"] is before.endpoints["WorkloadEndpoint/ns1/local"]
    assert after.policies["g"] is before.policies["g"]
    assert calc.view().ipsets[set_id].members == frozenset()
    assert not calc.update(wep("far", "n2", "198.18.0.2/32", labels={"role": "cache"}))  # no change, empty delta
    assert calc.view().ipsets[set_id] is after.ipsets[set_id]
    assert calc.update(wep("local", "n1", "198.18.0.1/32", labels={"role": "other"}))
    last = calc.view()
    assert last.endpoints["WorkloadEndpoint/ns1/local"] is not after.endpoints["WorkloadEndpoint/ns1/local"]
    assert set_id not in last.ipsets


def test_inconsistent_and_bad_input_is_reported_once_and_never_crashes() -> None:
    calc = Calculator("n1")
    bad_policy = {"apiVersion": API, "kind": "GlobalNetworkPolicy", "metadata": {"name": "bad"},
                  "spec": {"selector": "a = 'b'"}}
    bad_wep = {"apiVersion": API, "kind": "WorkloadEndpoint", "metadata": {"name": "w", "namespace": "ns1"},
               "spec": {"node": "n1", "ipNetworks": ["not-an-ip"]}}
    delta = calc.load([
        wep("a", "n1", "198.18.0.1/32", profiles=["nope"]), wep("b", "n1", "198.18.0.1/32"),
        bad_policy, bad_wep, {"kind": "WorkloadEndpoint"}, {"apiVersion": API, "kind": "Mystery"},
    ])
    assert len([p for p in delta.problems if "GlobalNetworkPolicy bad" in p]) == 1
    assert any("WorkloadEndpoint WorkloadEndpoint/ns1/w" in p for p in delta.problems)
    problems = calc.problems()
    assert any("profile nope" in p and "has no rules" in p for p in problems)
    assert any("address 198.18.0.1 belongs to several endpoints" in p for p in problems)
    assert not calc.update(bad_policy).problems  # reported once
    # A bad version of a good resource leaves the last good version in force, and says so.
    calc.update(gnp("bad", "all()", ingress=[{"action": "Allow"}]))
    assert "bad" in calc.view().policies
    assert not any("GlobalNetworkPolicy bad" in p for p in calc.problems())
    calc.update(bad_policy)
    assert "bad" in calc.view().policies
    assert any("GlobalNetworkPolicy bad" in p and "last good version stays" in p for p in calc.problems())
    calc.delete("GlobalNetworkPolicy", "bad")
    assert "bad" not in calc.view().policies
    assert not any("GlobalNetworkPolicy bad" in p for p in calc.problems())


# --- incremental == from scratch --------------------------------------------------------------

# Label keys include the ones only Calico derives, which workloads and profiles try to claim.
RESERVED = ["pcns.env", "pcsa.role", "pcns.projectcalico.org/name", "projectcalico.org/serviceaccount",
            "projectcalico.org/namespace"]
LABELS = st.dictionaries(st.sampled_from(["app", "tier", "x", *RESERVED]), st.sampled_from(["a", "b"]), max_size=3)
SELECTORS = st.sampled_from(["app == 'a'", "has(x)", "tier in {'a', 'b'}", "all()", "!has(app)",
                             "pcns.env == 'prod'", "pcsa.role == 'a'", "projectcalico.org/serviceaccount == 'sa1'",
                             "pcns.projectcalico.org/name == 'ns2'"])


def _doc(draw: Any, i: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["wep", "wep", "gnp", "np", "profile", "namespace", "netset", "tier"]))
    if kind == "wep":
        return wep(f"w{i % 6}", draw(st.sampled_from(["n1", "n2"])), f"198.18.0.{draw(st.integers(1, 5))}/32",
                   ns=draw(st.sampled_from(["ns1", "ns2"])), labels=draw(LABELS),
                   profiles=draw(st.lists(st.sampled_from(["kns.ns1", "p1", "gone"]), max_size=2, unique=True)),
                   ports=[{"name": "http", "protocol": "TCP", "port": draw(st.sampled_from([80, 8080]))}],
                   **draw(st.sampled_from([{}, {"serviceAccountName": "sa1"}, {"serviceAccountName": "sa2"}])))
    if kind in ("gnp", "np"):
        rules = [{"action": "Allow", "protocol": "TCP", "source": {"selector": draw(SELECTORS)},
                  "destination": {"ports": ["http"]}},
                 {"action": "Deny", "source": {"notSelector": draw(SELECTORS)}},
                 {"action": "Allow", "source": {"serviceAccounts": draw(st.sampled_from(
                     [{"names": ["sa1"]}, {"selector": "role == 'a'"}, {"names": ["sa2"], "selector": "has(role)"}]))}}]
        spec = {"selector": draw(SELECTORS), "ingress": rules, "order": draw(st.sampled_from([1, 2, None])),
                "tier": draw(st.sampled_from(["default", "t1"]))}
        name = f"p{i % 4}" if spec["tier"] == "default" else f"t1.p{i % 4}"
        if kind == "gnp":
            return res("GlobalNetworkPolicy", name, spec)
        return res("NetworkPolicy", name, spec, namespace="ns1")
    if kind == "profile":
        return res("Profile", draw(st.sampled_from(["kns.ns1", "p1", "ksa.ns1.sa1", "ksa.ns2.sa2"])),
                   {"labelsToApply": draw(LABELS)}, labels={"env": draw(st.sampled_from(["prod", "dev"]))})
    if kind == "namespace":  # the profile kns.<name>, beside a stored Profile of that name
        return namespace(draw(st.sampled_from(["ns1", "ns2"])), env=draw(st.sampled_from(["prod", "dev"])))
    if kind == "netset":
        labels = {k: v for k, v in draw(LABELS).items() if k != "projectcalico.org/namespace"}  # the validator's
        return res("GlobalNetworkSet", f"s{i % 2}", {"nets": ["203.0.113.0/24"]}, labels=labels)
    return res("Tier", "t1", {"order": draw(st.sampled_from([1, 100])), "defaultAction": draw(st.sampled_from(
        ["Deny", "Pass"]))})


@st.composite
def histories(draw: Any) -> list[tuple[str, dict[str, Any]]]:
    steps = []
    for i in range(draw(st.integers(1, 25))):
        doc = _doc(draw, i)
        steps.append(("delete" if draw(st.integers(0, 4)) == 0 else "update", doc))
    return steps


def _comparable(view: NodeView) -> Any:
    return (
        {k: (dict(e.labels), dict(e.tiers)) for k, e in view.endpoints.items()},
        set(view.policies), set(view.profiles),
        {k: s.members for k, s in view.ipsets.items()},
        dict(view.owners),
    )


@settings(max_examples=examples(150))
@given(histories())
def test_incremental_updates_equal_a_full_calculation(history: list[tuple[str, dict[str, Any]]]) -> None:
    calc = Calculator("n1")
    state: dict[tuple[str, str], dict[str, Any]] = {}
    for op, doc in history:
        ident = resource_id(doc)
        if op == "delete":
            calc.delete(*ident)
            state.pop(ident, None)
        else:
            calc.update(doc)
            state[ident] = doc
    fresh = Calculator("n1")
    fresh.load(list(state.values()))
    assert _comparable(calc.view()) == _comparable(fresh.view())


def _unclaimed(doc: dict[str, Any]) -> dict[str, Any]:
    """The document without the reserved labels a workload or an ordinary profile tries to claim."""
    doc = copy.deepcopy(doc)
    if doc["kind"] == "WorkloadEndpoint":
        labels = doc["metadata"].get("labels", {})
        doc["metadata"]["labels"] = {k: v for k, v in labels.items() if not k.startswith(("pcns.", "pcsa."))}
    elif doc["kind"] == "Profile" and doc["metadata"]["name"] == "p1":
        apply = doc["spec"].get("labelsToApply", {})
        doc["spec"]["labelsToApply"] = {k: v for k, v in apply.items() if not k.startswith(("pcns.", "pcsa."))}
    return doc


@settings(max_examples=examples(100))
@given(histories())
def test_reserved_labels_cannot_be_claimed(history: list[tuple[str, dict[str, Any]]]) -> None:
    """Whatever a workload's own labels or an ordinary profile's labelsToApply say under the
    pcns. and pcsa. prefixes, every entity's labels and every set are as if they said nothing
    (libcalico-go workloadendpointprocessor.go; felix/calc/profile_decoder.go)."""
    docs = {resource_id(doc): doc for op, doc in history if op == "update"}
    claimed, clean = Calculator("n1"), Calculator("n1")
    claimed.load(list(docs.values()))
    clean.load([_unclaimed(d) for d in docs.values()])
    assert _comparable(claimed.view()) == _comparable(clean.view())
    for key, labels in claimed.index.labels.items():
        entity = claimed.entities[key]
        if entity.namespace is not None:
            assert labels["projectcalico.org/namespace"] == entity.namespace
            assert labels["pcns.projectcalico.org/name"] == entity.namespace
        if entity.service_account is not None:
            assert labels["projectcalico.org/serviceaccount"] == entity.service_account
            assert labels["pcsa.projectcalico.org/name"] == entity.service_account


def test_named_port_member_shared_by_two_endpoints_survives_one_leaving() -> None:
    port = [{"name": "http", "protocol": "TCP", "port": 80}]
    calc = Calculator("n1")
    calc.load([wep("a", "n2", "198.18.0.9/32", labels={"app": "x"}, ports=port),
               wep("b", "n3", "198.18.0.9/32", labels={"app": "x"}, ports=port),
               wep("local", "n1", "198.18.0.1/32"),
               gnp("g", "all()", ingress=[{"action": "Allow", "protocol": "TCP",
                                           "source": {"selector": "app == 'x'", "ports": ["http"]}}])])
    named = next(s.id for s in calc.view().ipsets.values() if s.kind == "namedport")
    assert calc.view().ipsets[named].members == {"198.18.0.9,tcp:80"}
    calc.update(wep("a", "n2", "198.18.0.9/32", labels={"app": "y"}, ports=port))
    assert calc.view().ipsets[named].members == {"198.18.0.9,tcp:80"}  # b still provides it
    calc.update(wep("b", "n3", "198.18.0.9/32", labels={"app": "y"}, ports=port))
    assert calc.view().ipsets[named].members == frozenset()


def test_claimed_reserved_labels_are_problems() -> None:
    calc = Calculator("n1")
    calc.load([res("Profile", "claimer", {"labelsToApply": {"pcns.team": "blue", "app": "x"}}),
               res("Profile", "kns.ns1", {"labelsToApply": {"pcns.team": "red"}}),
               wep("w1", "n1", "198.18.0.1/32", labels={"pcsa.role": "ci", "app": "a"}, profiles=["claimer"])])
    problems = calc.problems()
    assert ("WorkloadEndpoint/ns1/w1: labels pcsa.role are ignored, as Calico ignores them: only the namespace and "
            "service-account profiles set pcns. and pcsa. labels") in problems
    assert ("profile claimer: labelsToApply pcns.team are ignored: only the namespace and service-account profiles "
            "set them") in problems
    assert not any("kns.ns1" in p for p in problems)
    assert calc.index.labels["WorkloadEndpoint/ns1/w1"]["pcns.team"] == "red"


def test_sides_at_the_nesting_bound_compile() -> None:
    """Every selector field of a side at tortie's nesting bound: the combined selector is built
    as a tree, never re-parsed, so it cannot fail on a bound its parts passed."""
    deep = "(" * (MAX_NESTING - 1) + "a == 'b'" + ")" * (MAX_NESTING - 1)
    side = {"namespaceSelector": deep, "selector": deep, "notSelector": "!" + deep,
            "serviceAccounts": {"selector": deep, "names": ["x", "a'b\"c"]}}  # names are not checked
    calc = Calculator("n1")
    delta = calc.load([wep("w1", "n1", "198.18.0.1/32", labels={"a": "b"}),
                       res("NetworkPolicy", "p", {"selector": "all()", "ingress": [{"action": "Allow", "source": side}]},
                           namespace="ns1")])
    assert not delta.problems
    assert [s.kind for s in calc.view().ipsets.values()] == ["selector"]
