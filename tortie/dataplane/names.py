"""Names the kernel sees: chain names, ipset names, policy ids, rule ids (dataplane.md)."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

CHAIN_MAX = 28
IPSET_MAX = 31


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@lru_cache(maxsize=1 << 16)
def chain_name(prefix: str, suffix: str) -> str:
    """§4.7: ``prefix + suffix``, or a 28-byte hashed name when that would not fit."""
    name = prefix + suffix
    size = len(name.encode())
    if size < CHAIN_MAX or (size == CHAIN_MAX and not suffix.startswith("_")):
        return name
    return prefix + "_" + _b64(hashlib.sha256(suffix.encode()).digest())[:CHAIN_MAX - 1 - len(prefix)]


def policy_id(kind: str, name: str, namespace: str | None) -> str:
    """§4.6: ``gnp.<name>`` or ``np.<namespace>.<name>``."""
    return f"np.{namespace}.{name}" if kind == "NetworkPolicy" else f"gnp.{name}"


def ipset_name(family: int, set_id: str) -> str:
    """§8: ``cali`` + family + ``0`` + id, cut to 31 bytes."""
    return f"cali{family}0{set_id}"[:IPSET_MAX]


def rule_ids(chain: str, rules: list[str]) -> list[str]:
    """§9.1: each id hashes the chain name and every rule up to and including its own."""
    digest = hashlib.sha224(chain.encode()).digest()
    ids = []
    for text in rules:
        digest = hashlib.sha224(digest + text.encode()).digest()
        ids.append(_b64(digest)[:16])
    return ids
