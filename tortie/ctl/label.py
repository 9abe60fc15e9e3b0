"""label (cli.md §7; calicoctl/calicoctl/commands/label.go). Messages name the kind as typed."""

from __future__ import annotations

from typing import Any

import click

from ..datastore import Doc, retry_conflicts
from ..resources import ResourceError, load_resource
from ..store import StoreError
from .context import Fail, compatible, context
from .input import named, place


@click.command(short_help="Set or remove a label.")
@click.argument("kind_name", metavar="KIND")
@click.argument("name")
@click.argument("label", metavar="KEY=VALUE|KEY")
@click.option("--overwrite", is_flag=True, help="Replace the value of a label that is present.")
@click.option("--remove", is_flag=True, help="Remove label KEY.")
@click.option("-n", "--namespace", help="Namespace of a namespaced resource (default: default).")
@click.option("-c", "--config", help="Client config file (default: /etc/tortie/tortie.cfg).")
@compatible
@click.pass_context
def label(ctx: click.Context, /, kind_name: str, name: str, label: str, overwrite: bool, remove: bool,
          namespace: str | None, config: str | None, **_: Any) -> None:
    """Set label KEY=VALUE on a resource, or remove label KEY with --remove."""
    if remove and overwrite:
        raise click.UsageError("--overwrite and --remove do not go together")
    key, value = label, ""
    if not remove:
        parts = label.split("=")
        if len(parts) != 2:
            raise Fail(f"invalid label {label}")
        key, value = parts
    try:
        (target,) = named(kind_name, [name], namespace)
    except ResourceError as exc:
        raise Fail(f"failed to get {kind_name} {name}, error {exc}") from None
    if not name:
        raise Fail(f"failed to get {kind_name} {name}, error resource name may not be empty")
    kind = type(target)
    client = context(ctx).client(config)
    try:
        place(target, namespace)
        client.get(kind, name, target.namespace)
    except (ResourceError, StoreError):
        raise Fail(f"{kind_name} {name} not found") from None
    outcome: list[str] = []

    def relabel() -> Doc:
        doc = client.get(kind, name, target.namespace)
        labels = dict(doc["metadata"].get("labels") or {})
        if remove:
            if key not in labels:
                raise Fail(f"cannot remove label of {kind_name} {name}, key {key} does not exist")
            del labels[key]
            outcome[:] = [f"Successfully removed label {key} from {kind_name} {name}"]
        elif key in labels and not overwrite and labels[key] != value:
            raise Fail(f"failed to update label of {kind_name} {name}, key {key} is already present. "
                       "please use '--overwrite' to set a new value")
        else:
            verb = "updated" if key in labels else "set"
            labels[key] = value
            outcome[:] = [f"Successfully {verb} label {key} on {kind_name} {name}"]
        doc["metadata"]["labels"] = labels
        return client.update(load_resource(doc), doc["metadata"]["resourceVersion"])

    try:
        retry_conflicts(relabel)
    except (ResourceError, StoreError) as exc:
        raise Fail(f"failed to update {kind_name} {name}, label not changed: {exc}") from None
    click.echo(outcome[0])
