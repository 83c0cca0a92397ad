"""The nesting guard that keeps a deeply nested report from exhausting memory."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gate.scanners._nesting import NestingGuard, TooDeep

_TRICKY_TEXT = st.text(alphabet='[]{}"\\ax', max_size=6)
_JSON = st.recursive(
    st.none() | st.integers() | _TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY_TEXT, inner, max_size=3),
    max_leaves=40,
)


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


def feed(text: bytes, limit: int, cuts: list[int]) -> NestingGuard:
    """Feed ``text`` in pieces, never ending a piece on a backslash (as the reader does)."""
    guard = NestingGuard(limit)
    start = 0
    for cut in sorted({*cuts, len(text)}):
        while cut < len(text) and text[cut - 1 : cut] == b"\\":
            cut += 1
        if cut > start:
            guard.check(text[start:cut])
            start = cut
    return guard


@given(_JSON, st.lists(st.integers(min_value=1, max_value=200), max_size=8))
def test_nesting_past_the_limit_is_always_refused(value: Any, cuts: list[int]) -> None:
    text = json.dumps({"Results": [value]}, ensure_ascii=False).encode()
    depth = depth_of({"Results": [value]})
    with pytest.raises(TooDeep):
        feed(text, depth - 1, cuts)


@given(_JSON, st.lists(st.integers(min_value=1, max_value=200), max_size=8))
@example(value=[[], {'[["': None, '[[["""': None, "": ""}], cuts=[34, 57])
def test_nesting_within_a_third_of_the_limit_is_always_accepted(
    value: Any, cuts: list[int]
) -> None:
    text = json.dumps({"Results": [value]}, ensure_ascii=False).encode()
    guard = feed(text, 3 * depth_of({"Results": [value]}), cuts)
    assert (guard.depth, guard.in_string) == (0, False)


def test_brackets_inside_strings_do_not_count() -> None:
    guard = NestingGuard(limit=2)
    guard.check(b'{"a": "[[[[{{{{", "b": ["\\"]]]]\\\\", "]"]}')
    assert (guard.depth, guard.in_string) == (0, False)


def test_a_string_open_across_chunks_hides_its_brackets() -> None:
    guard = NestingGuard(limit=2)
    guard.check(b'{"a": "[[[')
    assert guard.in_string
    guard.check(b'[[[", "b": [1]}')
    assert (guard.depth, guard.in_string) == (0, False)


def test_depth_carries_across_chunks() -> None:
    guard = NestingGuard(limit=5)
    guard.check(b"[[[")
    guard.check(b"[[")
    assert guard.depth == 5
    with pytest.raises(TooDeep):
        guard.check(b"[]")


def test_ten_thousand_levels_are_refused_within_the_first_chunk() -> None:
    with pytest.raises(TooDeep):
        NestingGuard().check(b"[" * 10_000 + b"]" * 10_000)
