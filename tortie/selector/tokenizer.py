"""Selector tokenizer (selectors.md §1).

Token kinds carry the names of Calico's Go tokenizer (without the ``Tok`` prefix) so
that Calico's own tokenizer vectors can be checked directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class SelectorError(ValueError):
    """A selector that does not parse. The message says what is wrong and where."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} at offset {offset}")
        self.reason = reason
        self.offset = offset


class SelectorLimitError(SelectorError):
    """A selector Calico's grammar allows but tortie's bounds refuse (parser.MAX_NESTING)."""


class Kind(Enum):
    Label = "Label"
    StringLiteral = "StringLiteral"
    LBrace = "LBrace"
    RBrace = "RBrace"
    Comma = "Comma"
    Eq = "Eq"
    Ne = "Ne"
    In = "In"
    Not = "Not"
    NotIn = "NotIn"
    Contains = "Contains"
    StartsWith = "StartsWith"
    EndsWith = "EndsWith"
    All = "All"
    Has = "Has"
    LParen = "LParen"
    RParen = "RParen"
    And = "And"
    Or = "Or"
    Global = "Global"
    EOF = "EOF"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    value: str
    offset: int


MAX_LABEL = 512
LABEL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./-")
_WS = " \t\r\n"
_LABEL_RE = re.compile(r"[A-Za-z0-9_./-]+")
# Word operators: recognised only straight after a label, and only when the next
# character cannot continue a label (selectors.md §1).
_WORD_OPS = (
    (re.compile(r"not[ \t\r\n]*in(?![A-Za-z0-9_./-])"), Kind.NotIn),
    (re.compile(r"in(?![A-Za-z0-9_./-])"), Kind.In),
    (re.compile(r"contains(?![A-Za-z0-9_./-])"), Kind.Contains),
    (re.compile(r"starts[ \t\r\n]*with(?![A-Za-z0-9_./-])"), Kind.StartsWith),
    (re.compile(r"ends[ \t\r\n]*with(?![A-Za-z0-9_./-])"), Kind.EndsWith),
)
_FUNC_ARGS = re.compile(r"[ \t\r\n]*\)")
_HAS_ARG = re.compile(r"[ \t\r\n]*([A-Za-z0-9_./-]+)[ \t\r\n]*")
_PUNCT = {"(": Kind.LParen, ")": Kind.RParen, "{": Kind.LBrace, "}": Kind.RBrace, ",": Kind.Comma}
_PAIRS = {"=": ("=", Kind.Eq, "expected =="), "&": ("&", Kind.And, "expected &&"),
          "|": ("|", Kind.Or, "expected ||")}


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an EOF token. Raises SelectorError."""
    tokens: list[Token] = []
    pos, end = 0, len(text)
    after_label = False
    while True:
        while pos < end and text[pos] in _WS:
            pos += 1
        if pos >= end:
            tokens.append(Token(Kind.EOF, "", pos))
            return tokens
        if after_label:
            after_label = False
            op = _word_operator(text, pos)
            if op is not None:
                tokens.append(Token(op[0], "", pos))
                pos = op[1]
                continue
            if text[pos] in LABEL_CHARS:
                raise SelectorError("expected operator after label", pos)
        c = text[pos]
        if c in _PUNCT:
            tokens.append(Token(_PUNCT[c], "", pos))
            pos += 1
        elif c == '"' or c == "'":
            close = text.find(c, pos + 1)
            if close < 0:
                raise SelectorError("unterminated string", pos)
            tokens.append(Token(Kind.StringLiteral, text[pos + 1:close], pos))
            pos = close + 1
        elif c == "!":
            if text.startswith("!=", pos):
                tokens.append(Token(Kind.Ne, "", pos))
                pos += 2
            else:
                tokens.append(Token(Kind.Not, "", pos))
                pos += 1
        elif c in _PAIRS:
            second, kind, reason = _PAIRS[c]
            if not text.startswith(second, pos + 1):
                raise SelectorError(reason, pos)
            tokens.append(Token(kind, "", pos))
            pos += 2
        elif c in LABEL_CHARS:
            m = _LABEL_RE.match(text, pos)
            assert m is not None
            word = m.group()
            if m.end() < end and text[m.end()] == "(" and word in ("all", "global", "has"):
                pos = _function(text, word, pos, m.end() + 1, tokens)
                continue
            if len(word) > MAX_LABEL:
                raise SelectorError("label too long", pos)
            tokens.append(Token(Kind.Label, word, pos))
            pos = m.end()
            after_label = True
        else:
            raise SelectorError("unexpected character", pos)


def _word_operator(text: str, pos: int) -> tuple[Kind, int] | None:
    for regex, kind in _WORD_OPS:
        m = regex.match(text, pos)
        if m:
            return kind, m.end()
    return None


def _function(text: str, name: str, start: int, pos: int, tokens: list[Token]) -> int:
    """Tokenize ``all()``, ``global()`` or ``has(label)``; ``pos`` is just after ``(``."""
    if name == "has":
        m = _HAS_ARG.match(text, pos)
        if not m:
            raise SelectorError("expected label", pos)
        if len(m.group(1)) > MAX_LABEL:
            raise SelectorError("label too long", m.start(1))
        if not text.startswith(")", m.end()):
            raise SelectorError("expected )", m.end())
        tokens.append(Token(Kind.Has, m.group(1), start))
        return m.end() + 1
    m = _FUNC_ARGS.match(text, pos)
    if not m:
        raise SelectorError("expected )", pos)
    tokens.append(Token(Kind.All if name == "all" else Kind.Global, "", start))
    return m.end()
