"""Names the kernel sees (dataplane.md §4, §8): chain names and their prefixes, ipset names,
policy ids. A name built from stored strings is hashed when it would be too long or when
the strings are not plain tokens, so no stored value decides what a name looks like."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache

CHAIN_MAX = 28
IPSET_MAX = 31
_PLAIN = re.compile(r"[A-Za-z0-9_.-]+|\*")

TABLES = ("filter", "raw", "mangle")

# Top-level chains, one per hook (dataplane.md §4.1).
INPUT, FORWARD, OUTPUT, PREROUTING = "cali-INPUT", "cali-FORWARD", "cali-OUTPUT", "cali-PREROUTING"
HOOKS = {
    "filter": {"INPUT": INPUT, "FORWARD": FORWARD, "OUTPUT": OUTPUT},
    "raw": {"PREROUTING": PREROUTING, "OUTPUT": OUTPUT},
    "mangle": {"PREROUTING": PREROUTING},
}
WORKLOAD_TO_HOST = "cali-wl-to-host"
FROM_WORKLOAD_DISPATCH, TO_WORKLOAD_DISPATCH = "cali-from-wl-dispatch", "cali-to-wl-dispatch"
FROM_HOST_DISPATCH, TO_HOST_DISPATCH = "cali-from-host-endpoint", "cali-to-host-endpoint"
FROM_HOST_FORWARD_DISPATCH, TO_HOST_FORWARD_DISPATCH = "cali-from-hep-forward", "cali-to-hep-forward"
FAILSAFE_IN, FAILSAFE_OUT = "cali-failsafe-in", "cali-failsafe-out"
RPF_SKIP = "cali-rpf-skip"  # raw: the sources each workload interface may send from besides its routes

# Prefixes of per-endpoint, per-policy and per-profile chains (dataplane.md §4.5–§4.7).
FROM_WORKLOAD, TO_WORKLOAD = "cali-fw-", "cali-tw-"
FROM_HOST, TO_HOST = "cali-fh-", "cali-th-"
FROM_HOST_FORWARD, TO_HOST_FORWARD = "cali-fhfw-", "cali-thfw-"
POLICY_IN, POLICY_OUT = "cali-pi-", "cali-po-"
PROFILE_IN, PROFILE_OUT = "cali-pri-", "cali-pro-"
OWNED_PREFIX = "cali-"


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@lru_cache(maxsize=1 << 16)
def chain_name(prefix: str, suffix: str) -> str:
    """§4.7: ``prefix + suffix``, or a 28-byte name with a hash of ``suffix`` when that would
    not fit or ``suffix`` is not a plain token (``[A-Za-z0-9_.-]+`` or ``*``)."""
    name = prefix + suffix
    size = len(name.encode())
    fits = size < CHAIN_MAX or (size == CHAIN_MAX and not suffix.startswith("_"))
    if fits and _PLAIN.fullmatch(suffix):
        return name
    return prefix + "_" + _b64(hashlib.sha256(suffix.encode()).digest())[:CHAIN_MAX - 1 - len(prefix)]


def policy_id(name: str, namespace: str | None) -> str:
    """§4.6: ``gnp.<name>`` or ``np.<namespace>.<name>`` (a Kubernetes policy's name is
    ``knp.default.<name>``)."""
    return f"np.{namespace}.{name}" if namespace else f"gnp.{name}"


def ipset_name(family: int, set_id: str) -> str:
    """§8: ``cali`` + family + ``0`` + id, cut to 31 bytes."""
    return f"cali{family}0{set_id}"[:IPSET_MAX]
