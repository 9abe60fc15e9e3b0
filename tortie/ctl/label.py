"""label (cli.md §7)."""

from __future__ import annotations

import click

from ..resources import ResourceError, load_resource, retry_conflicts
from ..resources.client import Doc
from ..store import StoreError
from .context import Context, Fail
from .input import named_target


@click.command(short_help="Set or remove a label.")
@click.argument("kind_name", metavar="KIND")
@click.argument("name")
@click.argument("label", metavar="KEY=VALUE|KEY")
@click.option("--overwrite", is_flag=True, help="Replace the value of a label that is present.")
@click.option("--remove", is_flag=True, help="Remove label KEY.")
@click.option("-n", "--namespace", help="Namespace of a namespaced resource (default: default).")
@click.option("-c", "--config", help="Client config file (default: /etc/tortie/tortie.cfg).")
@click.pass_context
def label(ctx: click.Context, kind_name: str, name: str, label: str, overwrite: bool, remove: bool,
          namespace: str | None, config: str | None) -> None:
    """Set label KEY=VALUE on a resource, or remove label KEY with --remove."""
    key, eq, value = label.partition("=")
    if remove == bool(eq) or not key:
        raise click.UsageError("give KEY=VALUE, or KEY with --remove")
    kind, ns = named_target(kind_name, namespace)
    outcome: list[str] = []

    def relabel() -> Doc:
        doc = client.get(kind, name, ns)
        labels = dict(doc["metadata"].get("labels") or {})
        if remove:
            if key not in labels:
                raise Fail(f"can not remove label of {kind.KIND} {name}, key {key} does not exist")
            del labels[key]
            outcome[:] = [f"Successfully removed label {key} from {kind.KIND} {name}"]
        elif key in labels and not overwrite:
            raise Fail(f"failed to update label of {kind.KIND} {name}, key {key} is already present. "
                       "please use '--overwrite' to set a new value.")
        else:
            verb = "updated" if key in labels else "set"
            labels[key] = value
            outcome[:] = [f"Successfully {verb} label {key} on {kind.KIND} {name}"]
        doc["metadata"]["labels"] = labels
        resource = load_resource(doc)
        return client.update(resource, doc["metadata"]["resourceVersion"])

    try:
        client = ctx.find_object(Context).client(config)
        retry_conflicts(relabel)
    except (ResourceError, StoreError) as exc:
        raise Fail(f"Failed to execute command: {exc}") from None
    click.echo(outcome[0])
