"""The CLI on a real datastore file: its logic in-process, and the installed console script
itself for exit statuses, pipes and what needs a process of its own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from .cli import TORTIE, run_cli


class CLI:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.url = f"sqlite://{tmp}/tortie.db"
        self.env = {**os.environ, "TORTIE_DATASTORE": self.url, "PATH": f"{Path(TORTIE).parent}:{os.environ['PATH']}"}

    def __call__(self, *args: str, stdin: str | bytes | None = None, ok: bool | None = None) -> tuple[int, str]:
        code, out, err = run_cli(args, datastore=self.url, stdin=stdin)
        assert err == "", err  # everything goes to stdout
        if ok is not None:
            assert (code == 0) is ok, out
        return code, out

    def file(self, name: str, text: str) -> str:
        path = self.tmp / name
        path.write_text(textwrap.dedent(text))
        return str(path)

    def revision(self) -> str:
        """The store revision, read through a list (it changes with every write)."""
        return yaml.safe_load(self("get", "tiers", "-o", "yaml", ok=True)[1])["metadata"]["resourceVersion"]

    def sh(self, script: str) -> subprocess.CompletedProcess[str]:
        """A bash script that runs the console script, in pipes as a user would."""
        return subprocess.run(["bash", "-euo", "pipefail", "-c", textwrap.dedent(script)], cwd=self.tmp,
                              capture_output=True, text=True, env=self.env, timeout=120)


@pytest.fixture
def cli(tmp_path: Path) -> CLI:
    return CLI(tmp_path)


def res(kind: str, name: str, spec: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": {"name": name, **meta}}
    if spec is not None:
        d["spec"] = spec
    return d


def docs(*items: dict[str, Any]) -> str:
    return yaml.safe_dump_all(items)


# --- the seed workflow -----------------------------------------------------------

def test_seed_workflow_verbatim(cli: CLI) -> None:
    cli("create", "-f", "-", ok=True, stdin=docs(res("FelixConfiguration", "node.myhost",
                                                      {"defaultEndpointToHostAction": "Return"})))
    step1 = cli.sh("tortie get felixconfig node.myhost -o yaml | tee node-myhost-felixconfig.yaml")
    assert step1.returncode == 0
    saved = yaml.safe_load(step1.stdout)
    assert saved["spec"] == {"defaultEndpointToHostAction": "Return"}
    assert set(saved["metadata"]) == {"creationTimestamp", "name", "resourceVersion", "uid"}
    assert (cli.tmp / "node-myhost-felixconfig.yaml").read_text() == step1.stdout
    cli.file("node-myhost-felixconfig.yaml", """\
        apiVersion: projectcalico.org/v3
        kind: FelixConfiguration
        metadata:
          name: node.myhost
        spec:
          defaultEndpointToHostAction: Return
          dropActionOverride: LogAndDrop
        """)
    step3 = cli.sh("cat node-myhost-felixconfig.yaml | tortie replace -f -")
    assert (step3.returncode, step3.stdout) == (0, "Successfully replaced 1 'FelixConfiguration' resource(s)\n")
    now = yaml.safe_load(cli("get", "felixconfig", "node.myhost", "-o", "yaml", ok=True)[1])
    assert now["spec"]["dropActionOverride"] == "LogAndDrop"
    assert int(now["metadata"]["resourceVersion"]) > int(saved["metadata"]["resourceVersion"])
    assert (now["metadata"]["uid"], now["metadata"]["creationTimestamp"]) == (
        saved["metadata"]["uid"], saved["metadata"]["creationTimestamp"])
    # cli.md §8 step 5: a stale file is refused.
    stale = cli.sh("""
        tortie get felixconfig node.myhost -o yaml > saved.yaml
        tortie patch felixconfig node.myhost -p '{"spec":{"logDropActionOverride":true}}'
        tortie replace -f saved.yaml || echo "exit=$?"
    """)
    assert stale.stdout == (
        "Successfully patched 1 'FelixConfiguration' resource\n"
        "Failed to replace 'FelixConfiguration' resource: update conflict: FelixConfiguration(node.myhost)\n"
        "exit=1\n")
    # Step 6: the global setting.
    assert cli("patch", "felixconfig", "default", "-p", '{"spec":{"dropActionOverride":"LogAndDrop"}}') == (
        0, "Successfully patched 1 'FelixConfiguration' resource\n")
    assert cli("get", "felixconfigs") == (0, "NAME\ndefault\nnode.myhost\n")


def test_defaults_exist_from_first_use_and_stay_deleted(cli: CLI) -> None:
    assert cli("get", "tiers") == (0, "NAME      ORDER\ndefault\n")
    assert cli("get", "felixconfigs") == (0, "NAME\ndefault\n")
    assert cli("delete", "felixconfig", "default") == (0, "Successfully deleted 1 'FelixConfiguration' resource(s)\n")
    assert cli("get", "felixconfigs") == (0, "NAME\n")
    assert cli("delete", "tier", "default") == (
        1, "Failed to delete 'Tier' resource: operation Delete is not supported on Tier(default): "
           "Cannot delete default tier\n")


# --- writes ----------------------------------------------------------------------

def test_create_apply_replace_delete(cli: CLI) -> None:
    gns = res("GlobalNetworkSet", "blocked", {"nets": ["198.18.0.0/24"]})
    path = cli.file("gns.yaml", docs(gns))
    assert cli("create", "-f", path) == (0, "Successfully created 1 'GlobalNetworkSet' resource(s)\n")
    assert cli("create", "-f", path) == (
        1, "Failed to create 'GlobalNetworkSet' resource: resource already exists: GlobalNetworkSet(blocked)\n")
    assert cli("create", "-f", path, "--skip-exists") == (0, "Successfully created 1 'GlobalNetworkSet' resource(s)\n")
    gns["spec"]["nets"].append("198.18.1.0/24")
    path = cli.file("gns.yaml", docs(gns))
    assert cli("apply", "-f", path) == (0, "Successfully applied 1 'GlobalNetworkSet' resource(s)\n")
    got = yaml.safe_load(cli("get", "gns", "blocked", "-o", "yaml")[1])
    assert got["spec"]["nets"] == ["198.18.0.0/24", "198.18.1.0/24"]
    assert cli("apply", "-f", cli.file("new.yaml", docs(res("GlobalNetworkSet", "fresh"))))[0] == 0
    assert cli("replace", "-f", cli.file("missing.yaml", docs(res("GlobalNetworkSet", "nope")))) == (
        1, "Failed to replace 'GlobalNetworkSet' resource: resource does not exist: GlobalNetworkSet(nope)\n")
    # create with a resourceVersion is refused
    got["spec"] = {}
    assert cli("create", "-f", cli.file("rv.yaml", docs(got)))[1].startswith(
        "Failed to create 'GlobalNetworkSet' resource: error with field metadata.resourceVersion = ")
    # delete -f with a stale resourceVersion
    stale = dict(got, metadata={**got["metadata"], "resourceVersion": "1"})
    assert cli("delete", "-f", cli.file("stale.yaml", docs(stale))) == (
        1, "Failed to delete 'GlobalNetworkSet' resource: update conflict: GlobalNetworkSet(blocked)\n")
    assert cli("delete", "gns", "blocked", "fresh") == (0, "Successfully deleted 2 'GlobalNetworkSet' resource(s)\n")
    assert cli("delete", "gns", "blocked") == (
        1, "Failed to delete 'GlobalNetworkSet' resource: resource does not exist: GlobalNetworkSet(blocked)\n")
    assert cli("delete", "gns", "blocked", "-s") == (0, "Successfully deleted 1 'GlobalNetworkSet' resource(s)\n")


def test_apply_uses_a_given_resource_version(cli: CLI) -> None:
    cli("create", "-f", cli.file("t.yaml", docs(res("Tier", "t1", {"order": 5}))), ok=True)
    stale = res("Tier", "t1", {"order": 6}, resourceVersion="1")
    assert cli("apply", "-f", cli.file("s.yaml", docs(stale))) == (
        1, "Failed to apply 'Tier' resource: update conflict: Tier(t1)\n")


def test_mixed_kinds_and_partial_success(cli: CLI) -> None:
    mixed = cli.file("mixed.yaml", docs(res("Tier", "a"), res("GlobalNetworkSet", "b")))
    assert cli("create", "-f", mixed) == (0, "Successfully created 2 resource(s)\n")
    three = cli.file("three.yaml", docs(res("Tier", "c"), res("Tier", "a"), res("Tier", "d")))
    assert cli("create", "-f", three) == (
        1, "Partial success: created the first 1 out of 3 'Tier' resources:\nHit error: resource already exists: "
           "Tier(a)\n")
    assert cli("get", "tier", "d")[0] == 1  # nothing after the error was written
    first = cli.file("first.yaml", docs(res("Tier", "a"), res("Tier", "e")))
    assert cli("create", "-f", first) == (1, "Failed to create any 'Tier' resources: resource already exists: Tier(a)\n")
    mixed_first = cli.file("mf.yaml", docs(res("Tier", "a"), res("GlobalNetworkSet", "x")))
    assert cli("create", "-f", mixed_first) == (1, "Failed to create any resources: resource already exists: Tier(a)\n")
    mixed_partial = cli.file("mp.yaml", docs(res("Tier", "f"), res("Tier", "a")))
    assert cli("create", "-f", mixed_partial)[1].startswith("Partial success: created the first 1 out of 2 'Tier'")


def test_a_bad_resource_stops_the_file_before_any_write(cli: CLI) -> None:
    before = cli.revision()
    text = docs(res("Tier", "ok1"), res("Tier", "ok2", {"order": "high"}), res("Tier", "ok3"))
    assert cli("create", "-f", cli.file("bad.yaml", text)) == (
        1, "Failed to execute command: error with field spec.order = 'high' (must be a number)\n")
    assert cli.revision() == before
    assert cli("get", "tier", "ok1")[0] == 1


def test_policies_tiers_and_names(cli: CLI) -> None:
    pol = res("GlobalNetworkPolicy", "security.deny-ssh", {"tier": "security", "order": 10, "selector": "all()",
                                                            "ingress": [{"action": "Deny", "protocol": "TCP",
                                                                         "destination": {"ports": [22]}}]})
    path = cli.file("pol.yaml", docs(pol))
    assert cli("create", "-f", path) == (
        1, "Failed to create 'GlobalNetworkPolicy' resource: resource does not exist: Tier(security)\n")
    cli("create", "-f", cli.file("tier.yaml", docs(res("Tier", "security", {"order": 100}))), ok=True)
    cli("create", "-f", path, ok=True)
    assert cli("delete", "tier", "security") == (
        1, "Failed to delete 'Tier' resource: operation Delete is not supported on Tier(security): "
           "Cannot delete a non-empty tier\n")
    cli("create", "-f", cli.file("d.yaml", docs(res("GlobalNetworkPolicy", "default.allow-dns"))), ok=True)
    assert cli("get", "gnp") == (0, "NAME                TIER\nallow-dns           default\nsecurity.deny-ssh   security\n")
    assert cli("get", "gnp", "default.allow-dns", "-o", "yaml")[0] == 0  # either spelling finds it
    out = yaml.safe_load(cli("get", "gnp", "allow-dns", "-o", "yaml")[1])
    assert out["spec"]["types"] == ["Ingress"] and out["metadata"]["labels"] == {"projectcalico.org/tier": "default"}
    cli("delete", "gnp", "security.deny-ssh", ok=True)
    cli("delete", "tier", "security", ok=True)


# --- namespaces -----------------------------------------------------------------------

def test_namespaces(cli: CLI) -> None:
    np = res("NetworkPolicy", "p1", {"selector": "app == 'db'"})
    path = cli.file("np.yaml", docs(np))
    cli("create", "-f", path, ok=True)
    cli("create", "-f", path, "-n", "prod", ok=True)
    cli("create", "-f", cli.file("ns.yaml", docs(res("NetworkSet", "s1", namespace="prod"))), ok=True)
    assert cli("get", "np") == (0, "NAMESPACE   NAME   TIER\ndefault     p1     default\n")
    assert cli("get", "np", "-A") == (0, "NAMESPACE   NAME   TIER\ndefault     p1     default\nprod        p1     default\n")
    assert cli("get", "np", "-a", "-o", "wide") == (0, (
        "NAMESPACE   NAME   TIER      ORDER   SELECTOR\n"
        "default     p1     default           app == 'db'\n"
        "prod        p1     default           app == 'db'\n"))
    assert cli("get", "np", "p1", "-A") == (1, "cannot use --all-namespace flag for getting a single resource\n")
    assert cli("get", "np", "-A", "-n", "prod") == (
        1, "cannot use both --namespace and --all-namespaces flags at the same time\n")
    assert cli("get", "gnp", "x", "-n", "prod") == (1, "GlobalNetworkPolicy is not namespaced\n")
    in_file = cli.file("nsfile.yaml", docs(res("NetworkPolicy", "p2", namespace="dev")))
    assert cli("create", "-f", in_file, "-n", "prod") == (
        1, "Failed to execute command: resource namespace does not match client namespace. dev != prod\n")
    cluster = cli.file("cl.yaml", docs(res("GlobalNetworkSet", "g", namespace="dev")))
    assert cli("create", "-f", cluster) == (
        1, "Failed to execute command: namespace should not be specified for a non-namespaced resource. "
           "GlobalNetworkSet is not a namespaced resource\n")
    # -n with -f is ignored for cluster-scoped resources
    assert cli("create", "-f", cli.file("g.yaml", docs(res("GlobalNetworkSet", "g"))), "-n", "prod")[0] == 0
    assert cli("get", "networkset", "s1", "-n", "prod", "-o", "json")[0] == 0
    assert cli("delete", "np", "p1", "-n", "prod") == (0, "Successfully deleted 1 'NetworkPolicy' resource(s)\n")
    assert cli("get", "np", "p1", "-n", "prod") == (
        1, "Failed to get resources: resource does not exist: NetworkPolicy(prod/p1)\n")


# --- get output ---------------------------------------------------------------------

@pytest.fixture
def populated(cli: CLI) -> CLI:
    items = [
        res("Tier", "t1", {"order": 10.5}),
        res("Profile", "kns.prod", {"labelsToApply": {"b": "2", "a": "1"}}),
        res("HostEndpoint", "node-a-eth0", {"node": "node-a", "interfaceName": "eth0",
                                            "expectedIPs": ["198.18.0.1", "198.18.0.2"], "profiles": ["p1", "p2"]}),
        res("WorkloadEndpoint", "node--a-k8s-web-eth0", {
            "node": "node-a", "workload": "web", "interfaceName": "cali1", "ipNetworks": ["198.18.1.1/32"],
            "profiles": ["kns.prod"], "ipNATs": [{"internalIP": "198.18.1.1", "externalIP": "198.19.1.1"}]},
            namespace="prod"),
        res("GlobalNetworkSet", "g1", {"nets": ["198.18.0.0/16", "2001:db8::/32"]}),
    ]
    cli("create", "-f", cli.file("all.yaml", docs(*items)), ok=True)
    return cli


@pytest.mark.parametrize("args,expected", [
    (["get", "tier", "-o", "wide"], "NAME      ORDER\ndefault\nt1        10.5\n"),
    (["get", "profile", "-o", "wide"], "NAME       LABELS\nkns.prod   a=1,b=2\n"),
    (["get", "hep"], "NAME          NODE\nnode-a-eth0   node-a\n"),
    (["get", "hep", "-o", "wide"], "NAME          NODE     INTERFACE   IPS                     PROFILES\n"
                                   "node-a-eth0   node-a   eth0        198.18.0.1,198.18.0.2   p1,p2\n"),
    (["get", "wep", "-n", "prod"], "NAMESPACE   WORKLOAD   NODE     NETWORKS        INTERFACE\n"
                                   "prod        web        node-a   198.18.1.1/32   cali1\n"),
    (["get", "weps", "-A", "-o", "wide"],
     "NAMESPACE   NAME                   WORKLOAD   NODE     NETWORKS        INTERFACE   PROFILES   NATS\n"
     "prod        node--a-k8s-web-eth0   web        node-a   198.18.1.1/32   cali1       kns.prod   "
     "198.18.1.1->198.19.1.1\n"),
    (["get", "GNS", "-o", "wide"], "NAME   NETS\ng1     198.18.0.0/16,2001:db8::/32\n"),
    (["get", "GlobalNetworkSets", "-o", "custom-columns=nets,name"], "NETS                          NAME\n"
                                                                      "198.18.0.0/16,2001:db8::/32   g1\n"),
    (["get", "netsets"], "NAMESPACE   NAME\n"),
])
def test_tables(populated: CLI, args: list[str], expected: str) -> None:
    assert populated(*args) == (0, expected)


def test_output_shapes(populated: CLI) -> None:
    cli = populated
    single = yaml.safe_load(cli("get", "tier", "t1", "-o", "yaml")[1])
    assert single["kind"] == "Tier" and single["spec"] == {"order": 10.5}
    listing = json.loads(cli("get", "tiers", "-o", "json")[1])
    assert listing["kind"] == "TierList" and [i["metadata"]["name"] for i in listing["items"]] == ["default", "t1"]
    assert listing["metadata"]["resourceVersion"] == cli.revision()
    several = yaml.safe_load(cli("get", "tier", "t1", "default", "-o", "yml")[1])
    assert [i["metadata"]["name"] for i in several] == ["t1", "default"]
    from_file = json.loads(cli("get", "-f", cli.file("q.yaml", docs(res("Tier", "t1"), res("GlobalNetworkSet", "g1"))),
                               "-o", "json")[1])
    assert [i["kind"] for i in from_file] == ["Tier", "GlobalNetworkSet"]
    empty = yaml.safe_load(cli("get", "netsets", "-o", "yaml")[1])
    assert empty["items"] == []
    exported = yaml.safe_load(cli("get", "wep", "-A", "-o", "yaml", "--export")[1])
    assert exported["metadata"] == {}
    assert set(exported["items"][0]["metadata"]) == {"name", "labels"}
    text = cli("get", "tier", "t1", "-o", "json")[1]
    assert text.endswith("}\n") and '\n  "apiVersion"' in text


def test_output_errors(populated: CLI) -> None:
    assert populated("get", "tier", "-o", "xml") == (1, "Failed to get resources: unrecognised output format 'xml'\n")
    assert populated("get", "tier", "-o", "custom-columns=NAME,COLOR") == (
        1, "Failed to get resources: unknown column 'COLOR' for Tier\n")
    assert populated("get", "tier", "nope") == (1, "Failed to get resources: resource does not exist: Tier(nope)\n")


# --- label and patch ------------------------------------------------------------------------

def test_label(cli: CLI) -> None:
    cli("create", "-f", cli.file("w.yaml", docs(res("WorkloadEndpoint", "w1", {"node": "n1"}))), ok=True)
    assert cli("label", "wep", "w1", "app=web") == (0, "Successfully set label app on WorkloadEndpoint w1\n")
    assert cli("label", "wep", "w1", "app=web") == (
        1, "failed to update label of WorkloadEndpoint w1, key app is already present. please use '--overwrite' "
           "to set a new value.\n")
    assert cli("label", "wep", "w1", "app=api", "--overwrite") == (
        0, "Successfully updated label app on WorkloadEndpoint w1\n")
    labels = yaml.safe_load(cli("get", "wep", "w1", "-o", "yaml")[1])["metadata"]["labels"]
    assert labels == {"app": "api", "projectcalico.org/namespace": "default"}
    assert cli("label", "wep", "w1", "app", "--remove") == (0, "Successfully removed label app from WorkloadEndpoint w1\n")
    assert cli("label", "wep", "w1", "app", "--remove") == (
        1, "can not remove label of WorkloadEndpoint w1, key app does not exist\n")
    assert cli("label", "wep", "nope", "a=b") == (
        1, "Failed to execute command: resource does not exist: WorkloadEndpoint(default/nope)\n")
    assert cli("label", "wep", "w1", "bad key=b")[0] == 1


def test_patch(cli: CLI) -> None:
    cli("create", "-f", cli.file("t.yaml", docs(res("Tier", "t1", {"order": 5}, labels={"a": "1"}))), ok=True)
    assert cli("patch", "tier", "t1", "-p", '{"spec":{"order":7},"metadata":{"labels":{"a":null,"b":"2"}}}') == (
        0, "Successfully patched 1 'Tier' resource\n")
    got = yaml.safe_load(cli("get", "tier", "t1", "-o", "yaml")[1])
    assert got["spec"] == {"order": 7} and got["metadata"]["labels"] == {"b": "2"}
    assert cli("patch", "tier", "t1", "-t", "merge", "-p", '{"spec":{"order":"x"}}') == (
        1, "Failed to patch 'Tier' resource: error with field spec.order = 'x' (must be a number)\n")
    assert cli("patch", "tier", "t1", "-p", '{"metadata":{"name":"t2"}}') == (
        1, "Failed to patch 'Tier' resource: error with field metadata.name = 't2' (field cannot be changed)\n")
    assert cli("patch", "tier", "t1", "-p", '{"metadata":{"resourceVersion":"1"},"spec":{"order":1}}') == (
        1, "Failed to patch 'Tier' resource: update conflict: Tier(t1)\n")
    current = got["metadata"]["resourceVersion"]
    assert cli("patch", "tier", "t1", "-p", json.dumps({"metadata": {"resourceVersion": current},
                                                        "spec": {"order": 1}}))[0] == 0
    assert cli("patch", "tier", "t1", "-p", "{not json")[1].startswith("Failed to patch 'Tier' resource: invalid patch")
    assert cli("patch", "tier", "t1", "-p", '{"spec":{"colour":1}}') == (
        1, "Failed to patch 'Tier' resource: unknown field \"spec.colour\"\n")
    assert cli("patch", "tier", "t9", "-p", "{}") == (1, "Failed to patch 'Tier' resource: resource does not exist: Tier(t9)\n")


# --- bad input ------------------------------------------------------------------------------

BAD_FILES = {
    "unknown kind": (docs(res("IPPool", "p")),
                     "Failed to execute command: Unknown resource type (IPPool) and/or version (projectcalico.org/v3)"),
    "unknown field": (docs(res("Tier", "t", {"color": "red"})), 'Failed to execute command: unknown field "spec.color"'),
    "wrong type": (docs(res("Tier", "t", {"order": [1]})),
                   "Failed to execute command: error with field spec.order = '[1]' (must be a number)"),
    "invalid selector": (docs(res("GlobalNetworkPolicy", "p", {"selector": "a = 'b'"})),
                         "Failed to execute command: error with field spec.selector = 'a = 'b'' (invalid selector: expected =="),
    "invalid cidr": (docs(res("GlobalNetworkSet", "s", {"nets": ["10.0.0.0/40"]})),
                     "Failed to execute command: error with field spec.nets[0] = '10.0.0.0/40' (invalid CIDR)"),
    "invalid port": (docs(res("GlobalNetworkPolicy", "p", {"ingress": [
        {"action": "Allow", "protocol": "TCP", "destination": {"ports": [70000]}}]})),
        "Failed to execute command: error with field spec.ingress[0].destination.ports[0] = '70000' "
        "(port must be 1-65535)"),
    "invalid protocol": (docs(res("GlobalNetworkPolicy", "p", {"ingress": [{"action": "Allow", "protocol": "tcp"}]})),
                         "Failed to execute command: error with field spec.ingress[0].protocol = 'tcp' "
                         "(protocol name invalid)"),
    "bad name": (docs(res("Tier", "Bad_Name")), "Failed to execute command: error with field metadata.name = 'Bad_Name'"),
    "not yaml": ("kind: [unclosed\n", "Failed to execute command: cannot parse YAML at line"),
    "not a mapping": ("just a string\n", "Failed to execute command: expected a resource (a mapping), found str"),
    "empty": ("", "Failed to execute command: no resources specified in file"),
    "only comments": ("# nothing\n---\n", "Failed to execute command: no resources specified in file"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=str)
def test_bad_files(cli: CLI, case: str) -> None:
    text, message = BAD_FILES[case]
    before = cli.revision()
    for verb in ("create", "apply", "replace", "delete"):
        code, out = cli(verb, "-f", cli.file("bad.yaml", text))
        assert code == 1
        assert out.startswith(message), out
        assert out.count("\n") == 1, out  # one clear line
    assert cli.revision() == before


def test_unknown_kind_on_the_command_line(cli: CLI) -> None:
    assert cli("get", "ippools") == (1, "Failed to get resources: resource type 'ippools' is not supported\n")
    assert cli("delete", "bgppeer", "x") == (1, "Failed to execute command: resource type 'bgppeer' is not supported\n")
    assert cli("get", "GlobalNetworkPolicies")[0] == 0  # kinds are case-insensitive


def test_missing_file(cli: CLI) -> None:
    assert cli("create", "-f", str(cli.tmp / "nope.yaml")) == (
        1, f"Failed to execute command: cannot read {cli.tmp}/nope.yaml: No such file or directory\n")


def test_binary_garbage_on_stdin(cli: CLI) -> None:
    before = cli.revision()
    code, out = cli("create", "-f", "-", stdin=os.urandom(4096) + b"\xff\xfe")
    assert (code, out.count("\n")) == (1, 1)
    assert out.startswith("Failed to execute command: input is not UTF-8 text") or "cannot parse YAML" in out
    code, out = cli("apply", "-f", "-", stdin=b"\x00\x01\x02kind: Tier\n")
    assert (code, out.count("\n")) == (1, 1) and out.startswith("Failed to execute command: cannot parse YAML")
    assert cli.revision() == before


def test_ten_megabyte_files(cli: CLI) -> None:
    before = cli.revision()
    huge = docs(res("Tier", "t", annotations={"blob": "x" * (10 * 1024 * 1024)}))
    code, out = cli("create", "-f", cli.file("huge.yaml", huge))
    assert code == 1 and out.count("\n") == 1
    assert "annotations must not exceed 262144 bytes" in out
    assert cli.revision() == before
    junk = cli.file("junk.yaml", "x" * (10 * 1024 * 1024))
    code, out = cli("create", "-f", junk)
    assert (code, out.count("\n")) == (1, 1) and out.startswith("Failed to execute command: expected a resource")


def test_many_resources_in_one_file(cli: CLI) -> None:
    items = [res("GlobalNetworkSet", f"s{i}", {"nets": [f"198.18.{i // 256}.{i % 256}/32"]}) for i in range(300)]
    assert cli("apply", "-f", cli.file("many.yaml", docs(*items))) == (
        0, "Successfully applied 300 'GlobalNetworkSet' resource(s)\n")
    listing = yaml.safe_load(cli("get", "-o", "yaml", "gns")[1])
    assert len(listing["items"]) == 300


def test_missing_datastore_directory(cli: CLI, tmp_path: Path) -> None:
    code, out = cli("--datastore", f"sqlite://{tmp_path}/no/such/dir/t.db", "get", "tiers")
    assert (code, out) == (1, f"Failed to get resources: datastore directory does not exist: {tmp_path}/no/such/dir\n")
    assert not (tmp_path / "no").exists()


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_read_only_datastore(cli: CLI) -> None:
    before = cli.revision()
    tier = cli.file("t.yaml", docs(res("Tier", "t")))
    store_dir = cli.tmp
    script = (f"mount --bind {store_dir} {store_dir} && mount -o remount,ro,bind {store_dir} "
              f"&& {TORTIE} create -f {tier}")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=cli.env)
    assert proc.returncode == 1
    assert proc.stdout == f"Failed to execute command: cannot open datastore {store_dir}/tortie.db: " \
                          f"{store_dir} is read-only\n"
    assert cli.revision() == before


def test_database_locked_by_another_process(cli: CLI) -> None:
    before = cli.revision()
    db = str(cli.tmp / "tortie.db")
    holder = subprocess.Popen(  # holds the lock until its stdin closes
        [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
                               "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()", db],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        url = f"{cli.url}?lock_timeout=0.5"
        code, out = cli("--datastore", url, "create", "-f", cli.file("t.yaml", docs(res("Tier", "t"))))
        assert (code, out) == (1, f"Failed to create 'Tier' resource: datastore {db} is locked by another process "
                                  "(waited 0.5s)\n")
    finally:
        holder.communicate()
    assert cli.revision() == before


def test_not_a_datastore_file(cli: CLI) -> None:
    (cli.tmp / "junk.db").write_bytes(b"\x00garbage" * 1000)
    code, out = cli("--datastore", f"sqlite://{cli.tmp}/junk.db", "get", "tiers")
    assert code == 1 and out.startswith(f"Failed to get resources: datastore {cli.tmp}/junk.db is not a tortie datastore")


# --- invocation -----------------------------------------------------------------------------

def test_global_options_before_or_after_the_command(cli: CLI, tmp_path: Path) -> None:
    other = f"sqlite://{tmp_path}/other.db"
    cli("--datastore", other, "create", "-f", cli.file("t.yaml", docs(res("Tier", "only-here"))), ok=True)
    assert cli("get", "tier", "only-here", "--datastore", other)[0] == 0
    assert cli("get", f"--datastore={other}", "tier", "only-here", "-l", "debug")[0] == 0
    assert cli("get", "tier", "only-here")[0] == 1


def test_client_config_file(cli: CLI, tmp_path: Path) -> None:
    cfg = cli.file("tortie.cfg", f"datastore: sqlite://{tmp_path}/from-config.db\n")
    code, _, _ = run_cli(["get", "tiers", "-c", cfg], datastore=None)
    assert code == 0 and (tmp_path / "from-config.db").exists()


def test_usage_errors_and_help(cli: CLI) -> None:
    assert cli("get", "--bogus") == (
        1, "Invalid option: 'tortie get --bogus'. Use flag '--help' to read about a specific subcommand.\n")
    assert cli("create") == (
        1, "Invalid option: 'tortie create'. Use flag '--help' to read about a specific subcommand.\n")
    code, out = cli("frobnicate")
    assert code == 1 and out.startswith('Unknown command: "frobnicate"\nUsage: tortie')
    code, out = cli("--help")
    assert code == 0 and "Commands:" in out
    for command in ("create", "apply", "replace", "delete", "get", "label", "patch", "version"):
        code, out = cli(command, "--help")
        assert code == 0 and out.startswith(f"Usage: tortie {command}"), command
    assert cli("version")[1].startswith("Client Version: ")


def test_the_console_script_itself(cli: CLI) -> None:
    """The installed script: exit statuses, stdin for -f -, and nothing on stderr."""
    def script(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        proc = subprocess.run([TORTIE, *args], input=stdin, capture_output=True, text=True, env=cli.env, timeout=60)
        return proc.returncode, proc.stdout, proc.stderr

    assert script("create", "-f", "-", stdin=docs(res("Tier", "t1"))) == (
        0, "Successfully created 1 'Tier' resource(s)\n", "")
    assert script("get", "tier", "t9") == (1, "Failed to get resources: resource does not exist: Tier(t9)\n", "")
    code, out, err = script("frobnicate")
    assert (code, out.startswith('Unknown command: "frobnicate"'), err) == (1, True, "")
    code, out, err = script("--help")
    assert (code, "Commands:" in out, err) == (0, True, "")


# --- config show and explain ------------------------------------------------------------------

def test_config_show(cli: CLI) -> None:
    cli("create", "-f", cli.file("f.yaml", docs(res("FelixConfiguration", "node.n1", {"dropActionOverride": "LogAndDrop"}))),
        ok=True)
    data = json.loads(cli("config", "show", "--node", "n1", "--config-file", "/nonexistent", "-o", "json")[1])
    assert data["parameters"]["dropActionOverride"] == {"value": "LogAndDrop", "source": "FelixConfiguration node.n1"}
    code, out = cli("config", "show", "--node", "n2", "--config-file", "/nonexistent")
    assert code == 0 and "dropActionOverride" in out and "default value" in out


EXPLAIN_WORLD = [
    res("Profile", "kns.prod", {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}),
    res("WorkloadEndpoint", "web", {"node": "n1", "interfaceName": "cali1111", "ipNetworks": ["10.65.0.10/32"],
                                    "profiles": ["kns.prod"]}, namespace="prod", labels={"role": "web"}),
    res("WorkloadEndpoint", "db", {"node": "n1", "interfaceName": "cali2222", "ipNetworks": ["10.65.0.20/32"],
                                   "profiles": ["kns.prod"], "ports": [{"name": "pg", "protocol": "TCP", "port": 5432}]},
        namespace="prod", labels={"role": "db"}),
    res("NetworkPolicy", "db-access", {"selector": "role == 'db'", "types": ["Ingress"], "ingress": [
        {"action": "Log", "protocol": "TCP"},
        {"action": "Allow", "protocol": "TCP", "source": {"selector": "role == 'web'"}, "destination": {"ports": ["pg"]}}]},
        namespace="prod"),
]


def test_explain(cli: CLI) -> None:
    cli("create", "-f", cli.file("w.yaml", docs(*EXPLAIN_WORLD)), ok=True)
    cli("patch", "felixconfig", "default", "-p",
        '{"spec":{"prometheusReporterEnabled":true,"dropActionOverride":"LogAndAccept"}}', ok=True)
    base = ["explain", "--node", "n1", "--config-file", "/nonexistent"]
    data = json.loads(cli(*base, "--src", "10.65.0.10:40000", "--dst", "10.65.0.20:22", "--proto", "TCP",
                          "-o", "json", ok=True)[1])
    assert {k: data[k] for k in ("verdict", "action", "metricPolicies", "logPrefixes")} == {
        "verdict": "deny", "action": "accept", "metricPolicies": ["default|prod/db-access|-1|deny"],
        "logPrefixes": ["calico-packet: ", "calico-drop: "]}
    assert isinstance(data["trace"], list) and data["trace"]
    code, text = cli(*base, "--src", "10.65.0.10", "--dst", "10.65.0.20:5432", "--proto", "tcp")
    assert code == 0
    assert "forwarded from cali1111 to cali2222" in text and "Verdict: allow" in text
    assert "rule 1 (Allow) matches" in text
    code, text = cli(*base, "--src", "10.65.0.10:1", "--dst", "10.65.0.20:22", "--proto", "TCP", "--established")
    assert "conntrack ESTABLISHED" in text and "Verdict: allow" in text
    assert cli(*base, "--src", "10.65.0.10", "--dst", "2001:db8::1", "--proto", "TCP") == (
        1, "Failed to execute command: --src and --dst are of different IP versions\n")
    assert cli(*base, "--src", "nonsense", "--dst", "10.65.0.20", "--proto", "TCP")[0] == 1
    assert cli(*base, "--src", "10.65.0.10", "--dst", "10.65.0.20", "--proto", "TPC")[0] == 1
