"""What tortie reads besides resources: config files, datastore URLs and command options.
Each is refused with one line naming what is wrong, before anything is created or written."""

from __future__ import annotations

import json
import resource
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tortie.agent.health import HealthServer
from tortie.config import effective_config
from tortie.core import MAX_CONFIG_FILE, read_bounded
from tortie.logs import parse_line
from tortie.logs.fast import parse_fast_line
from tortie.store import InvalidURLError, UnavailableError, open_store, parse_datastore_url, resolve_datastore

from .cli import TORTIE, run_cli

MEMORY_CAP = 2 << 30  # bytes of address space: a reader that does not stop fails here, not the machine


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _tortie_capped(*args: str, datastore: str | None) -> tuple[int, str]:
    """The console script under a memory cap: (exit status, stdout + stderr)."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **({"TORTIE_DATASTORE": datastore} if datastore else {})}
    proc = subprocess.run([TORTIE, *args], env=env, capture_output=True, text=True, timeout=120, preexec_fn=_capped)
    return proc.returncode, proc.stdout + proc.stderr


# --- every config file is read within a bound -------------------------------------------------

def test_explain_with_an_endless_agent_config_file_is_refused_in_one_line(tmp_path: Path) -> None:
    code, out = _tortie_capped("explain", "--node", "n1", "--src", "10.0.0.1:1234", "--dst", "1.2.3.4", "--proto",
                               "TCP", "--config-file", "/dev/zero", datastore=f"sqlite://{tmp_path}/t.db")
    assert (code, out) == (1, "Failed to execute command: config file /dev/zero: cannot read: larger than 1 MiB\n")


@pytest.mark.parametrize("args", [("config", "show", "--node", "n1", "--config-file", "/dev/zero"),
                                  ("get", "gnp", "-c", "/dev/zero")])
def test_every_command_reads_an_endless_config_file_within_the_bound(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, out = _tortie_capped(*args, datastore=f"sqlite://{tmp_path}/t.db")
    assert code == 1 and out.count("\n") == 1 and "/dev/zero" in out and "larger than 1 MiB" in out, out


def test_read_bounded_takes_the_limit_and_refuses_a_byte_more(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * MAX_CONFIG_FILE)
    assert len(read_bounded(str(path))) == MAX_CONFIG_FILE
    path.write_bytes(b"x" * (MAX_CONFIG_FILE + 1))
    with pytest.raises(OSError, match="larger than 1 MiB"):
        read_bounded(str(path))
    with pytest.raises(OSError, match="larger than 4 KiB"):
        read_bounded("/dev/zero", 4096)


def test_an_endless_etcd_tls_file_is_refused_before_connecting() -> None:
    with pytest.raises(UnavailableError, match="cannot read /dev/zero: larger than 1 MiB"):
        open_store("etcds://127.0.0.1:1", {"ETCD_CA_CERT_FILE": "/dev/zero"})


def _failed(args: list[str], datastore: str | None) -> tuple[int, str]:
    """(exit status, standard error) of a command that must fail with nothing on stdout."""
    code, out, err = run_cli(args, datastore=datastore)
    assert out == "", out
    return code, err


# --- an agent config file named on the command line must be readable ---------------------------

@pytest.mark.parametrize("command", [["config", "show", "--node", "n1"],
                                     ["explain", "--node", "n1", "--src", "10.0.0.1", "--dst", "10.0.0.2",
                                      "--proto", "TCP"]])
def test_a_named_agent_config_file_that_cannot_be_read_is_an_error(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "bin.cfg").write_bytes(b"\xff\xfe\x00binary")
    for name, why in (("missing.cfg", "does not exist"), (".", "cannot read: Is a directory"),
                      ("bin.cfg", "not UTF-8 text (invalid byte at offset 0)")):
        path = tmp_path / name
        assert _failed([*command, "--config-file", str(path)], datastore=f"sqlite://{tmp_path}/t.db") == (
            1, f"Failed to execute command: config file {path}: {why}\n")


# --- the client config file wins over the environment, as calicoctl's -----------------------------

def test_an_explicit_client_config_file_wins_over_tortie_datastore(tmp_path: Path) -> None:
    cfg = tmp_path / "c.cfg"
    cfg.write_text(f"datastore: sqlite://{tmp_path}/c.db\n")
    code, _, _ = run_cli(["get", "gnp", "-c", str(cfg)], datastore=f"sqlite://{tmp_path}/rt.db")
    assert code == 0 and (tmp_path / "c.db").exists() and not (tmp_path / "rt.db").exists()
    env = {"TORTIE_DATASTORE": "sqlite:///env.db"}
    assert resolve_datastore(None, env, str(cfg)) == f"sqlite://{tmp_path}/c.db"
    assert resolve_datastore("sqlite:///flag.db", env, str(cfg)) == "sqlite:///flag.db"
    assert resolve_datastore(None, env) == "sqlite:///env.db"  # the default file does not exist here
    with pytest.raises(UnavailableError, match="does not exist"):
        resolve_datastore(None, env, str(tmp_path / "missing.cfg"))


# --- a datastore URL that can never work names its wrong part ------------------------------------

def test_datastore_urls_that_can_never_work_name_the_wrong_part(tmp_path: Path) -> None:
    cases = {
        "bogus://": "unsupported datastore URL scheme 'bogus' in 'bogus://': expected sqlite:// or etcd://",
        f"sqlite://{tmp_path}": f"invalid datastore URL 'sqlite://{tmp_path}': {tmp_path} is a directory, not a file",
        f"sqlite://{tmp_path}/no/t.db": f"datastore directory does not exist: {tmp_path}/no",
        f"sqlite://{tmp_path}/t.db?lock_timeout=-1": f"invalid lock_timeout in datastore URL "
                                                     f"'sqlite://{tmp_path}/t.db?lock_timeout=-1': expected seconds "
                                                     "(0 or more)",
        "etcd://host:99999": "invalid datastore URL 'etcd://host:99999': endpoint 'host:99999': port '99999' is not "
                             "1-65535",
        "etcd://[::1": "invalid datastore URL 'etcd://[::1': endpoint '[::1' is not [IPv6]:PORT",
        "etcd://h:2379,h2": "invalid datastore URL 'etcd://h:2379,h2': endpoint 'h2' is not HOST:PORT (an IPv6 "
                            "address goes in brackets)",
        "etcd://:80": "invalid datastore URL 'etcd://:80': endpoint ':80' has no valid host",
    }
    for url, message in cases.items():
        with pytest.raises(InvalidURLError) as caught:
            parse_datastore_url(url)
        assert str(caught.value) == message
        assert _failed(["get", "gnp"], datastore=url) == (1, f"Failed to create Calico API client: {message}\n")
    for url in ("etcd://[::1]:2379", "etcd://unix:/run/x.sock", "etcds://a:1,b.example:65535",
                f"sqlite://{tmp_path}/t.db?lock_timeout=0.5"):
        parse_datastore_url(url)


def test_the_agent_refuses_a_datastore_url_that_can_never_work(tmp_path: Path) -> None:
    for url, why in (("bogus://", "unsupported datastore URL scheme 'bogus'"),
                     (f"sqlite://{tmp_path}/no/t.db", "datastore directory does not exist")):
        code, out = _tortie_capped("--datastore", url, "agent", "--node", "x", datastore=None)
        assert code == 1 and out.startswith("Failed to start the agent: ") and why in out, out
        assert out.count("\n") == 1, out


# --- store migrate reads from a store that exists ------------------------------------------------

def test_store_migrate_from_a_missing_sqlite_file_copies_nothing_and_creates_nothing(tmp_path: Path) -> None:
    source, target = tmp_path / "nonexist.db", tmp_path / "m2.db"
    assert _failed(["store", "migrate", "--from", f"sqlite://{source}", "--to", f"sqlite://{target}"],
                   datastore=None) == (1, f"Failed to migrate: datastore {source} does not exist\n")
    assert not source.exists() and not target.exists()


# --- explain refuses a packet no kernel sees ------------------------------------------------------

EXPLAIN = ["explain", "--node", "n1", "--config-file", "/dev/null", "--src", "10.0.0.1"]
CONTRADICTIONS = {
    ("--dst", "1.2.3.4", "--proto", "TCP", "--icmp-type", "3"): "Invalid value for --icmp-type: TCP is not ICMP or "
                                                                "ICMPv6",
    ("--dst", "1.2.3.4", "--proto", "UDP", "--icmp-code", "0"): "Invalid value for --icmp-code: UDP is not ICMP or "
                                                                "ICMPv6",
    ("--dst", "1.2.3.4:80", "--proto", "ICMP"): "Invalid value for --dst: ICMP has no ports: give the address alone",
    ("--dst", "1.2.3.4", "--proto", "47", "--src", "10.0.0.1:9"): "Invalid value for --src: 47 has no ports: give "
                                                                  "the address alone",
    ("--dst", "1.2.3.4", "--proto", "ICMPv6"): "Invalid value for --proto: ICMPv6 is for IPv6; the addresses are IPv4",
    ("--dst", "2001:db8::2", "--proto", "ICMP", "--src", "2001:db8::1"): "Invalid value for --proto: ICMP is for "
                                                                         "IPv4; the addresses are IPv6",
    ("--dst", "1.2.3.4", "--proto", "ICMP", "--icmp-code", "3"): "Invalid value for --icmp-code: a code needs its "
                                                                 "--icmp-type",
    ("--dst", "1.2.3.4", "--proto", "TCP", "--external-iface", ""): "Invalid value for --external-iface: '' is not "
                                                                    "an interface name",
    ("--dst", "1.2.3.4", "--proto", "TCP", "--node", ""): "Invalid value for --node: a node name cannot be empty",
}


def test_explain_refuses_contradictory_options_in_one_line_each(tmp_path: Path) -> None:
    for args, message in CONTRADICTIONS.items():
        assert _failed([*EXPLAIN, *args], datastore=f"sqlite://{tmp_path}/t.db") == (1, message + "\n"), args
    assert _failed(["config", "show", "--node", ""], datastore=f"sqlite://{tmp_path}/t.db") == (
        1, "Invalid value for --node: a node name cannot be empty\n")
    code, out, _ = run_cli([*EXPLAIN, "--dst", "1.2.3.4", "--proto", "ICMP", "--icmp-type", "8", "--icmp-code", "0"],
                           datastore=f"sqlite://{tmp_path}/t.db")
    assert code == 0 and out.startswith("ICMP 10.0.0.1 -> 1.2.3.4 (new) on node n1"), out


# --- audit and recommend: the window and the inputs -----------------------------------------------

@pytest.mark.parametrize("command", [["audit", "report"], ["audit", "replay"], ["recommend", "-n", "shop"]])
def test_an_empty_window_and_an_impossible_year_are_refused(tmp_path: Path, command: list[str]) -> None:
    store = f"sqlite://{tmp_path}/t.db"
    assert run_cli([*command, "--since", "1h", "--until", "2h"], datastore=store, stdin="") == (
        1, "", "--since 1h is after --until 2h: the window holds no time\n")
    for year in ("0", "-1", "99999"):
        assert run_cli([*command, "--year", year], datastore=store, stdin="") == (
            1, "", f"Invalid value for '--year': {year} is not in the range 1970<=x<=9999.\n")


def test_audit_replay_of_a_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nonexist.log"
    assert run_cli(["audit", "replay", str(missing)], datastore=f"sqlite://{tmp_path}/t.db") == (
        1, "", f"audit replay: {missing}: no such file\n")


# --- Felix's port ranges: 0 is a port the OS chooses ----------------------------------------------

def test_health_and_metrics_port_0_are_taken_as_felix_takes_them() -> None:
    """felix/config/config_params.go: HealthPort and PrometheusMetricsPort are int(0:65535)."""
    config = effective_config("n1", env={"FELIX_HEALTHPORT": "0", "FELIX_PROMETHEUSMETRICSPORT": "0"})
    assert config.problems == ()
    assert config.settings["healthPort"].value == config.settings["prometheusMetricsPort"].value == 0
    server = HealthServer(lambda: {"live": True})
    server.configure(True, "127.0.0.1", config.typed.health_port)
    try:
        port = server._listener.port  # noqa: SLF001 - the port the OS chose
        assert port is not None and port > 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=30) as answer:
            assert answer.status == 200
    finally:
        server.stop()
    refused = effective_config("n1", env={"FELIX_HEALTHPORT": "65536"})
    assert [p.reason for p in refused.problems] == ["must be 0-65535"]


DROP_LINE = ("2026-11-30T18:05:49.626711+00:00 vm kernel: [27949.177135] calico-drop: IN=cali1 OUT=cali2 "
             "MAC=ee:ee:ee:ee:ee:ee:1a:e5:80:cd:80:34:08:00 SRC=198.18.10.10 DST=198.18.20.30 LEN=60 TOS=0x00 "
             "PREC=0x00 TTL=63 ID=15567 DF PROTO=TCP SPT=41086 DPT=5432 WINDOW=64240 RES=0x00 SYN URGP=0\n")


def test_audit_report_names_the_node_given_for_kernel_lines_not_the_syslog_host(tmp_path: Path) -> None:
    def node_of(*args: str) -> object:
        code, out, _ = run_cli(["audit", "report", *args, "-o", "json"], datastore=f"sqlite://{tmp_path}/t.db",
                               stdin=DROP_LINE)
        assert code == 0, out
        return json.loads(out)["wouldBlock"]["by"]["policy"][0]["example"]["node"]
    assert node_of("--node", "node-a") == "node-a"
    assert node_of() == "vm"


# --- a LOG line's numbers are as wide as the header fields they print ------------------------------

V4 = "IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL={ttl} ID={id} DF PROTO="
TCP_LINE = V4 + "TCP SPT={spt} DPT=80 SEQ={seq} ACK=1 WINDOW={window} RES=0x00 SYN URGP={urgp}"
LARGEST = {  # field of TCP_LINE -> the largest value its header field holds
    "spt": 65535, "seq": 2**32 - 1, "window": 65535, "urgp": 65535, "ttl": 255, "id": 65535}
RECORD_NAME = {"spt": "spt", "seq": "tcp_seq", "window": "window", "urgp": "urgp", "ttl": "ttl", "id": "ip_id"}


@pytest.mark.parametrize("field", sorted(LARGEST))
def test_a_number_wider_than_its_field_does_not_read(field: str) -> None:
    values = {"ttl": 64, "id": 1, "spt": 1234, "seq": 5, "window": 1, "urgp": 0}
    largest = "kernel: calico-drop: " + TCP_LINE.format(**{**values, field: LARGEST[field]})
    record = parse_line(largest)
    assert record is not None and getattr(record, RECORD_NAME[field]) == LARGEST[field] and not record.partial
    assert parse_fast_line(largest) == record
    too_wide = "kernel: calico-drop: " + TCP_LINE.format(**{**values, field: LARGEST[field] + 1})
    record = parse_line(too_wide)
    token = f"{'ID' if field == 'id' else field.upper()}={LARGEST[field] + 1}"
    assert record is not None and getattr(record, RECORD_NAME[field]) is None and token in record.extra
    assert parse_fast_line(too_wide) is None  # the token parser decides, as for any value that does not read


def test_logs_parse_does_not_pass_a_port_no_packet_can_carry() -> None:
    line = "kernel: calico-drop: " + TCP_LINE.format(ttl=64, id=1, spt=99999, seq=5, window=1, urgp=0) + "\n"
    code, out, err = run_cli(["logs", "parse", "-o", "json"], datastore=None, stdin=line)
    parsed = json.loads(out)
    assert code == 0 and "spt" not in parsed and parsed["extra"] == ["SPT=99999"] and parsed["partial"] is True, out
    assert err == "logs parse: 1 line: 1 LOG line (1 cut short), 0 skipped\n"
