"""Hypothesis profiles. ``ci`` (the default) is deterministic: the same examples on every
run, no example database, a fixed budget. ``explore`` (``HYPOTHESIS_PROFILE=explore``)
draws new random examples, ten times as many, and keeps failures in .hypothesis/ to replay.

Neither has a deadline or the too_slow health check: on a loaded machine they fail tests
for timing, not for behaviour."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

CI_EXAMPLES = 100

settings.register_profile("ci", derandomize=True, database=None, max_examples=CI_EXAMPLES, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=10 * CI_EXAMPLES, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def examples(ci: int) -> int:
    """A test's example budget: ``ci`` in the ci profile, scaled like the loaded profile's."""
    return max(1, ci * settings().max_examples // CI_EXAMPLES)
