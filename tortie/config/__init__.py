"""Effective FelixConfiguration of a node: defaults < default < node.X < file < env."""

from __future__ import annotations

import os
import socket
from typing import Mapping

from ..resources import FelixConfiguration, InvalidStored, NotFound, ResourceClient
from .effective import (DEFAULT_CONFIG_FILE, EffectiveConfig, Problem, Setting, effective_config,
                        environment_values, parse_text, read_config_file)
from .logprefix import expand_log_prefix, override_log_prefix

__all__ = [
    "DEFAULT_CONFIG_FILE", "EffectiveConfig", "Problem", "Setting", "config_for_node", "effective_config",
    "environment_values", "expand_log_prefix", "node_name", "override_log_prefix", "parse_text", "read_config_file",
]


def node_name(flag: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """Product rule 6: --node, NODENAME, FELIX_FELIXHOSTNAME, then the host name."""
    env = os.environ if env is None else env
    return flag or env.get("NODENAME") or env.get("FELIX_FELIXHOSTNAME") or socket.gethostname()


def config_for_node(client: ResourceClient, node: str, config_file: str | None = None,
                    env: Mapping[str, str] | None = None) -> EffectiveConfig:
    """The effective configuration of ``node`` from the datastore, file and environment. A
    FelixConfiguration whose stored value is not valid counts as absent, as for the agent."""
    specs = []
    for name in ("default", f"node.{node}"):
        try:
            specs.append(client.get(FelixConfiguration, name).get("spec") or {})
        except (NotFound, InvalidStored):
            specs.append(None)
    return effective_config(node, specs[0], specs[1], config_file, os.environ if env is None else env)
