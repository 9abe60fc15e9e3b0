"""Shared fixtures and paths for the test suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from . import profiles  # noqa: F401 - loads the hypothesis profile before any test module
from .netns import netns  # noqa: F401 - a fixture for every kernel test

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CONFORMANCE = SHARED / "conformance"


def conformance(name: str) -> Any:
    """Test data from Calico's own suites, read in place from ../shared/conformance."""
    path = CONFORMANCE / name
    if not path.exists():
        pytest.fail(f"conformance data missing: {path}")
    return json.loads(path.read_text())
