"""Network namespaces for kernel tests: always created fresh, always deleted."""

from __future__ import annotations

import os
import subprocess
import uuid
from typing import Iterator

import pytest

PREFIX = "tortie-t"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def netns() -> Iterator[str]:
    """A new, empty network namespace (lo up), deleted afterwards even if the test fails."""
    if os.geteuid() != 0:
        pytest.fail("kernel tests need root (network namespaces)")
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
