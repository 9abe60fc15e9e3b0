"""A write tortie refuses writes nothing, and what it writes is strict JSON every reader takes;
YAML numbers read as calicoctl reads them (sigs.k8s.io/yaml over go-yaml v2)."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli import run_cli
from tortie.ctl.main import cli
from tortie.datastore.stored import StoredResource, decode_stored
from tortie.resources.yamlcodec import _STRING, resolve_plain
from tortie.store import KeyValue

POLICY = ("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: a}\n"
          "spec: {selector: all()%s}\n")


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/t.db"
    (tmp_path / "ok.yaml").write_text(POLICY % "")
    assert run_cli(["create", "-f", str(tmp_path / "ok.yaml")], datastore=url)[0] == 0
    return url


def _contents(url: str) -> list[str]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        return list(db.iterdump())


def _fails_writing_nothing(url: str, args: list[str]) -> str:
    before = _contents(url)
    code, out, err = run_cli(args, datastore=url)
    assert code == 1, out
    assert len((out + err).strip().splitlines()) == 1, out + err
    assert _contents(url) == before
    return out + err


NON_FINITE_YAML = [".nan", ".NaN", ".inf", "-.inf", "+.INF", "!!float .nan"]


@pytest.mark.parametrize("verb", ["create", "apply", "replace", "validate"])
@pytest.mark.parametrize("value", NON_FINITE_YAML)
def test_a_non_finite_yaml_number_is_refused_before_anything_is_written(
        store: str, tmp_path: Path, verb: str, value: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(POLICY % f", order: {value}")
    out = _fails_writing_nothing(store, [verb, "-f", str(bad)])
    assert "is not a finite number" in out and "line 4" in out


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_a_patch_with_a_non_finite_number_writes_nothing(store: str, value: str) -> None:
    out = _fails_writing_nothing(store, ["patch", "gnp", "a", "-p", '{"spec":{"order":%s}}' % value])
    assert ("is not JSON" in out) or ("spec.order" in out and "out of range" in out), out


@pytest.mark.parametrize("value, stored", [("1e308", "1e+308"), ("-1e308", "-1e+308"), ("1e20", "100000000000000000000"),
                                           ("1e21", "1e+21"), ("2.5", "2.5")])
def test_a_large_finite_order_is_stored_as_go_writes_it(store: str, value: str, stored: str) -> None:
    code, out, _ = run_cli(["patch", "gnp", "a", "-p", '{"spec":{"order":%s}}' % value], datastore=store)
    assert code == 0, out
    code, out, _ = run_cli(["get", "gnp", "a", "-o", "json"], datastore=store)
    assert code == 0 and json.loads(out)["spec"]["order"] == float(value)
    with sqlite3.connect(store.removeprefix("sqlite:///")) as db:
        (row,) = db.execute("SELECT value FROM kv WHERE key LIKE '%/globalnetworkpolicies/a'").fetchone()
    assert f'"order":{stored},'.encode() in row


def _all_stored_values_decode(url: str) -> None:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        for key, value in db.execute("SELECT key, value FROM kv WHERE key LIKE '/calico/resources/%'"):
            assert isinstance(decode_stored(KeyValue(key, value, 1, 1, 1)), StoredResource), value


NUMBER_TEXT = st.one_of(
    st.floats().map(lambda f: json.dumps(f)),  # NaN, Infinity and every finite float
    st.integers(min_value=-(10 ** 400), max_value=10 ** 400).map(str),
    st.builds(lambda m, e: f"{m}e{e}", st.integers(-99, 99), st.integers(-400, 400)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=NUMBER_TEXT)
def test_a_failed_patch_never_changes_the_store_and_a_written_value_always_reads(store: str, order: str) -> None:
    before = _contents(store)
    code, out, _ = run_cli(["patch", "gnp", "a", "-p", '{"spec":{"order":%s}}' % order], datastore=store)
    if code != 0:
        assert _contents(store) == before, out
    _all_stored_values_decode(store)


# go-yaml v2's resolution of plain scalars (sigs.k8s.io/yaml goyaml.v2/resolve.go).
@pytest.mark.parametrize("text, value", [
    ("1e3", 1000.0), ("1.5e3", 1500.0), ("8e1", 80.0), ("1e100", 1e100), ("0x10", 16), ("0X1f", 31), ("0o17", 15),
    ("017", 15), ("08", 8.0), ("0b101", 5), ("-0b101", -5), ("1_000", 1000), ("+1", 1), (".5", 0.5), ("-.5", -0.5),
    ("1.", 1.0), ("+.5e-3", 0.0005), ("18446744073709551615", 2 ** 64 - 1), ("18446744073709551616", 2.0 ** 64),
    ("yes", True), ("No", False), ("on", True), ("OFF", False), ("~", None), ("", None), ("y", _STRING), ("N", _STRING),
])
def test_plain_scalars_resolve_as_go_yaml_resolves_them(text: str, value: object) -> None:
    got = resolve_plain(text)
    assert got is value if value is _STRING else (got == value and type(got) is type(value))


@pytest.mark.parametrize("text", ["1e400", "0x", "1e", "-", "10:20", "1.2.3", "._5", ".5_0", "0x1p3", "abc", "-0x1" + "0" * 20])
def test_plain_scalars_that_are_strings_to_go_yaml(text: str) -> None:
    assert resolve_plain(text) is _STRING


def _spellings(n: int) -> st.SearchStrategy[str]:
    digits = str(n)
    return st.sampled_from([
        digits, f"+{digits}", hex(n), f"0o{n:o}", bin(n), f"0{n:o}" if n else "0", f"{digits}.0", f"{n}e0",
        f"{n * 10}e-1", f"{digits[:1]}_{digits[1:]}" if len(digits) > 1 else digits,
        f"{digits[:1]}.{digits[1:]}e{len(digits) - 1}" if len(digits) > 1 else f"{digits}e0"])


@given(st.integers(0, 65535).flatmap(lambda n: st.tuples(st.just(n), _spellings(n))))
def test_every_go_yaml_spelling_of_a_number_reads_as_that_number(case: tuple[int, str]) -> None:
    n, text = case
    value = resolve_plain(text)
    assert value is not _STRING and isinstance(value, (int, float)) and value == n, text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_in_exponent_form_reads_as_that_float(f: float) -> None:
    for text in (repr(f), f"{f:e}".replace("e+", "e"), f"{f:.17e}"):
        value = resolve_plain(text)
        assert type(value) is float and (value == float(text) or math.isnan(value)), text


def test_a_port_spelled_8e1_is_port_80_as_calicoctl_reads_it(store: str, tmp_path: Path) -> None:
    doc = tmp_path / "pp.yaml"
    doc.write_text("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: pp}\n"
                   "spec:\n  order: 1e3\n  ingress:\n  - action: Deny\n    protocol: TCP\n"
                   "    destination: {ports: [8e1, 0x1bb]}\n")
    code, out, _ = run_cli(["create", "-f", str(doc)], datastore=store)
    assert code == 0, out
    spec = json.loads(run_cli(["get", "gnp", "pp", "-o", "json"], datastore=store)[1])["spec"]
    assert spec["order"] == 1000 and spec["ingress"][0]["destination"]["ports"] == [80, 443]


NOT_UTF8 = b"\xffname".decode("utf-8", "surrogateescape")  # what Python hands over for such a byte
# One invocation per command, the non-UTF-8 argument where a name goes.
NAME_ARGS = {
    "agent": ["agent", "--node", NOT_UTF8], "apply": ["apply", "-f", "x.yaml", "-n", NOT_UTF8],
    "audit": ["audit", "report", "--node", NOT_UTF8], "config": ["config", "show", "--node", NOT_UTF8],
    "create": ["create", "-f", "x.yaml", "-n", NOT_UTF8], "delete": ["delete", "gnp", NOT_UTF8],
    "explain": ["explain", "--node", NOT_UTF8, "--src", "10.0.0.1:1234", "--dst", "1.2.3.4", "--proto", "TCP"],
    "get": ["get", "gnp", NOT_UTF8], "lab": ["lab", "probe", NOT_UTF8, "b"],
    "label": ["label", "gnp", NOT_UTF8, "a=b"], "logs": ["logs", "explain", "--node", NOT_UTF8],
    "patch": ["patch", "gnp", NOT_UTF8, "-p", "{}"], "promote": ["promote", "snp", "x", "-n", NOT_UTF8],
    "recommend": ["recommend", "-n", NOT_UTF8], "replace": ["replace", "-f", "x.yaml", "-n", NOT_UTF8],
    "store": ["store", "migrate", "--from", NOT_UTF8, "--to", NOT_UTF8], "validate": ["validate", "-f", "x.yaml", NOT_UTF8],
    "version": ["version", "--poll", NOT_UTF8],
}


def test_every_command_is_named_in_the_non_utf8_table() -> None:
    assert set(cli.list_commands(click.Context(cli))) == set(NAME_ARGS)


@pytest.mark.parametrize("command", sorted(NAME_ARGS))
def test_a_non_utf8_argument_is_one_line_and_exit_1_for_every_command(store: str, command: str) -> None:
    out = _fails_writing_nothing(store, NAME_ARGS[command])
    assert "Traceback" not in out and ("not UTF-8" in out or "\\udcff" in out or "\\xff" in out), out


def test_a_usage_error_shows_a_non_utf8_file_name_escaped(store: str) -> None:
    code, out, _ = run_cli(["logs", "parse", "--no-such", NOT_UTF8], datastore=store)
    assert code == 1 and "\\xffname" in out


def test_a_non_utf8_file_name_is_still_a_file_name(store: str, tmp_path: Path) -> None:
    odd = Path(bytes(tmp_path).decode() + "/" + NOT_UTF8 + ".yaml")
    odd.write_text(POLICY.replace("name: a", "name: b") % "")
    code, out, _ = run_cli(["create", "-f", str(odd)], datastore=store)
    assert code == 0, out
    assert run_cli(["get", "gnp", "b"], datastore=store)[0] == 0


def test_validate_refuses_a_resource_too_large_to_store_as_create_does(store: str, tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_text(POLICY.replace("all()", " || ".join(["a == 'x'"] * 200000)) % "")
    for verb in ("validate", "create"):
        out = _fails_writing_nothing(store, [verb, "-f", str(huge)])
        assert "the limit is 1572864 bytes" in out, out


@pytest.mark.parametrize("text", ["1e3", "8e1", "08", "0o17", "1_000", ".5", "+1", "0x10", "yes", "1e400"])
def test_a_string_that_reads_as_a_number_is_written_quoted_and_reads_back(text: str) -> None:
    from tortie.resources.codec import parse_documents, to_yaml
    assert parse_documents(to_yaml({"value": text})) == [{"value": text}]
