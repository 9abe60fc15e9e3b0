"""patch: an RFC 7386 JSON merge patch on one resource (cli.md §2, §5)."""

from __future__ import annotations

import json
from typing import Any

import click

from ..resources import Conflict, ResourceError, load_resource, retry_conflicts
from ..resources.client import Doc
from ..store import StoreError
from .context import Context, Fail
from .input import named_target

IMMUTABLE = ("name", "namespace", "uid", "creationTimestamp")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: null deletes a key, objects merge, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@click.command(short_help="Change fields of one resource.")
@click.argument("kind_name", metavar="KIND")
@click.argument("name")
@click.option("-p", "--patch", "patch_text", required=True, help='JSON merge patch, e.g. \'{"spec":{"order":10}}\'.')
@click.option("-t", "--type", "patch_type", type=click.Choice(["merge", "strategic"]), default="strategic",
              show_default=True, help="Both types apply the patch as a JSON merge patch.")
@click.option("-n", "--namespace", help="Namespace of a namespaced resource (default: default).")
@click.option("-c", "--config", help="Client config file (default: /etc/tortie/tortie.cfg).")
@click.pass_context
def patch(ctx: click.Context, kind_name: str, name: str, patch_text: str, patch_type: str,
          namespace: str | None, config: str | None) -> None:
    """Apply PATCH to resource KIND NAME, validate the result and write it."""
    kind, ns = named_target(kind_name, namespace)
    failed = f"Failed to patch '{kind.KIND}' resource: "
    try:
        changes = json.loads(patch_text)
    except json.JSONDecodeError as exc:
        raise Fail(f"{failed}invalid patch: {exc.msg} at character {exc.pos}") from None
    if not isinstance(changes, dict):
        raise Fail(f"{failed}invalid patch: it must be a JSON object")
    precondition = (changes.get("metadata") or {}).get("resourceVersion")

    def apply_patch() -> Doc:
        current = client.get(kind, name, ns)
        if precondition is not None and str(precondition) != current["metadata"]["resourceVersion"]:
            raise Conflict(kind, current["metadata"]["name"], ns)
        doc = merge_patch(current, changes)
        for field in IMMUTABLE:
            if doc.get("metadata", {}).get(field) != current["metadata"].get(field):
                raise ResourceError(f"error with field metadata.{field} = "
                                    f"'{(changes.get('metadata') or {}).get(field)}' (field cannot be changed)")
        if (doc.get("kind"), doc.get("apiVersion")) != (current["kind"], current["apiVersion"]):
            raise ResourceError("error with field kind (field cannot be changed)")
        return client.update(load_resource(doc), current["metadata"]["resourceVersion"])

    try:
        client = ctx.find_object(Context).client(config)
        retry_conflicts(apply_patch) if precondition is None else apply_patch()
    except (ResourceError, StoreError) as exc:
        raise Fail(failed + str(exc)) from None
    click.echo(f"Successfully patched 1 '{kind.KIND}' resource")
