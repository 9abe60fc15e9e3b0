"""The model against every scenario of tests/scenarios."""

from __future__ import annotations

import pytest

from tortie.model import evaluate

from .scenarios import Case, load_cases

CASES = load_cases()
KEYS = {"verdict": "verdict", "action": "action", "metricPolicies": "metric_policies",
        "logPrefixes": "log_prefixes", "deniedBy": "denied_by", "decided": "decided"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_scenario(case: Case) -> None:
    plan = case.plan()
    result = evaluate(plan, case.build_packet(plan.view))
    got = {key: getattr(result, attr) for key, attr in KEYS.items() if key in case.expect}
    assert got == case.expect, "\n".join(f"{s['step']}: {s['events']}" for s in result.trace)


def test_every_expectation_key_is_known() -> None:
    for case in CASES:
        assert set(case.expect) <= set(KEYS), case.id
        assert case.expect, f"{case.id} expects nothing"
