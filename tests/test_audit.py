"""Audit: kernel LOG lines replayed through the model (`tortie logs explain`), against
exported resources and the datastore; bad resources and bad lines."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tortie.audit.cluster import Cluster, DeniedBy
from tortie.audit.explain import explain_record
from tortie.audit.resources import ResourceSet, from_files
from tortie.core import Verdict
from tortie.logs import parse_line
from tortie.model import Packet

from .audit_shop import BACKEND, DATABASE, FRONTEND, NODE, OUTSIDE, export, interface, shop
from .cli import run_cli
from .profiles import examples

WEP_NODE = NODE.replace("-", "--")  # libcalico-go doubles the dashes of names in WorkloadEndpoint names
FRONT_IF, BACK_IF, DB_IF = interface("shop", "frontend"), interface("shop", "backend"), interface("data", "database")


def logged(cluster: Cluster, packet: Packet, header: str = "Mar  3 09:14:21 node-a kernel: [ 8124.551903] ") -> str:
    """The kernel line the model says `packet` makes on the shop's node, with a syslog header."""
    lines = cluster.evaluate_at(NODE, packet).log_lines
    assert len(lines) == 1
    return header + lines[0] + " MARK=0x0"


def test_a_denial_is_named_by_policy_and_endpoints(tmp_path: Path) -> None:
    resources = export(tmp_path / "shop.yaml", shop())
    cluster = Cluster(from_files([str(resources)]))
    line = logged(cluster, Packet(FRONTEND, DATABASE, 6, 40000, 5432, in_iface=FRONT_IF, out_iface=DB_IF))
    log = tmp_path / "kern.log"
    log.write_text("Mar  3 09:14:20 node-a systemd[1]: Started.\n" + line + "\n")
    code, out, err = run_cli(["logs", "explain", "--resources", str(resources), "-o", "json", str(log)],
                             datastore=None)
    assert code == 0, err
    assert json.loads(out) == {
        "time": "Mar  3 09:14:21", "host": NODE, "prefix": "calico-drop", "src": FRONTEND, "dst": DATABASE,
        "proto": "TCP", "spt": 40000, "dpt": 5432, "node": NODE,
        "source": f"WorkloadEndpoint shop/{WEP_NODE}-k8s-frontend-eth0",
        "destination": f"WorkloadEndpoint data/{WEP_NODE}-k8s-database-eth0", "verdict": "deny", "action": "accept",
        "cause": "end of tier default", "tier": "default", "policy": "database-access", "rule": -1}
    assert err.splitlines()[-1] == "logs explain: 2 lines: 1 LOG line, 1 skipped (1 not a LOG line); replayed: 1 deny"
    code, out, _ = run_cli(["logs", "explain", "--resources", str(resources), str(log)], datastore=None)
    assert out.splitlines()[1] == (f"  WorkloadEndpoint shop/{WEP_NODE}-k8s-frontend-eth0 -> WorkloadEndpoint "
                                   f"data/{WEP_NODE}-k8s-database-eth0: denied by end of tier default (after "
                                   "database-access); the kernel would accept it")


def test_an_allowed_line_and_a_line_no_endpoint_owns(tmp_path: Path) -> None:
    resources = export(tmp_path / "shop.yaml", shop())
    log = tmp_path / "kern.log"
    log.write_text(
        f"calico-drop: IN={BACK_IF} OUT={DB_IF} SRC={BACKEND} DST={DATABASE} LEN=60 TOS=0x00 PREC=0x00 TTL=63 "
        "ID=1 DF PROTO=TCP SPT=41000 DPT=5432 WINDOW=64240 RES=0x00 SYN URGP=0\n"
        f"other-fw: IN=eth9 OUT= SRC={OUTSIDE} DST=192.0.2.1 LEN=40 TOS=0x00 PREC=0x00 TTL=50 ID=2 PROTO=UDP "
        "SPT=53 DPT=5353 LEN=20\n")
    code, out, err = run_cli(["logs", "explain", "--resources", str(resources), "--node", NODE, "-o", "json",
                              str(log)], datastore=None)
    allowed, unplaced = (json.loads(line) for line in out.splitlines())
    assert allowed["verdict"] == "allow" and allowed["action"] == "accept"
    assert allowed["note"].startswith("logged as a denial, but these policies allow it")
    assert "verdict" not in unplaced
    assert unplaced["note"] == (f"no endpoint owns {OUTSIDE} or 192.0.2.1, and no endpoint of node {NODE} has "
                                "interface eth9")
    assert err.splitlines()[-1].endswith("replayed: 1 allow, 1 not placed")


def test_against_the_datastore(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'tortie.db'}"
    resources = export(tmp_path / "shop.yaml", [r for r in shop() if r["kind"] != "FelixConfiguration"])
    code, _, err = run_cli(["create", "-f", str(resources)], datastore=store)
    assert code == 0, err
    line = (f"calico-drop: IN={FRONT_IF} OUT={DB_IF} SRC={FRONTEND} DST={DATABASE} LEN=60 TOS=0x00 PREC=0x00 "
            "TTL=63 ID=1 DF PROTO=TCP SPT=41000 DPT=5432 WINDOW=64240 RES=0x00 SYN URGP=0\n")
    code, out, err = run_cli(["logs", "explain", "--node", NODE, "-o", "json", "-"], datastore=store, stdin=line)
    assert code == 0, err
    found = json.loads(out)
    assert (found["verdict"], found["action"], found["policy"]) == ("deny", "drop", "database-access")


def test_resources_that_do_not_validate_are_named_and_skipped(tmp_path: Path) -> None:
    bad = {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy", "metadata": {"name": "Bad_Name"},
           "spec": {"selector": "all()"}}
    ippool = {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "pool"},
              "spec": {"cidr": "198.18.0.0/16"}}
    resources = export(tmp_path / "shop.yaml", shop(extra=[bad, ippool]))
    garbage = tmp_path / "garbage.yaml"
    garbage.write_bytes(b"\x00\xff{[")
    line = (f"calico-drop: IN={FRONT_IF} OUT={DB_IF} SRC={FRONTEND} DST={DATABASE} PROTO=TCP SPT=1 DPT=5432\n"
            "\x00\x01binary\xff\n" + "calico-drop: IN=cali0 OUT=eth0 SRC=198.18.10.10 DST=1.2.3.4 LEN=60 TOS=0x0")
    code, out, err = run_cli(["logs", "explain", "--resources", str(resources), "--resources", str(garbage),
                              "--resources", str(tmp_path / "missing.yaml"), "--node", NODE, "-o", "json", "-"],
                             datastore=None, stdin=line.encode("latin-1"))
    assert code == 0 and "Traceback" not in err
    problems = err.splitlines()
    assert problems[0].startswith(f"logs explain: {resources}: resource 7 (GlobalNetworkPolicy Bad_Name) skipped: ")
    assert problems[1] == (f"logs explain: {resources}: 1 projectcalico.org/v3 IPPool resource skipped "
                           "(not a kind policy replay uses)")
    assert problems[2].startswith(f"logs explain: {garbage}: input is not UTF-8 text")
    assert problems[3] == f"logs explain: {tmp_path / 'missing.yaml'}: no such file or directory"
    first, cut = (json.loads(line) for line in out.splitlines())
    assert first["policy"] == "database-access"
    assert cut["note"] == "the line has no protocol"
    assert problems[-1] == ("logs explain: 3 lines: 2 LOG lines (2 cut short), 1 skipped (1 binary); "
                                   "replayed: 1 deny, 1 not replayed")


@settings(max_examples=examples(60), deadline=None)
@given(st.sampled_from([(FRONTEND, FRONT_IF), (BACKEND, BACK_IF)]), st.integers(1, 65535), st.integers(1, 65535),
       st.sampled_from(["Drop", "LogAndDrop", "LogAndAccept"]))
def test_every_line_the_model_logs_replays_to_the_same_denial(source: tuple[str, str], sport: int, dport: int,
                                                             override: str) -> None:
    """A packet the model denies and logs, written as the kernel line it logs, is explained as
    that same denial; one it allows is not logged at all."""
    cluster = Cluster(ResourceSet(tuple(shop(override))))
    packet = Packet(source[0], DATABASE, 6, sport, dport, in_iface=source[1], out_iface=DB_IF)
    result = cluster.evaluate_at(NODE, packet)
    if not result.log_lines:
        assert result.verdict is Verdict.ALLOW or override == "Drop"
        return
    record = parse_line(result.log_lines[0])
    assert record is not None
    explained = explain_record(cluster, record, NODE)
    assert explained.judgement is not None and explained.judgement.verdict is Verdict.DENY
    assert explained.judgement.denied_by == DeniedBy("default", "database-access", -1)
    assert explained.result is not None and explained.result.action == result.action
