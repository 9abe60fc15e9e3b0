"""Hypothesis profiles. ``ci`` (the default) is deterministic: the same examples on every
run, no example database, a fixed budget, and nothing written into the checkout (hypothesis
always caches the constants of the code under test, in .hypothesis/constants/ unless told
another home: ci gives it one under the temporary directory). ``explore`` (``HYPOTHESIS_PROFILE=explore``)
draws new random examples, ten times as many, and keeps failures in .hypothesis/ to replay.

Neither has a deadline or the too_slow health check: on a loaded machine they fail tests
for timing, not for behaviour."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

CI_EXAMPLES = 100

settings.register_profile("ci", derandomize=True, database=None, max_examples=CI_EXAMPLES, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=10 * CI_EXAMPLES, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)
if PROFILE == "ci":
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "tortie-hypothesis")


def examples(ci: int) -> int:
    """A test's example budget: ``ci`` in the ci profile, scaled like the loaded profile's."""
    return max(1, ci * settings().max_examples // CI_EXAMPLES)
