"""Reading resources from ``-f FILE`` or ``-f -`` (resources.md §1, cli.md §2–§3)."""

from __future__ import annotations

import sys
from typing import Any

from ..core import paused_gc
from ..resources import (DocumentError, Resource, ResourceError, UnsupportedKindError, decode, flatten, kind_from_cli,
                         kind_of, parse_documents)
from ..resources.limits import MAX_INPUT
from .context import Fail

DEFAULT_NAMESPACE = "default"


def read_input(filename: str) -> bytes:
    """The bytes of FILE, or of stdin for ``-``: at most one byte past the input limit, so
    that an endless device or pipe is refused (by ``decode``) instead of read to the end."""
    try:
        if filename == "-":
            return sys.stdin.buffer.read(MAX_INPUT + 1)
        with open(filename, "rb") as f:
            return f.read(MAX_INPUT + 1)
    except OSError as exc:
        raise DocumentError(f"cannot read {filename}: {exc.strerror}") from None


def load_file(filename: str, namespace: str | None) -> list[Resource]:
    """Every resource of the file, each validated completely, before anything is written."""
    text = decode(read_input(filename))
    with paused_gc():
        docs = flatten(parse_documents(text))
        if not docs:
            raise DocumentError("no resources specified in file")
        return [load_with_namespace(doc, namespace) for doc in docs]


def load_with_namespace(doc: dict[str, Any], namespace: str | None) -> Resource:
    kind = kind_of(doc)
    meta = doc.get("metadata")
    if kind.NAMESPACED and isinstance(meta, dict):
        given = meta.get("namespace")
        if given and namespace and given != namespace:
            raise ResourceError(f"resource namespace does not match client namespace. {given} != {namespace}")
        if not given:
            doc = {**doc, "metadata": {**meta, "namespace": namespace or DEFAULT_NAMESPACE}}
    return kind.load(doc)


def named_target(kind_name: str, namespace: str | None) -> tuple[type[Resource], str | None]:
    """The kind a KIND argument names and the namespace a NAME of it lives in (cli.md §3)."""
    try:
        kind = kind_from_cli(kind_name)
    except UnsupportedKindError as exc:
        raise Fail(f"Failed to execute command: {exc}") from None
    if namespace and not kind.NAMESPACED:
        raise Fail(f"{kind.KIND} is not namespaced")
    return kind, (namespace or DEFAULT_NAMESPACE) if kind.NAMESPACED else None
