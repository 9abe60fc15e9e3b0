"""LOG prefixes of Log rules (product rule 1, felixconfig.md §1)."""

from __future__ import annotations

import re

LOG_PREFIX_LIMIT = 29
_UNSAFE = re.compile(r"[^ !#-&(-\[\]-~]")  # printable ASCII but quotes and backslash


def expand_log_prefix(template: str, tier: str, kind: str, short: str, namespace: str | None) -> str:
    """%t %k %n %p %% expanded, ': ' appended, cut to 29 bytes. A quote, a backslash or
    anything but printable ASCII becomes ``_``: names are validated before they get here,
    and a prefix must never carry a quote or a line break to the kernel."""
    values = {"t": tier, "k": kind, "n": short, "p": f"{namespace}/{short}" if namespace else short, "%": "%"}
    text = re.sub(r"%(.)", lambda m: values.get(m.group(1), m.group(0)), template or "calico-packet") + ": "
    return _UNSAFE.sub("_", text)[:LOG_PREFIX_LIMIT]
