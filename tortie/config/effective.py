"""The effective FelixConfiguration of one node (felixconfig.md §3–§5).

Sources, lowest first: built-in defaults < FelixConfiguration ``default`` <
``node.<name>`` < the agent's config file < ``FELIX_*`` environment variables. A bad
value in any source is reported (source, field, value, reason) and the next source
down decides, unless an earlier configuration had a value of its own for it: that last
good value stays. Nothing here raises for bad content, and nothing but
``read_config_file`` touches the file system.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass, field
from functools import cached_property
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping


from ..core import read_bounded
from ..resources import PARAMETERS, InvalidParameter, Param, format_duration
from .settings import Settings

DEFAULT_CONFIG_FILE = "/etc/tortie/felix.cfg"
SOURCE_DEFAULT = "default value"

# Legacy names of the file and environment: (field, unit of a plain number in seconds).
LEGACY = {
    "iptablespostwritecheckintervalsecs": ("iptablesPostWriteCheckInterval", Decimal(1)),
    "iptableslocktimeoutsecs": ("iptablesLockTimeout", Decimal(1)),
    "iptableslockprobeintervalmillis": ("iptablesLockProbeInterval", Decimal("0.001")),
    "reportingintervalsecs": ("reportingInterval", Decimal(1)),
    "reportingttlsecs": ("reportingTTL", Decimal(1)),
    "endpointreportingdelaysecs": ("endpointReportingDelay", Decimal(1)),
}
LOCAL_ONLY = {"felixhostname", "datastoretype", "etcdendpoints", "configfile"}
# Parameters for which "none" (empty or zero) is not a value.
NOT_NONE = {"dropActionOverride", "defaultEndpointToHostAction", "chainInsertMode", "iptablesBackend",
            "iptablesMarkMask", "interfacePrefix", "prometheusReporterPort", "prometheusMetricsPort", "healthPort",
            "metadataPort", "vxlanPort", "natPortRange", "kubeNodePortRanges"}
_BY_LOWER = {name.lower(): name for name in PARAMETERS}
_TRUE = {"true", "1", "yes", "y", "t", "on"}
_FALSE = {"false", "0", "no", "n", "f", "off"}


@dataclass(frozen=True)
class Problem:
    source: str
    field: str  # as written in the source (a legacy file name, an environment variable's NAME, ...)
    value: Any
    reason: str
    parameter: str | None = None  # the parameter it concerns, if known

    def __str__(self) -> str:
        return f"{self.source}: {self.field} = {self.value!r}: {self.reason}"


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str


@dataclass(frozen=True)
class EffectiveConfig:
    """Every parameter's value in resource form with its source (``settings``), the bad
    values met on the way (``problems``), and the same values typed (``typed``)."""

    node: str
    settings: Mapping[str, Setting]
    problems: tuple[Problem, ...] = field(default=())

    @cached_property
    def typed(self) -> Settings:
        """The typed parameters, built once per configuration."""
        return Settings.from_values({name: s.value for name, s in self.settings.items()})

    @cached_property
    def unused(self) -> tuple[str, ...]:
        """The parameters some source sets that tortie stores but does not act on (BPF,
        routing, encapsulation, ...), sorted by name."""
        return tuple(name for name, s in sorted(self.settings.items()) if not PARAMETERS[name].implemented
                     and s.source != SOURCE_DEFAULT and s.value not in ("", None))


@dataclass(frozen=True)
class ConfigFile:
    """The agent's config file as read: its keys and values as written, or its problem."""

    path: str
    values: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()


NO_FILE = ConfigFile(DEFAULT_CONFIG_FILE)


class ConfigFileError(ValueError):
    """A config file named on the command line that cannot be read or parsed (the message
    names the file and the problem)."""


class _Invalid(ValueError):
    pass


def _check(param: Param, value: Any) -> Any:
    try:
        return param.check(value)
    except InvalidParameter as exc:
        raise _Invalid(exc.reason) from None


def parse_text(param: Param, text: str, seconds_unit: Decimal = Decimal(1)) -> Any:
    """A file or environment value (felixconfig.md §5) in resource form. Raises ValueError."""
    if text.lower() == "none":
        if param.name in NOT_NONE:
            raise _Invalid("none is not allowed for this parameter")
        empty = {"bool": False, "int": 0, "protoports": [], "portlist": [], "cidrs": [], "duration": "0s"}
        return _check(param, empty.get(param.kind, ""))
    if param.kind == "bool":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise _Invalid("must be a boolean (true/false, yes/no, on/off, 1/0)")
    if param.kind == "int":
        try:
            number = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise _Invalid("must be an integer") from None
        return _check(param, number)
    if param.kind == "enum":
        wanted = text.replace("-", "").lower()
        for choice in param.choices:
            if choice.lower() == wanted:
                return choice
        raise _Invalid("must be one of " + ", ".join(param.choices))
    if param.kind == "duration":
        try:
            amount = Decimal(text)
        except InvalidOperation:
            return _check(param, text)
        if amount < 0:
            raise _Invalid("invalid duration")
        return format_duration(int(amount * seconds_unit * 1_000_000_000))
    if param.kind == "protoports":
        entries = []
        for item in (p.strip() for p in text.split(",") if p.strip()):
            proto, _, port = item.rpartition(":")
            if not port.isdigit():
                raise _Invalid(f"invalid failsafe port {item!r}: expected [tcp:|udp:]PORT")
            entries.append({"protocol": proto or "tcp", "port": int(port)})
        return _check(param, entries)
    if param.kind in ("portlist", "cidrs"):
        return _check(param, [p.strip() for p in text.split(",") if p.strip()])
    return _check(param, text)


def _resource_layer(source: str, spec: Mapping[str, Any] | None, problems: list[Problem]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in (spec or {}).items():
        param = PARAMETERS.get(name)
        if param is None:
            problems.append(Problem(source, name, value, "unknown field"))
            continue
        try:
            values[name] = _check(param, value)
        except _Invalid as exc:
            problems.append(Problem(source, name, value, str(exc), name))
    return values


def _text_layer(source_of: Mapping[str, str], raw: Mapping[str, str],
                problems: list[Problem]) -> dict[str, tuple[Any, str]]:
    """Values from the file or the environment: lower-case key -> (value, source)."""
    values: dict[str, tuple[Any, str]] = {}
    for key, text in raw.items():
        source = source_of[key]
        text = text.strip()
        lower = key.lower()
        if not text or lower in LOCAL_ONLY:
            continue
        name, unit = LEGACY.get(lower, (_BY_LOWER.get(lower), Decimal(1)))
        if name is None:
            problems.append(Problem(source, key, text, "unknown parameter"))
            continue
        try:
            values[name] = (parse_text(PARAMETERS[name], text, unit), source)
        except ValueError as exc:
            problems.append(Problem(source, key, text, str(exc), name))
    return values


class _KeysAsWritten(configparser.ConfigParser):
    """Keeps keys as the file writes them (ConfigParser lower-cases them): problems name them so."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def read_config_file(path: str = DEFAULT_CONFIG_FILE, required: bool = False) -> ConfigFile:
    """Keys and values of the INI file (sections ignored, keys case-insensitive). Missing is
    fine unless ``required``; a file that cannot be read or parsed is one problem."""
    try:
        text = read_bounded(path).decode()
    except FileNotFoundError:
        return ConfigFile(path, {}, (Problem(f"file {path}", "*", "", "does not exist"),) if required else ())
    except OSError as exc:
        return ConfigFile(path, {}, (Problem(f"file {path}", "*", "", f"cannot read: {exc.strerror}"),))
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text (invalid byte at offset {exc.start})"
        return ConfigFile(path, {}, (Problem(f"file {path}", "*", "", reason),))
    parser = _KeysAsWritten(interpolation=None, strict=False)
    try:
        parser.read_string(text if re.match(r"\s*\[", text) else "[global]\n" + text)
    except configparser.Error as exc:
        reason = f"not an INI file: {' '.join(str(exc).split())}"
        return ConfigFile(path, {}, (Problem(f"file {path}", "*", "", reason),))
    values: dict[str, str] = {}
    for section in parser.sections():
        values.update(parser[section])
    return ConfigFile(path, values)


def environment_values(env: Mapping[str, str]) -> dict[str, str]:
    """``FELIX_<NAME>`` variables, by NAME (prefix matched case-insensitively)."""
    return {k[6:]: v for k, v in env.items() if k[:6].upper() == "FELIX_" and len(k) > 6}


def effective_config(node: str, default_spec: Mapping[str, Any] | None = None,
                     node_spec: Mapping[str, Any] | None = None, file: ConfigFile = NO_FILE,
                     env: Mapping[str, str] | None = None, last_good: EffectiveConfig | None = None) -> EffectiveConfig:
    """The effective configuration of ``node`` (felixconfig.md §3–§5), pure.

    ``default_spec`` and ``node_spec`` are the specs of FelixConfiguration ``default`` and
    ``node.<node>`` (None when absent), ``file`` the config file as ``read_config_file``
    read it, ``env`` the process environment. With ``last_good`` (the configuration in force
    until now), a parameter whose new value is bad keeps the value it had there, unless that
    was the built-in default. Never raises for bad content: it is listed in ``problems``.
    """
    problems: list[Problem] = []
    settings = {name: Setting(p.default, SOURCE_DEFAULT) for name, p in PARAMETERS.items()}
    for source, spec in (("FelixConfiguration default", default_spec), (f"FelixConfiguration node.{node}", node_spec)):
        for name, value in _resource_layer(source, spec, problems).items():
            settings[name] = Setting(value, source)
    problems += file.problems
    env_raw = environment_values(env or {})
    for raw, source_of in ((file.values, {k: f"file {file.path}" for k in file.values}),
                           (env_raw, {k: f"env FELIX_{k}" for k in env_raw})):
        for name, (value, source) in _text_layer(source_of, raw, problems).items():
            settings[name] = Setting(value, source)
    if last_good is not None:
        for problem in problems:
            kept = last_good.settings.get(problem.parameter or "")
            if kept is not None and kept.source != SOURCE_DEFAULT:
                settings[problem.parameter or ""] = kept  # the last good value stays in force
    return EffectiveConfig(node, settings, tuple(problems))
