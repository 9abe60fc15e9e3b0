"""Selector parse tree (selectors.md §2–§4).

Every node knows its canonical text, how to evaluate itself by walking the tree (the
naive reference evaluator), how to emit a Python expression for the compiled
evaluator, its label restrictions (a necessary condition used by label indexes) and
how to rewrite its label keys with a prefix (namespace selectors use ``pcns.``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

Labels = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class LabelRestriction:
    """What a label must look like for a selector to have any chance of matching.

    ``values`` is None when any value is possible, an empty set when no value is.
    """

    must_be_present: bool = False
    must_be_absent: bool = False
    values: frozenset[str] | None = None

    def both(self, other: LabelRestriction) -> LabelRestriction:
        """Restriction of ``a && b``."""
        if self.values is None:
            values = other.values
        elif other.values is None:
            values = self.values
        else:
            values = self.values & other.values
        return LabelRestriction(self.must_be_present or other.must_be_present,
                                self.must_be_absent or other.must_be_absent, values)

    def either(self, other: LabelRestriction) -> LabelRestriction:
        """Restriction of ``a || b``."""
        if self.values is None or other.values is None:
            values = None
        else:
            values = self.values | other.values
        return LabelRestriction(self.must_be_present and other.must_be_present,
                                self.must_be_absent and other.must_be_absent, values)

    @property
    def restricts(self) -> bool:
        return self.must_be_present or self.must_be_absent or self.values is not None


Restrictions = dict[str, LabelRestriction]


def quote(value: str) -> str:
    """Canonical string literal: double quotes unless the value contains one."""
    return f"'{value}'" if '"' in value else f'"{value}"'


class Emitter:
    """Collects constants while a tree is turned into one Python expression."""

    def __init__(self) -> None:
        self.consts: dict[str, object] = {}

    def const(self, value: object) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    def function(self, node: Node) -> Callable[[Labels], bool]:
        body = node.emit(self)
        code = compile(f"lambda L: {body}", "<selector>", "eval")
        function: Callable[[Labels], bool] = eval(code, {"__builtins__": {}, **self.consts})  # noqa: S307 - generated
        return function


class Node:
    __slots__ = ()

    def canonical(self) -> str:
        raise NotImplementedError

    def evaluate(self, labels: Labels) -> bool:
        raise NotImplementedError

    def emit(self, e: Emitter) -> str:
        raise NotImplementedError

    def restrictions(self) -> Restrictions:
        return {}

    def prefixed(self, prefix: str) -> Node:
        return self


@dataclass(frozen=True, slots=True)
class All(Node):
    def canonical(self) -> str:
        return "all()"

    def evaluate(self, labels: Labels) -> bool:
        return True

    def emit(self, e: Emitter) -> str:
        return "True"


@dataclass(frozen=True, slots=True)
class Global(All):
    def canonical(self) -> str:
        return "global()"


@dataclass(frozen=True, slots=True)
class Has(Node):
    label: str

    def canonical(self) -> str:
        return f"has({self.label})"

    def evaluate(self, labels: Labels) -> bool:
        return self.label in labels

    def emit(self, e: Emitter) -> str:
        return f"({self.label!r} in L)"

    def restrictions(self) -> Restrictions:
        return {self.label: LabelRestriction(must_be_present=True)}

    def prefixed(self, prefix: str) -> Node:
        return Has(prefix + self.label)


# Comparison operators: canonical spelling -> (naive test, emitted test on ``v``).
_CMP: dict[str, tuple[Callable[[str, str], bool], str]] = {
    "==": (lambda have, want: have == want, "v == {w}"),
    "!=": (lambda have, want: have != want, "v != {w}"),
    "contains": (lambda have, want: want in have, "{w} in v"),
    "starts with": (lambda have, want: have.startswith(want), "v.startswith({w})"),
    "ends with": (lambda have, want: have.endswith(want), "v.endswith({w})"),
}


@dataclass(frozen=True, slots=True)
class Compare(Node):
    label: str
    op: str  # a key of _CMP
    value: str

    def canonical(self) -> str:
        return f"{self.label} {self.op} {quote(self.value)}"

    def evaluate(self, labels: Labels) -> bool:
        if self.label not in labels:
            return self.op == "!="
        return _CMP[self.op][0](labels[self.label], self.value)

    def emit(self, e: Emitter) -> str:
        get = f"L.get({self.label!r})"
        if self.op == "==":
            return f"({get} == {self.value!r})"
        if self.op == "!=":
            return f"({get} != {self.value!r})"
        test = _CMP[self.op][1].format(w=repr(self.value))
        return f"((v := {get}) is not None and {test})"

    def restrictions(self) -> Restrictions:
        if self.op == "!=":
            return {}
        values = frozenset((self.value,)) if self.op == "==" else None
        return {self.label: LabelRestriction(must_be_present=True, values=values)}

    def prefixed(self, prefix: str) -> Node:
        return Compare(prefix + self.label, self.op, self.value)


@dataclass(frozen=True, slots=True)
class InSet(Node):
    label: str
    values: tuple[str, ...]  # de-duplicated, sorted by code point
    negated: bool

    def canonical(self) -> str:
        members = ", ".join(quote(v) for v in self.values)
        return f"{self.label} {'not in' if self.negated else 'in'} {{{members}}}"

    def evaluate(self, labels: Labels) -> bool:
        if self.label not in labels:
            return self.negated
        return (labels[self.label] in self.values) != self.negated

    def emit(self, e: Emitter) -> str:
        values = e.const(frozenset(self.values))
        return f"(L.get({self.label!r}) {'not in' if self.negated else 'in'} {values})"

    def restrictions(self) -> Restrictions:
        if self.negated:
            return {}
        return {self.label: LabelRestriction(must_be_present=True, values=frozenset(self.values))}

    def prefixed(self, prefix: str) -> Node:
        return InSet(prefix + self.label, self.values, self.negated)


@dataclass(frozen=True, slots=True)
class Not(Node):
    operand: Node

    def canonical(self) -> str:
        return "!" + self.operand.canonical()

    def evaluate(self, labels: Labels) -> bool:
        return not self.operand.evaluate(labels)

    def emit(self, e: Emitter) -> str:
        return f"(not {self.operand.emit(e)})"

    def restrictions(self) -> Restrictions:
        if isinstance(self.operand, Has):
            return {self.operand.label: LabelRestriction(must_be_absent=True)}
        if isinstance(self.operand, Not):
            return self.operand.operand.restrictions()
        return {}

    def prefixed(self, prefix: str) -> Node:
        return Not(self.operand.prefixed(prefix))


@dataclass(frozen=True, slots=True)
class And(Node):
    operands: tuple[Node, ...]

    def canonical(self) -> str:
        return "(" + " && ".join(o.canonical() for o in self.operands) + ")"

    def evaluate(self, labels: Labels) -> bool:
        return all(o.evaluate(labels) for o in self.operands)

    def emit(self, e: Emitter) -> str:
        return "(" + " and ".join(o.emit(e) for o in self.operands) + ")"

    def restrictions(self) -> Restrictions:
        merged: Restrictions = {}
        for operand in self.operands:
            for label, r in operand.restrictions().items():
                merged[label] = merged[label].both(r) if label in merged else r
        return merged

    def prefixed(self, prefix: str) -> Node:
        return And(tuple(o.prefixed(prefix) for o in self.operands))


@dataclass(frozen=True, slots=True)
class Or(Node):
    operands: tuple[Node, ...]

    def canonical(self) -> str:
        return "(" + " || ".join(o.canonical() for o in self.operands) + ")"

    def evaluate(self, labels: Labels) -> bool:
        return any(o.evaluate(labels) for o in self.operands)

    def emit(self, e: Emitter) -> str:
        return "(" + " or ".join(o.emit(e) for o in self.operands) + ")"

    def restrictions(self) -> Restrictions:
        # Only a label restricted by every branch is restricted by the whole.
        merged = self.operands[0].restrictions()
        for operand in self.operands[1:]:
            other = operand.restrictions()
            merged = {label: r.either(other[label]) for label, r in merged.items() if label in other}
        return {label: r for label, r in merged.items() if r.restricts}

    def prefixed(self, prefix: str) -> Node:
        return Or(tuple(o.prefixed(prefix) for o in self.operands))
