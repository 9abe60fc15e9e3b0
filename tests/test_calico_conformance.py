"""Calico's own validator tables and calicoctl system tests, replayed through tortie's CLI.

The data and the two runners are read in place from ../shared/conformance/calico (never
copied); each data case is one test here, run by the runner's own code against the
installed ``tortie``. A case whose expectation is wrong for Calico v3.32 is held to what
calicoctl v3.32 answers instead, with the evidence in docs/decisions.md.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from .conftest import CONFORMANCE

DATA = CONFORMANCE / "calico"
TORTIE = str(Path(sys.executable).with_name("tortie"))
# The case's YAML key is externalNodesCIDRList, which is the Go field's name; its JSON name
# is externalNodesList, so calicoctl v3.32 refuses the key as an unknown field
# (docs/decisions.md, "externalNodesList"). Case id -> what tortie answers, as calicoctl does.
WRONG_FOR_V3_32 = {"v085": "field in document is not recognized or is in the wrong location: "
                           "spec.externalNodesCIDRList"}


def _runner(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"calico_{name}", DATA / f"{name}.py")
    if spec is None or spec.loader is None or not (DATA / f"{name}.py").exists():
        pytest.fail(f"conformance runner missing: {DATA / name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cases(name: str) -> Any:
    return yaml.safe_load((DATA / name).read_text())


VALIDATOR = _runner("run_validator")
CRUD = _runner("run_crud")
VALIDATOR_CASES = _cases("validator-cases.yaml")["cases"]
CRUD_DATA = _cases("calicoctl-cases.yaml")


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in VALIDATOR_CASES])
def test_validator_table(case: dict[str, Any]) -> None:
    result = VALIDATOR.run_case(TORTIE, case)
    assert "Traceback" not in result["output"]
    if case["id"] in WRONG_FOR_V3_32:
        assert not result["pass"] and result["output"].strip() == WRONG_FOR_V3_32[case["id"]], result
        return
    assert result["pass"], (f"Calico: {result['expected']}, tortie: {result['outcome']}\n"
                            f"{result['yaml']}\n{result['output']}")


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in CRUD_DATA["tests"]])
def test_calicoctl_system_test(case: dict[str, Any]) -> None:
    run = CRUD.TestRun(TORTIE, CRUD_DATA["fixtures"], case)
    try:
        status = run.run()
    finally:
        run.cleanup()
    assert status == "pass", "\n".join(f"step {step} ({command}): {'; '.join(problems)}\n{output}"
                                       for step, command, problems, _, output, _ in run.failures)
