"""YAML in and out (resources.md §1, cli.md §6), through PyYAML's C loader and dumper.

Input: ``---`` streams of documents, bounded. Output: calicoctl's YAML (sorted keys, block
style, strings that would read as another type double-quoted). Imported by ``codec`` on first
use only: PyYAML costs every command that neither reads nor writes YAML a noticeable share
of its start-up (bench/cli.py).
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

import yaml

from ..core import MAX_ALIAS_NODES, MAX_DEPTH, MAX_NUMBER_CHARS, shown
from .errors import DocumentError

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
    resolve: Callable[..., str] = dumper.resolve  # untyped in PyYAML
    plain_tag = resolve(yaml.ScalarNode, data, (True, False))
    style = '"' if plain_tag != "tag:yaml.org,2002:str" else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


Dumper.add_representer(str, _represent_str)


_STR = "tag:yaml.org,2002:str"
_NUMBERS = (_INT, "tag:yaml.org,2002:float")
_MERGE = "tag:yaml.org,2002:merge"
_MERGE_KEY = "<<"


def parse_documents(text: str) -> list[Any]:
    """Every non-empty YAML document of ``text``.

    Documents are built from libyaml's event stream rather than PyYAML's node
    composer, which calls back into Python several times per node; only plain
    scalars go through the resolver. An anchor is usable once its node is complete,
    so a structure cannot contain itself.

    Bounded whatever the input (``limits``): nesting depth, the characters of a number,
    and the values that aliases add in total, counted as if every alias were expanded
    (a few hundred bytes of nested aliases would otherwise stand for billions of
    values: Kubernetes' YAML decoder refuses "excessive aliasing" for the same reason).
    Raises DocumentError.
    """
    loader = Loader(text)
    builder = _EventBuilder(loader)
    try:
        docs = []
        event = loader.get_event()
        while type(event) is not yaml.StreamEndEvent:
            if type(event) is yaml.DocumentStartEvent:
                doc = builder.node(builder.next(), 1)
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
    finally:
        loader.dispose()


def _at(event: Any) -> str:
    return f"at line {event.start_mark.line + 1}, column {event.start_mark.column + 1}"


class _EventBuilder:
    """Values from events, with the bounds of ``parse_documents``. Anchors and the alias
    count span the whole input, as in libyaml."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader
        self.next: Callable[[], Any] = loader.get_event  # events: PyYAML's are untyped
        self.anchors: dict[str, tuple[Any, int]] = {}  # anchor -> (value, values in its expansion)
        self.built = 0  # values built so far, aliases counted as expanded
        self.aliased = 0  # of which through aliases
        # Plain scalars repeat (actions, protocols, ports): each distinct one is resolved once.
        self.resolved: dict[str, Any] = {}

    def node(self, event: Any, depth: int) -> Any:
        kind = type(event)
        if kind is yaml.AliasEvent:
            if event.anchor not in self.anchors:
                raise DocumentError(f"cannot parse YAML {_at(event)}: unknown or self-referencing alias "
                                    f"*{shown(event.anchor)}")
            value, size = self.anchors[event.anchor]
            self.built += size
            self.aliased += size
            if self.aliased > MAX_ALIAS_NODES:
                raise DocumentError(f"cannot parse YAML {_at(event)}: excessive aliasing (aliases stand for more "
                                    f"than {MAX_ALIAS_NODES:,} values)")
            return value
        if depth > MAX_DEPTH:
            raise DocumentError(f"cannot parse YAML {_at(event)}: nested deeper than {MAX_DEPTH} levels")
        start = self.built
        self.built += 1
        if kind is yaml.ScalarEvent:
            value = self.scalar(event)
        elif kind is yaml.MappingStartEvent:
            value = self.mapping(depth)
        elif kind is yaml.SequenceStartEvent:
            value = []
            item = self.next()
            while type(item) is not yaml.SequenceEndEvent:
                value.append(self.node(item, depth + 1))
                item = self.next()
        else:
            raise DocumentError(f"cannot parse YAML: unexpected {kind.__name__}")
        if event.anchor:
            self.anchors[event.anchor] = (value, self.built - start)
        return value

    def mapping(self, depth: int) -> dict[Any, Any]:
        value: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        key_event = self.next()
        while type(key_event) is not yaml.MappingEndEvent:
            if type(key_event) is yaml.ScalarEvent and not key_event.anchor and depth < MAX_DEPTH:
                self.built += 1  # the common key, a scalar: node() without its call
                key = self.scalar(key_event)
            else:
                key = self.node(key_event, depth + 1)
            item = self.node(self.next(), depth + 1)
            if key == _MERGE_KEY and type(key_event) is yaml.ScalarEvent and key_event.implicit[0]:
                for source in item if isinstance(item, list) else [item]:
                    if not isinstance(source, dict):
                        raise DocumentError("cannot parse YAML: a merge key (<<) needs a mapping")
                    merged = {**source, **merged}
            else:
                try:
                    duplicate = key in value
                    value[key] = item
                except TypeError:
                    raise DocumentError(f"cannot parse YAML at line {key_event.start_mark.line + 1}: "
                                        "a mapping key must be a scalar") from None
                if duplicate:
                    # sigs.k8s.io/yaml reads strictly for calicoctl: a key given twice is an error.
                    named = shown(json.dumps(key) if isinstance(key, str) else key)
                    raise DocumentError(f"cannot parse YAML at line {key_event.start_mark.line + 1}: "
                                        f"key {named} already set in map")
            key_event = self.next()
        return {**merged, **value} if merged else value

    def scalar(self, event: Any) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            value = event.value
            if not event.implicit[0] or (value and value[0] not in _TYPED_STARTS):
                return value
            if value in self.resolved:
                return self.resolved[value]
            resolve: Callable[..., str] = self.loader.resolve  # untyped in PyYAML
            tag = resolve(yaml.ScalarNode, value, event.implicit)
            if tag == _STR or tag == _MERGE:
                self.resolved[value] = value
                return value
        if tag in _NUMBERS and len(event.value) > MAX_NUMBER_CHARS:
            raise DocumentError(f"cannot parse YAML {_at(event)}: a number of {len(event.value):,} characters "
                                f"(at most {MAX_NUMBER_CHARS})")
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            value = self.loader.construct_object(node)
        except (ValueError, TypeError, OverflowError):
            raise DocumentError(f"cannot parse YAML {_at(event)}: '{shown(event.value)}' is not a valid "
                                f"{tag.rpartition(':')[2]}") from None
        if event.tag is None and event.implicit[0]:
            self.resolved[event.value] = value  # only immutable values come from plain scalars
        return value


def to_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=Dumper, default_flow_style=False, sort_keys=True, allow_unicode=True,
                     width=1 << 30, indent=2)
