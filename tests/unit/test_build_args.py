"""``--build-arg`` is read as ``docker build`` reads it."""

from __future__ import annotations

import pytest

from gate.errors import UsageError
from gate.run import _build_args


def test_key_and_value_are_taken_as_given_including_further_equals_signs() -> None:
    assert _build_args(["BASE=debian@sha256:ab", "OPTS=a=b"], {}) == {
        "BASE": "debian@sha256:ab",
        "OPTS": "a=b",
    }


def test_a_bare_key_takes_its_value_from_the_environment() -> None:
    assert _build_args(["BASE"], {"BASE": "debian:12"}) == {"BASE": "debian:12"}


def test_a_bare_key_missing_from_the_environment_is_left_out() -> None:
    assert _build_args(["BASE", "TAG=1"], {}) == {"TAG": "1"}


def test_an_empty_key_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="expected KEY=VALUE or KEY"):
        _build_args(["=debian"], {})
