"""Issue 15 class 1: no stored string changes the meaning of what tortie writes to
iptables-restore or ipset restore. Calc refuses what Calico's validator refuses, names from
strings are hashed when they are not plain tokens, and the text boundary refuses anything
outside its grammar."""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections import Counter
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tortie.agent import Agent
from tortie.calc import Calculator
from tortie.config import effective_config
from tortie.dataplane import EncodeError, Runner, rule_text
from tortie.dataplane.ipsets import plan as ipset_plan
from tortie.dataplane.tables import Current
from tortie.dataplane.tables import plan as table_plan
from tortie.datastore import ResourceClient, resource_key
from tortie.lab.network import NodeNetwork, Workload
from tortie.lab.traffic import probe
from tortie.plan import build_plan
from tortie.render import Builtin, Interface, Log, Rule, chain_name, render
from tortie.resources import WorkloadEndpoint, load_resource
from tortie.store import open_store

from .profiles import examples
from .test_agent_config import until_applied

API = "projectcalico.org/v3"
INJECTIONS = ["kns.shop\n-F", 'x" -j ACCEPT #']


def _doc(kind: str, name: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": kind, "metadata": {"name": name, **meta}, "spec": spec}


def test_the_encoder_refuses_what_is_outside_its_grammar() -> None:
    for rule, value in ((Rule((Interface(True, "eth0\n-F"),), Builtin.ACCEPT), "eth0\n-F"),
                        (Rule((), Log('x" -j ACCEPT #')), 'x" -j ACCEPT #'),
                        (Rule((), Builtin.ACCEPT, "a\nb"), "a\nb")):
        with pytest.raises(EncodeError) as caught:
            rule_text(rule)
        assert caught.value.value == value and repr(value) in str(caught.value)


def test_names_from_strings_that_are_not_plain_tokens_are_hashed() -> None:
    for hostile in INJECTIONS:
        name = chain_name("cali-pri-", hostile)
        assert re.fullmatch(r"cali-pri-_[A-Za-z0-9_-]{18}", name), name
    assert chain_name("cali-pri-", "kns.shop") == "cali-pri-kns.shop"


# --- the kernel: a hostile WorkloadEndpoint written straight into the store ---------------------

WORLD = [
    _doc("Profile", "kns.shop", {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}),
    _doc("GlobalNetworkPolicy", "no-5432", {"selector": "all()", "types": ["Ingress"], "ingress": [
        {"action": "Deny", "protocol": "TCP", "destination": {"ports": [5432]}}, {"action": "Pass"}]}),
    _doc("WorkloadEndpoint", "n1-k8s-w-eth0", {"node": "n1", "orchestrator": "k8s", "pod": "w", "endpoint": "eth0",
                                               "interfaceName": "caliw", "ipNetworks": ["198.18.47.1/32"],
                                               "profiles": ["kns.shop"]}, namespace="shop"),
    _doc("WorkloadEndpoint", "n1-k8s-v-eth0", {"node": "n1", "orchestrator": "k8s", "pod": "v", "endpoint": "eth0",
                                               "interfaceName": "caliv", "ipNetworks": ["198.18.47.2/32"],
                                               "profiles": ["kns.shop"]}, namespace="shop"),
]


def _store_raw(url: str, doc: dict[str, Any]) -> int:
    """Write a document as it is, past every check of the CLI (as a compromised writer would)."""
    key = resource_key(WorkloadEndpoint, doc["metadata"]["name"], doc["metadata"]["namespace"])
    with open_store(url) as store:
        return store.update(key, json.dumps(doc).encode()).mod_revision


def _agent(url: str, netns: str) -> Agent:
    agent = Agent("n1", url, config_file="/nonexistent", env={}, runner=Runner(netns))
    agent.step()
    return agent


def _filter(netns: str) -> str:
    return Runner(netns).run(["iptables-nft-save", "-t", "filter"])


@pytest.mark.parametrize("hostile", INJECTIONS)
def test_a_hostile_profile_name_changes_nothing_but_its_own_endpoint(hostile: str, tmp_path: Any) -> None:
    lab = NodeNetwork(f"tortie-i{uuid.uuid4().hex[:6]}", [], [], [
        Workload("w", "caliw", ["198.18.47.1"]), Workload("v", "caliv", ["198.18.47.2"])])
    lab.up()
    url = f"sqlite://{tmp_path}/store.db"
    agent = None
    try:
        with open_store(url) as store:
            client = ResourceClient(store)
            client.ensure_defaults()
            for doc in WORLD:
                client.create(load_resource(doc))
        Runner(lab.node).run(["iptables-nft", "-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "DROP"])
        w, v = lab.workloads

        def arrives(port: int, sport: int) -> bool:
            return probe(v.netns, "198.18.47.2", w.netns, "198.18.47.1", "tcp", sport, str(port)).arrived

        agent = _agent(url, lab.node)
        assert (arrives(80, 26001), arrives(5432, 26002)) == (True, False)
        evil = copy.deepcopy(WORLD[2])
        evil["spec"]["profiles"] = ["kns.shop", hostile]
        until_applied(agent, _store_raw(url, evil))
        assert agent.status.last_error is None  # nothing failed: nothing bad was written
        saved = _filter(lab.node)
        assert "--dport 9 -j DROP" in saved and ":cali-tw-caliw" in saved  # not flushed, a foreign rule kept
        assert (arrives(80, 26003), arrives(5432, 26004)) == (True, False)  # the last good version stays
        with open_store(url) as store:  # a later change applies
            revision = int(ResourceClient(store).apply(load_resource(_doc(
                "GlobalNetworkPolicy", "no-80", {"selector": "all()", "order": 1, "types": ["Ingress"], "ingress": [
                    {"action": "Deny", "protocol": "TCP", "destination": {"ports": [80]}}, {"action": "Pass"}]})))
                ["metadata"]["resourceVersion"])
        until_applied(agent, revision)
        assert not arrives(80, 26005)
        agent.close()
        agent = _agent(url, lab.node)  # a restart knows only the hostile version: w is left out, closed
        assert agent.status.ready and agent.status.last_error is None
        assert not arrives(8080, 26006)
        assert "--dport 9 -j DROP" in _filter(lab.node)
        assert any("spec.profiles" in p for p in agent._calc.problems())
    finally:
        if agent is not None:
            agent.close()
        lab.down()


# --- the property: random strings in every stored string field -----------------------------------

def _world() -> list[dict[str, Any]]:
    return [
        _doc("Tier", "t", {"order": 10}),
        _doc("Profile", "kns.shop", {"labelsToApply": {"free": "a"}, "ingress": [
            {"action": "Log", "protocol": "TCP", "source": {"selector": "role == 'web'"}}, {"action": "Allow"}],
            "egress": [{"action": "Allow"}]}, labels={"free": "a"}),
        _doc("WorkloadEndpoint", "w", {"node": "n1", "interfaceName": "caliw", "ipNetworks": ["198.18.48.1/32"],
                                       "profiles": ["kns.shop", "p-none"],
                                       "ports": [{"name": "free-port", "protocol": "TCP", "port": 8080}],
                                       "allowSpoofedSourcePrefixes": ["198.18.52.0/28"]},
             namespace="shop", labels={"role": "db", "free": "a"}),
        _doc("WorkloadEndpoint", "x", {"node": "n1", "interfaceName": "calix", "ipNetworks": ["198.18.48.2/32"],
                                       "profiles": ["kns.shop"]}, namespace="other", labels={"role": "web"}),
        _doc("HostEndpoint", "h", {"node": "n1", "interfaceName": "eth5", "expectedIPs": ["198.18.49.1"],
                                   "profiles": ["p-other"]}, labels={"role": "host", "free": "a"}),
        _doc("GlobalNetworkSet", "gs", {"nets": ["198.18.50.0/24"]}, labels={"role": "web", "free": "a"}),
        _doc("NetworkSet", "ns", {"nets": ["198.18.51.0/24"]}, namespace="shop", labels={"role": "web"}),
        _doc("GlobalNetworkPolicy", "t.g", {"tier": "t", "selector": "role in {'db', 'host'}", "ingress": [
            {"action": "Deny", "protocol": "TCP", "source": {"selector": "role == 'web'"},
             "destination": {"ports": ["http"]}},
            {"action": "Log", "protocol": "UDP"}, {"action": "Pass"}], "egress": [{"action": "Allow"}]}),
        _doc("NetworkPolicy", "np", {"selector": "role == 'db'", "ingress": [
            {"action": "Allow", "source": {"selector": "role == 'web'"}}]}, namespace="shop"),
    ]


# (document, path, prefix): a prefix keeps what a field means (a workload interface stays one)
# while the rest of the value is arbitrary. Identity fields are renamed, not changed in place.
# Every profile name is listed once and names no profile, so a new name shares nothing.
FIELDS = [
    ("w", ("metadata", "name"), ""), ("w", ("metadata", "labels", "free"), ""),
    ("w", ("spec", "interfaceName"), "cali"), ("w", ("spec", "profiles", 1), "p-"),
    ("w", ("spec", "ipNetworks", 0), ""), ("w", ("spec", "ports", 0, "name"), ""),
    ("w", ("spec", "ports", 0, "protocol"), ""), ("w", ("spec", "allowSpoofedSourcePrefixes", 0), ""),
    ("x", ("metadata", "namespace"), ""),
    ("h", ("metadata", "name"), ""), ("h", ("spec", "interfaceName"), "eth"), ("h", ("spec", "expectedIPs", 0), ""),
    ("h", ("spec", "profiles", 0), "p-"), ("gs", ("spec", "nets", 0), ""), ("ns", ("spec", "nets", 0), ""),
    ("kns.shop", ("metadata", "labels", "free"), ""), ("kns.shop", ("spec", "labelsToApply", "free"), ""),
    # A selector is never empty here: an empty one means none, a sane value of another structure.
    ("kns.shop", ("spec", "ingress", 0, "source", "selector"), "x"), ("t", ("metadata", "name"), ""),
    ("t.g", ("metadata", "name"), "t."), ("t.g", ("spec", "ingress", 0, "destination", "ports", 0), "n"),
    ("t.g", ("spec", "ingress", 0, "source", "selector"), "x"), ("t.g", ("spec", "ingress", 1, "action"), "x"),
    ("t.g", ("spec", "ingress", 0, "protocol"), "x"), ("np", ("metadata", "name"), ""),
]
CONFIG = {"dropActionOverride": "LogAndDrop", "prometheusReporterEnabled": True, "logActionRateLimit": "10/second",
          "logPrefix": "%t-%n", "workloadSourceSpoofing": "Any"}
CONFIG_FIELDS = [("logPrefix", ""), ("logActionRateLimit", "")]
_TOKEN = re.compile(r'"[^"]*"|[^\s"]+')


def _commands(batch: str) -> list[list[str]]:
    """The batch as iptables-restore reads it: one command a line, words split at blanks,
    a double-quoted string one word. An unbalanced quote fails."""
    out = []
    for line in batch.splitlines():
        assert _TOKEN.sub("", line).strip() == "", f"not made of words: {line!r}"
        out.append(_TOKEN.findall(line))
    return out


def _skeleton(word: str) -> str:
    """Flags and keywords stay; names, addresses, numbers and quoted strings become a kind."""
    if word.startswith('"'):
        return "QUOTED"
    if word.startswith("-") or word in ("COMMIT", "ACCEPT", "DROP", "RETURN", "MARK", "LOG", "NFLOG", "CT", "set",
                                        "mark", "conntrack", "multiport", "limit", "comment", "icmp", "icmp6",
                                        "src", "dst", "src,src", "dst,dst", "create", "add", "del", "destroy", "swap",
                                        "family", "maxelem", "hash:net", "hash:ip,port"):
        return word
    return "VALUE" if not word.startswith("*") else word


def structure(docs: list[dict[str, Any]], config: dict[str, Any], update: dict[str, Any] | None = None,
              gone: str | None = None) -> tuple[Counter[tuple[str, ...]], frozenset[tuple[str, ...]]]:
    """The restore inputs tortie writes for ``docs`` (then ``update`` applied, after ``gone``
    deleted) on an empty kernel, as skeletons: every iptables line (counted) and every
    ipset line kind (member lines vary with the addresses)."""
    calc = Calculator("n1")
    calc.load(copy.deepcopy(docs))
    if gone is not None:
        doc = next(d for d in docs if d["metadata"]["name"] == gone)
        kind = doc["kind"]
        key = {"WorkloadEndpoint": f"WorkloadEndpoint/{doc['metadata'].get('namespace')}/{gone}",
               "HostEndpoint": f"HostEndpoint/{gone}", "NetworkPolicy": f"{doc['metadata'].get('namespace')}/{gone}"
               }.get(kind, gone)
        calc.delete(kind, key)
    if update is not None:
        calc.update(update)
    plan = build_plan(calc.view(), effective_config("n1", config, env={}).typed)
    rendered = render(plan)
    tables = Counter(tuple(_skeleton(w) for w in command) for table in rendered.tables.values()
                     for command in _commands(table_plan(table, Current(), insert=True).batch))
    sets = ipset_plan(rendered.ipsets, {}, 1024)
    return tables, frozenset(tuple(_skeleton(w) for w in c) for c in _commands(sets.before + sets.after))


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: str) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return out


BASELINE = structure(_world(), CONFIG)
hostile_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    INJECTIONS + ["a\nb", 'a"b', "a b", "a\\", "", "-F", "*", "cali+", "a#b", "\t", "x" * 300])


@settings(max_examples=examples(300))
@given(st.sampled_from(FIELDS + [("config", (name,), prefix) for name, prefix in CONFIG_FIELDS]), hostile_text)
@example(("w", ("spec", "profiles", 1), ""), "kns.shop\n-F")
@example(("w", ("spec", "profiles", 1), ""), 'x" -j ACCEPT #')
def test_random_strings_never_change_the_structure_of_what_is_written(field: Any, text: str) -> None:
    name, path, prefix = field
    value = prefix + text
    if name == "config":  # a refused value leaves the parameter to the next source down (its default)
        config = {**CONFIG, path[0]: value}
        refused = bool(effective_config("n1", config, env={}).problems)
        want = structure(_world(), {k: v for k, v in CONFIG.items() if k != path[0]}) if refused else BASELINE
        assert structure(_world(), config) == want, (path, value)
        return
    world = _world()
    doc = next(d for d in world if d["metadata"]["name"] == name)
    mutated = _set(doc, path, value)
    try:
        got = structure(world, CONFIG, mutated, gone=name if path[0] == "metadata" and path[1] in ("name", "namespace")
                        else None)
    except EncodeError as exc:
        raise AssertionError(f"calc let {value!r} through to the encoder: {exc}") from None
    if path[0] == "metadata" and path[1] in ("name", "namespace"):
        # Renamed: the same structure when the new name is accepted, none of it when refused.
        without = structure(world, CONFIG, gone=name)
        assert got in (BASELINE, without), (path, value)
    else:
        assert got == BASELINE, (path, value)  # accepted, or refused with the last good version in force
