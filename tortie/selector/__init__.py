"""The Calico selector language: parse, canonical form, unique id, fast evaluation.

    >>> s = parse('role in {"web", "api"} && !has(legacy)')
    >>> s.matches({"role": "api"})
    True
    >>> s.canonical
    '(role in {"api", "web"} && !has(legacy))'
"""

from __future__ import annotations

import base64
import hashlib
from functools import cached_property, lru_cache
from typing import Callable

from .ast import All, And, Compare, Emitter, Global, Has, InSet, LabelRestriction, Labels, Node, Not, Or, Restrictions
from .parser import parse_tree
from .tokenizer import Kind, SelectorError, SelectorLimitError, Token, tokenize

__all__ = [
    "All",
    "And",
    "Compare",
    "Global",
    "Has",
    "InSet",
    "Kind",
    "LabelRestriction",
    "Node",
    "Not",
    "Or",
    "Selector",
    "SelectorError",
    "SelectorLimitError",
    "Token",
    "parse",
    "tokenize",
    "unique_id",
]


def unique_id(prefix: str, canonical: str) -> str:
    """``<prefix>:`` + base64url (no padding) of SHA-224 of ``<prefix>:<canonical>``."""
    digest = hashlib.sha224(f"{prefix}:{canonical}".encode()).digest()
    return f"{prefix}:" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


class Selector:
    """A parsed selector. Immutable; equal selectors share one canonical form and id."""

    def __init__(self, source: str, tree: Node) -> None:
        self.source = source
        self.tree = tree
        self._match: Callable[[Labels], bool] = Emitter().function(tree)

    def matches(self, labels: Labels) -> bool:
        """True if the label map satisfies the selector (compiled evaluation)."""
        return self._match(labels)

    def matches_naive(self, labels: Labels) -> bool:
        """The same answer by walking the tree: the reference for tests and benchmarks."""
        return self.tree.evaluate(labels)

    @cached_property
    def canonical(self) -> str:
        return self.tree.canonical()

    @cached_property
    def unique_id(self) -> str:
        return unique_id("s", self.canonical)

    @cached_property
    def label_restrictions(self) -> Restrictions:
        """Per label, a condition every matching label map satisfies (may be empty)."""
        return self.tree.restrictions()

    def with_label_prefix(self, prefix: str) -> Selector:
        """The same selector over label keys that carry ``prefix`` (e.g. ``pcns.``)."""
        tree = self.tree.prefixed(prefix)
        return Selector(tree.canonical(), tree)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Selector) and other.canonical == self.canonical

    def __hash__(self) -> int:
        return hash(self.canonical)

    def __repr__(self) -> str:
        return f"Selector({self.canonical!r})"

    def __str__(self) -> str:
        return self.source


@lru_cache(maxsize=65536)
def parse(text: str) -> Selector:
    """Parse selector text. Raises SelectorError (a ValueError) saying what and where."""
    return Selector(text, parse_tree(text))
