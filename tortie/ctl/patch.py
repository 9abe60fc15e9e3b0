"""patch: a JSON merge patch on one resource (cli.md §2, §5; calicoctl/calicoctl/commands/patch.go)."""

from __future__ import annotations

import json
from typing import Any

import click

from ..datastore import Conflict, Doc, retry_conflicts
from ..resources import ResourceError, UnknownFieldError, kind_of
from ..store import StoreError
from .context import Fail, compatible, context
from .input import named, place

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


def _not_json(word: str) -> Any:
    """Python's json reads NaN and Infinity; JSON (and Go's encoding/json) has neither."""
    raise ValueError(f"{word} is not JSON")


@click.command(short_help="Change fields of one resource.")
@click.argument("kind_name", metavar="KIND")
@click.argument("name")
@click.option("-p", "--patch", "patch_text", required=True, help='JSON merge patch, e.g. \'{"spec":{"order":10}}\'.')
@click.option("-t", "--type", "patch_type", type=click.Choice(["strategic", "merge", "json"]), default="strategic",
              show_default=True, help="Every type applies the patch as a JSON merge patch.")
@click.option("-n", "--namespace", help="Namespace of a namespaced resource (default: default).")
@click.option("-c", "--config", help="Client config file (default: /etc/tortie/tortie.cfg).")
@compatible
@click.pass_context
def patch(ctx: click.Context, /, kind_name: str, name: str, patch_text: str, patch_type: str,
          namespace: str | None, config: str | None, **_: Any) -> None:
    """Apply PATCH to resource KIND NAME, check the result and write it."""
    try:
        (target,) = named(kind_name, [name], namespace)
        place(target, namespace)
    except ResourceError as exc:
        raise Fail(str(exc)) from None
    kind, ns = type(target), target.namespace
    try:
        changes = json.loads(patch_text, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise Fail(f"hit error: invalid patch: {exc.msg} at character {exc.pos}") from None
    except ValueError as exc:
        raise Fail(f"hit error: invalid patch: {exc}") from None
    if not isinstance(changes, dict):
        raise Fail("hit error: invalid patch: it must be a JSON object")
    precondition = (changes.get("metadata") or {}).get("resourceVersion")

    def apply_patch() -> Doc:
        current = client.get(kind, name, ns)
        if precondition is not None and str(precondition) != current["metadata"]["resourceVersion"]:
            raise Conflict(kind, current["metadata"]["name"], ns)
        doc = merge_patch(current, changes)
        for field in IMMUTABLE:
            if doc.get("metadata", {}).get(field) != current["metadata"].get(field):
                raise ResourceError(f"error with field Metadata.{field[0].upper()}{field[1:]} = "
                                    f"'{(changes.get('metadata') or {}).get(field)}' (field cannot be changed)")
        if (doc.get("kind"), doc.get("apiVersion")) != (current["kind"], current["apiVersion"]):
            raise ResourceError("error with field Kind (field cannot be changed)")
        try:
            resource = kind_of(doc).parse(doc)
        except UnknownFieldError:
            raise
        except ResourceError as exc:
            raise ResourceError(f"creating resource from patched data: {exc}") from None
        try:
            resource.validated()
        except ResourceError as exc:
            raise ResourceError(f"updating existing resource: {exc}") from None
        return client.update(resource, current["metadata"]["resourceVersion"])

    client = context(ctx).client(config)
    try:
        retry_conflicts(apply_patch) if precondition is None else apply_patch()
    except UnknownFieldError as exc:
        raise Fail(str(exc)) from None
    except (ResourceError, StoreError) as exc:
        raise Fail(f"hit error: {exc}") from None
    click.echo(f"Successfully patched 1 '{kind.KIND}' resource")
