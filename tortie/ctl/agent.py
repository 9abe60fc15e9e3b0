"""agent: the node daemon."""

from __future__ import annotations

import click

from ..agent import Agent, setup_logging
from ..config import node_name
from ..store import StoreError, parse_datastore_url, resolve_datastore
from .context import Fail, context


@click.command(short_help="Run the node agent.")
@click.option("--node", help="Node name (default: $NODENAME, $FELIX_FELIXHOSTNAME, then the host name).")
@click.option("-c", "--config-file", help="Agent config file, INI (default: /etc/tortie/felix.cfg).")
@click.option("--cleanup", is_flag=True, help="Remove every rule, chain and ipset tortie owns here, then exit.")
@click.pass_context
def agent(ctx: click.Context, node: str | None, config_file: str | None, cleanup: bool) -> None:
    """Enforce policy on this node: watch the datastore and program iptables and ipsets
    in the current network namespace. SIGTERM stops the agent and leaves the rules in
    place; SIGHUP re-reads the config file."""
    setup_logging()
    try:
        datastore = resolve_datastore(context(ctx).datastore)
        if not cleanup:  # cleanup never opens the store
            parse_datastore_url(datastore)  # a URL that can never work is no outage to wait out
    except StoreError as exc:
        raise Fail(f"Failed to start the agent: {exc}") from None
    daemon = Agent(node_name(node), datastore, config_file)
    if cleanup:
        daemon.cleanup()
        click.echo("Removed every tortie rule, chain and ipset in this network namespace")
        return
    daemon.run()
