"""Stored keys and values as resources: the one decoding step every reader of the store uses.

A resource lives at ``/calico/resources/v3/projectcalico.org/<plural>/[<ns>/]<name>``
(resources.md §9). Whoever can write to the store can put anything there, so a stored
value is decoded exactly once, here, into either a ``StoredResource`` (a JSON object
whose kind, name and namespace are those of its key) or an ``InvalidValue`` (the key,
and one line saying what is wrong). ``decode_stored`` never raises: the agent, the
snapshot, the CLI and the lab all see the same answer for the same bytes.

Identity comes from the key. A document that names another resource, or another kind,
than its key is invalid, not a resource of its own (issue 15, class 5): otherwise a
value could be enforced under a name that nobody can fetch or delete.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ..core import MAX_DEPTH, MAX_NUMBER_CHARS, deeper_than, shorten, shown
from ..resources import ALL_KINDS, Resource
from ..store import KeyValue

PREFIX = "/calico/resources/v3/projectcalico.org/"
_BY_PLURAL = {kind.PLURAL: kind for kind in ALL_KINDS}

Doc = dict[str, Any]


@dataclass(frozen=True)
class StoredKey:
    """The identity a resource key gives: kind, name and (for namespaced kinds) namespace."""

    key: str
    kind: type[Resource]
    name: str
    namespace: str | None


@dataclass(frozen=True)
class StoredResource(StoredKey):
    """A decoded value: ``doc`` is its JSON object, ``metadata.resourceVersion`` set to the
    key's modification revision; its kind, name and namespace are the key's."""

    doc: Doc


@dataclass(frozen=True)
class InvalidValue(StoredKey):
    """A value at a resource key that is not that resource; ``reason`` is one short line."""

    reason: str

    def __str__(self) -> str:
        return f"{shorten(self.key)} holds no valid {self.kind.KIND}: {self.reason}"


def key_prefix(kind: type[Resource], namespace: str | None = None) -> str:
    base = PREFIX + kind.PLURAL + "/"
    return base + f"{namespace}/" if kind.NAMESPACED and namespace else base


def resource_key(kind: type[Resource], name: str, namespace: str | None) -> str:
    return key_prefix(kind, namespace if kind.NAMESPACED else None) + name


def parse_key(key: str) -> StoredKey | None:
    """The identity of a resource key; None for keys that are not a resource's
    (another prefix, an unknown kind, a missing or extra path part)."""
    if not key.startswith(PREFIX):
        return None
    plural, _, rest = key[len(PREFIX):].partition("/")
    kind = _BY_PLURAL.get(plural)
    if kind is None:
        return None
    parts = rest.split("/")
    if len(parts) != (2 if kind.NAMESPACED else 1) or not all(parts):
        return None
    return StoredKey(key, kind, parts[-1], parts[0] if kind.NAMESPACED else None)


class _Refused(ValueError):
    pass


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})")
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"a number out of range ({text})")
    return value


def _constant(text: str) -> Any:
    raise _Refused(f"{text} is not JSON")


def _load_json(value: bytes) -> Any:
    """The JSON value of ``value``. Raises _Refused with the reason."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Refused(f"not UTF-8 text (invalid byte at offset {exc.start})") from None
    try:
        data = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except _Refused:
        raise
    except RecursionError:
        raise _Refused(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        where = f" at character {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
        raise _Refused(f"not JSON ({shorten(reason, 60)}{where})") from None
    if deeper_than(data):
        raise _Refused(f"nested deeper than {MAX_DEPTH} levels")
    return data


_JSON_TYPES = ((bool, "boolean"), (int, "number"), (float, "number"), (str, "string"), (list, "list"),
               (dict, "map"))


def _kind_name(value: Any) -> str:
    """The JSON type of a decoded value, in the words of the API's errors."""
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), "null")


def _check_identity(doc: Doc, at: StoredKey) -> None:
    """Raises _Refused unless the document is an object of the key's kind, name and namespace."""
    kind, version, meta = doc.get("kind"), doc.get("apiVersion"), doc.get("metadata")
    if kind != at.kind.KIND:
        raise _Refused(f"its kind is '{shown(kind)}', the key's is {at.kind.KIND}")
    if version != at.kind.API:
        raise _Refused(f"apiVersion is '{shown(version)}', not {at.kind.API}")
    if not isinstance(meta, dict):
        raise _Refused(f"metadata is a {_kind_name(meta)}, not a map")
    if meta.get("name") != at.name:
        raise _Refused(f"metadata.name is '{shown(meta.get('name'))}', the key's name is '{shorten(at.name)}'")
    namespace = meta.get("namespace")
    if namespace != at.namespace:
        expected = f"'{shorten(at.namespace)}'" if at.namespace is not None else "none"
        raise _Refused(f"metadata.namespace is '{shown(namespace)}', the key's namespace is {expected}")
    spec = doc.get("spec")
    if spec is not None and not isinstance(spec, dict):
        raise _Refused(f"spec is a {_kind_name(spec)}, not a map")


def decode_stored(kv: KeyValue) -> StoredResource | InvalidValue | None:
    """The resource stored in ``kv``: a StoredResource, an InvalidValue saying why it is not
    one, or None when ``kv.key`` is not a resource key at all. Never raises."""
    at = parse_key(kv.key)
    if at is None:
        return None
    try:
        doc = _load_json(kv.value)
        if not isinstance(doc, dict):
            raise _Refused(f"the value is a JSON {_kind_name(doc)}, not an object")
        _check_identity(doc, at)
    except _Refused as exc:
        return InvalidValue(at.key, at.kind, at.name, at.namespace, str(exc))
    meta = {**doc["metadata"], "resourceVersion": str(kv.mod_revision)}
    return StoredResource(at.key, at.kind, at.name, at.namespace, {**doc, "metadata": meta})
