"""get (cli.md §6)."""

from __future__ import annotations

from typing import Any

import click

from ..resources import API_VERSION, ResourceError, kind_from_cli
from ..store import StoreError
from .context import Context, Fail
from .input import DEFAULT_NAMESPACE, load_file
from .output import TABLE_FORMATS, OutputError, check_format, export, serialise, table

PREFIX = "Failed to get resources: "


@click.command(short_help="Show resources.")
@click.argument("args", nargs=-1, metavar="[KIND [NAME...]]")
@click.option("-f", "--filename", help="Show the resources named in this file; - reads stdin.")
@click.option("-o", "--output", "fmt", default="ps", show_default=True,
              help="ps, wide, yaml, json or custom-columns=COL,COL...")
@click.option("-n", "--namespace", help="Namespace to show (default: default).")
@click.option("-A", "-a", "--all-namespaces", is_flag=True, help="Show every namespace.")
@click.option("--export", "export_", is_flag=True, help="Leave out cluster-specific metadata.")
@click.option("-c", "--config", help="Client config file (default: /etc/tortie/tortie.cfg).")
@click.pass_context
def get(ctx: click.Context, args: tuple[str, ...], filename: str | None, fmt: str, namespace: str | None,
        all_namespaces: bool, export_: bool, config: str | None) -> None:
    """Show resources of KIND (all of them, or those NAMEd), or those in FILE."""
    if bool(filename) == bool(args):
        raise click.UsageError("give either KIND [NAME...] or -f FILE")
    if namespace and all_namespaces:
        raise Fail("cannot use both --namespace and --all-namespaces flags at the same time")
    try:
        check_format(fmt)
        if filename:
            wanted = [(type(r), r.name, r.namespace) for r in load_file(filename, namespace)]
            kind, single, listing = wanted[0][0], False, False
        else:
            kind, names = kind_from_cli(args[0]), list(args[1:])
            if names and all_namespaces:
                raise Fail("cannot use --all-namespace flag for getting a single resource")
            if names and namespace and not kind.NAMESPACED:
                raise Fail(f"{kind.KIND} is not namespaced")
            ns = None if not kind.NAMESPACED or all_namespaces else namespace or DEFAULT_NAMESPACE
            wanted = [(kind, name, ns) for name in names]
            single, listing = len(names) == 1, not names
        client = ctx.find_object(Context).client(config)
        if listing:
            found = client.list(kind, ns)
            docs, revision = found.docs, found.revision
            for invalid in found.invalid:  # calicoctl's list skips what it cannot parse; we say so
                click.echo(f"Warning: {invalid}; skipped", err=True)
        else:
            docs = [client.get(k, name, n) for k, name, n in wanted]
        if fmt in TABLE_FORMATS or fmt.startswith("custom-columns="):
            if any(k is not kind for k, _, _ in wanted):
                raise Fail(PREFIX + "a table shows one kind; use -o yaml for a file of several kinds")
            click.echo(table(kind, docs, fmt), nl=False)
            return
        if export_:
            docs = [export(d) for d in docs]
        data: Any = docs[0] if single else docs
        if listing:
            data = {"apiVersion": API_VERSION, "kind": f"{kind.KIND}List", "items": docs,
                    "metadata": {} if export_ else {"resourceVersion": str(revision)}}
        click.echo(serialise(data, fmt), nl=False)
    except (ResourceError, StoreError, OutputError) as exc:
        raise Fail(PREFIX + str(exc)) from None

