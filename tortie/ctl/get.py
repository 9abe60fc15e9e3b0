"""get (cli.md §6; calicoctl/calicoctl/commands/get.go).

Each NAME (or each resource of a file) is looked up on its own and printed on its own:
one table each, or one document; several documents print as a list. Without a NAME the
kind is listed (tiers by their order). What is found is printed, then every error, and
the exit status is 1 if there was one.
"""

from __future__ import annotations

from typing import Any

import click

from ..datastore import ResourceClient
from ..resources import Resource, ResourceError, Tier
from ..store import StoreError
from .context import Fail, compatible, context
from .input import load_file, named, place
from .output import TABLE_FORMATS, OutputError, check_format, export, headings, printed, table


def _tier_order(doc: dict[str, Any]) -> tuple[bool, float]:
    order = (doc.get("spec") or {}).get("order")
    return order is None, order if isinstance(order, (int, float)) else 0


def _fetch(client: ResourceClient, resource: Resource, export_: bool) -> dict[str, Any]:
    """One resource by name, or a list of the kind when it has none (GetOrList)."""
    kind = type(resource)
    if resource.name:
        if kind.NAMESPACED and not resource.namespace:
            raise ResourceError("cannot use --all-namespace flag for getting a single resource")
        doc = client.get(kind, resource.name, resource.namespace)
        return export(doc) if export_ else doc
    found = client.list(kind, resource.namespace)
    for invalid in found.invalid:  # calicoctl's list skips what it cannot parse; we say so
        click.echo(f"Warning: {invalid}; skipped", err=True)
    docs, revision = found.docs, found.revision
    if kind is Tier:
        docs.sort(key=_tier_order)
    return {"apiVersion": kind.API, "kind": f"{kind.KIND}List", "items": docs,
            "metadata": {"resourceVersion": str(revision)}}


@click.command(short_help="Show resources.")
@click.argument("args", nargs=-1, metavar="[KIND [NAME...]]")
@click.option("-f", "--filename", help="Show the resources named in this file or directory; - reads stdin.")
@click.option("-R", "--recursive", is_flag=True, help="Read the directory given with -f recursively.")
@click.option("--skip-empty", is_flag=True, help="Do not fail on files with no resources.")
@click.option("-o", "--output", "fmt", default="ps", show_default=True,
              help="ps, wide, yaml, json or custom-columns=COL,COL...")
@click.option("-n", "--namespace", help="Namespace to show (default: default).")
@click.option("-A", "-a", "--all-namespaces", is_flag=True, help="Show every namespace.")
@click.option("--export", "export_", is_flag=True, help="Leave out cluster-specific metadata (with a NAME).")
@click.option("-c", "--config", help="Client config file (default: /etc/tortie/tortie.cfg).")
@compatible
@click.pass_context
def get(ctx: click.Context, /, args: tuple[str, ...], filename: str | None, recursive: bool, skip_empty: bool, fmt: str,
        namespace: str | None, all_namespaces: bool, export_: bool, config: str | None, **_: Any) -> None:
    """Show resources of KIND (all of them, or those NAMEd), or those in FILE."""
    if bool(filename) == bool(args):
        raise click.UsageError("give either KIND [NAME...] or -f FILE")
    try:
        check_format(fmt)
    except OutputError as exc:
        raise Fail(str(exc)) from None
    if filename:
        resources = load_file(filename, recursive, skip_empty)
    else:
        names = list(args[1:])
        try:
            resources = named(args[0], names or [""], namespace)
        except ResourceError as exc:
            raise Fail(f"failed to get resources: {exc}") from None
        if names and "" in names:
            raise Fail("failed to get resources: resource name may not be empty")
    client = context(ctx).client(config)
    found: list[tuple[type[Resource], dict[str, Any]]] = []
    errors: list[Exception] = []
    for resource in resources:
        try:
            place(resource, namespace, all_namespaces)
            found.append((type(resource), _fetch(client, resource, export_ and len(args) > 1)))
        except (ResourceError, StoreError) as exc:
            errors.append(exc)
    text = _show(found, fmt, all_namespaces or bool(namespace))
    if errors:
        # What was found is the answer (stdout); the errors go to stderr, as calicoctl.go prints them.
        click.echo(text + ("\n" if text and not text.endswith("\n") else ""), nl=False)
        raise Fail("\n".join(str(e) for e in errors))
    click.echo(text, nl=False)


def _show(found: list[tuple[type[Resource], dict[str, Any]]], fmt: str, print_namespace: bool) -> str:
    if fmt in TABLE_FORMATS or fmt.startswith("custom-columns="):
        out = ""
        for kind, doc in found:
            try:
                names = headings(kind, fmt, print_namespace)
            except OutputError as exc:
                raise Fail(str(exc)) from None
            out += table(kind, doc["items"] if doc["kind"].endswith("List") else [doc], names)
        return out
    docs = [doc for _, doc in found]
    return printed(docs[0] if len(docs) == 1 else docs, fmt)
