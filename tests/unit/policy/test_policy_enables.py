"""A policy loads only if it enables a check: the schema and the checks agree exactly.

The schema's top-level ``anyOf`` says which section settings enable a check; each check's
``needs()`` says when it runs. Every combination of the switches is enumerated: a policy
the loader accepts must enable at least one check (``gate.core.enabled_checks``), and a
policy it refuses as checking nothing must enable none, so the two cannot drift apart.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import pytest

from gate.core import enabled_checks
from gate.errors import PolicyError
from gate.policy import Policy, parse_policy

ABSENT = object()

SECRETS = [ABSENT, {}, {"fail": True}, {"fail": False}]
IMAGE = [ABSENT] + [
    {k: v for k, v in zip(keys, values, strict=True) if v is not ABSENT}
    for keys in [("non_root", "tag", "max_age_days", "max_size_mb")]
    for values in itertools.product(
        [ABSENT, True, False], [ABSENT, "any", "immutable", "git-sha"], [ABSENT, 30], [ABSENT, 9.5]
    )
]
BASE_IMAGE = [
    ABSENT,
    {},
    {"require_digest": True},
    {"require_digest": False},
    {"allowed": ["docker.io/library/*"]},
    {"require_digest": False, "allowed": ["docker.io/library/*"]},
]


def _yaml(sections: dict[str, object]) -> bytes:
    lines = ["version: 1"] + [f"{name}: {json.dumps(value)}" for name, value in sections.items()]
    return ("\n".join(lines) + "\n").encode()


def _load(sections: dict[str, object]) -> Policy | PolicyError:
    try:
        return parse_policy(_yaml(sections), source="policy.yml", base_dir=Path("."))
    except PolicyError as error:
        return error


COMBINATIONS = [
    {
        name: value
        for name, value in zip(("secrets", "image", "base_image"), combo, strict=True)
        if value is not ABSENT
    }
    for combo in itertools.product(SECRETS, IMAGE, BASE_IMAGE)
]


def test_a_policy_loads_exactly_when_it_enables_a_check() -> None:
    assert len(COMBINATIONS) > 1000
    refused = 0
    for sections in COMBINATIONS:
        outcome = _load(sections)
        if isinstance(outcome, Policy):
            assert enabled_checks(outcome), sections
            continue
        refused += 1
        assert "the policy checks nothing" in outcome.message, (sections, outcome.message)
        # The same switches, made loadable by adding vulnerabilities, then taken away again.
        loadable = _load({**sections, "vulnerabilities": {}})
        assert isinstance(loadable, Policy), loadable
        assert enabled_checks(replace(loadable, vulnerabilities=None)) == [], sections
    assert refused > 10  # both outcomes were exercised


@pytest.mark.parametrize(
    "section",
    [
        {"vulnerabilities": {}},
        {
            "signature": {
                "required": False,
                "authorities": [
                    {"name": "a", "keyless": {"issuer": "https://issuer", "subject": "me"}}
                ],
            }
        },
    ],
    ids=["vulnerabilities", "signature"],
)
def test_vulnerabilities_and_signature_always_enable_their_check(section) -> None:
    outcome = _load(section)
    assert isinstance(outcome, Policy)
    assert [check.id for check in enabled_checks(outcome)] in (["vulnerabilities"], ["signature"])
