"""config show: every effective FelixConfiguration value of a node, with its source."""

from __future__ import annotations

import click

from ..config import ConfigFileError, config_for_node, node_name
from ..resources import PARAMETERS, ResourceError
from ..store import StoreError
from .context import Fail, context
from .explain import node_option
from .output import serialise


@click.group(short_help="Show the effective configuration of a node.")
def config() -> None:
    """Inspect the configuration the agent on a node would use."""


@config.command()
@click.option("--node", callback=node_option,
              help="Node name (default: $NODENAME, $FELIX_FELIXHOSTNAME, then the host name).")
@click.option("--config-file", help="Agent config file (default: /etc/tortie/felix.cfg).")
@click.option("-o", "--output", "fmt", type=click.Choice(["table", "yaml", "json"]), default="table",
              show_default=True)
@click.option("-c", "--config", "client_config", help="Client config file (default: /etc/tortie/tortie.cfg).")
@click.pass_context
def show(ctx: click.Context, /, node: str | None, config_file: str | None, fmt: str, client_config: str | None) -> None:
    """Print every parameter's effective value and where it comes from.

    Sources, lowest first: default value, FelixConfiguration default, FelixConfiguration
    node.NAME, the config file, FELIX_* environment variables. Bad values are listed
    after the table; the next source down is used for them. Parameters that tortie
    stores but does not act on (BPF, routing, encapsulation, WireGuard, Windows, ...)
    are marked as such.
    """
    try:
        effective = config_for_node(context(ctx).client(client_config), node_name(node), config_file)
    except (ConfigFileError, ResourceError, StoreError) as exc:
        raise Fail(f"Failed to execute command: {exc}") from None
    if fmt == "table":
        width = max(len(n) for n in effective.settings) + 3
        vwidth = max(len(_text(s.value)) for s in effective.settings.values()) + 3
        swidth = max(len(s.source) for s in effective.settings.values()) + 3
        lines = ["PARAMETER".ljust(width) + "VALUE".ljust(vwidth) + "SOURCE".ljust(swidth) + "NOTE"]
        lines += [(name.ljust(width) + _text(s.value).ljust(vwidth) + s.source.ljust(swidth) + _note(name)).rstrip()
                  for name, s in sorted(effective.settings.items())]
        lines += [f"invalid: {p}" for p in effective.problems]
        click.echo("\n".join(lines))
        return
    data = {"node": effective.node,
            "parameters": {n: {"value": s.value, "source": s.source, "used": PARAMETERS[n].implemented}
                           for n, s in sorted(effective.settings.items())},
            "problems": [{"source": p.source, "field": p.field, "value": p.value, "reason": p.reason}
                         for p in effective.problems]}
    click.echo(serialise(data, fmt), nl=False)


def _note(name: str) -> str:
    return "" if PARAMETERS[name].implemented else "not used by tortie"


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(f"{v['protocol'].lower()}:{v['port']}" if isinstance(v, dict) else str(v) for v in value) \
            or "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
