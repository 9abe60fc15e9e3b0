"""Audit: kernel LOG lines replayed through the model (`tortie logs explain`), against
exported resources and the datastore; bad resources and bad lines."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any, cast

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tortie.audit.cluster import Cluster, DeniedBy
from tortie.audit.explain import explain_record
from tortie.audit.resources import ResourceSet, changed, from_files, identity
from tortie.core import Verdict
from tortie.logs import parse_line
from tortie.model import Packet

from .audit_shop import BACKEND, DATABASE, FRONTEND, NODE, OUTSIDE, export, flow_record, interface, shop
from .cli import run_cli, run_on_terminal
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


# Staged in place of database-access: only the frontend may reach the database.
STAGED_DATABASE = {"apiVersion": "projectcalico.org/v3", "kind": "StagedGlobalNetworkPolicy",
                   "metadata": {"name": "database-access"},
                   "spec": {"stagedAction": "Set", "selector": 'role == "db"', "types": ["Ingress"], "ingress": [
                       {"action": "Allow", "protocol": "TCP", "source": {"selector": 'app == "frontend"'},
                        "destination": {"ports": ["pg"]}}]}}


def test_the_pending_verdict_of_each_line(tmp_path: Path) -> None:
    """With a policy staged, each line also gets its pending verdict: the logged backend
    flow, allowed now, would be denied; the frontend's, denied now, would be allowed."""
    resources = export(tmp_path / "shop.yaml", shop(extra=[STAGED_DATABASE]))
    log = tmp_path / "kern.log"
    log.write_text("".join(
        f"calico-drop: IN={source_if} OUT={DB_IF} SRC={source} DST={DATABASE} LEN=60 TOS=0x00 PREC=0x00 TTL=63 "
        "ID=1 DF PROTO=TCP SPT=41000 DPT=5432 WINDOW=64240 RES=0x00 SYN URGP=0\n"
        for source, source_if in ((BACKEND, BACK_IF), (FRONTEND, FRONT_IF))))
    command = ["logs", "explain", "--resources", str(resources), "--node", NODE, str(log)]
    code, out, err = run_cli([*command, "-o", "json"], datastore=None)
    assert code == 0, err
    backend, frontend = (json.loads(line) for line in out.splitlines())
    assert (backend["verdict"], backend["pending"], backend["pendingCause"], backend["pendingTier"],
            backend["pendingPolicy"], backend["pendingRule"]) == (
        "allow", "deny", "end of tier default", "default", "database-access", -1)
    assert (frontend["verdict"], frontend["policy"], frontend["pending"]) == ("deny", "database-access", "allow")
    assert "pendingPolicy" not in frontend
    code, out, err = run_cli(command, datastore=None)
    assert code == 0, err
    assert [line for line in out.splitlines() if line.startswith("  pending")] == [
        "  pending (staged policies promoted): denied by end of tier default (after database-access)",
        "  pending (staged policies promoted): allowed"]
    code, out, _ = run_cli(["logs", "explain", "--resources", str(export(tmp_path / "enforced.yaml", shop())),
                            "--node", NODE, "-o", "json", str(log)], datastore=None)
    assert all("pending" not in json.loads(line) for line in out.splitlines())  # nothing staged


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
    line = (f"calico-drop: IN={FRONT_IF} OUT={DB_IF} SRC={FRONTEND} DST={DATABASE} PROTO=TCP SPT=1 DPT=5432\n"
            "\x00\x01binary\xff\n" + "calico-drop: IN=cali0 OUT=eth0 SRC=198.18.10.10 DST=1.2.3.4 LEN=60 TOS=0x0")
    code, out, err = run_cli(["logs", "explain", "--resources", str(resources), "--node", NODE, "-o", "json", "-"],
                             datastore=None, stdin=line.encode("latin-1"))
    assert code == 0 and "Traceback" not in err
    problems = err.splitlines()
    assert problems[0].startswith(f"logs explain: {resources}: resource 7 (GlobalNetworkPolicy Bad_Name) skipped: ")
    assert problems[1] == (f"logs explain: {resources}: 1 projectcalico.org/v3 IPPool resource skipped "
                           "(not a kind policy replay uses)")
    first, cut = (json.loads(line) for line in out.splitlines())
    assert first["policy"] == "database-access"
    assert cut["note"] == "the line has no protocol"
    assert problems[-1] == ("logs explain: 3 lines: 2 LOG lines (2 cut short), 1 skipped (1 binary); "
                                   "replayed: 1 deny, 1 not replayed")


def test_a_resources_file_that_cannot_be_read_fails_the_command(tmp_path: Path) -> None:
    """Missing, a directory, not UTF-8, not YAML: one line naming the file, exit 1, and
    nothing on standard output, for every command that takes --resources."""
    resources = export(tmp_path / "shop.yaml", shop())
    log = tmp_path / "kern.log"
    log.write_text(f"calico-drop: IN={FRONT_IF} OUT={DB_IF} SRC={FRONTEND} DST={DATABASE} PROTO=TCP SPT=1 "
                   "DPT=5432\n")
    (tmp_path / "binary.yaml").write_bytes(b"\x00\xff{[")
    (tmp_path / "malformed.yaml").write_text("kind: [Tier\n")
    unreadable = {tmp_path / "missing.yaml": "no such file or directory", tmp_path: "is a directory",
                  tmp_path / "binary.yaml": "input is not UTF-8 text", tmp_path / "malformed.yaml": ""}
    commands = [["logs", "explain"], ["audit", "report"], ["audit", "replay", "--without", "database-access"],
                ["recommend", "-n", "shop"]]
    for path, why in unreadable.items():
        for command in commands:
            code, out, err = run_cli([*command, "--resources", str(resources), "--resources", str(path), str(log)],
                                     datastore=None)
            assert (code, out) == (1, ""), (command, path, err)
            assert len(err.splitlines()) == 1 and err.startswith(f"{command[0]} {command[1]}: --resources {path}: "
                                                                 if command[0] != "recommend" else
                                                                 f"recommend: --resources {path}: "), err
            assert why in err, err


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


# --- audit report ------------------------------------------------------------------------

F, B, D, X = (FRONTEND, "shop", "frontend"), (BACKEND, "shop", "backend"), (DATABASE, "data", "database"), \
    (OUTSIDE, "-", "-")  # X: outside the cluster
T0 = 1772529200  # 2026-03-03T09:13:20Z
DENY_DB, ALLOW_DB = "0|default|database-access|deny|-1", "0|default|database-access|allow|0"


def flows_file(path: Path) -> Path:
    """Flows of the shop in audit mode (LogAndAccept): frontend to database is denied and let
    through (3 flows), backend to database allowed, a staged policy that would deny the
    outside reaching the frontend, and one that would allow the outside reaching the database."""
    records = [
        flow_record(T0, F, D, 5432, "allow", [DENY_DB]),
        flow_record(T0 + 100, F, D, 5432, "allow", [DENY_DB], flows=2, packets=4),
        flow_record(T0 + 100, B, D, 5432, "allow", [ALLOW_DB]),
        flow_record(T0 + 200, X, F, 8080, "allow", ["0|__PROFILE__|__PROFILE__.kns.shop|allow|0"],
                    ["0|default|shop/default.web-ingress|deny|-1"]),
        flow_record(T0 + 300, X, D, 5432, "deny", [DENY_DB], ["0|default|data/default.db-allow|allow|0"]),
        flow_record(T0 + 400, X, D, 5432, "deny", [DENY_DB]),  # denied and dropped now: no finding
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_report_groups_what_enforcing_would_block(tmp_path: Path) -> None:
    flows = flows_file(tmp_path / "flows.log")
    code, out, err = run_cli(["audit", "report", "-o", "json", str(flows)], datastore=None)
    assert code == 0, err
    report = json.loads(out)
    block = report["wouldBlock"]
    assert (report["flowsRead"], block["flows"], block["packets"]) == (7, 4, 10)
    assert (block["firstSeen"], block["lastSeen"]) == ("2026-03-03T09:13:20Z", "2026-03-03T09:16:50Z")
    by = {d: [(g["key"], g["flows"], g["packets"], g["firstSeen"], g["lastSeen"]) for g in groups]
          for d, groups in block["by"].items()}
    assert by["policy"] == [("database-access [default]", 3, 7, "2026-03-03T09:13:20Z", "2026-03-03T09:15:10Z"),
                            ("shop/default.web-ingress [default]", 1, 3, "2026-03-03T09:16:40Z",
                             "2026-03-03T09:16:50Z")]
    assert [k for k, *_ in by["source"]] == ["shop/frontend", OUTSIDE]
    assert [k for k, *_ in by["sourceNamespace"]] == ["shop", "(no namespace)"]
    assert [(k, n) for k, n, *_ in by["destination"]] == [("data/database", 3), ("shop/frontend", 1)]
    assert [(k, n) for k, n, *_ in by["port"]] == [("tcp/5432", 3), ("tcp/8080", 1)]
    example = block["by"]["policy"][0]["example"]
    assert (example["source"]["ip"], example["destination"]["port"], example["policy"]["rule"]) == (FRONTEND, 5432, -1)
    assert block["perMinute"] == [["2026-03-03T09:13:00Z", 1], ["2026-03-03T09:15:00Z", 2],
                                  ["2026-03-03T09:16:00Z", 1]]
    allow = report["newlyAllowed"]
    assert allow["flows"] == 1 and allow["by"]["policy"][0]["key"] == "data/default.db-allow [default]"
    assert err == "audit report: 6 lines: 0 LOG lines, 0 skipped; 6 flow log records\n"


def test_report_window_table_and_csv(tmp_path: Path) -> None:
    flows = flows_file(tmp_path / "flows.log")
    code, out, _ = run_cli(["audit", "report", "--since", "2026-03-03T09:14:00Z", "--until", str(T0 + 250),
                            str(flows)], datastore=None)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Flows read: 7 (3 outside the window)"
    assert lines[2] == "Would block: 3 flows, 7 packets, 2026-03-03T09:15:00Z to 2026-03-03T09:16:50Z"
    assert lines[5].split() == ["database-access", "[default]", "2", "4", "2026-03-03T09:15:00Z",
                                "2026-03-03T09:15:10Z", "tcp", f"{FRONTEND}:43822", ">", f"{DATABASE}:5432",
                                "(shop/frontend", "->", "data/database)", "on", NODE]
    assert "Newly allowed: nothing." in lines
    code, out, _ = run_cli(["audit", "report", "-o", "csv", str(flows)], datastore=None)
    rows = out.splitlines()
    assert rows[0] == ("finding,dimension,key,flows,packets,first_seen,last_seen,example_source,"
                       "example_destination,example_proto,example_port,example_policy")
    assert rows[1] == (f"would block,policy,database-access [default],3,7,2026-03-03T09:13:20Z,2026-03-03T09:15:10Z,"
                       f"{FRONTEND}:43822,{DATABASE}:5432,tcp,5432,database-access [default]")
    assert len(rows) == 1 + 6 * 2 + 6 * 1  # every group of every dimension of both findings


def test_report_over_kernel_lines_replays_them(tmp_path: Path) -> None:
    resources = export(tmp_path / "shop.yaml", shop())
    log = tmp_path / "kern.log"
    line = (f"{{}} {NODE} kernel: calico-drop LOGandACCEPT: IN={FRONT_IF} OUT={DB_IF} SRC={FRONTEND} DST={DATABASE} "
            "LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=TCP SPT={{}} DPT=5432 WINDOW=64240 RES=0x00 SYN URGP=0\n")
    log.write_text(line.format("Mar  3 09:14:21", 40001) + line.format("Mar  3 09:20:05", 40002)
                   + f"[ 12.5] calico-drop: IN={FRONT_IF} OUT={DB_IF} SRC={FRONTEND} DST={DATABASE} PROTO=UDP "
                   "SPT=1 DPT=2 LEN=8\n")
    code, out, err = run_cli(["audit", "report", "--resources", str(resources), "--year", "2026", "-o", "json",
                              str(log)], datastore=None)
    assert code == 0, err
    block = json.loads(out)["wouldBlock"]
    assert block["flows"] == 2
    assert [(g["key"], g["flows"], g["firstSeen"], g["lastSeen"]) for g in block["by"]["policy"]] == [
        ("database-access [default]", 2, "2026-03-03T09:14:21Z", "2026-03-03T09:20:05Z")]
    assert [g["key"] for g in block["by"]["source"]] == ["shop/frontend"]  # by workload, as flow logs name it
    assert err.endswith("1 kernel lines without a wall-clock time left out\n")
    code, out, _ = run_cli(["audit", "report", "-o", "json", str(log)], datastore=None)
    assert json.loads(out)["wouldBlock"]["by"]["policy"][0]["key"].startswith("(not attributed")
    # with database-access staged to let the frontend in: denied now, allowed by the staged policy
    staged = export(tmp_path / "staged.yaml", shop(extra=[STAGED_DATABASE]))
    code, out, err = run_cli(["audit", "report", "--resources", str(staged), "--year", "2026", "-o", "json",
                              str(log)], datastore=None)
    assert code == 0, err
    found = json.loads(out)
    assert found["wouldBlock"]["flows"] == 0
    assert [(g["key"], g["flows"]) for g in found["newlyAllowed"]["by"]["policy"]] == [
        ("database-access [default]", 2)]


def test_report_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.log"
    good = json.dumps(flow_record(T0, F, D, 5432, "allow", [DENY_DB]))
    bad.write_bytes(b"\x00\xff\xfe garbage\n" + good[:80].encode() + b"\n" + b'{"start_time": "yesterday"}\n'
                    + b'{"start_time": 1, "policies": 7}\n' + good.encode() + b"\n" + b"x" * 70000 + b"\n"
                    + b"%ASA-4-106023: Deny tcp src outside:1.2.3.4/1 dst inside:5.6.7.8/2\n"
                    + b"Mar  3 09:14:21 node-a kernel: [UFW BLOCK] IN=eth0 OUT= MAC= SRC=1.2.3.4 DST=5.6.7.8 LEN=40 "
                      b"TOS=0x00 PREC=0x00 TTL=50 ID=1 PROTO=TCP SPT=1 DPT=22 WINDOW=1 RES=0x00 SYN URGP=0\n")
    code, out, err = run_cli(["audit", "report", "-o", "json", str(bad)], datastore=None)
    assert code == 0 and "Traceback" not in err
    assert json.loads(out)["wouldBlock"]["flows"] == 1
    assert err.splitlines() == [
        "audit report: 8 lines: 1 LOG line, 3 skipped (1 binary, 1 too long, 1 not a LOG line); "
        "1 flow log records (3 not readable, skipped)"]
    code, out, err = run_cli(["audit", "report", "--since", "last tuesday", str(bad)], datastore=None)
    assert code == 1 and "'last tuesday' is not RFC 3339" in out + err and "Traceback" not in out + err


def test_an_input_that_cannot_be_read_writes_no_answer(tmp_path: Path) -> None:
    """A flow input that is missing or a directory: one line naming it, exit 1, and nothing
    on standard output (no report, no policies) for every command that writes one answer."""
    resources = export(tmp_path / "shop.yaml", shop())
    flows = flows_file(tmp_path / "flows.log")
    commands = [["audit", "report"], ["audit", "replay", "--without", "database-access"], ["recommend", "-n", "shop"]]
    for path, why in ((tmp_path / "missing.log", "no such file"), (tmp_path, "is a directory")):
        for command in commands:
            code, out, err = run_cli([*command, "--resources", str(resources), str(flows), str(path)], datastore=None)
            assert (code, out) == (1, ""), (command, path, out)
            assert err == f"{' '.join(command[:2]) if command[0] == 'audit' else 'recommend'}: {path}: {why}\n"


def _png_pixels(data: bytes) -> set[tuple[int, ...]]:
    """The distinct colours of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes)."""
    import struct
    import zlib
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and colour in (2, 6)
    channels = 3 if colour == 2 else 4
    chunks, at = b"", 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        if kind == b"IDAT":
            chunks += data[at + 8:at + 8 + length]
        at += 12 + length
    raw, stride, previous, colours = zlib.decompress(chunks), width * channels, bytearray(width * channels), set()
    for y in range(height):
        kind, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = row[x - channels] if x >= channels else 0
            b, c = previous[x], previous[x - channels] if x >= channels else 0
            p = a + b - c
            predictor = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) \
                else c
            row[x] = (row[x] + (0, a, b, (a + b) // 2, predictor)[kind]) & 0xFF
        colours |= {tuple(row[x:x + 3]) for x in range(0, stride, channels)}
        previous = row
    return colours


def test_the_html_report_shows_in_chromium_offline(tmp_path: Path) -> None:
    flows = flows_file(tmp_path / "flows.log")
    code, page, _ = run_cli(["audit", "report", "-o", "html", str(flows)], datastore=None)
    assert code == 0
    assert not re.search(r"(src|href)\s*=|https?:|<script|@import|url\(", page)  # nothing to fetch: works offline
    html = tmp_path / "report.html"
    html.write_text(page)
    # headless, as root, and with every name unresolvable: the page must need nothing from a network
    flags = ["--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1000,900"]
    dom = subprocess.run(["chromium", *flags, "--dump-dom", html.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert "4 flows, 10 packets, first seen 2026-03-03T09:13:20Z, last seen 2026-03-03T09:16:50Z." in dom
    timeline = re.search(r"<svg id=\"would-block-timeline\".*?</svg>", dom)
    assert timeline is not None
    assert re.findall(r"<title>([^<]*)</title>", timeline[0]) == [
        "2026-03-03T09:13:00Z: 1 flow", "2026-03-03T09:14:00Z: 0 flows", "2026-03-03T09:15:00Z: 2 flows",
        "2026-03-03T09:16:00Z: 1 flow"]
    policies = re.search(r"<svg id=\"would-block-policies\".*?</svg>", dom)
    assert policies is not None and re.findall(r"<title>([^<]*)</title>", policies[0]) == [
        "database-access [default]: 3 flows", "shop/default.web-ingress [default]: 1 flow"]
    sources = re.search(r"<svg id=\"would-block-sources\".*?</svg>", dom)
    assert sources is not None and "shop/frontend: 3 flows" in sources[0]
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", *flags, f"--screenshot={shot}", html.as_uri()], capture_output=True, timeout=120)
    colours = _png_pixels(shot.read_bytes())
    assert (0xC0, 0x39, 0x2B) in colours and (0x2C, 0x7F, 0xB8) in colours  # the charts' bars are drawn


def test_report_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    flows = tmp_path / "flows.log"
    line = json.dumps(flow_record(T0, F, D, 5432, "allow", [DENY_DB])) + "\n"
    flows.write_text(line * 4000)  # a few MiB: the bar moves at least once a MiB
    code, out, text = run_on_terminal(["audit", "report", "-o", "json", str(flows)])
    assert code == 0 and json.loads(out)["wouldBlock"]["flows"] == 4000
    assert "reading" in text and "100%" in text
    assert text.rstrip().endswith("audit report: 4,000 lines: 0 LOG lines, 0 skipped; 4,000 flow log records")


# --- audit replay ----------------------------------------------------------------------------

FRONTEND_TO_DB = {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
                  "metadata": {"name": "frontend-to-db"},
                  "spec": {"order": 10, "selector": 'role == "db"', "types": ["Ingress"], "ingress": [
                      {"action": "Allow", "protocol": "TCP", "source": {"selector": 'app == "frontend"'},
                       "destination": {"ports": [5432]}}]}}
WEB_FROM_BACKEND = {"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
                    "metadata": {"name": "web-from-backend", "namespace": "shop"},
                    "spec": {"selector": 'role == "web"', "types": ["Ingress"], "ingress": [
                        {"action": "Allow", "source": {"selector": 'app == "backend"'}}]}}


def test_replay_lists_exactly_the_flows_whose_verdict_changes(tmp_path: Path) -> None:
    resources = export(tmp_path / "shop.yaml", shop())
    flows = tmp_path / "flows.log"
    flows.write_text("".join(json.dumps(r) + "\n" for r in [
        flow_record(T0, F, D, 5432, "allow", [DENY_DB], flows=2),
        flow_record(T0 + 60, B, D, 5432, "allow", [ALLOW_DB]),
        flow_record(T0 + 120, X, F, 8080, "allow", []),
        flow_record(T0 + 180, B, F, 8080, "allow", []),
        {**flow_record(T0 + 240, F, D, 5432, "allow", [DENY_DB]), "source_ip": None},  # aggregated
    ]))
    change = export(tmp_path / "change.yaml", [FRONTEND_TO_DB, WEB_FROM_BACKEND])
    code, out, err = run_cli(["audit", "replay", "--resources", str(resources), "--with", str(change), "-o", "json",
                              str(flows)], datastore=None)
    assert code == 0, err
    report = json.loads(out)
    newly_allowed, newly_denied = report["newlyAllowed"], report["wouldBlock"]
    assert newly_allowed["flows"] == 2
    assert [(g["key"], g["flows"]) for g in newly_allowed["by"]["policy"]] == [("database-access [default]", 2)]
    assert [(g["key"], g["flows"]) for g in newly_denied["by"]["source"]] == [(OUTSIDE, 1)]
    assert [g["key"] for g in newly_denied["by"]["policy"]] == ["shop/web-from-backend [default]"]
    assert err.splitlines()[-1].endswith("5 flows replayed: 3 change verdict; not replayed: 1 without addresses "
                                         "(aggregated)")
    assert report["flowsRead"] == 6  # every flow read, not only those that change
    code, out, _ = run_cli(["audit", "replay", "--resources", str(resources), "--with", str(change), "--since",
                            str(T0 + 100), str(flows)], datastore=None)
    assert code == 0 and out.splitlines()[0] == "Flows read: 6 (3 outside the window)"
    code, out, _ = run_cli(["audit", "replay", "--resources", str(resources), "--without", "database-access",
                            "-o", "json", str(flows)], datastore=None)
    assert code == 0 and json.loads(out)["newlyAllowed"]["flows"] == 2 and json.loads(out)["wouldBlock"]["flows"] == 0
    code, out, err = run_cli(["audit", "replay", "--resources", str(resources), "--without", "nope", str(flows)],
                             datastore=None)
    assert code == 1 and "--without nope: no such policy" in out + err and "Traceback" not in out + err


def test_without_takes_the_name_the_report_prints(tmp_path: Path) -> None:
    """A Kubernetes NetworkPolicy is reported as `<namespace>/knp.default.<name>`: --without
    takes that name, and its own name, for the same change."""
    knp = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": "allow-frontend", "namespace": "shop"},
           "spec": {"podSelector": {"matchLabels": {"app": "frontend"}}, "policyTypes": ["Ingress"],
                    "ingress": [{"ports": [{"port": 8080, "protocol": "TCP"}]}]}}
    resources = export(tmp_path / "shop.yaml", shop(extra=[knp]))
    flows = tmp_path / "flows.log"
    flows.write_text(json.dumps(flow_record(T0, X, F, 8080, "allow", [])) + "\n")
    answers = []
    for name in ("shop/knp.default.allow-frontend", "shop/allow-frontend"):
        code, out, err = run_cli(["audit", "replay", "--resources", str(resources), "--without", name, "-o", "json",
                                  str(flows)], datastore=None)
        assert code == 0, err
        answers.append(json.loads(out))
    assert answers[0] == answers[1]
    base = from_files([str(resources)])
    for name in ("shop/knp.default.allow-frontend", "shop/allow-frontend"):
        after, unknown = changed(base, ResourceSet(()), (name,))
        assert unknown == []
        assert [identity(item) for item in base.items if item not in after.items] == [
            ("KubernetesNetworkPolicy", "shop", "allow-frontend")]
    code, out, err = run_cli(["audit", "replay", "--resources", str(resources), "--without", "allow-frontend",
                              str(flows)], datastore=None)
    assert (code, out, err) == (1, "", "audit replay: --without allow-frontend: no such policy\n")


def test_without_takes_the_tier_prefixed_name_flow_logs_carry(tmp_path: Path) -> None:
    """Flow log records name a policy `[<namespace>/]<tier>.<name>` (Calico's names before
    v3.30): --without takes that form for the policy <name> of that tier, as well as the name
    alone; a whole name that is a policy's own comes first."""
    tiered = [{"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "security"},
               "spec": {"order": 50}},
              {"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
               "metadata": {"name": "block-outside", "namespace": "shop"},
               "spec": {"tier": "security", "selector": "app == 'none'", "types": ["Ingress"]}},
              {"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",  # named with a dot since v3.30
               "metadata": {"name": "security.block-outside", "namespace": "data"},
               "spec": {"selector": "app == 'none'", "types": ["Ingress"]}}]
    resources = export(tmp_path / "shop.yaml", shop(extra=tiered))
    base = from_files([str(resources)])
    for name, removed in (("default.database-access", ("GlobalNetworkPolicy", None, "database-access")),
                          ("shop/security.block-outside", ("NetworkPolicy", "shop", "block-outside")),
                          ("data/security.block-outside", ("NetworkPolicy", "data", "security.block-outside"))):
        after, unknown = changed(base, ResourceSet(()), (name,))
        assert unknown == [] and [identity(item) for item in base.items if item not in after.items] == [removed]
    for wrong_tier in ("security.database-access", "shop/default.block-outside", "data/default.block-outside"):
        assert changed(base, ResourceSet(()), (wrong_tier,))[1] == [wrong_tier]
    flows = tmp_path / "flows.log"
    flows.write_text(json.dumps(flow_record(T0, F, D, 5432, "allow", [DENY_DB])) + "\n")
    answers = []
    for name in ("database-access", "default.database-access"):
        code, out, err = run_cli(["audit", "replay", "--resources", str(resources), "--without", name, "-o", "json",
                                  str(flows)], datastore=None)
        assert code == 0, err
        answers.append(json.loads(out))
    assert answers[0] == answers[1] and answers[0]["newlyAllowed"]["flows"] == 1


def test_a_what_if_whose_change_does_not_load_fails(tmp_path: Path) -> None:
    """A --with file that cannot be read, holds nothing, or holds a document that does not
    load is one line naming the file and the problem, exit 1, no answer."""
    resources = export(tmp_path / "shop.yaml", shop())
    flows = flows_file(tmp_path / "flows.log")
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "malformed.yaml").write_text("kind: [Tier\n")
    pod = export(tmp_path / "pod.yaml", [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}}])
    delete = export(tmp_path / "delete.yaml", [{**STAGED_DATABASE, "spec": {
        **STAGED_DATABASE["spec"], "stagedAction": "Delete"}}])
    bad = {tmp_path / "missing.yaml": "no such file or directory", tmp_path: "is a directory",
           tmp_path / "empty.yaml": "holds no resources", tmp_path / "malformed.yaml": "cannot parse YAML",
           pod: "resource 1 is a v1 Pod, not a kind policy replay uses",
           delete: "resource 1 (StagedGlobalNetworkPolicy database-access): "}
    for path, why in bad.items():
        code, out, err = run_cli(["audit", "replay", "--resources", str(resources), "--with", str(path), str(flows)],
                                 datastore=None)
        assert (code, out, len(err.splitlines())) == (1, "", 1), (path, out, err)
        assert err.startswith(f"audit replay: --with {path}: {why}"), err


def test_replay_against_the_staged_policies(tmp_path: Path) -> None:
    """Without --with or --without, the change replayed is promoting the staged policies:
    of the exported set, or of the datastore; a --with file's staged policies count as
    promoted; with nothing staged there is no change to replay."""
    flows = tmp_path / "flows.log"
    flows.write_text("".join(json.dumps(r) + "\n" for r in [
        flow_record(T0, F, D, 5432, "allow", [DENY_DB], flows=2),
        flow_record(T0 + 60, B, D, 5432, "allow", [ALLOW_DB]),
        flow_record(T0 + 120, X, F, 8080, "allow", []),
    ]))
    staged = export(tmp_path / "staged.yaml", shop(extra=[STAGED_DATABASE]))

    def replayed(*args: str, datastore: str | None = None) -> dict[str, Any]:
        code, out, err = run_cli(["audit", "replay", *args, "-o", "json", str(flows)], datastore=datastore)
        assert code == 0, err
        assert err.splitlines()[-1].endswith("4 flows replayed: 3 change verdict")
        return cast(dict[str, Any], json.loads(out))

    def groups(found: dict[str, Any], what: str, by: str) -> list[tuple[str, int]]:
        return [(g["key"], g["flows"]) for g in found[what]["by"][by]]

    for found in (replayed("--resources", str(staged)),
                  replayed("--resources", str(export(tmp_path / "shop.yaml", shop())), "--with",
                           str(export(tmp_path / "change.yaml", [STAGED_DATABASE])))):
        assert groups(found, "newlyAllowed", "source") == [("shop/frontend", 2)]
        assert groups(found, "wouldBlock", "source") == [("shop/backend", 1)]
        assert groups(found, "wouldBlock", "policy") == [("database-access [default]", 1)]

    store = f"sqlite:///{tmp_path / 'tortie.db'}"
    stored = [r for r in shop(extra=[STAGED_DATABASE]) if r["kind"] != "FelixConfiguration"]
    code, out, err = run_cli(["create", "-f", str(export(tmp_path / "stored.yaml", stored))], datastore=store)
    assert code == 0, out + err
    assert groups(replayed(datastore=store), "newlyAllowed", "source") == [("shop/frontend", 2)]

    code, out, err = run_cli(["audit", "replay", "--resources", str(tmp_path / "shop.yaml"), str(flows)],
                             datastore=None)
    assert (code, out + err) == (1, "audit replay: no policy is staged: stage one with tortie apply, or give "
                                    "--with FILE or --without NAME\n")


ENDPOINTS = [FRONTEND, BACKEND, DATABASE, OUTSIDE]


@settings(max_examples=examples(40), deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ENDPOINTS), st.sampled_from(ENDPOINTS), st.sampled_from(["tcp", "udp"]),
                          st.sampled_from([80, 5432, 8080, 9000])), min_size=1, max_size=12),
       st.sampled_from(["web", "api", "db"]), st.sampled_from(["Allow", "Deny"]), st.sampled_from([5432, 8080, 9000]),
       st.sampled_from(["TCP", "UDP"]))
def test_a_what_if_changes_exactly_the_flows_the_model_says(
        flows: list[tuple[str, str, str, int]], role: str, action: str, port: int, proto: str) -> None:
    from tortie.audit.flows import flow_of
    from tortie.audit.replay import ReplayCounts, replay
    from tortie.audit.resources import changed
    from tortie.calc import Calculator
    from tortie.config import settings_for
    from tortie.model import explain, plan_for

    policy = {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy", "metadata": {"name": "what-if"},
              "spec": {"order": 1, "selector": f'role == "{role}"', "types": ["Ingress"], "ingress": [
                  {"action": action, "protocol": proto, "destination": {"ports": [port]}}]}}
    base = ResourceSet(tuple(shop()))
    after, _ = changed(base, ResourceSet((policy,)))
    records = [flow_of(json.dumps(flow_record(T0, (s, "-", "-"), (d, "-", "-"), dport, "allow", [], proto=p,
                                              sport=40000 + n)).encode())
               for n, (s, d, p, dport) in enumerate(flows)]
    counts = ReplayCounts()
    found = {(f.source_ip, f.dest_ip, f.proto, f.dest_port) for f in
             replay(Cluster(base), Cluster(after), [r for r in records if r is not None], counts)}

    def verdict(resources: ResourceSet, s: str, d: str, p: str, dport: int, sport: int) -> Verdict:
        calc = Calculator(NODE)
        calc.load(resources.items)
        plan = plan_for(calc.view(), settings_for(NODE, {"dropActionOverride": "LogAndAccept"}))
        return explain(plan, s, d, 6 if p == "tcp" else 17, sport, dport)[1].verdict

    # the model's verdicts, node by node, for every flow an endpoint owns an end of
    expected = {(s, d, p, dport) for n, (s, d, p, dport) in enumerate(flows) if OUTSIDE not in (s, d) or s != d
                if verdict(base, s, d, p, dport, 40000 + n) != verdict(after, s, d, p, dport, 40000 + n)}
    assert found == expected


# --- recommend ---------------------------------------------------------------------------------

def test_recommend_names_peers_by_labels_and_merges_ports(tmp_path: Path) -> None:
    resources = export(tmp_path / "shop.yaml", shop())
    flows = tmp_path / "flows.log"
    flows.write_text("".join(json.dumps(r) + "\n" for r in [
        flow_record(T0, F, D, 5432, "allow", [DENY_DB], flows=3),
        *(flow_record(T0, X, F, port, "allow", []) for port in (8080, 8081, 8082, 443)),
        flow_record(T0, B, D, 5432, "deny", [DENY_DB]),  # dropped: never happened
    ]))
    code, out, err = run_cli(["recommend", "--namespace", "shop", "--resources", str(resources), str(flows)],
                             datastore=None)
    assert code == 0, err
    tier, backend, policy = out.split("---\n")
    assert yaml.safe_load(backend)["spec"] == {"stagedAction": "Set", "tier": "recommended", "types": [
        "Ingress", "Egress"], "selector": 'app == "backend" && role == "api"', "egress": [], "ingress": []}
    assert yaml.safe_load(tier) == {"apiVersion": "projectcalico.org/v3", "kind": "Tier",
                                    "metadata": {"name": "recommended"},
                                    "spec": {"order": 100000, "defaultAction": "Deny"}}
    assert policy.splitlines()[12:] == [
        "  egress:",
        "  # 3 flows",
        "  - action: Allow",
        "    destination:",
        '      namespaceSelector: projectcalico.org/name == "data"',
        "      ports:",
        "      - 5432",
        '      selector: app == "database" && role == "db"',
        "    protocol: TCP",
        "  ingress:",
        "  # 4 flows",
        "  - action: Allow",
        "    destination:",
        "      ports:",
        "      - 443",
        "      - 8080:8082",
        "    protocol: TCP",
        "    source:",
        "      nets:",
        f"      - {OUTSIDE}/32"]
    assert yaml.safe_load(policy)["spec"]["selector"] == 'app == "frontend" && role == "web"'
    assert err.splitlines()[-1].endswith("7 flows of 2 endpoint addresses in scope make 2 policies "
                                         "(1 flow without both addresses or dropped, left out)")
    code, out, err = run_cli(["recommend", "--selector", "app ==", "--resources", str(resources), str(flows)],
                             datastore=None)
    assert code == 1 and "recommend: --selector: " in out + err and "Traceback" not in out + err


def test_the_recommendation_validates_stages_and_promotes(tmp_path: Path) -> None:
    """The recommended YAML as it is: tortie validate -f accepts it, tortie apply -f stages
    it, audit replay then finds the recorded frontend flows newly allowed, and tortie promote
    enforces a policy of it."""
    store = f"sqlite:///{tmp_path / 'tortie.db'}"
    resources = export(tmp_path / "shop.yaml", [r for r in shop() if r["kind"] != "FelixConfiguration"])
    assert run_cli(["create", "-f", str(resources)], datastore=store)[0] == 0
    flows = tmp_path / "flows.log"
    flows.write_text("".join(json.dumps(r) + "\n" for r in [
        flow_record(T0, F, D, 5432, "allow", [DENY_DB], flows=3), flow_record(T0, B, D, 5432, "allow", [ALLOW_DB])]))
    code, out, err = run_cli(["recommend", "-n", "data", str(flows)], datastore=store)
    assert code == 0, err
    recommended = tmp_path / "recommended.yaml"
    recommended.write_text(out)
    for command in ("validate", "apply"):
        code, out, err = run_cli([command, "-f", str(recommended)], datastore=store)
        assert code == 0, out + err
    assert out.splitlines() == ["Successfully applied 2 resource(s)"]
    code, out, err = run_cli(["audit", "replay", "-o", "json", str(flows)], datastore=store)
    assert code == 0, err
    found = json.loads(out)
    assert [(g["key"], g["flows"]) for g in found["newlyAllowed"]["by"]["source"]] == [("shop/frontend", 3)]
    assert found["wouldBlock"]["flows"] == 0
    code, out, err = run_cli(["promote", "snp", "recommended.app-database-role-db", "-n", "data"], datastore=store)
    assert (code, out) == (0, "Successfully promoted StagedNetworkPolicy(data/recommended.app-database-role-db): "
                              "created NetworkPolicy(data/recommended.app-database-role-db)\n"), err


def test_recommend_refuses_options_its_policies_would_not_validate_with(tmp_path: Path) -> None:
    resources = export(tmp_path / "shop.yaml", shop())
    flows = flows_file(tmp_path / "flows.log")
    for options, line in (
            (["--tier", "Bad_Tier"], "recommend: --tier: Metadata.Name = 'Bad_Tier' (name must consist of "),
            (["--tier", "default"], "recommend: --order: TierSpec.Order = '100000' (default tier order must be 1e+06)"),
            (["--order", "nan"], "recommend: --order: nan is not a finite number"),
            (["-n", "Bad_NS"], "recommend: --namespace: 'Bad_NS' is not a namespace name")):
        namespace = [] if "-n" in options else ["-n", "shop"]
        code, out, err = run_cli(["recommend", "--resources", str(resources), *namespace, *options, str(flows)],
                                 datastore=None)
        assert (code, out, len(err.splitlines())) == (1, "", 1) and err.startswith(line), err
    code, out, err = run_cli(["recommend", "--resources", str(resources), "-n", "shop", "--order", "-5", str(flows)],
                             datastore=None)  # Calico's Tier order is any number
    assert code == 0 and yaml.safe_load(out.split("---\n")[0])["spec"]["order"] == -5, err


NAME_TEXT = st.text(alphabet="ab-._Z9", min_size=0, max_size=70)


@settings(max_examples=examples(40), deadline=None)
@given(st.one_of(st.just("recommended"), st.sampled_from(["default", "kube-admin"]), NAME_TEXT),
       st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 2_000_000).map(float)),
       st.one_of(st.sampled_from(["shop", "data"]), NAME_TEXT))
def test_recommend_options_are_refused_or_the_recommendation_validates(tier: str, order: float,
                                                                      namespace: str) -> None:
    """Whatever --tier, --order and --namespace say, recommend either refuses them (one line
    naming the option, exit 1, nothing on standard output) or writes YAML that tortie
    validate -f accepts whole."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        resources = export(Path(tmp) / "shop.yaml", shop())
        flows = flows_file(Path(tmp) / "flows.log")
        code, out, err = run_cli(["recommend", "--resources", str(resources), "--tier", tier, "--order", repr(order),
                                  "-n", namespace, str(flows)], datastore=None)
        if code:
            assert out == "" and len(err.splitlines()) == 1, err
            assert re.match(r"recommend: --(tier|order|namespace): ", err), err
            return
        recommended = Path(tmp) / "recommended.yaml"
        recommended.write_text(out)
        code, out, err = run_cli(["validate", "-f", str(recommended)], datastore=None)
        assert code == 0 and out.startswith("Successfully validated"), (tier, order, namespace, out + err)


FLOW = st.tuples(st.sampled_from(ENDPOINTS), st.sampled_from(ENDPOINTS), st.sampled_from(["tcp", "udp"]),
                 st.sampled_from([53, 80, 81, 82, 5432, 8080]))


@settings(max_examples=examples(30), deadline=None)
@given(st.lists(FLOW, min_size=1, max_size=10), st.lists(FLOW, max_size=10))
def test_the_recommendation_allows_the_flows_and_nothing_else(
        seen: list[tuple[str, str, str, int]], probes: list[tuple[str, str, str, int]]) -> None:
    """Replayed against the resources with the recommendation staged, every recorded flow's
    pending verdict is allow, and any other flow between the same endpoints is denied."""
    import tempfile

    from tortie.audit.flows import flow_of
    from tortie.audit.recommend import in_scope, recommend, to_documents
    from tortie.audit.replay import packet_of_flow

    seen = [f for f in seen if f[0] != f[1]]  # an endpoint's traffic to itself never reaches the host
    base = Cluster(ResourceSet(tuple(shop())))
    records = [flow_of(json.dumps(flow_record(T0, (s, "-", "-"), (d, "-", "-"), port, "allow", [], proto=p))
                       .encode()) for s, d, p, port in seen]
    flows = [r for r in records if r is not None]
    text = to_documents(recommend(base, flows, in_scope(base, None, "all()")))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "recommended.yaml").write_text(text)
        recommended = from_files([str(export(Path(tmp) / "shop.yaml", shop())), str(Path(tmp) / "recommended.yaml")])
    assert recommended.problems == ()  # every policy validates
    after = Cluster(recommended).pending
    for flow in flows:
        packet = packet_of_flow(flow)
        assert packet is not None
        judged = after.judge(packet)
        assert judged is not None and judged.verdict is Verdict.ALLOW, (flow, judged)
    shown = {(s, d, p, port) for s, d, p, port in seen}
    for s, d, p, port in probes:
        if (s, d, p, port) in shown or s == d:
            continue
        judged = after.judge(Packet(s, d, 6 if p == "tcp" else 17, 40000, port))
        assert judged is not None and judged.verdict is Verdict.DENY, (s, d, p, port)
