"""YAML and JSON in and out (resources.md §1, cli.md §6).

Input: one resource, ``---`` streams, top-level sequences and ``<Kind>List`` objects,
in any mix. Output: calicoctl's YAML (sorted keys, block style, strings that would read
as another type double-quoted) and JSON (2-space indent, sorted keys). The YAML half is
``yamlcodec``, imported when YAML is first read or written.
"""

from __future__ import annotations

import json
from typing import Any

from ..core import MAX_INPUT, shown
from .errors import DocumentError, UnknownKindError
from .kinds import BY_TYPE
from .resource import Resource


def decode(data: bytes) -> str:
    if len(data) > MAX_INPUT:
        raise DocumentError(f"input is larger than {MAX_INPUT // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"input is not UTF-8 text (invalid byte at offset {exc.start})") from None


def parse_documents(text: str) -> list[Any]:
    """Every non-empty YAML document of ``text``, bounded (``yamlcodec.parse_documents``).
    Raises DocumentError."""
    from . import yamlcodec
    return yamlcodec.parse_documents(text)


def to_yaml(data: Any) -> str:
    """``data`` as calicoctl prints YAML (``yamlcodec.to_yaml``)."""
    from . import yamlcodec
    return yamlcodec.to_yaml(data)


def flatten(docs: list[Any]) -> list[dict[str, Any]]:
    """Expand sequences and ``<Kind>List`` objects into single resource mappings."""
    out: list[dict[str, Any]] = []
    for doc in docs:
        if isinstance(doc, list):
            out += flatten(doc)
        elif isinstance(doc, dict) and isinstance(doc.get("kind"), str) and doc["kind"].endswith("List") \
                and (doc.get("apiVersion"), doc["kind"][:-4]) in BY_TYPE and "items" in doc:
            items = doc["items"]
            if not isinstance(items, list):
                raise DocumentError(f"items of {doc['kind']} must be a list")
            out += flatten(items)
        elif isinstance(doc, dict):
            out.append(doc)
        else:
            raise DocumentError(f"expected a resource (a mapping), found {type(doc).__name__}: {shown(doc, 60)}")
    return out


def kind_of(doc: dict[str, Any]) -> type[Resource]:
    kind, version = doc.get("kind"), doc.get("apiVersion")
    found = BY_TYPE.get((version, kind)) if isinstance(version, str) and isinstance(kind, str) else None
    if found is None:
        raise UnknownKindError(kind, version)
    return found


def load_resource(doc: dict[str, Any], client_defaults: bool = True) -> Resource:
    """Decode, default and validate one document (Resource.load). Raises ResourceError."""
    return kind_of(doc).load(doc, client_defaults)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
