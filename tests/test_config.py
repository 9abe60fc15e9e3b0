"""Effective configuration: precedence, file and environment parsing, bad values per source."""

from __future__ import annotations

from pathlib import Path

import pytest

from tortie.config import (EffectiveConfig, FailsafePort, Marks, effective_config, environment_values, node_name,
                           parse_text, read_config_file)
from tortie.core import TCP, DropActionOverride
from tortie.resources import PARAMETERS


def _value(cfg: EffectiveConfig, name: str) -> object:
    return cfg.settings[name].value


def test_defaults_come_from_the_parameter_table() -> None:
    cfg = effective_config("n1", env={})
    assert _value(cfg, "dropActionOverride") == "Drop"
    assert _value(cfg, "iptablesMarkMask") == 0xFFFF0000
    assert _value(cfg, "failsafeInboundHostPorts")[0] == {"protocol": "TCP", "port": 22}  # type: ignore[index]
    assert cfg.typed.iptables_refresh_interval == 90
    assert all(s.source == "default value" for s in cfg.settings.values())
    assert set(cfg.settings) == set(PARAMETERS)


def test_typed_settings_are_built_once() -> None:
    cfg = effective_config("n1", {"dropActionOverride": "LogAndAccept", "interfacePrefix": "cali,tap",
                                  "interfaceExclude": "kube-ipvs0,/^veth/", "logActionRateLimit": "5/minute"}, env={})
    typed = cfg.typed
    assert typed is cfg.typed
    assert typed.drop_action_override is DropActionOverride.LOG_AND_ACCEPT and typed.drop_action_override.accepts
    assert typed.interface_prefixes == ("cali", "tap") and typed.is_workload_interface("tap0")
    assert typed.interface_exclude.matches("veth12") and not typed.interface_exclude.matches("eth0")
    assert typed.interface_exclude.expand(["veth1", "eth0", "veth0"]) == ("kube-ipvs0", "veth0", "veth1")
    assert typed.failsafe_inbound[0] == FailsafePort(TCP, 22)
    assert typed.marks == Marks.from_mask(0xFFFF0000)
    assert (typed.log_rate_limit.rate, typed.log_rate_limit.burst) == ("5/minute", 5)  # type: ignore[union-attr]


def test_precedence(tmp_path: Path) -> None:
    cfg_file = tmp_path / "felix.cfg"
    cfg_file.write_text("[global]\nLogPrefix = from-file\nDropActionOverride = LogAndDrop\n")
    cfg = effective_config(
        "n1",
        {"dropActionOverride": "Accept", "logPrefix": "from-default", "healthPort": 1000, "ipv6Support": False},
        {"dropActionOverride": "LogAndAccept", "healthPort": 2000},
        read_config_file(str(cfg_file)),
        {"FELIX_DROPACTIONOVERRIDE": "drop", "felix_healthenabled": "yes"},
    )
    assert (_value(cfg, "dropActionOverride"), cfg.settings["dropActionOverride"].source) == (
        "Drop", "env FELIX_DROPACTIONOVERRIDE")
    assert (_value(cfg, "logPrefix"), cfg.settings["logPrefix"].source) == ("from-file", f"file {cfg_file}")
    assert (_value(cfg, "healthPort"), cfg.settings["healthPort"].source) == (2000, "FelixConfiguration node.n1")
    assert (_value(cfg, "ipv6Support"), cfg.settings["ipv6Support"].source) == (False, "FelixConfiguration default")
    assert _value(cfg, "healthEnabled") is True
    assert cfg.problems == ()


@pytest.mark.parametrize("name,text,value", [
    ("ipv6Support", "Off", False), ("ipv6Support", "t", True), ("ipv6Support", "none", False),
    ("iptablesMarkMask", "0xff000000", 0xFF000000), ("logActionRateLimitBurst", "10", 10),
    ("dropActionOverride", "log-and-accept", "LogAndAccept"), ("dropActionOverride", "LOGandDROP", "LogAndDrop"),
    ("iptablesBackend", "legacy", "Legacy"),
    ("iptablesRefreshInterval", "2.5", "2.5s"), ("iptablesRefreshInterval", "1m30s", "1m30s"),
    ("iptablesRefreshInterval", "none", "0s"),
    ("failsafeInboundHostPorts", "tcp:22, udp:68, 80", [{"protocol": "TCP", "port": 22},
                                                          {"protocol": "UDP", "port": 68},
                                                          {"protocol": "TCP", "port": 80}]),
    ("failsafeInboundHostPorts", "none", []), ("logPrefix", "none", ""),
    ("interfacePrefix", "cali,tap", "cali,tap"),
])
def test_text_values(name: str, text: str, value: object) -> None:
    assert parse_text(PARAMETERS[name], text) == value


@pytest.mark.parametrize("name,text", [
    ("dropActionOverride", "none"), ("iptablesMarkMask", "none"), ("healthPort", "none"),
    ("interfacePrefix", "none"), ("ipv6Support", "maybe"), ("healthPort", "70000"), ("healthPort", "x"),
    ("dropActionOverride", "LogAndLog"), ("iptablesRefreshInterval", "-5"), ("iptablesMarkMask", "0x3"),
    ("failsafeInboundHostPorts", "sctp:5"), ("failsafeInboundHostPorts", "tcp:http"),
])
def test_bad_text_values(name: str, text: str) -> None:
    with pytest.raises(ValueError):
        parse_text(PARAMETERS[name], text)


def test_legacy_names_and_units(tmp_path: Path) -> None:
    cfg = effective_config("n1", env={
        "FELIX_IPTABLESPOSTWRITECHECKINTERVALSECS": "3", "FELIX_IptablesLockProbeIntervalMillis": "50",
        "FELIX_FELIXHOSTNAME": "ignored-here", "FELIX_DATASTORETYPE": "etcdv3"})
    assert _value(cfg, "iptablesPostWriteCheckInterval") == "3s"
    assert _value(cfg, "iptablesLockProbeInterval") == "50ms"
    assert cfg.problems == ()


def test_a_bad_value_under_a_legacy_name_keeps_the_last_good_one(tmp_path: Path) -> None:
    path = tmp_path / "felix.cfg"
    path.write_text("IptablesPostWriteCheckIntervalSecs = 5\n")
    first = effective_config("n1", file=read_config_file(str(path)), env={})
    assert first.typed.iptables_post_write_check_interval == 5
    path.write_text("IptablesPostWriteCheckIntervalSecs = bogus\n")
    second = effective_config("n1", file=read_config_file(str(path)), env={}, last_good=first)
    assert second.typed.iptables_post_write_check_interval == 5  # not the default 1s
    assert [(p.field, p.parameter) for p in second.problems] == [
        ("IptablesPostWriteCheckIntervalSecs", "iptablesPostWriteCheckInterval")]
    fresh = effective_config("n1", file=read_config_file(str(path)), env={})  # nothing good before: next source
    assert fresh.typed.iptables_post_write_check_interval == 1


def test_bad_values_fall_back_to_the_next_source_and_are_reported(tmp_path: Path) -> None:
    cfg_file = tmp_path / "felix.cfg"
    cfg_file.write_text("bogusKey = 1\nhealthPort = not-a-port\n")
    cfg = effective_config(
        "n1",
        {"dropActionOverride": "LogAndDrop", "logPrefix": "ok"},
        {"dropActionOverride": "Nonsense", "colour": "blue", "logPrefix": ["not", "a", "string"]},
        read_config_file(str(cfg_file)),
        {"FELIX_IPV6SUPPORT": "perhaps", "FELIX_LOGPREFIX": "  "},
    )
    assert (_value(cfg, "dropActionOverride"), cfg.settings["dropActionOverride"].source) == (
        "LogAndDrop", "FelixConfiguration default")
    assert _value(cfg, "logPrefix") == "ok"  # blank environment values are ignored
    assert _value(cfg, "healthPort") == 9099 and _value(cfg, "ipv6Support") is True
    found = {(p.source.split()[0], p.field) for p in cfg.problems}
    assert found == {("FelixConfiguration", "dropActionOverride"), ("FelixConfiguration", "colour"),
                     ("FelixConfiguration", "logPrefix"), ("file", "bogusKey"), ("file", "healthPort"),
                     ("env", "IPV6SUPPORT")}
    assert all(p.reason for p in cfg.problems)


def test_unreadable_or_malformed_files_are_problems_not_crashes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.cfg"
    bad.write_text("[unterminated\nx")
    cfg = effective_config("n1", file=read_config_file(str(bad)), env={})
    assert _value(cfg, "dropActionOverride") == "Drop" and len(cfg.problems) == 1
    cfg = effective_config("n1", file=read_config_file(str(tmp_path)), env={})  # a directory
    assert len(cfg.problems) == 1
    bad.write_bytes(b"DropActionOverride = Accept\n\xff\xfe")
    cfg = effective_config("n1", file=read_config_file(str(bad)), env={})
    assert _value(cfg, "dropActionOverride") == "Drop"
    assert [p.reason for p in cfg.problems] == ["not UTF-8 text (invalid byte at offset 28)"]


def test_environment_prefix_and_node_name() -> None:
    assert environment_values({"FELIX_A": "1", "felix_b": "2", "FELIXC": "3", "FELIX_": "4"}) == {"A": "1", "b": "2"}
    assert node_name("flag", {"NODENAME": "env"}) == "flag"
    assert node_name(None, {"NODENAME": "env", "FELIX_FELIXHOSTNAME": "felix"}) == "env"
    assert node_name(None, {"FELIX_FELIXHOSTNAME": "felix"}) == "felix"
    assert node_name(None, {})
