"""The CLI on a real datastore file: its logic in-process, and the installed console script
itself for exit statuses, pipes and what needs a process of its own.

Messages are calicoctl v3.32's (calicoctl/calicoctl/commands/*.go), except where
docs/decisions.md records a difference.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from .cli import TORTIE, run_cli
from .felix_export import full_felix_spec


class CLI:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.url = f"sqlite://{tmp}/tortie.db"
        self.env = {**os.environ, "TORTIE_DATASTORE": self.url, "PATH": f"{Path(TORTIE).parent}:{os.environ['PATH']}"}

    def __call__(self, *args: str, stdin: str | bytes | None = None, ok: bool | None = None) -> tuple[int, str]:
        """(exit status, what the command printed): its answer on stdout, or an error on
        stderr as calicoctl prints it (calicoctl.go main), after any partial-success lines."""
        code, out, err = run_cli(args, datastore=self.url, stdin=stdin)
        assert "Traceback" not in out + err
        assert code != 0 or err == "", (out, err)
        if ok is not None:
            assert (code == 0) is ok, out + err
        return code, out + err

    def file(self, name: str, text: str) -> str:
        path = self.tmp / name
        path.write_text(textwrap.dedent(text))
        return str(path)

    def revision(self) -> str:
        """The store revision, read through a list (it changes with every write)."""
        return str(yaml.safe_load(self("get", "tiers", "-o", "yaml", ok=True)[1])["metadata"]["resourceVersion"])

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


def wep(node: str, pod: str, namespace: str, **spec: Any) -> dict[str, Any]:
    """A Kubernetes workload endpoint, named from its identifiers as libcalico-go names it."""
    name = "-".join(part.replace("-", "--") for part in (node, "k8s", pod, "eth0"))
    return res("WorkloadEndpoint", name, {"node": node, "orchestrator": "k8s", "pod": pod, "endpoint": "eth0",
                                          "interfaceName": f"cali{pod}", **spec}, namespace=namespace)


def docs(*items: dict[str, Any]) -> str:
    return yaml.safe_dump_all(items)


def table(*rows: str) -> str:
    """calicoctl's table: tabwriter columns padded by three spaces, then a blank line."""
    return "".join(row + "\n" for row in rows) + "\n"


# --- the seed workflow -----------------------------------------------------------

def test_seed_workflow_verbatim(cli: CLI) -> None:
    cli("create", "-f", "-", ok=True, stdin=docs(res("FelixConfiguration", "node.myhost",
                                                      {"defaultEndpointToHostAction": "Return"})))
    step1 = cli.sh("tortie get felixconfig node.myhost -o yaml | tee node-myhost-felixconfig.yaml")
    assert step1.returncode == 0
    # The seed's 2017 output, plus the two fields a v3.32 datastore always holds: bpfLogLevel
    # has no omitempty and nftablesMode has a CRD default (docs/decisions.md).
    assert re.fullmatch(textwrap.dedent("""\
        apiVersion: projectcalico.org/v3
        kind: FelixConfiguration
        metadata:
          creationTimestamp: \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ
          name: node.myhost
          resourceVersion: "\\d+"
          uid: [0-9a-f-]{36}
        spec:
          bpfLogLevel: ""
          defaultEndpointToHostAction: Return
          nftablesMode: Auto
        """), step1.stdout), step1.stdout
    saved = yaml.safe_load(step1.stdout)
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
    assert stale.stdout == "Successfully patched 1 'FelixConfiguration' resource\nexit=1\n"
    assert stale.stderr == \
        "failed to replace 'FelixConfiguration' resource: update conflict: FelixConfiguration(node.myhost)\n"
    # Step 6: the global setting.
    assert cli("patch", "felixconfig", "default", "-p", '{"spec":{"dropActionOverride":"LogAndDrop"}}') == (
        0, "Successfully patched 1 'FelixConfiguration' resource\n")
    assert cli("get", "felixconfigs") == (0, table("NAME          ", "default       ", "node.myhost   "))


def test_a_full_felix_export_round_trips_byte_for_byte(cli: CLI) -> None:
    spec = full_felix_spec()
    cli("create", "-f", "-", ok=True, stdin=docs(res("FelixConfiguration", "node.n1", spec)))
    first = cli("get", "felixconfig", "node.n1", "-o", "yaml", ok=True)[1]
    assert yaml.safe_load(first)["spec"] == spec
    replaced = cli.sh("tortie get felixconfig node.n1 -o yaml | tortie replace -f -")
    assert (replaced.returncode, replaced.stdout) == (0, "Successfully replaced 1 'FelixConfiguration' resource(s)\n")
    second = cli("get", "felixconfig", "node.n1", "-o", "yaml", ok=True)[1]
    version = re.compile(r'resourceVersion: "\d+"')
    assert version.sub("", second) == version.sub("", first) and second != first


# --- what a new datastore holds --------------------------------------------------

def test_built_in_tiers_profile_and_felix_configuration(cli: CLI) -> None:
    assert cli("get", "tiers") == (0, table("NAME            ORDER   ", "kube-admin      1000    ",
                                            "default         1e+06   ", "kube-baseline   1e+07   "))
    tiers = yaml.safe_load(cli("get", "tiers", "-o", "yaml", ok=True)[1])["items"]
    assert {t["metadata"]["name"]: t["spec"] for t in tiers} == {
        "kube-admin": {"order": 1000, "defaultAction": "Pass"},
        "default": {"order": 1000000, "defaultAction": "Deny"},
        "kube-baseline": {"order": 10000000, "defaultAction": "Pass"}}
    assert cli("get", "felixconfigs") == (0, table("NAME      ", "default   "))
    assert cli("get", "profiles") == (0, table("NAME                          ", "projectcalico-default-allow   "))
    profile = yaml.safe_load(cli("get", "profile", "projectcalico-default-allow", "-o", "yaml", ok=True)[1])
    assert profile == {"apiVersion": "projectcalico.org/v3", "kind": "Profile",
                       "metadata": {"name": "projectcalico-default-allow", "resourceVersion": "1"},
                       "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}}


def test_built_ins_cannot_be_changed(cli: CLI) -> None:
    allow = docs(res("Profile", "projectcalico-default-allow", {"ingress": [{"action": "Deny"}]}))
    assert cli("create", "-f", "-", stdin=allow) == (
        1, "failed to create 'Profile' resource: [resource already exists: projectcalico-default-allow with error: "
           "projectcalico-default-allow already exists. The profile \"projectcalico-default-allow\" is default "
           "provided by Calico]\n")
    assert cli("replace", "-f", "-", stdin=allow) == (
        1, "failed to replace 'Profile' resource: operation Update is not supported on projectcalico-default-allow: "
           "The profile \"projectcalico-default-allow\" is a default provided by Calico and cannot be updated\n")
    assert cli("delete", "profile", "projectcalico-default-allow") == (
        1, "Failed to delete 'Profile' resource: operation Delete is not supported on projectcalico-default-allow: "
           "The profile \"projectcalico-default-allow\" is a default provided by Calico and cannot be deleted\n")
    for tier in ("default", "kube-admin", "kube-baseline"):
        assert cli("delete", "tier", tier) == (
            1, f"Failed to delete 'Tier' resource: operation Delete is not supported on {tier}: "
               f"Cannot delete {tier} tier\n")
    # FelixConfiguration default is created once; once deleted it stays deleted.
    assert cli("delete", "felixconfig", "default") == (0, "Successfully deleted 1 'FelixConfiguration' resource(s)\n")
    assert cli("get", "felixconfigs") == (0, table("NAME   "))


# --- writes ----------------------------------------------------------------------

def test_create_apply_replace_delete(cli: CLI) -> None:
    gns = res("GlobalNetworkSet", "blocked", {"nets": ["198.18.0.0/24"]})
    path = cli.file("gns.yaml", docs(gns))
    assert cli("create", "-f", path) == (0, "Successfully created 1 'GlobalNetworkSet' resource(s)\n")
    assert cli("create", "-f", path) == (
        1, "failed to create 'GlobalNetworkSet' resource: [resource already exists: GlobalNetworkSet(blocked)]\n")
    assert cli("create", "-f", path, "--skip-exists") == (0, "Successfully created 1 'GlobalNetworkSet' resource(s)\n")
    gns["spec"]["nets"].append("198.18.1.0/24")
    path = cli.file("gns.yaml", docs(gns))
    assert cli("apply", "-f", path) == (0, "Successfully applied 1 'GlobalNetworkSet' resource(s)\n")
    got = yaml.safe_load(cli("get", "gnetsets", "blocked", "-o", "yaml")[1])
    assert got["spec"]["nets"] == ["198.18.0.0/24", "198.18.1.0/24"]
    assert cli("apply", "-f", cli.file("new.yaml", docs(res("GlobalNetworkSet", "fresh"))))[0] == 0
    assert cli("replace", "-f", cli.file("missing.yaml", docs(res("GlobalNetworkSet", "nope")))) == (
        1, "failed to replace 'GlobalNetworkSet' resource: resource does not exist: GlobalNetworkSet(nope)\n")
    # create with a resourceVersion is refused
    got["spec"] = {}
    del got["metadata"]["creationTimestamp"]  # PyYAML would write it back in its own timestamp form
    assert cli("create", "-f", cli.file("rv.yaml", docs(got)))[1].startswith(
        "failed to create 'GlobalNetworkSet' resource: [error with field Metadata.ResourceVersion = ")
    # delete -f with a stale resourceVersion
    stale = dict(got, metadata={**got["metadata"], "resourceVersion": "1"})
    assert cli("delete", "-f", cli.file("stale.yaml", docs(stale))) == (
        1, "Failed to delete 'GlobalNetworkSet' resource: update conflict: GlobalNetworkSet(blocked)\n")
    assert cli("delete", "gnetsets", "blocked", "fresh") == (0, "Successfully deleted 2 'GlobalNetworkSet' resource(s)\n")
    assert cli("delete", "gnetsets", "blocked") == (
        1, "Failed to delete 'GlobalNetworkSet' resource: resource does not exist: GlobalNetworkSet(blocked)\n")
    assert cli("delete", "gnetsets", "blocked", "-s") == (0, "Successfully deleted 1 'GlobalNetworkSet' resource(s)\n")


def test_apply_uses_a_given_resource_version(cli: CLI) -> None:
    cli("create", "-f", cli.file("t.yaml", docs(res("Tier", "t1", {"order": 5}))), ok=True)
    stale = res("Tier", "t1", {"order": 6}, resourceVersion="1")
    assert cli("apply", "-f", cli.file("s.yaml", docs(stale))) == (
        1, "failed to apply 'Tier' resource: [update conflict: Tier(t1)]\n")


def test_mixed_kinds_and_partial_success(cli: CLI) -> None:
    mixed = cli.file("mixed.yaml", docs(res("Tier", "a"), res("GlobalNetworkSet", "b")))
    assert cli("create", "-f", mixed) == (0, "Successfully created 2 resource(s)\n")
    # create goes on after an error, and says so when more succeeded than failed
    three = cli.file("three.yaml", docs(res("Tier", "c"), res("Tier", "a"), res("Tier", "d")))
    assert cli("create", "-f", three) == (
        1, "Partial success: created the first 2 out of 3 'Tier' resources:\nhit error: [resource already exists: "
           "Tier(a)]\n")
    assert cli("get", "tier", "d")[0] == 0
    two = cli.file("two.yaml", docs(res("Tier", "a"), res("Tier", "e")))
    assert cli("create", "-f", two) == (1, "hit error: [resource already exists: Tier(a)]\n")
    both = cli.file("both.yaml", docs(res("Tier", "a"), res("Tier", "c")))
    assert cli("create", "-f", both) == (
        1, "failed to create any 'Tier' resources: [resource already exists: Tier(a) resource already exists: Tier(c)]\n")
    mixed_first = cli.file("mf.yaml", docs(res("Tier", "a"), res("GlobalNetworkSet", "b")))
    assert cli("create", "-f", mixed_first) == (
        1, "failed to create any resources: [resource already exists: Tier(a) resource already exists: "
           "GlobalNetworkSet(b)]\n")
    assert cli("apply", "-f", cli.file("ap.yaml", docs(res("Tier", "f"), res("Tier", "g"),
                                                       res("Tier", "a", resourceVersion="1")))) == (
        1, "Partial success: applied the first 2 out of 3 'Tier' resources:\nhit error(s): [update conflict: Tier(a)]\n")
    # replace stops at the first error
    assert cli("replace", "-f", cli.file("rp.yaml", docs(res("Tier", "f"), res("Tier", "x"), res("Tier", "g")))) == (
        1, "Partial success: replaced the first 1 out of 3 'Tier' resources:\nhit error: resource does not exist: "
           "Tier(x)\n")


def test_a_bad_resource_stops_the_file_before_any_write(cli: CLI) -> None:
    before = cli.revision()
    text = docs(res("Tier", "ok1"), res("Tier", "ok2", {"order": "high"}), res("Tier", "ok3"))
    assert cli("create", "-f", cli.file("bad.yaml", text)) == (
        1, "failed to execute command: cannot unmarshal string into field spec.order of type float64\n")
    invalid = docs(res("Tier", "ok1"), res("Tier", "ok2", {"defaultAction": "Log"}))
    assert cli("create", "-f", cli.file("invalid.yaml", invalid)) == (
        1, "failed to create any 'Tier' resources: [error with the following fields:\n-  DefaultAction = 'Log' (Reason: "
           "failed to validate Field: DefaultAction because of Tag: oneof )\n-  spec.defaultAction (Unsupported value: "
           "\"Log\": supported values: \"Pass\", \"Deny\")]\n")
    assert cli.revision() == before
    assert cli("get", "tier", "ok1")[0] == 1


def test_validate_checks_as_create_does_without_a_datastore(cli: CLI, tmp_path: Path) -> None:
    nowhere = ["--datastore", f"sqlite://{tmp_path}/no/such/dir/t.db"]
    good = cli.file("good.yaml", docs(res("Tier", "t1", {"order": 5}), wep("node-a", "web", "prod")))
    assert cli(*nowhere, "validate", "-f", good) == (0, "Successfully validated 2 resource(s)\n")
    bad = cli.file("bad.yaml", docs(res("HostEndpoint", "h1", {"node": "n1", "expectedIPs": ["198.18.0.300"]})))
    message = "'HostEndpoint' resource: [error with field ExpectedIPs[0] = '198.18.0.300' (Reason: failed to " \
              "validate Field: ExpectedIPs[0] because of Tag: ip )]\n"
    assert cli(*nowhere, "validate", "-f", bad) == (1, f"failed to validate {message}")
    assert cli("create", "-f", bad) == (1, f"failed to create {message}")
    assert not (tmp_path / "no").exists()
    assert cli("validate", "-f", cli.file("two.yaml", docs(res("Tier", "t1"), res("Tier", "Bad")))) == (
        1, "hit error(s): [error with the following fields:\n-  Metadata.Name = 'Bad' (name must consist of lower case "
           "alphanumeric characters, '-' or '.' (regex: [a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9]"
           ")?)*))\n-  Metadata.Name = 'Bad' (name must consist of lower case alphanumeric characters or '-' (regex: "
           "[a-z0-9]([-a-z0-9]*[a-z0-9])?))]\n")


def test_error_texts_hold_json_not_reprs(cli: CLI) -> None:
    pre_dnat = res("GlobalNetworkPolicy", "p", {"preDNAT": True, "applyOnForward": True,
                                                "egress": [{"action": "Allow"}]})
    code, out = cli("create", "-f", "-", stdin=docs(pre_dnat))
    assert code == 1 and out.startswith("failed to create 'GlobalNetworkPolicy' resource: [error with the following "
                                        "fields:\n-  PolicySpec.Egress")
    assert "PolicySpec.Egress = '[{\"action\":\"Allow\"}]' (PreDNAT PolicySpec cannot have any Egress rules)" in out
    assert "{'" not in out and "None" not in out


# --- policies, tiers and names ---------------------------------------------------------

def test_policies_keep_the_names_they_were_created_with(cli: CLI) -> None:
    pol = res("GlobalNetworkPolicy", "deny-ssh", {"tier": "security", "order": 10, "selector": "all()",
                                                  "ingress": [{"action": "Deny", "protocol": "TCP",
                                                               "destination": {"ports": [22]}}]})
    path = cli.file("pol.yaml", docs(pol))
    assert cli("create", "-f", path) == (
        1, "failed to create 'GlobalNetworkPolicy' resource: [resource does not exist: Tier(security)]\n")
    cli("create", "-f", cli.file("tier.yaml", docs(res("Tier", "security", {"order": 100}))), ok=True)
    cli("create", "-f", path, ok=True)
    assert cli("delete", "tier", "security") == (
        1, "Failed to delete 'Tier' resource: operation delete is not supported on security: "
           "Cannot delete a non-empty tier\n")
    cli("create", "-f", cli.file("d.yaml", docs(res("GlobalNetworkPolicy", "default.allow-dns"),
                                                res("GlobalNetworkPolicy", "allow-dns"))), ok=True)
    assert cli("get", "gnp") == (0, table("NAME                TIER       ", "allow-dns           default    ",
                                          "default.allow-dns   default    ", "deny-ssh            security   "))
    assert cli("get", "gnp", "security.deny-ssh") == (1, "resource does not exist: "
                                                         "GlobalNetworkPolicy(security.deny-ssh)\n")
    out = yaml.safe_load(cli("get", "gnp", "allow-dns", "-o", "yaml")[1])
    assert out["spec"] == {"tier": "default", "types": ["Ingress"]}
    assert out["metadata"]["labels"] == {"projectcalico.org/tier": "default"}
    cli("delete", "gnp", "deny-ssh", ok=True)
    cli("delete", "tier", "security", ok=True)


def test_kubernetes_network_policies_are_managed_elsewhere(cli: CLI) -> None:
    knp = docs(res("NetworkPolicy", "knp.default.allow", {"selector": "all()"}, namespace="prod"))
    suffix = "kubernetes network policies must be managed through the kubernetes API"
    assert cli("create", "-f", "-", stdin=knp) == (
        1, f"failed to create 'NetworkPolicy' resource: [operation create or apply is not supported on "
           f"NetworkPolicy(prod/knp.default.allow): {suffix}]\n")
    # replace reads the policy before it reaches the check (calicoctl/resourcemgr/resourcemgr.go Update)
    assert cli("replace", "-f", "-", stdin=knp) == (
        1, "failed to replace 'NetworkPolicy' resource: resource does not exist: NetworkPolicy(prod/knp.default.allow)\n")
    assert cli("delete", "np", "knp.default.allow", "-n", "prod") == (
        1, f"Failed to delete 'NetworkPolicy' resource: operation delete is not supported on "
           f"NetworkPolicy(prod/knp.default.allow): {suffix}\n")


def test_tiers_are_listed_by_order(cli: CLI) -> None:
    cli("create", "-f", "-", ok=True, stdin=docs(res("Tier", "b", {"order": 5}), res("Tier", "a", {"order": 20.5}),
                                                 res("Tier", "c")))
    assert cli("get", "tiers") == (0, table("NAME            ORDER   ", "b               5       ",
                                            "a               20.5    ", "kube-admin      1000    ",
                                            "c               1e+06   ", "default         1e+06   ",
                                            "kube-baseline   1e+07   "))


# --- namespaces -----------------------------------------------------------------------

def test_namespaces(cli: CLI) -> None:
    np = res("NetworkPolicy", "p1", {"selector": "app == 'db'"})
    path = cli.file("np.yaml", docs(np))
    cli("create", "-f", path, ok=True)
    cli("create", "-f", path, "-n", "prod", ok=True)
    cli("create", "-f", cli.file("ns.yaml", docs(res("NetworkSet", "s1", namespace="prod"))), ok=True)
    assert cli("get", "np") == (0, table("NAME   TIER      ", "p1     default   "))
    assert cli("get", "np", "-n", "default") == (0, table("NAMESPACE   NAME   TIER      ",
                                                          "default     p1     default   "))
    assert cli("get", "np", "-A") == (0, table("NAMESPACE   NAME   TIER      ", "default     p1     default   ",
                                               "prod        p1     default   "))
    assert cli("get", "np", "-a", "-o", "wide") == (0, table(
        "NAMESPACE   NAME   TIER      ORDER   SELECTOR      ",
        "default     p1     default   <nil>   app == 'db'   ",
        "prod        p1     default   <nil>   app == 'db'   "))
    assert cli("get", "np", "p1", "-A") == (1, "cannot use --all-namespace flag for getting a single resource\n")
    assert cli("get", "np", "-A", "-n", "prod") == (
        1, "cannot use both --namespace and --all-namespaces flags at the same time\n")
    assert cli("get", "gnp", "-A") == (1, "GlobalNetworkPolicy is not namespaced\n")
    assert cli("get", "tiers", "--all-namespaces") == (1, "Tier is not namespaced\n")
    in_file = cli.file("nsfile.yaml", docs(res("NetworkPolicy", "p2", namespace="dev")))
    assert cli("create", "-f", in_file, "-n", "prod") == (
        1, "failed to create 'NetworkPolicy' resource: [resource namespace does not match client namespace. "
           "dev != prod]\n")
    cluster = cli.file("cl.yaml", docs(res("GlobalNetworkSet", "g", namespace="dev")))
    assert cli("create", "-f", cluster) == (
        1, "failed to create 'GlobalNetworkSet' resource: [namespace should not be specified for a non-namespaced "
           "resource. GlobalNetworkSet is not a namespaced resource]\n")
    assert cli("create", "-f", cli.file("g.yaml", docs(res("GlobalNetworkSet", "g"))), "-n", "prod") == (
        1, "failed to create 'GlobalNetworkSet' resource: [GlobalNetworkSet is not namespaced]\n")
    assert cli("get", "netsets", "s1", "-n", "prod", "-o", "json")[0] == 0
    assert cli("delete", "np", "p1", "-n", "prod") == (0, "Successfully deleted 1 'NetworkPolicy' resource(s)\n")
    assert cli("get", "np", "p1", "-n", "prod") == (1, "resource does not exist: NetworkPolicy(prod/p1)\n")


# --- get output ---------------------------------------------------------------------

@pytest.fixture
def populated(cli: CLI) -> CLI:
    items = [
        res("Tier", "t1", {"order": 10.5}),
        res("Profile", "kns.prod", {"labelsToApply": {"b": "2", "a": "1"}}),
        res("HostEndpoint", "node-a-eth0", {"node": "node-a", "interfaceName": "eth0",
                                            "expectedIPs": ["198.18.0.1", "198.18.0.2"], "profiles": ["p1", "p2"]}),
        wep("node-a", "web", "prod", workload="web", interfaceName="cali1", ipNetworks=["198.18.1.1/32"],
            profiles=["kns.prod"], ipNATs=[{"internalIP": "198.18.1.1", "externalIP": "198.19.1.1"}]),
        res("GlobalNetworkSet", "g1", {"nets": ["198.18.0.0/16", "2001:db8::/32"]}),
        res("GlobalNetworkSet", "g2", {"nets": [f"198.18.{i}.0/24" for i in range(10)]}),
    ]
    cli("create", "-f", cli.file("all.yaml", docs(*items)), ok=True)
    return cli


@pytest.mark.parametrize("args,expected", [
    (["get", "tier", "t1", "-o", "wide"], table("NAME   ORDER   ", "t1     10.5    ")),
    (["get", "profile", "kns.prod", "-o", "wide"], table("NAME       LABELS    ", "kns.prod   a=1,b=2   ")),
    (["get", "hep"], table("NAME          NODE     ", "node-a-eth0   node-a   ")),
    (["get", "hep", "-o", "wide"], table(
        "NAME          NODE     INTERFACE   IPS                     PROFILES   ",
        "node-a-eth0   node-a   eth0        198.18.0.1,198.18.0.2   p1,p2      ")),
    (["get", "wep", "-n", "prod"], table(
        "NAMESPACE   WORKLOAD   NODE     NETWORKS        INTERFACE   ",
        "prod        web        node-a   198.18.1.1/32   cali1       ")),
    (["get", "weps", "-A", "-o", "wide"], table(
        "NAMESPACE   NAME                   WORKLOAD   NODE     NETWORKS        INTERFACE   PROFILES   "
        "NATS                      ",
        "prod        node--a-k8s-web-eth0   web        node-a   198.18.1.1/32   cali1       kns.prod   "
        "{198.18.1.1 198.19.1.1}   ")),
    (["get", "GlobalNetworkSet", "g1", "-o", "wide"], table("NAME   NETS                          ",
                                                            "g1     198.18.0.0/16,2001:db8::/32   ")),
    (["get", "gnetsets", "g2", "-o", "wide"], table(
        "NAME   NETS                                                                               ",
        "g2     198.18.0.0/24,198.18.1.0/24,198.18.2.0/24,198.18.3.0/24,198.18.4.0/24,198.18....   ")),
    (["get", "GlobalNetworkSets", "g1", "-o", "custom-columns=NETS,NAME"], table(
        "NETS                          NAME   ", "198.18.0.0/16,2001:db8::/32   g1     ")),
    (["get", "netsets"], table("NAME   ")),
])
def test_tables(populated: CLI, args: list[str], expected: str) -> None:
    assert populated(*args) == (0, expected)


def test_output_shapes(populated: CLI) -> None:
    cli = populated
    single = yaml.safe_load(cli("get", "tier", "t1", "-o", "yaml")[1])
    assert single["kind"] == "Tier" and single["spec"] == {"order": 10.5, "defaultAction": "Deny"}
    listing = json.loads(cli("get", "tiers", "-o", "json")[1])
    assert listing["kind"] == "TierList"
    assert [i["metadata"]["name"] for i in listing["items"]] == ["t1", "kube-admin", "default", "kube-baseline"]
    assert listing["metadata"]["resourceVersion"] == cli.revision()
    several = yaml.safe_load(cli("get", "tier", "t1", "default", "-o", "yml")[1])
    assert [i["metadata"]["name"] for i in several] == ["t1", "default"]
    query = cli.file("q.yaml", docs(res("Tier", "t1"), res("GlobalNetworkSet", "g1")))
    assert [i["kind"] for i in json.loads(cli("get", "-f", query, "-o", "json")[1])] == ["Tier", "GlobalNetworkSet"]
    one = json.loads(cli("get", "-f", cli.file("one.yaml", docs(res("Tier", "t1"))), "-o", "json")[1])
    assert one["kind"] == "Tier"
    assert yaml.safe_load(cli("get", "netsets", "-o", "yaml")[1])["items"] == []
    text = cli("get", "tier", "t1", "-o", "json")[1]
    assert text.endswith("}") and '\n  "apiVersion"' in text


def test_export_strips_cluster_metadata_only_for_named_resources(populated: CLI) -> None:
    cli = populated
    exported = yaml.safe_load(cli("get", "wep", "node--a-k8s-web-eth0", "-n", "prod", "-o", "yaml", "--export")[1])
    assert exported["metadata"] == {"name": "node--a-k8s-web-eth0", "labels": {
        "projectcalico.org/namespace": "prod", "projectcalico.org/orchestrator": "k8s"}}
    listed = yaml.safe_load(cli("get", "wep", "-A", "-o", "yaml", "--export")[1])
    assert set(listed["items"][0]["metadata"]) == {"creationTimestamp", "labels", "name", "namespace",
                                                   "resourceVersion", "uid"}


def test_several_names(populated: CLI) -> None:
    cli = populated
    assert cli("get", "gnetsets", "nope", "g1") == (
        1, table("NAME   ", "g1     ") + "resource does not exist: GlobalNetworkSet(nope)\n")
    code, out = cli("get", "gnetsets", "g1", "nope", "-o", "yaml")
    assert code == 1 and out.endswith("\nresource does not exist: GlobalNetworkSet(nope)\n")
    assert yaml.safe_load(out.rsplit("resource does not exist", 1)[0])["metadata"]["name"] == "g1"
    assert cli("delete", "gnetsets", "nope", "g1", "gone") == (
        1, "Successfully deleted 1 'GlobalNetworkSet' resource(s)\n"
           "Failed to delete 'GlobalNetworkSet' resource: resource does not exist: GlobalNetworkSet(nope)\n"
           "Failed to delete 'GlobalNetworkSet' resource: resource does not exist: GlobalNetworkSet(gone)\n")
    assert cli("get", "gnetsets", "g1")[0] == 1


def test_output_errors(populated: CLI) -> None:
    assert populated("get", "tier", "-o", "xml") == (1, "unrecognized output format 'xml'\n")
    assert populated("get", "tier", "-o", "custom-columns=NAME,COLOR") == (
        1, "unknown heading COLOR, valid values are: NAME, ORDER\n")
    assert populated("get", "tier", "nope") == (1, "resource does not exist: Tier(nope)\n")


# --- label and patch ------------------------------------------------------------------------

def test_label(cli: CLI) -> None:
    cli("create", "-f", cli.file("w.yaml", docs(wep("n1", "w1", "default"))), ok=True)
    name = "n1-k8s-w1-eth0"
    assert cli("label", "wep", name, "app=web") == (0, f"Successfully set label app on wep {name}\n")
    assert cli("label", "wep", name, "app=web") == (0, f"Successfully updated label app on wep {name}\n")
    assert cli("label", "workloadendpoint", name, "app=api") == (
        1, f"failed to update label of workloadendpoint {name}, key app is already present. please use "
           "'--overwrite' to set a new value\n")
    assert cli("label", "wep", name, "app=api", "--overwrite") == (0, f"Successfully updated label app on wep {name}\n")
    labels = yaml.safe_load(cli("get", "wep", name, "-o", "yaml")[1])["metadata"]["labels"]
    assert labels == {"app": "api", "projectcalico.org/namespace": "default", "projectcalico.org/orchestrator": "k8s"}
    assert cli("label", "wep", name, "app", "--remove") == (0, f"Successfully removed label app from wep {name}\n")
    assert cli("label", "wep", name, "app", "--remove") == (
        1, f"cannot remove label of wep {name}, key app does not exist\n")
    assert cli("label", "wep", "nope", "a=b") == (1, "wep nope not found\n")
    code, out = cli("label", "wep", name, "bad key=b")
    assert code == 1 and out.startswith(f"failed to update wep {name}, label not changed: error with field "
                                        "Metadata.Labels (label) = 'bad key' (name part must consist of ")


def test_patch(cli: CLI) -> None:
    cli("create", "-f", cli.file("t.yaml", docs(res("Tier", "t1", {"order": 5}, labels={"a": "1"}))), ok=True)
    assert cli("patch", "tier", "t1", "-p", '{"spec":{"order":7},"metadata":{"labels":{"a":null,"b":"2"}}}') == (
        0, "Successfully patched 1 'Tier' resource\n")
    got = yaml.safe_load(cli("get", "tier", "t1", "-o", "yaml")[1])
    assert got["spec"] == {"order": 7, "defaultAction": "Deny"} and got["metadata"]["labels"] == {"b": "2"}
    assert cli("patch", "tier", "t1", "-t", "merge", "-p", '{"spec":{"order":"x"}}') == (
        1, "hit error: creating resource from patched data: cannot unmarshal string into field spec.order of type "
           "float64\n")
    assert cli("patch", "tier", "t1", "-p", '{"spec":{"defaultAction":"Log"}}') == (
        1, "hit error: updating existing resource: error with the following fields:\n-  DefaultAction = 'Log' (Reason: "
           "failed to validate Field: DefaultAction because of Tag: oneof )\n-  spec.defaultAction (Unsupported value: "
           "\"Log\": supported values: \"Pass\", \"Deny\")\n")
    assert cli("patch", "tier", "t1", "-p", '{"metadata":{"name":"t2"}}') == (
        1, "hit error: error with field Metadata.Name = 't2' (field cannot be changed)\n")
    assert cli("patch", "tier", "t1", "-p", '{"metadata":{"resourceVersion":"1"},"spec":{"order":1}}') == (
        1, "hit error: update conflict: Tier(t1)\n")
    current = got["metadata"]["resourceVersion"]
    assert cli("patch", "tier", "t1", "-p", json.dumps({"metadata": {"resourceVersion": current},
                                                        "spec": {"order": 1}}))[0] == 0
    assert cli("patch", "tier", "t1", "-p", "{not json")[1].startswith("hit error: invalid patch: ")
    assert cli("patch", "tier", "t1", "-p", '{"spec":{"colour":1}}') == (
        1, "field in document is not recognized or is in the wrong location: spec.colour\n")
    assert cli("patch", "tier", "t9", "-p", "{}") == (1, "hit error: resource does not exist: Tier(t9)\n")


# --- bad input ------------------------------------------------------------------------------

EXECUTE = "failed to execute command: "
BAD_FILES = {
    "unknown kind": (docs(res("IPPool", "p")),
                     EXECUTE + "unknown resource type (IPPool) and/or version (projectcalico.org/v3)"),
    "unknown field": (docs(res("Tier", "t", {"color": "red"})),
                      "field in document is not recognized or is in the wrong location: spec.color"),
    "wrong type": (docs(res("Tier", "t", {"order": [1]})),
                   EXECUTE + "cannot unmarshal array into field spec.order of type float64"),
    "port out of range": (docs(res("GlobalNetworkPolicy", "p", {"ingress": [
        {"action": "Allow", "protocol": "TCP", "destination": {"ports": [70000]}}]})),
        EXECUTE + "cannot unmarshal number 70000 into field spec.ingress[0].destination.ports[0] of type uint16"),
    "not yaml": ("kind: [unclosed\n", EXECUTE + "cannot parse YAML at line 2, column 1"),
    "not a mapping": ("just a string\n", EXECUTE + "expected a resource (a mapping), found str"),
    "key given twice": ("kind: Tier\nkind: Tier\n", EXECUTE + 'cannot parse YAML at line 2: key "kind" already set in map'),
    "empty": ("", "no resources specified in file"),
    "only comments": ("# nothing\n---\n", "no resources specified in file"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=str)
def test_bad_files(cli: CLI, case: str) -> None:
    text, message = BAD_FILES[case]
    before = cli.revision()
    for verb in ("create", "apply", "replace", "delete", "validate"):
        code, out = cli(verb, "-f", cli.file("bad.yaml", text))
        assert code == 1
        assert out.startswith(message), out
        assert out.count("\n") == 1, out  # one clear line
    assert cli.revision() == before


INVALID = {
    "selector": (res("GlobalNetworkPolicy", "p", {"selector": "a = 'b'"}),
                 "error with field Selector = 'a = 'b'' (Reason: failed to validate Field: Selector because of Tag: "
                 "selector )"),
    "cidr": (res("GlobalNetworkSet", "s", {"nets": ["10.0.0.0/40"]}),
             "error with field Nets[0] = '10.0.0.0/40' (Reason: failed to validate Field: Nets[0] because of Tag: cidr )"),
    "protocol": (res("GlobalNetworkPolicy", "p", {"ingress": [{"action": "Allow", "protocol": "tcp"}]}),
                 "error with field Protocol = 'tcp' (protocol name invalid)"),
    "name": (res("GlobalNetworkSet", "Bad_Name"), "error with field Metadata.Name = 'Bad_Name' (name must consist of "
                                                  "lower case alphanumeric characters, '-' or '.' (regex: "),
}


@pytest.mark.parametrize("case", INVALID, ids=str)
def test_invalid_resources(cli: CLI, case: str) -> None:
    resource, message = INVALID[case]
    before = cli.revision()
    path = cli.file("bad.yaml", docs(resource))
    for verb, framed in (("create", "failed to create '{}' resource: [{}"), ("apply", "failed to apply '{}' resource: [{}"),
                         ("replace", "failed to replace '{}' resource: {}"),
                         ("validate", "failed to validate '{}' resource: [{}")):
        code, out = cli(verb, "-f", path)
        assert code == 1 and out.count("\n") == 1, out
        assert out.startswith(framed.format(resource["kind"], message)), out
    assert cli.revision() == before


def test_unknown_kind_on_the_command_line(cli: CLI) -> None:
    assert cli("get", "ippools") == (1, "failed to get resources: resource type 'ippools' is not supported\n")
    assert cli("delete", "bgppeer", "x") == (1, "resource type 'bgppeer' is not supported\n")
    assert cli("get", "GlobalNetworkPolicies")[0] == 0  # kinds are case-insensitive


def test_missing_file(cli: CLI) -> None:
    assert cli("create", "-f", str(cli.tmp / "nope.yaml")) == (
        1, f"failed to execute command: open {cli.tmp}/nope.yaml: no such file or directory\n")


def test_binary_garbage_on_stdin(cli: CLI) -> None:
    before = cli.revision()
    code, out = cli("create", "-f", "-", stdin=os.urandom(4096) + b"\xff\xfe")
    assert (code, out.count("\n")) == (1, 1)
    assert out.startswith("failed to execute command: input is not UTF-8 text") or "cannot parse YAML" in out
    code, out = cli("apply", "-f", "-", stdin=b"\x00\x01\x02kind: Tier\n")
    assert (code, out.count("\n")) == (1, 1) and out.startswith("failed to execute command: cannot parse YAML")
    assert cli.revision() == before


def test_ten_megabyte_files(cli: CLI) -> None:
    before = cli.revision()
    huge = docs(res("Tier", "t", annotations={"blob": "x" * (10 * 1024 * 1024)}))
    code, out = cli("create", "-f", cli.file("huge.yaml", huge))
    assert code == 1 and out.count("\n") == 1
    assert "(total size of annotations is too large by 10223620 bytes)" in out and len(out) < 1000
    assert cli.revision() == before
    junk = cli.file("junk.yaml", "x" * (10 * 1024 * 1024))
    code, out = cli("create", "-f", junk)
    assert (code, out.count("\n")) == (1, 1) and out.startswith("failed to execute command: expected a resource")


def test_many_resources_in_one_file(cli: CLI) -> None:
    items = [res("GlobalNetworkSet", f"s{i}", {"nets": [f"198.18.{i // 256}.{i % 256}/32"]}) for i in range(300)]
    assert cli("apply", "-f", cli.file("many.yaml", docs(*items))) == (
        0, "Successfully applied 300 'GlobalNetworkSet' resource(s)\n")
    listing = yaml.safe_load(cli("get", "-o", "yaml", "gnetsets")[1])
    assert len(listing["items"]) == 300


def test_missing_datastore_directory(cli: CLI, tmp_path: Path) -> None:
    code, out = cli("--datastore", f"sqlite://{tmp_path}/no/such/dir/t.db", "get", "tiers")
    assert (code, out) == (1, f"Failed to create Calico API client: datastore directory does not exist: "
                              f"{tmp_path}/no/such/dir\n")
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
    assert proc.stdout == ""
    assert proc.stderr == f"Failed to create Calico API client: cannot open datastore {store_dir}/tortie.db: " \
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
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        url = f"{cli.url}?lock_timeout=0.5"
        code, out = cli("--datastore", url, "create", "-f", cli.file("t.yaml", docs(res("Tier", "t"))))
        assert (code, out) == (1, f"failed to create 'Tier' resource: [datastore {db} is locked by another process "
                                  "(waited 0.5s)]\n")
    finally:
        holder.communicate()
    assert cli.revision() == before


def test_not_a_datastore_file(cli: CLI) -> None:
    (cli.tmp / "junk.db").write_bytes(b"\x00garbage" * 1000)
    code, out = cli("--datastore", f"sqlite://{cli.tmp}/junk.db", "get", "tiers")
    assert code == 1 and out.startswith(f"Failed to create Calico API client: datastore {cli.tmp}/junk.db is not a "
                                        "tortie datastore")


# --- invocation -----------------------------------------------------------------------------

def test_global_options_before_or_after_the_command(cli: CLI, tmp_path: Path) -> None:
    other = f"sqlite://{tmp_path}/other.db"
    cli("--datastore", other, "create", "-f", cli.file("t.yaml", docs(res("Tier", "only-here"))), ok=True)
    assert cli("get", "tier", "only-here", "--datastore", other)[0] == 0
    assert cli("get", f"--datastore={other}", "tier", "only-here", "-l", "debug")[0] == 0
    assert cli("get", "tier", "only-here")[0] == 1
    assert cli("--allow-version-mismatch", "get", "tier", "default")[0] == 0
    assert cli("get", "tier", "default", "--allow-version-mismatch", "--context", "prod")[0] == 0


def test_client_config_file(cli: CLI, tmp_path: Path) -> None:
    cfg = cli.file("tortie.cfg", f"datastore: sqlite://{tmp_path}/from-config.db\n")
    code, _, _ = run_cli(["get", "tiers", "-c", cfg], datastore=None)
    assert code == 0 and (tmp_path / "from-config.db").exists()
    (tmp_path / "binary.cfg").write_bytes(b"datastore: \xff\n")
    assert run_cli(["get", "tiers", "-c", str(tmp_path / "binary.cfg")], datastore=None)[::2] == (
        1, f"Failed to create Calico API client: client config file {tmp_path}/binary.cfg is not UTF-8 text "
           "(invalid byte at offset 11)\n")


def test_usage_errors_and_help(cli: CLI) -> None:
    code, out = cli("get", "--bogus")
    assert code == 1 and out.startswith("Usage: tortie get")
    assert out.endswith("invalid option: 'tortie get --bogus'. Use flag '--help' to read about a specific subcommand\n")
    code, out = cli("create")
    assert code == 1 and out.endswith("invalid option: 'tortie create'. Use flag '--help' to read about a specific "
                                      "subcommand\n")
    assert cli("--bogus", "get") == (
        1, "Invalid option: '--bogus get'. Use flag '--help' to read about a specific subcommand.\n")
    code, out = cli("frobnicate")
    assert code == 1 and out.startswith('unknown command: "frobnicate"\nUsage: tortie')
    for flag in ("--help", "-h"):
        code, out = cli(flag)
        assert code == 0 and "Commands:" in out
    for command in ("create", "apply", "replace", "delete", "get", "label", "patch", "validate", "version"):
        for flag in ("--help", "-h"):
            code, out = cli(command, flag)
            assert code == 0 and out.startswith(f"Usage: tortie {command}"), command


def test_a_bad_value_for_an_option_of_tortie_s_own_commands_is_one_line_naming_it(cli: CLI) -> None:
    assert cli("explain", "--node", "n1", "--src", "10.65.0.300", "--dst", "10.65.0.20", "--proto", "TCP") == (
        1, "Invalid value for --src: '10.65.0.300' is not IP, IPv4:PORT or [IPv6]:PORT\n")
    assert cli("explain", "--node", "n1", "--src", "10.65.0.3", "--dst", "10.65.0.20", "--proto", "FOO") == (
        1, "Invalid value for --proto: unknown protocol 'FOO'\n")
    assert cli("promote", "sgnp", "x", "-o", "xml") == (
        1, "Invalid value for '-o' / '--output': 'xml' is not one of 'yaml', 'json'.\n")


def test_version_names_the_calicoctl_it_matches(cli: CLI) -> None:
    code, out = cli("version")
    assert code == 0 and re.fullmatch(r"Client Version:    \S+\ncalicoctl Version: v3\.32\.1\n", out), out


def test_the_console_script_itself(cli: CLI) -> None:
    """The installed script: exit statuses, stdin for -f -, and errors on stderr."""
    def script(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        proc = subprocess.run([TORTIE, *args], input=stdin, capture_output=True, text=True, env=cli.env, timeout=60)
        return proc.returncode, proc.stdout, proc.stderr

    assert script("create", "-f", "-", stdin=docs(res("Tier", "t1"))) == (
        0, "Successfully created 1 'Tier' resource(s)\n", "")
    assert script("get", "tier", "t9") == (1, "", "resource does not exist: Tier(t9)\n")  # calicoctl.go: stderr
    code, out, err = script("frobnicate")
    assert (code, out.startswith('unknown command: "frobnicate"'), err) == (1, True, "")
    code, out, err = script("--help")
    assert (code, "Commands:" in out, err) == (0, True, "")


# --- config show and explain ------------------------------------------------------------------

def test_config_show(cli: CLI) -> None:
    cli("create", "-f", cli.file("f.yaml", docs(res("FelixConfiguration", "node.n1", {
        "dropActionOverride": "LogAndDrop", "bpfEnabled": True}))), ok=True)
    data = json.loads(cli("config", "show", "--node", "n1", "--config-file", "/dev/null", "-o", "json")[1])
    assert data["parameters"]["dropActionOverride"] == {
        "value": "LogAndDrop", "source": "FelixConfiguration node.n1", "used": True}
    assert data["parameters"]["bpfEnabled"] == {"value": True, "source": "FelixConfiguration node.n1", "used": False}
    code, out = cli("config", "show", "--node", "n2", "--config-file", "/dev/null")
    assert code == 0 and "dropActionOverride" in out and "default value" in out
    assert re.search(r"\nwireguardEnabled +- +default value +not used by tortie\n", out), out
    assert not re.search(r"\ndropActionOverride .*not used", out)


EXPLAIN_WORLD = [
    res("Profile", "kns.prod", {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}),
    res("WorkloadEndpoint", "n1-k8s-web-eth0", {
        "node": "n1", "orchestrator": "k8s", "pod": "web", "endpoint": "eth0", "interfaceName": "cali1111",
        "ipNetworks": ["10.65.0.10/32"], "profiles": ["kns.prod"]}, namespace="prod", labels={"role": "web"}),
    res("WorkloadEndpoint", "n1-k8s-db-eth0", {
        "node": "n1", "orchestrator": "k8s", "pod": "db", "endpoint": "eth0", "interfaceName": "cali2222",
        "ipNetworks": ["10.65.0.20/32"], "profiles": ["kns.prod"], "ports": [{"name": "pg", "protocol": "TCP",
                                                                              "port": 5432}]},
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
    base = ["explain", "--node", "n1", "--config-file", "/dev/null"]
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


def test_explain_a_packet_from_a_workload_with_a_source_not_its_own(cli: CLI) -> None:
    """Anti-spoofing (issue 15, class 2) first: a source none of the workload's addresses is
    dropped whatever dropActionOverride says, unless its allowSpoofedSourcePrefixes cover it;
    then the policies decide."""
    spoofer = res("WorkloadEndpoint", "n1-k8s-relay-eth0", {
        "node": "n1", "orchestrator": "k8s", "pod": "relay", "endpoint": "eth0", "interfaceName": "cali3333",
        "ipNetworks": ["10.65.0.30/32", "2001:db8:65::30/128"], "profiles": ["kns.prod"],
        "allowSpoofedSourcePrefixes": ["10.70.0.0/24", "2001:db8:70::/64"]}, namespace="prod", labels={"role": "web"})
    relayed = res("NetworkPolicy", "relayed", {"selector": "role == 'db'", "types": ["Ingress"], "ingress": [
        {"action": "Allow", "protocol": "TCP", "source": {"nets": [net]}, "destination": {"ports": [5432]}}
        for net in ("10.70.0.0/16", "2001:db8:70::/48")]}, namespace="prod")
    cli("create", "-f", cli.file("w.yaml", docs(*EXPLAIN_WORLD, spoofer, relayed)), ok=True)
    cli("patch", "felixconfig", "default", "-p",
        '{"spec":{"dropActionOverride":"LogAndAccept","workloadSourceSpoofing":"Any"}}', ok=True)
    base = ["explain", "--config-file", "/dev/null", "--proto", "TCP"]

    def json_of(*args: str) -> dict[str, Any]:
        code, out = cli(*base, *args, "-o", "json")
        assert code == 0, out
        return dict(json.loads(out))

    # web sends as db's neighbour 10.65.0.99: anti-spoofing drops it, no override, no log
    spoofed = json_of("--from-workload", "prod/web", "--src", "10.65.0.99", "--dst", "10.65.0.20:5432")
    assert {k: spoofed[k] for k in ("node", "inInterface", "outInterface", "verdict", "action", "cause",
                                     "antiSpoofing", "logPrefixes", "metricPolicies")} == {
        "node": "n1", "inInterface": "cali1111", "outInterface": "cali2222", "verdict": "deny", "action": "drop",
        "cause": "spoofed source on cali1111", "antiSpoofing": {"outcome": "spoofed", "network": None},
        "logPrefixes": [], "metricPolicies": []}
    assert json_of("--node", "n1", "--in-interface", "cali1111", "--src", "10.65.0.99",
                   "--dst", "10.65.0.20:5432")["action"] == "drop"
    code, text = cli(*base, "--from-workload", "prod/n1-k8s-web-eth0", "--src", "10.65.0.99", "--dst",
                     "10.65.0.20:5432")
    assert code == 0 and "forwarded from cali1111 to cali2222" in text
    assert ("anti-spoofing: source 10.65.0.99 is not an address of prod/n1-k8s-web-eth0 on cali1111 and not in its "
            "allowSpoofedSourcePrefixes: dropped by strict reverse-path filtering") in text
    assert "Verdict: deny (spoofed source on cali1111). The kernel drops it, whatever dropActionOverride says." in text
    # its own address (the default --src): the policy allows web to db
    own = json_of("--from-workload", "prod/web", "--dst", "10.65.0.20:5432")
    assert (own["src"], own["verdict"], own["antiSpoofing"]) == (
        "10.65.0.10", "allow", {"outcome": "own", "network": "10.65.0.10/32"})
    # relay may send from 10.70.0.0/24 and 2001:db8:70::/64: let through, then db's policies decide
    for src, dst, net in (("10.70.0.5", "10.65.0.20:5432", "10.70.0.0/24"),
                          ("[2001:db8:70::5]:4000", "[2001:db8:65::20]:5432", "2001:db8:70::/64")):
        allowed = json_of("--from-workload", "prod/relay", "--src", src, "--dst", dst)
        assert (allowed["verdict"], allowed["antiSpoofing"]) == ("allow", {"outcome": "allowed", "network": net})
    code, text = cli(*base, "--from-workload", "prod/relay", "--src", "10.70.0.5", "--dst", "10.65.0.20:22")
    assert ("anti-spoofing: source 10.70.0.5 is not an address of prod/n1-k8s-relay-eth0, but its "
            "allowSpoofedSourcePrefixes has 10.70.0.0/24: let through (cali-rpf-skip)") in text
    assert "Verdict: deny (end of tier default). With dropActionOverride LogAndAccept the kernel accepts it." in text
    for src in ("10.70.1.5", "2001:db8:71::5"):
        outside = json_of("--from-workload", "prod/relay", "--src", src, "--dst",
                          "10.65.0.20:5432" if "." in src else "[2001:db8:65::20]:5432")
        assert (outside["action"], outside["antiSpoofing"]["outcome"]) == ("drop", "spoofed")
    # mistakes: one line each
    assert cli(*base, "--from-workload", "prod/nobody", "--dst", "10.65.0.20") == (
        1, "Failed to execute command: no workload endpoint in namespace prod is called nobody or is of a pod "
           "called so\n")
    assert cli(*base, "--from-workload", "prod/web", "--node", "n2", "--dst", "10.65.0.20") == (
        1, "Failed to execute command: workload endpoint prod/n1-k8s-web-eth0 is on node n1, not n2\n")
    assert cli(*base, "--from-workload", "prod/web", "--dst", "2001:db8::1") == (
        1, "Failed to execute command: workload endpoint prod/n1-k8s-web-eth0 has no IPv6 address: give --src\n")
    for args, line in ((("--from-workload", "prod/web", "--in-interface", "cali1111"),
                        "Invalid value for --from-workload: it names the interface already: leave out --in-interface"),
                       (("--in-interface", "a/b"), "Invalid value for --in-interface: 'a/b' is not an interface name"),
                       ((), "Missing option '--src'. Give it, or --from-workload.")):
        assert cli(*base, "--node", "n1", *args, "--dst", "10.65.0.20") == (1, line + "\n")


def test_an_error_never_lands_in_the_file_a_pipe_saves(cli: CLI) -> None:
    """The README's runbook saves `get -o yaml | tee FILE` for `replace -f`: an error goes to
    stderr (calicoctl.go main), so FILE stays empty."""
    proc = cli.sh('tortie get felixconfig node.nohost -o yaml | tee saved.yaml || echo "exit=$?"')
    assert proc.stderr == "resource does not exist: FelixConfiguration(node.nohost)\n"
    assert "exist" not in (cli.tmp / "saved.yaml").read_text()
