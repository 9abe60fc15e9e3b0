"""Bounds on what tortie reads, expands and shows, whoever wrote it (issue 15, classes 3 and 6).

Every reader of untrusted text (the CLI's files and pipes, the store's values) checks
the same limits, so that no input can make tortie read, build or print without end:
resources are small, shallow trees of short numbers and strings.
"""

from __future__ import annotations

import errno
import json
from typing import Any, Iterator

MAX_INPUT = 64 * 1024 * 1024  # bytes of one CLI input (file, pipe or device)
MAX_DEPTH = 32  # nesting of maps and lists; a resource needs 8, a List of them 10
MAX_NUMBER_CHARS = 100  # characters of one number; a float64 needs 24, an int64 20
MAX_ALIAS_NODES = 1_000_000  # values that YAML aliases may add to one input in total
MAX_SHOWN = 120  # characters of a value quoted in an error text
MAX_CONFIG_FILE = 1024 * 1024  # bytes of a config file (agent, client, lab) or a TLS file; real ones hold a few KiB


def read_bounded(path: str, limit: int = MAX_CONFIG_FILE) -> bytes:
    """The bytes of the file at ``path``, refused when it holds more than ``limit`` bytes, so
    that a device or an endless pipe (``/dev/zero``) is never read to the end.

    Raises OSError: the file's own (missing, a directory, no permission), or EFBIG with the
    strerror ``larger than N KiB|MiB`` (strerror is what callers show).
    """
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        size = f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit // 1024} KiB"
        raise OSError(errno.EFBIG, f"larger than {size}", path)
    return data


def deeper_than(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True if maps and lists nest more than ``limit`` levels in ``value`` (a JSON-like tree).

    Walks with an explicit stack: a value too deep for recursion is the point.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _pieces(value: Any) -> Iterator[str]:
    """Compact, key-sorted JSON text of ``value`` piece by piece, so that a reader can stop early."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Text):
            yield item
        elif isinstance(item, dict):
            stack.append(_Text("}"))
            entries = sorted(item.items(), key=lambda kv: str(kv[0]))
            for i in range(len(entries) - 1, -1, -1):
                key, child = entries[i]
                stack.append(child)
                stack.append(_Text(("," if i else "") + json.dumps(str(key)) + ":"))
            yield "{"
        elif isinstance(item, list):
            stack.append(_Text("]"))
            for i in range(len(item) - 1, -1, -1):
                stack.append(item[i])
                if i:
                    stack.append(_Text(","))
            yield "["
        else:
            yield _scalar(item)


class _Text(str):
    """Punctuation already rendered (distinct from a string value, which is quoted)."""


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value[:MAX_SHOWN + 1], ensure_ascii=False)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10 ** MAX_NUMBER_CHARS:
        return "<a number too long to show>"
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return str(value)[:MAX_SHOWN + 1]


def shorten(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def shown(value: Any, limit: int = MAX_SHOWN) -> str:
    """A value as it appears in an error text: a string raw, anything else as compact JSON;
    at most ``limit`` characters however large or self-repeating (YAML aliases) it is."""
    if isinstance(value, str):
        return shorten(value, limit)
    out: list[str] = []
    size = 0
    for piece in _pieces(value):
        out.append(piece)
        size += len(piece)
        if size > limit:
            break
    return shorten("".join(out), limit)
