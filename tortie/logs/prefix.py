"""Where a LOG line's body starts, and what its prefix says (kernel-log.md §2)."""

from __future__ import annotations

import re
from typing import Any

from .record import PrefixKind

_BODY_AT = re.compile(r"IN=\S* OUT=\S*(?: |$)")
WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
# The prefixes tortie's own override rules write (config/logprefix.py), normalised.
_KINDS = {
    "calico-drop": PrefixKind.OVERRIDE,
    "calico-drop LOGandDROP": PrefixKind.OVERRIDE_DROP,
    "calico-drop LOGandACCEPT": PrefixKind.OVERRIDE_ACCEPT,
}
_CACHE_SIZE = 4096
_cache: dict[str, tuple[str, PrefixKind, bool]] = {}


def body_start(message: str, start: int = 0) -> int:
    """The index in `message` where the body begins, looking from `start` (the start of the
    message proper, after any header), or -1 if `message` is not a LOG line: the first `IN=`
    at `start` or after a character that is not a letter, digit or `_`, followed by
    `IN=\\S* OUT=\\S*` and a space or the end."""
    i = message.find("IN=", start)
    while i >= 0:
        if (i == start or message[i - 1] not in WORD) and _BODY_AT.match(message, i):
            return i
        i = message.find("IN=", i + 3)
    return -1


def normalise_prefix(raw: str) -> str:
    """`prefix_raw` -> `prefix`: trim, drop one pair of enclosing quotes, trim, drop one
    trailing colon, trim."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1].strip()
    if text.endswith(":"):
        text = text[:-1].strip()
    return text


def classify_prefix(prefix: str) -> PrefixKind:
    """A normalised prefix -> tortie's classification (override log, and its action)."""
    return _KINDS.get(prefix, PrefixKind.OTHER)


def prefix_info(raw: str) -> tuple[str, PrefixKind, bool]:
    """`prefix_raw` -> (prefix, kind, whether it is a TRACE: line). Cached: a log has few
    distinct prefixes. The cache keeps prefixes up to 256 characters (the kernel's are 29 or
    127 bytes) and is emptied when full, so memory stays bounded."""
    info = _cache.get(raw)
    if info is None:
        prefix = normalise_prefix(raw)
        info = (prefix, classify_prefix(prefix), prefix.startswith("TRACE:"))
        if len(raw) <= 256:
            if len(_cache) >= _CACHE_SIZE:
                _cache.clear()
            _cache[raw] = info
    return info


def prefix_fields(raw: str, d: dict[str, Any]) -> None:
    """`prefix_raw` -> the record's `prefix_raw`, `prefix`, `kind` and `trace` in `d`."""
    d["prefix_raw"] = raw
    d["prefix"], d["kind"], trace = prefix_info(raw)
    if trace:
        d["trace"] = True
