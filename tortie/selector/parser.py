"""Recursive-descent selector parser (selectors.md §2, §5)."""

from __future__ import annotations

from .ast import All, And, Compare, Global, Has, InSet, Node, Not, Or
from .tokenizer import Kind, SelectorError, SelectorLimitError, Token, tokenize

# Parentheses nest at most this deep. Calico sets no bound, but a parser that recurses must
# stop somewhere with a clear error, and the compiled matcher nests three Python
# parentheses per level under Python's own limit of 200 (issue 15).
MAX_NESTING = 50

_COMPARISONS = {
    Kind.Eq: "==",
    Kind.Ne: "!=",
    Kind.Contains: "contains",
    Kind.StartsWith: "starts with",
    Kind.EndsWith: "ends with",
}


def parse_tree(text: str) -> Node:
    """Parse selector text into its tree. Raises SelectorError."""
    parser = _Parser(tokenize(text))
    if parser.at_end():
        return All()
    node = parser.or_expr()
    if not parser.at_end():
        raise SelectorError("unexpected content at end", parser.peek.offset)
    return node


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.pos]

    def at_end(self) -> bool:
        return self.peek.kind is Kind.EOF

    def take(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind is not Kind.EOF:
            self.pos += 1
        return token

    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.peek.kind is Kind.Or:
            self.take()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.unary()]
        while self.peek.kind is Kind.And:
            self.take()
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self) -> Node:
        negated = False
        while self.peek.kind is Kind.Not:
            self.take()
            negated = not negated
        node = self.primary()
        return Not(node) if negated else node

    def primary(self) -> Node:
        token = self.take()
        if token.kind is Kind.All:
            return All()
        if token.kind is Kind.Global:
            return Global()
        if token.kind is Kind.Has:
            return Has(token.value)
        if token.kind is Kind.Label:
            return self.operation(token.value)
        if token.kind is Kind.LParen:
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise SelectorLimitError(f"parentheses nested deeper than {MAX_NESTING}", token.offset)
            node = self.or_expr()
            self.depth -= 1
            if self.peek.kind is not Kind.RParen:
                raise SelectorError("expected )", self.peek.offset)
            self.take()
            return node
        raise SelectorError("unexpected token", token.offset)

    def operation(self, label: str) -> Node:
        op = self.take()
        if op.kind in _COMPARISONS:
            value = self.take()
            if value.kind is not Kind.StringLiteral:
                raise SelectorError("expected string", value.offset)
            return Compare(label, _COMPARISONS[op.kind], value.value)
        if op.kind in (Kind.In, Kind.NotIn):
            return InSet(label, self.set_literal(), op.kind is Kind.NotIn)
        raise SelectorError("expected operator after label", op.offset)

    def set_literal(self) -> tuple[str, ...]:
        brace = self.take()
        if brace.kind is not Kind.LBrace:
            raise SelectorError("expected set literal", brace.offset)
        members: set[str] = set()
        while True:
            token = self.take()
            if token.kind is Kind.RBrace:
                break
            if token.kind is not Kind.StringLiteral:
                raise SelectorError("expected }", token.offset)
            members.add(token.value)
            sep = self.take()
            if sep.kind is Kind.RBrace:
                break
            if sep.kind is not Kind.Comma:
                raise SelectorError("expected }", sep.offset)
        return tuple(sorted(members))
