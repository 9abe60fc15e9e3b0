"""Building large acyclic data without the cyclic garbage collector in the way."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building acyclic data (documents, views,
    plans, rules, restore text): reference counting frees it, and the collector would
    otherwise rescan the whole heap, a cluster's worth of objects, over and over (half the
    time of loading 10,000 policies, measured with bench/load.py)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
