"""Effective FelixConfiguration of a node (defaults < default < node.X < file < env), and the
typed settings every consumer reads."""

from __future__ import annotations

import os
import socket
from typing import Any, Mapping

from ..datastore import InvalidStored, NotFound, ResourceClient
from ..resources import FelixConfiguration
from .effective import (DEFAULT_CONFIG_FILE, NO_FILE, ConfigFile, ConfigFileError, EffectiveConfig, Problem, Setting,
                        effective_config, environment_values, parse_text, read_config_file)
from .logprefix import expand_log_prefix
from .settings import (AllowAction, ChainInsertMode, EndpointToHostAction, FailsafePort, FlowLogSettings,
                       InterfaceExclusions, IptablesBackend, ListenerSettings, Marks, RateLimit, Settings,
                       SourceSpoofing)

__all__ = [
    "DEFAULT_CONFIG_FILE", "NO_FILE", "AllowAction", "ChainInsertMode", "ConfigFile", "ConfigFileError",
    "EffectiveConfig", "EndpointToHostAction", "FailsafePort", "FlowLogSettings", "InterfaceExclusions",
    "IptablesBackend", "ListenerSettings", "Marks", "Problem", "RateLimit", "Setting", "Settings", "SourceSpoofing",
    "config_for_node", "effective_config", "environment_values", "expand_log_prefix", "node_name", "parse_text",
    "read_config_file", "settings_for",
]


def node_name(flag: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """Product rule 6: --node, NODENAME, FELIX_FELIXHOSTNAME, then the host name."""
    env = os.environ if env is None else env
    return flag or env.get("NODENAME") or env.get("FELIX_FELIXHOSTNAME") or socket.gethostname()


def config_for_node(client: ResourceClient, node: str, config_file: str | None = None,
                    env: Mapping[str, str] | None = None) -> EffectiveConfig:
    """The effective configuration of ``node`` from the datastore, the config file (read
    now) and the environment. A FelixConfiguration whose stored value is not valid counts as
    absent, as for the agent. A ``config_file`` given (not the default) that cannot be
    read or parsed raises ConfigFileError; the default one may be missing."""
    specs: list[dict[str, Any] | None] = []
    for name in ("default", f"node.{node}"):
        try:
            specs.append(client.get(FelixConfiguration, name).get("spec") or {})
        except (NotFound, InvalidStored):
            specs.append(None)
    file = read_config_file(config_file or DEFAULT_CONFIG_FILE, required=config_file is not None)
    if config_file is not None and file.problems:
        raise ConfigFileError(f"config file {config_file}: {file.problems[0].reason}")
    return effective_config(node, specs[0], specs[1], file, os.environ if env is None else env)


def settings_for(node: str, spec: Mapping[str, object] | None = None) -> Settings:
    """The typed settings of ``node`` with FelixConfiguration ``default`` = ``spec`` and no
    other source: what tests, benches and the lab use."""
    return effective_config(node, spec, env={}).typed
