"""The age check: config.created against max_age_days, relative to facts.now."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gate.checks.age import AgeCheck
from gate.core import evaluate
from gate.model import Facts, ImageConfig, Need, Status, Unavailable
from gate.policy.model import ImagePolicy, Policy
from gate.rfc3339 import parse as parse_created
from tests.support.facts import NOW, SUBJECT

POLICY = Policy("test", image=ImagePolicy(max_age_days=90))


def judge(created: str | None, config: ImageConfig | Unavailable | None = None):
    the_config = config if config is not None else ImageConfig(user="1000", created=created)
    return evaluate(POLICY, Facts(SUBJECT, NOW, config=the_config), checks=[AgeCheck()]).checks[0]


def test_enabled_only_with_max_age_days():
    assert AgeCheck().needs(Policy("test", image=ImagePolicy())) is None
    assert AgeCheck().needs(POLICY) == frozenset({Need.CONFIG})


def test_image_created_in_2020_is_too_old_for_90_days():
    result = judge("2020-01-01T00:00:00Z")
    assert result.status is Status.FAIL
    assert result.findings[0].rule == "too-old"
    assert result.summary.startswith("built 2523 days ago (2020-01-01); limit 90 days")


def test_recent_image_passes():
    result = judge("2026-11-01T00:00:00Z")
    assert result.status is Status.PASS
    assert result.summary == "built 27 days ago (2026-11-01); limit 90 days"


def test_exactly_the_limit_is_not_younger_than_it():
    at_limit = (NOW - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    just_under = (NOW - timedelta(days=90) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert judge(at_limit).status is Status.FAIL
    assert judge(just_under).status is Status.PASS


@pytest.mark.parametrize("created", [None, ""])
def test_missing_created_fails(created: str | None):
    result = judge(created)
    assert result.status is Status.FAIL
    assert result.findings[0].rule == "no-created"


@pytest.mark.parametrize(
    "created", ["yesterday", "2026-13-01T00:00:00Z", "2026-11-01", "1700000000"]
)
def test_invalid_created_fails(created: str):
    result = judge(created)
    assert result.status is Status.FAIL
    assert result.findings[0].rule == "invalid-created"


def test_created_far_in_the_future_fails():
    assert judge("2099-01-01T00:00:00Z").findings[0].rule == "created-in-future"
    # A few hours of clock skew is tolerated.
    assert judge("2026-11-28T18:00:00Z").status is Status.PASS


def test_epoch_created_is_explained():
    result = judge("1970-01-01T00:00:00Z")
    assert result.status is Status.FAIL
    assert "Unix epoch" in result.summary


def test_missing_config_is_an_error():
    assert judge(None, Unavailable("config blob digest mismatch")).status is Status.ERROR


def test_go_rfc3339nano_and_offsets_parse():
    assert parse_created("2024-05-06T07:08:09.123456789Z") == datetime(
        2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc
    )
    assert parse_created("2024-05-06T09:08:09+02:00") == datetime(
        2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc
    )
    assert parse_created("2024-05-06T07:08:09+25:00") is None
