"""YAML and JSON in and out (resources.md §1, cli.md §6).

Input: one resource, ``---`` streams, top-level sequences and ``<Kind>List`` objects,
in any mix. Output: calicoctl's YAML (sorted keys, block style, strings that would read
as another type double-quoted) and JSON (2-space indent, sorted keys).
"""

from __future__ import annotations

import gc
import json
import re
from contextlib import contextmanager
from typing import Any, Iterator

import yaml

from .errors import DocumentError, UnknownKindError
from .kinds import BY_KIND
from .resource import API_VERSION, Resource

MAX_INPUT = 64 * 1024 * 1024
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_INT = "tag:yaml.org,2002:int"
# YAML 1.1 integers without the base-60 form, which would read a port range 10:20 as 620.
_INT_NO_SEXAGESIMAL = re.compile(
    r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$")


def _without_timestamps(resolvers: dict[str, list[tuple[str, Any]]]) -> dict[str, list[tuple[str, Any]]]:
    # Timestamps stay strings: creationTimestamp round-trips as written, unquoted.
    return {first: [(tag, rx) for tag, rx in rules if tag != _TIMESTAMP] for first, rules in resolvers.items()}


def _input_resolvers() -> dict[str, list[tuple[str, Any]]]:
    resolvers = _without_timestamps(yaml.CSafeLoader.yaml_implicit_resolvers)
    return {first: [(tag, _INT_NO_SEXAGESIMAL if tag == _INT else rx) for tag, rx in rules]
            for first, rules in resolvers.items()}


class Loader(yaml.CSafeLoader):
    yaml_implicit_resolvers = _input_resolvers()


# A plain scalar whose first character starts no implicit type (bool, int, null...) is a string.
_TYPED_STARTS = frozenset(k for k in Loader.yaml_implicit_resolvers if k)


class Dumper(yaml.CSafeDumper):
    yaml_implicit_resolvers = _without_timestamps(yaml.CSafeDumper.yaml_implicit_resolvers)


def _represent_str(dumper: Dumper, data: str) -> yaml.ScalarNode:
    plain_tag = dumper.resolve(yaml.ScalarNode, data, (True, False))
    style = '"' if plain_tag != "tag:yaml.org,2002:str" else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


Dumper.add_representer(str, _represent_str)


def decode(data: bytes) -> str:
    if len(data) > MAX_INPUT:
        raise DocumentError(f"input is larger than {MAX_INPUT // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"input is not UTF-8 text (invalid byte at offset {exc.start})") from None


_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_MERGE_KEY = "<<"


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector during a bulk load.

    Loading builds only acyclic data, which reference counting frees; the cyclic
    collector would otherwise rescan the growing heap over and over (half the time
    of loading 10,000 policies, measured with bench/load.py).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_documents(text: str) -> list[Any]:
    """Every non-empty YAML document of ``text``.

    Documents are built from libyaml's event stream rather than PyYAML's node
    composer, which calls back into Python several times per node; only plain
    scalars go through the resolver. An anchor is usable once its node is complete,
    so a structure cannot contain itself.
    """
    loader = Loader(text)
    try:
        docs = []
        event = loader.get_event()
        while type(event) is not yaml.StreamEndEvent:
            if type(event) is yaml.DocumentStartEvent:
                doc = _EventBuilder(loader).node(loader.get_event())
                loader.get_event()  # DocumentEndEvent
                if doc is not None:
                    docs.append(doc)
            event = loader.get_event()
        return docs
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DocumentError(f"cannot parse YAML{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise DocumentError(f"cannot parse YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise DocumentError("cannot parse YAML: structure nested too deeply") from None
    finally:
        loader.dispose()


class _EventBuilder:
    def __init__(self, loader: Loader) -> None:
        self.loader = loader
        self.next = loader.get_event
        self.anchors: dict[str, Any] = {}

    def node(self, event: yaml.Event) -> Any:
        kind = type(event)
        if kind is yaml.ScalarEvent:
            value = self.scalar(event)
        elif kind is yaml.MappingStartEvent:
            value = self.mapping()
        elif kind is yaml.SequenceStartEvent:
            value = []
            item = self.next()
            while type(item) is not yaml.SequenceEndEvent:
                value.append(self.node(item))
                item = self.next()
        elif kind is yaml.AliasEvent:
            if event.anchor not in self.anchors:
                raise DocumentError(f"cannot parse YAML at line {event.start_mark.line + 1}: "
                                    f"unknown or self-referencing alias *{event.anchor}")
            return self.anchors[event.anchor]
        else:
            raise DocumentError(f"cannot parse YAML: unexpected {kind.__name__}")
        if event.anchor:
            self.anchors[event.anchor] = value
        return value

    def mapping(self) -> dict[Any, Any]:
        value: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        key_event = self.next()
        while type(key_event) is not yaml.MappingEndEvent:
            key = self.node(key_event)
            item = self.node(self.next())
            if key == _MERGE_KEY and type(key_event) is yaml.ScalarEvent and key_event.implicit[0]:
                for source in item if isinstance(item, list) else [item]:
                    if not isinstance(source, dict):
                        raise DocumentError("cannot parse YAML: a merge key (<<) needs a mapping")
                    merged = {**source, **merged}
            else:
                try:
                    value[key] = item
                except TypeError:
                    raise DocumentError(f"cannot parse YAML at line {key_event.start_mark.line + 1}: "
                                        "a mapping key must be a scalar") from None
            key_event = self.next()
        return {**merged, **value} if merged else value

    def scalar(self, event: yaml.ScalarEvent) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            value = event.value
            if not event.implicit[0] or (value and value[0] not in _TYPED_STARTS):
                return value
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
            if tag == _STR or tag == _MERGE:
                return event.value
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        return self.loader.construct_object(node)


def flatten(docs: list[Any]) -> list[dict[str, Any]]:
    """Expand sequences and ``<Kind>List`` objects into single resource mappings."""
    out: list[dict[str, Any]] = []
    for doc in docs:
        if isinstance(doc, list):
            out += flatten(doc)
        elif isinstance(doc, dict) and isinstance(doc.get("kind"), str) and doc["kind"].endswith("List") \
                and doc["kind"][:-4] in BY_KIND and "items" in doc:
            items = doc["items"]
            if not isinstance(items, list):
                raise DocumentError(f"items of {doc['kind']} must be a list")
            out += flatten(items)
        elif isinstance(doc, dict):
            out.append(doc)
        else:
            raise DocumentError(f"expected a resource (a mapping), found {type(doc).__name__}: {str(doc)[:60]}")
    return out


def kind_of(doc: dict[str, Any]) -> type[Resource]:
    kind, version = doc.get("kind"), doc.get("apiVersion")
    if version != API_VERSION or not isinstance(kind, str) or kind not in BY_KIND:
        raise UnknownKindError(kind, version)
    return BY_KIND[kind]


def load_resource(doc: dict[str, Any]) -> Resource:
    return kind_of(doc).load(doc)


def to_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=Dumper, default_flow_style=False, sort_keys=True, allow_unicode=True,
                     width=1 << 30, indent=2)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
