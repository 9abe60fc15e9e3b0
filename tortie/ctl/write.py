"""create, apply, replace and delete (cli.md §2, §4, §5)."""

from __future__ import annotations

import click

from ..resources import AlreadyExists, NotFound, Resource, ResourceClient, ResourceError
from ..store import StoreError
from .context import Context, Fail
from .input import load_file, named_target
from .results import Action, run_in_order

FILE_HELP = "File of resources (YAML or JSON); - reads stdin."
NS_HELP = "Namespace of namespaced resources without one (default: default)."
CONFIG_HELP = "Client config file (default: /etc/tortie/tortie.cfg)."


def _load(filename: str, namespace: str | None) -> list[Resource]:
    try:
        return load_file(filename, namespace)
    except ResourceError as exc:
        raise Fail(f"Failed to execute command: {exc}") from None


def _client(ctx: click.Context, config: str | None) -> ResourceClient:
    try:
        return ctx.find_object(Context).client(config)
    except StoreError as exc:
        raise Fail(f"Failed to execute command: {exc}") from None


def _create_action(client: ResourceClient, resource: Resource, skip_exists: bool) -> Action:
    def create() -> None:
        try:
            client.create(resource)
        except AlreadyExists:
            if not skip_exists:
                raise
    return type(resource), create


@click.command(short_help="Create resources from a file.")
@click.option("-f", "--filename", required=True, help=FILE_HELP)
@click.option("--skip-exists", is_flag=True, help="Count a resource that already exists as created.")
@click.option("-n", "--namespace", help=NS_HELP)
@click.option("-c", "--config", help=CONFIG_HELP)
@click.pass_context
def create(ctx: click.Context, filename: str, skip_exists: bool, namespace: str | None, config: str | None) -> None:
    """Create the resources in FILE. Fails for a resource that already exists."""
    resources = _load(filename, namespace)
    client = _client(ctx, config)
    click.echo(run_in_order("create", [_create_action(client, r, skip_exists) for r in resources]))


def _write_command(verb: str, short_help: str, doc: str) -> click.Command:
    """``apply`` and ``replace``: the same command around a different client call."""
    @click.command(name=verb, short_help=short_help, help=doc)
    @click.option("-f", "--filename", required=True, help=FILE_HELP)
    @click.option("-n", "--namespace", help=NS_HELP)
    @click.option("-c", "--config", help=CONFIG_HELP)
    @click.pass_context
    def command(ctx: click.Context, filename: str, namespace: str | None, config: str | None) -> None:
        resources = _load(filename, namespace)
        client = _client(ctx, config)
        write = getattr(client, verb)
        click.echo(run_in_order(verb, [(type(r), lambda r=r: write(r)) for r in resources]))
    return command


apply = _write_command("apply", "Create or replace resources from a file.",
                       "Create the resources in FILE, replacing those that exist.")
replace = _write_command("replace", "Replace existing resources from a file.",
                         "Replace the resources in FILE, which must exist.\n\n"
                         "With a metadata.resourceVersion the write succeeds only if it is still current; "
                         "without one the latest version is replaced.")


@click.command(short_help="Delete resources by name or from a file.")
@click.argument("args", nargs=-1, metavar="[KIND NAME...]")
@click.option("-f", "--filename", help=FILE_HELP)
@click.option("-s", "--skip-not-exists", is_flag=True, help="Count a missing resource as deleted.")
@click.option("-n", "--namespace", help=NS_HELP)
@click.option("-c", "--config", help=CONFIG_HELP)
@click.pass_context
def delete(ctx: click.Context, args: tuple[str, ...], filename: str | None, skip_not_exists: bool,
           namespace: str | None, config: str | None) -> None:
    """Delete KIND NAME... or the resources in FILE.

    From a file, a metadata.resourceVersion makes the delete conditional on it.
    """
    if bool(filename) == bool(args) or (args and len(args) < 2):
        raise click.UsageError("give either KIND NAME... or -f FILE")
    if filename:
        targets = [(type(r), r.name, r.namespace, r.metadata.resource_version) for r in _load(filename, namespace)]
    else:
        kind, ns = named_target(args[0], namespace)
        targets = [(kind, name, ns, None) for name in args[1:]]
    client = _client(ctx, config)

    def action(kind: type[Resource], name: str, ns: str | None, version: str | None) -> Action:
        def remove() -> None:
            try:
                client.delete(kind, name, ns, version)
            except NotFound:
                if not skip_not_exists:
                    raise
        return kind, remove

    click.echo(run_in_order("delete", [action(*t) for t in targets]))
