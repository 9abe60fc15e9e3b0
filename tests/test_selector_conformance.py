"""Calico's own selector test vectors, read from ../shared/conformance, every one."""

from __future__ import annotations

import pytest

from tortie.selector import SelectorError, parse, tokenize

from .conftest import conformance

VECTORS = conformance("calico-selector-vectors.json")


def _id(v: object) -> str:
    return repr(v)[:80]


@pytest.mark.parametrize("case", VECTORS["matching"], ids=_id)
def test_matching(case: dict) -> None:
    sel = parse(case["selector"])
    assert sel.matches(case["labels"]) is case["match"]
    assert sel.matches_naive(case["labels"]) is case["match"]


@pytest.mark.parametrize("text", VECTORS["invalid"], ids=_id)
def test_invalid(text: str) -> None:
    with pytest.raises(SelectorError):
        parse(text)


@pytest.mark.parametrize("case", VECTORS["canonical"], ids=_id)
def test_canonical_and_uid(case: dict) -> None:
    sel = parse(case["selector"])
    assert sel.canonical == case["canonical"]
    if "uid" in case:
        assert sel.unique_id == case["uid"]
        assert len(sel.unique_id) == 40


@pytest.mark.parametrize("case", VECTORS["equivalent"], ids=_id)
def test_equivalent(case: dict) -> None:
    a, b = parse(case["a"]), parse(case["b"])
    assert a.canonical == b.canonical
    assert a.unique_id == b.unique_id


@pytest.mark.parametrize("case", VECTORS["tokens"], ids=_id)
def test_tokens(case: dict) -> None:
    if case.get("error"):
        with pytest.raises(SelectorError):
            tokenize(case["input"])
        return
    got = [[t.kind.value, t.value] for t in tokenize(case["input"])]
    assert got == case["tokens"]


@pytest.mark.parametrize("case", VECTORS["label_restrictions"], ids=_id)
def test_label_restrictions(case: dict) -> None:
    restrictions = parse(case["selector"]).label_restrictions
    got = {
        label: {
            "MustBePresent": r.must_be_present,
            "MustBeAbsent": r.must_be_absent,
            "MustHaveOneOfValues": None if r.values is None else sorted(r.values),
        }
        for label, r in restrictions.items()
    } or None
    assert got == case["restrictions"]


@pytest.mark.parametrize("case", VECTORS["visitor_prefix"], ids=_id)
def test_label_prefix(case: dict) -> None:
    assert parse(case["selector"]).with_label_prefix(case["prefix"]).canonical == case["result"]
