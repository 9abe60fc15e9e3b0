"""create, apply, replace, delete and validate (cli.md §2, §4, §5; calicoctl's commands of
the same names)."""

from __future__ import annotations

from typing import Any, Callable

import click

from ..core import paused_gc
from ..datastore import AlreadyExists, NotFound, ResourceClient, check_storable
from ..resources import Resource, ResourceError
from ..store import StoreError
from .context import Fail, compatible, context
from .input import load_file, named, one_kind, place
from .results import Results, run_all, run_in_order

FILE_HELP = "File or directory of resources (YAML or JSON); - reads stdin."
NS_HELP = "Namespace of namespaced resources without one (default: default)."
CONFIG_HELP = "Client config file (default: /etc/tortie/tortie.cfg)."


def file_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """-f/--filename, -R/--recursive and --skip-empty, as calicoctl has them."""
    for option in reversed([
        click.option("-R", "--recursive", is_flag=True, help="Read the directory given with -f recursively."),
        click.option("--skip-empty", is_flag=True, help="Do not fail on files with no resources."),
    ]):
        command = option(command)
    return command


def _client(ctx: click.Context, /, config: str | None) -> ResourceClient:
    return context(ctx).client(config)


def prepare(resources: list[Resource], namespace: str | None, client_defaults: bool = True,
            storable: bool = False) -> list[Exception]:
    """Place and validate each resource; the errors (tortie checks all before it writes).
    ``storable`` adds what the store checks on the write (check_storable), for validate:
    a write checks it on its own before it stores anything."""
    errors: list[Exception] = []
    with paused_gc():  # checking builds no cycles either (see paused_gc)
        for resource in resources:
            try:
                place(resource, namespace)
                resource.validated(client_defaults)
                if storable:
                    check_storable(resource)
            except (ResourceError, StoreError) as exc:
                errors.append(exc)
    return errors


def _write(ctx: click.Context, /, verb: str, filename: str, recursive: bool, skip_empty: bool, namespace: str | None,
           config: str | None, write: Callable[[ResourceClient, Resource], object]) -> None:
    resources = load_file(filename, recursive, skip_empty)
    if not resources:
        click.echo("No resources specified")
        return
    kind = one_kind(resources)
    errors = prepare(resources, namespace)
    if errors:
        # Bad input: nothing is written, and the file is reported as calicoctl reports the
        # resources it refuses.
        if verb == "replace":
            which = Results(verb, len(resources), kind)
            raise Fail(f"failed to replace {which.what() if len(resources) == 1 else 'any ' + which.what(True)}: "
                       f"{errors[0]}")
        Results(verb, len(resources), kind, 0, errors).report()
    client = _client(ctx, config)
    run = run_in_order if verb == "replace" else run_all
    click.echo(run(verb, resources, kind, lambda r: write(client, r)))


@click.command(short_help="Create resources from a file.")
@click.option("-f", "--filename", required=True, help=FILE_HELP)
@file_options
@click.option("--skip-exists", is_flag=True, help="Count a resource that already exists as created.")
@click.option("-n", "--namespace", help=NS_HELP)
@click.option("-c", "--config", help=CONFIG_HELP)
@compatible
@click.pass_context
def create(ctx: click.Context, /, filename: str, recursive: bool, skip_empty: bool, skip_exists: bool,
           namespace: str | None, config: str | None, **_: Any) -> None:
    """Create the resources in FILE. A resource that already exists is an error."""
    def write(client: ResourceClient, resource: Resource) -> None:
        try:
            client.create(resource)
        except AlreadyExists:
            if not skip_exists:
                raise
    _write(ctx, "create", filename, recursive, skip_empty, namespace, config, write)


def _write_command(verb: str, short_help: str, doc: str) -> click.Command:
    """``apply`` and ``replace``: the same command around a different client call."""
    @click.command(name=verb, short_help=short_help, help=doc)
    @click.option("-f", "--filename", required=True, help=FILE_HELP)
    @file_options
    @click.option("-n", "--namespace", help=NS_HELP)
    @click.option("-c", "--config", help=CONFIG_HELP)
    @compatible
    @click.pass_context
    def command(ctx: click.Context, /, filename: str, recursive: bool, skip_empty: bool, namespace: str | None,
                config: str | None, **_: Any) -> None:
        _write(ctx, verb, filename, recursive, skip_empty, namespace, config,
               lambda client, r: getattr(client, verb)(r))
    return command


apply = _write_command("apply", "Create or replace resources from a file.",
                       "Create the resources in FILE, replacing those that exist.")
replace = _write_command("replace", "Replace existing resources from a file.",
                         "Replace the resources in FILE, which must exist.\n\n"
                         "With a metadata.resourceVersion the write succeeds only if it is still current; "
                         "without one the latest version is replaced.")


@click.command(short_help="Delete resources by name or from a file.")
@click.argument("args", nargs=-1, metavar="[KIND [NAME...]]")
@click.option("-f", "--filename", help=FILE_HELP)
@file_options
@click.option("-s", "--skip-not-exists", is_flag=True, help="Count a missing resource as deleted.")
@click.option("-n", "--namespace", help=NS_HELP)
@click.option("-c", "--config", help=CONFIG_HELP)
@compatible
@click.pass_context
def delete(ctx: click.Context, /, args: tuple[str, ...], filename: str | None, recursive: bool, skip_empty: bool,
           skip_not_exists: bool, namespace: str | None, config: str | None, **_: Any) -> None:
    """Delete KIND NAME... or the resources in FILE.

    From a file, a metadata.resourceVersion makes the delete conditional on it.
    """
    if bool(filename) == bool(args):
        raise click.UsageError("give either KIND [NAME...] or -f FILE")
    if filename:
        resources = load_file(filename, recursive, skip_empty)
    else:
        try:
            resources = named(args[0], list(args[1:]), namespace)
        except ResourceError as exc:
            raise Fail(str(exc)) from None
        if "" in args[1:]:
            raise Fail("resource name may not be empty")
    if not resources:
        raise Fail("no resources specified")
    kind = one_kind(resources) if filename else resources[0].KIND
    client = _client(ctx, config)
    results = Results("delete", len(resources), kind)
    for resource in resources:
        try:
            place(resource, namespace)
            client.delete(type(resource), resource.name, resource.namespace, resource.metadata.resource_version)
            results.handled += 1
        except NotFound as exc:
            if not skip_not_exists:
                results.errors.append(exc)
            else:
                results.handled += 1
        except (ResourceError, StoreError) as exc:
            results.errors.append(exc)
    lines = []
    if results.handled:
        lines.append(results.success(results.handled))
    lines += [f"Failed to delete {results.what()}: {e}" for e in results.errors]
    if results.errors:
        raise Fail("\n".join(lines))
    click.echo("\n".join(lines))


@click.command(short_help="Check resources from a file without a datastore.")
@click.option("-f", "--filename", required=True, help=FILE_HELP)
@file_options
@click.option("--allow-version-mismatch", is_flag=True, help="Accepted for calicoctl compatibility.")
def validate(filename: str, recursive: bool, skip_empty: bool, **_: Any) -> None:
    """Check the resources in FILE as create would, touching no datastore (calicoctl validate)."""
    resources = load_file(filename, recursive, skip_empty)
    if not resources:
        click.echo("No resources specified")
        return
    results = Results("validate", len(resources), one_kind(resources))
    results.errors = prepare(resources, None, client_defaults=False, storable=True)
    results.handled = len(resources) - len(results.errors)
    click.echo(results.report())

