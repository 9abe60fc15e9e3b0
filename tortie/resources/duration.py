"""Go-style durations (felixconfig.md §4): parse ``1m30s`` and print it as Go does."""

from __future__ import annotations

import re

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # µ MICRO SIGN
    "\u03bcs": 1_000,  # μ GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_TERM = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> int:
    """Duration text to nanoseconds. Negative values and bare numbers are invalid."""
    if text == "0":
        return 0
    if not text:
        raise DurationError("invalid duration")
    from decimal import Decimal, InvalidOperation  # as in errors.go_float: loaded by the first duration read
    total = Decimal(0)
    pos = 0
    while pos < len(text):
        m = _TERM.match(text, pos)
        if not m or m.group(1) in ("", "."):
            raise DurationError("invalid duration")
        try:
            total += Decimal(m.group(1)) * _UNITS_NS[m.group(2)]
        except InvalidOperation as exc:
            raise DurationError("invalid duration") from exc
        pos = m.end()
    return int(total)


def parse_go_duration(text: str) -> int:
    """Go's ``time.ParseDuration``: an optional sign, then as ``parse_duration``. Nanoseconds."""
    sign, body = (-1, text[1:]) if text[:1] == "-" else (1, text[1:] if text[:1] == "+" else text)
    ns = parse_duration(body)
    if ns > 2**63 - 1 + (sign < 0):
        raise DurationError("invalid duration")
    return sign * ns


def _frac(value: int, digits: int) -> str:
    """``value`` scaled down by 10**digits, trailing zeros of the fraction removed."""
    whole, frac = divmod(value, 10**digits)
    text = str(frac).rjust(digits, "0").rstrip("0")
    return f"{whole}.{text}" if text else str(whole)


def format_duration(ns: int) -> str:
    """Nanoseconds to Go's ``time.Duration.String()`` form: ``1m30s``, ``500ms``, ``0s``."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_frac(ns, 3)}\u00b5s"
    if ns < 1_000_000_000:
        return f"{sign}{_frac(ns, 6)}ms"
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    out = sign
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return out + f"{_frac(rest, 9)}s"
