"""Selector language: the spec's examples and error reasons, plus properties."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tortie.selector import SelectorError, parse

from .profiles import examples

# selectors.md §6: (selector, labels, result, canonical)
EXAMPLES = [
    ("", {}, True, "all()"),
    ('tier == "frontend"', {"tier": "frontend"}, True, 'tier == "frontend"'),
    ('tier == "frontend"', {}, False, 'tier == "frontend"'),
    ('tier != "frontend"', {}, True, 'tier != "frontend"'),
    ("role in {'web','api', 'web'}", {"role": "api"}, True, 'role in {"api", "web"}'),
    ("role notin{'db'}", {"role": "db"}, False, 'role not in {"db"}'),
    ("has(pci)", {"pci": ""}, True, "has(pci)"),
    ("zone starts with 'eu-'", {"zone": "eu-west-1"}, True, 'zone starts with "eu-"'),
    ("zone ends with '-1'", {}, False, 'zone ends with "-1"'),
    ('app contains "pay"', {"app": "epayments"}, True, 'app contains "pay"'),
    ("env == 'prod' && (team == 'a' || team == 'b')", {"env": "prod", "team": "b"}, True,
     '(env == "prod" && (team == "a" || team == "b"))'),
    ("env=='prod'&&team=='a'||team=='b'", {"team": "b"}, True,
     '((env == "prod" && team == "a") || team == "b")'),
    ("!env == 'dev'", {}, True, '!env == "dev"'),
    ("!(env == 'dev' || env == 'test')", {"env": "staging"}, True, '!(env == "dev" || env == "test")'),
    ("!!has(x)", {"x": "1"}, True, "has(x)"),
    ("!(!has(x))", {"x": "1"}, True, "!!has(x)"),
    ("k8s-app not in {}", {}, True, "k8s-app not in {}"),
    ("msg == 'say \"hi\"'", {"msg": 'say "hi"'}, True, "msg == 'say \"hi\"'"),
    ('example.com/owner startswith "ops"', {"example.com/owner": "ops-team"}, True,
     'example.com/owner starts with "ops"'),
    ("(a == 'x' && b == 'y') && c == 'z'", {"a": "x", "b": "y", "c": "z"}, True,
     '((a == "x" && b == "y") && c == "z")'),
]

IDS = {
    "": "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug",
    'tier == "frontend"': "s:72eUJx2ZitK3-_6joOXICvjpO2mIeSt0ojl0-g",
    "role in {'web','api', 'web'}": "s:OksQIdbIdjPCE9_kqKOu0siq73KPXg7p1b2tFw",
    "env == 'prod' && (team == 'a' || team == 'b')": "s:FZmCX1oSC64DECY5SLDIBpPmB6BHah45E-xElw",
    "!!has(x)": "s:PvZGPL1dAgzo6vXmSYhpGFUIgcBYO2i2LBZJSA",
    "!(!has(x))": "s:HLGTznihZqaeeSH6J4uaFgYrW720IwVQK9QU0w",
}

INVALID = [
    ("env = 'prod'", "expected =="),
    ("env == prod", "expected string"),
    ("tier in 'a'", "expected set literal"),
    ("role in {,}", "expected }"),
    ("a in {'x' 'y'}", "expected }"),
    ("has(env", "expected )"),
    ("env == 'prod' &&", "unexpected token"),
    ("(env == 'x'", "expected )"),
    ("env == 'x')", "unexpected content at end"),
    ("x == 'a' | y == 'b'", "expected ||"),
    ("a == 'b' & c == 'd'", "expected &&"),
    ("foo bar == 'x'", "expected operator after label"),
    ("a inside 'x'", "expected operator after label"),
    ("a == 'unterminated", "unterminated string"),
    ("%", "unexpected character"),
    ("!", "unexpected token"),
    ("has()", "expected label"),
    ("all(", "expected )"),
    ("x" * 513 + " == 'a'", "label too long"),
]


@pytest.mark.parametrize("text,labels,result,canonical", EXAMPLES)
def test_spec_examples(text: str, labels: dict, result: bool, canonical: str) -> None:
    sel = parse(text)
    assert sel.matches(labels) is result
    assert sel.canonical == canonical


@pytest.mark.parametrize("text,uid", IDS.items())
def test_spec_ids(text: str, uid: str) -> None:
    assert parse(text).unique_id == uid


@pytest.mark.parametrize("text,reason", INVALID)
def test_error_reasons(text: str, reason: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse(text)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)
    assert "at offset" in str(info.value)


def test_error_position() -> None:
    with pytest.raises(SelectorError) as info:
        parse("a == 'x' && b = 'y'")
    assert info.value.offset == 14


def test_word_operator_spacing_and_label_position() -> None:
    assert parse('a in{"x"}').matches({"a": "x"})
    assert parse('contains contains "x"').matches({"contains": "axb"})
    assert parse('a not   in {"x"}').canonical == 'a not in {"x"}'
    assert parse("a\tends\nwith 'z'").matches({"a": "xyz"})
    assert parse("has( a )").canonical == "has(a)"


def test_global_matches_everything() -> None:
    assert parse("global()").matches({})
    assert parse("global()").canonical == "global()"


def test_in_and_not_in_empty_set() -> None:
    assert not parse("a in {}").matches({"a": ""})
    assert parse("a not in {}").matches({"a": ""})
    assert parse("a in {'x',}").canonical == 'a in {"x"}'


def test_parse_is_cached_and_selectors_compare_by_canonical() -> None:
    assert parse("a == 'b'") is parse("a == 'b'")
    assert parse("a == 'b'") == parse('a  ==  "b"')
    assert len({parse("a == 'b'"), parse('a=="b"')}) == 1


# --- properties -------------------------------------------------------------

KEYS = ["a", "b", "c", "app", "x/y"]
VALUES = ["", "v", "w", "va", "wv", "'", '"']


def _string() -> st.SearchStrategy[str]:
    return st.sampled_from(VALUES)


def _leaf() -> st.SearchStrategy[str]:
    key = st.sampled_from(KEYS)
    return st.one_of(
        st.just("all()"),
        st.just("global()"),
        key.map(lambda k: f"has({k})"),
        st.tuples(key, st.sampled_from(["==", "!=", "contains", "starts with", "ends with",
                                        "startswith", "endswith"]), _string()).map(
            lambda t: f"{t[0]} {t[1]} {_q(t[2])}"),
        st.tuples(key, st.sampled_from(["in", "not in", "notin"]), st.lists(_string(), max_size=3)).map(
            lambda t: f"{t[0]} {t[1]} {{{', '.join(_q(v) for v in t[2])}}}"),
    )


def _q(v: str) -> str:
    return f"'{v}'" if '"' in v else f'"{v}"'


def _expr(depth: int = 3) -> st.SearchStrategy[str]:
    return st.recursive(
        _leaf(),
        lambda inner: st.one_of(
            inner.map(lambda e: f"!{e}"),
            inner.map(lambda e: f"({e})"),
            st.lists(inner, min_size=2, max_size=3).map(" && ".join),
            st.lists(inner, min_size=2, max_size=3).map(" || ".join),
        ),
        max_leaves=8,
    )


LABELS = st.dictionaries(st.sampled_from(KEYS), _string(), max_size=len(KEYS))


@settings(max_examples=examples(400))
@given(_expr(), st.lists(LABELS, min_size=1, max_size=5))
def test_compiled_agrees_with_naive(text: str, label_maps: list[dict]) -> None:
    sel = parse(text)
    for labels in label_maps:
        assert sel.matches(labels) == sel.matches_naive(labels)


@settings(max_examples=examples(400))
@given(_expr(), st.lists(LABELS, min_size=1, max_size=5))
def test_canonical_reparses_to_equivalent(text: str, label_maps: list[dict]) -> None:
    sel = parse(text)
    again = parse(sel.canonical)
    for labels in label_maps:
        assert again.matches(labels) == sel.matches(labels)
    # Re-canonicalising only ever collapses "!!" runs; after that it is a fixed point.
    assert parse(again.canonical).canonical == again.canonical or "!!" in sel.canonical


@settings(max_examples=examples(300))
@given(_expr(), LABELS)
def test_restrictions_are_necessary(text: str, labels: dict) -> None:
    sel = parse(text)
    if not sel.matches(labels):
        return
    for label, r in sel.label_restrictions.items():
        if r.must_be_present:
            assert label in labels
        if r.must_be_absent:
            assert label not in labels
        if r.values is not None:
            assert labels.get(label) in r.values


@settings(max_examples=examples(300))
@given(_expr(), LABELS)
def test_label_prefix_is_consistent(text: str, labels: dict) -> None:
    sel = parse(text)
    prefixed = sel.with_label_prefix("pcns.")
    assert prefixed.matches({f"pcns.{k}": v for k, v in labels.items()}) == sel.matches(labels)


ALPHABET = string.ascii_letters + string.digits + " \t\n!=&|(){},'\"./-_%:"


@settings(max_examples=examples(2000))
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_random_text_only_raises_selector_error(text: str) -> None:
    try:
        sel = parse(text)
    except SelectorError:
        return
    sel.matches({})
    assert parse(sel.canonical) is not None


@settings(max_examples=examples(500))
@given(st.text(max_size=30))
def test_arbitrary_unicode_only_raises_selector_error(text: str) -> None:
    try:
        parse(text)
    except SelectorError:
        pass
