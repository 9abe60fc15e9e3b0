"""YAML in and out (resources.md §1, cli.md §6), through PyYAML's C loader and dumper.

Input: ``---`` streams of documents, bounded. Output: calicoctl's YAML (sorted keys, block
style, strings that would read as another type double-quoted). Imported by ``codec`` on first
use only: PyYAML costs every command that neither reads nor writes YAML a noticeable share
of its start-up (bench/cli.py).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable

import yaml

from ..core import MAX_ALIAS_NODES, MAX_DEPTH, MAX_NUMBER_CHARS, shown
from .errors import DocumentError

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


def _without_timestamps(resolvers: dict[str, list[tuple[str, Any]]]) -> dict[str, list[tuple[str, Any]]]:
    # Timestamps stay strings: creationTimestamp round-trips as written, unquoted.
    return {first: [(tag, rx) for tag, rx in rules if tag != _TIMESTAMP] for first, rules in resolvers.items()}


class Loader(yaml.CSafeLoader):
    """Builds explicitly tagged scalars (``!!int``...); plain ones go through ``resolve_plain``."""


# Plain scalars resolve as sigs.k8s.io/yaml's go-yaml v2 resolves them for calicoctl
# (goyaml.v2/resolve.go): these words, then by first character: a digit or sign tries an
# integer (any base, underscores dropped), then a float; a dot tries a float; else a string.
_WORDS: dict[str, Any] = {
    # go-yaml v2 also reads y, Y, n and N as bools; tortie keeps them strings (docs/decisions.md).
    **dict.fromkeys(["yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"], True),
    **dict.fromkeys(["no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"], False),
    **dict.fromkeys(["", "~", "null", "Null", "NULL"], None),
    **dict.fromkeys([".nan", ".NaN", ".NAN"], math.nan),
    **dict.fromkeys([".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"], math.inf),
    **dict.fromkeys(["-.inf", "-.Inf", "-.INF"], -math.inf),
}
# Go's strconv.ParseInt/ParseUint with base 0 (after the underscores are dropped).
_GO_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)\Z")
_GO_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")  # yamlStyleFloat
_INT64_MIN, _UINT64_MAX = -(1 << 63), (1 << 64) - 1
# A plain scalar whose first character starts none of the above is a string.
_TYPED_STARTS = frozenset("+-0123456789.yYnNtTfFoO~")  # as go-yaml's resolve table
_STRING = object()


def _go_int(text: str) -> int:
    sign = -1 if text[0] == "-" else 1
    digits = text.lstrip("+-")
    prefix = digits[:2].lower()
    if prefix in ("0x", "0o", "0b"):
        return sign * int(digits[2:], {"x": 16, "o": 8, "b": 2}[prefix[1]])
    return sign * int(digits, 8 if digits[0] == "0" else 10)


def resolve_plain(text: str) -> Any:
    """The value of the plain (unquoted, untagged) scalar ``text`` as calicoctl's YAML
    decoder reads it: bool, None, int, float (non-finite included) or ``_STRING``.

    Follows go-yaml v2's resolve (sigs.k8s.io/yaml, goyaml.v2/resolve.go) except that
    timestamps and ``y``/``n`` stay strings: ``1e3`` and ``8e1`` are floats, ``0x10``, ``0o17``,
    ``017``, ``0b101`` and ``1_000`` integers, ``08`` the float 8, ``1e400`` a string.
    """
    if text in _WORDS:
        return _WORDS[text]
    first = text[0]
    if first == ".":
        if not _GO_FLOAT.match(text):
            return _STRING
        if len(text) > MAX_NUMBER_CHARS:
            raise ValueError(f"a number of {len(text):,} characters (at most {MAX_NUMBER_CHARS})")
        return float(text)
    if first not in "+-0123456789":
        return _STRING
    plain = text.replace("_", "")
    if len(plain) > MAX_NUMBER_CHARS and (_GO_INT.match(plain) or _GO_FLOAT.match(plain)):
        raise ValueError(f"a number of {len(text):,} characters (at most {MAX_NUMBER_CHARS})")
    if _GO_INT.match(plain):
        value = _go_int(plain)
        if _INT64_MIN <= value <= _UINT64_MAX:
            return value
        if not _GO_FLOAT.match(plain):
            # Out of 64 bits: go-yaml's big.Int, when only the range failed (no sign: ParseUint's syntax).
            return value if plain[0] not in "+-" else _STRING
    if _GO_FLOAT.match(plain):
        number = float(plain)
        return number if math.isfinite(number) else _STRING  # strconv.ParseFloat's range error
    return _STRING


class Dumper(yaml.CSafeDumper):
    yaml_implicit_resolvers = _without_timestamps(yaml.CSafeDumper.yaml_implicit_resolvers)


def _represent_str(dumper: Dumper, data: str) -> yaml.ScalarNode:
    resolve: Callable[..., str] = dumper.resolve  # untyped in PyYAML
    plain_tag = resolve(yaml.ScalarNode, data, (True, False))
    # Quoted when PyYAML or calicoctl's go-yaml would read it plain as another type ("1e3").
    typed = plain_tag != "tag:yaml.org,2002:str" or (data and data[0] in _TYPED_STARTS
                                                     and resolve_plain(data) is not _STRING)
    style = '"' if typed else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


Dumper.add_representer(str, _represent_str)


_NUMBERS = (_INT, _FLOAT)
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
            text = event.value
            if not event.implicit[0] or (text and text[0] not in _TYPED_STARTS):
                return text
            if text in self.resolved:
                return self.resolved[text]
            try:
                value = resolve_plain(text)
            except ValueError as exc:
                raise DocumentError(f"cannot parse YAML {_at(event)}: {exc}") from None
            value = text if value is _STRING else _finite(value, event)
            self.resolved[text] = value  # only immutable values come from plain scalars
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
        return _finite(value, event)


def _finite(value: Any, event: Any) -> Any:
    """``value`` unless it is a float JSON cannot hold: sigs.k8s.io/yaml turns YAML into JSON
    for calicoctl, and Go's encoding/json refuses NaN and infinities."""
    if type(value) is float and not math.isfinite(value):
        raise DocumentError(f"cannot parse YAML {_at(event)}: '{shown(event.value)}' is not a finite number "
                            "(JSON has no NaN or infinity)")
    return value


def to_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=Dumper, default_flow_style=False, sort_keys=True, allow_unicode=True,
                     width=1 << 30, indent=2)
