"""The one way tests wait: poll a real condition until a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_until(what: str, read: Callable[[], T], done: Callable[[T], bool] = bool, timeout: float = 60.0,
               interval: float = 0.05, details: Callable[[], str] | None = None) -> T:
    """Call ``read`` until ``done`` holds for its value (by default: the value is true), and
    return that value; ``interval`` seconds pass between calls.

    After ``timeout`` seconds the test fails with a message naming ``what`` was awaited, the
    last value read and, if given, ``details()`` (say, the end of a daemon's log). The default
    is generous: four test processes share two cores, and a deadline costs time only when
    what is awaited never comes.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            more = f"\n{details()}" if details is not None else ""
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}; last value: {value!r:.2000}{more}")
        time.sleep(interval)
