"""promote: make a staged policy the enforced one (issue 13)."""

from __future__ import annotations

from typing import Any

import click

from ..resources import ResourceError, kind_from_cli
from ..store import OpKind, StoreError
from .context import Fail, compatible, context
from .input import DEFAULT_NAMESPACE
from .output import serialise

_DONE = {OpKind.CREATE: "created", OpKind.UPDATE: "replaced", OpKind.DELETE: "deleted"}


@click.command(short_help="Make a staged policy the enforced one.")
@click.argument("kind", metavar="KIND")
@click.argument("name", metavar="NAME")
@click.option("-n", "--namespace", help="Namespace of an snp or sknp (default: default).")
@click.option("--dry-run", is_flag=True, help="Print the enforced resource that would be written; write nothing.")
@click.option("-o", "--output", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True,
              help="Format of --dry-run's resource.")
@click.option("-c", "--config", help="Client config file (default: /etc/tortie/tortie.cfg).")
@compatible
@click.pass_context
def promote(ctx: click.Context, /, kind: str, name: str, namespace: str | None, dry_run: bool, fmt: str,
            config: str | None, **_: Any) -> None:
    """Promote the staged policy KIND NAME (sgnp, snp or sknp): its stagedAction Set or Learn
    creates or replaces the enforced policy of the same name with its spec, Delete deletes
    it; the staged policy is deleted with it, in one datastore transaction.
    """
    try:
        staged_kind = kind_from_cli(kind)
    except ResourceError as exc:
        raise Fail(f"Failed to promote: {exc}") from None
    if namespace and not staged_kind.NAMESPACED:
        raise Fail(f"Failed to promote: {staged_kind.KIND} is not namespaced")
    where = (namespace or DEFAULT_NAMESPACE) if staged_kind.NAMESPACED else None
    client = context(ctx).client(config)
    try:
        done = client.promote(staged_kind, name, where, dry_run)
    except (ResourceError, StoreError) as exc:
        raise Fail(f"Failed to promote {kind} {name}: {' '.join(str(exc).split())}") from None
    if dry_run:
        if done.doc is None:
            click.echo(f"Would delete {done.enforced} and {done.staged}")
        else:  # a new resource's uid and creation time are the datastore's to choose
            doc = done.doc if done.op is OpKind.UPDATE else {**done.doc, "metadata": {
                k: v for k, v in done.doc["metadata"].items() if k not in ("uid", "creationTimestamp")}}
            click.echo(serialise(doc, fmt), nl=False)
        return
    click.echo(f"Successfully promoted {done.staged}: {_DONE[done.op]} {done.enforced}")
