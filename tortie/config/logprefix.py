"""LOG prefixes (product rule 1, felixconfig.md §1): shared by the model and the dataplane."""

from __future__ import annotations

import re

from .effective import EffectiveConfig

LOG_PREFIX_LIMIT = 29


def expand_log_prefix(template: str, tier: str, kind: str, short: str, namespace: str | None) -> str:
    """%t %k %n %p %% expanded, ': ' appended, cut to 29 bytes."""
    values = {"t": tier, "k": kind, "n": short, "p": f"{namespace}/{short}" if namespace else short, "%": "%"}
    text = re.sub(r"%(.)", lambda m: values.get(m.group(1), m.group(0)), template or "calico-packet") + ": "
    return text.encode()[:LOG_PREFIX_LIMIT].decode(errors="ignore")


def override_log_prefix(config: EffectiveConfig) -> str:
    """``calico-drop: ``, or with logDropActionOverride the action in the prefix."""
    if not config["logDropActionOverride"]:
        return "calico-drop: "
    action = "LOGandDROP" if config["dropActionOverride"] == "LogAndDrop" else "LOGandACCEPT"
    return f"calico-drop {action}: "
