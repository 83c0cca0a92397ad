"""The fast ``conforms`` check must agree with jsonschema on every document.

Documents are generated near the schema's boundaries: valid policies with one value
replaced, removed or added, and arbitrary JSON, so both answers are exercised.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from gate.policy.conforms import conforms
from tests.support.paths import REPO_ROOT

REPO = REPO_ROOT
SCHEMA = json.loads((REPO / "gate" / "policy" / "schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
EXAMPLES = [
    json.loads(json.dumps(yaml.safe_load(p.read_text()), default=str))
    for p in sorted((REPO / "policies" / "examples").glob("*.yaml"))
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 500),
    st.floats(-2, 500, allow_nan=False),
    st.sampled_from(
        [
            "",
            " ",
            "high",
            "hihg",
            "trivy",
            "grype",
            "legacy",
            "git-sha",
            "immutable",
            "any",
            "2027-03-31",
            "2027-13-45",
            "x",
            "enforce",
            "warn",
            "required",
            "bundle",
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "reason",
                    "expires",
                    "name",
                    "key",
                    "keyless",
                    "issuer",
                    "subject",
                    "fail",
                    "non_root",
                    "tag",
                    "allowed",
                    "require_digest",
                    "x",
                ]
            ),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def near_valid(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(draw(st.sampled_from(EXAMPLES)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        if not path:
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "fail_on", "package", "tlog"]))] = draw(
                json_values
            )
    return doc


@pytest.mark.parametrize("doc", EXAMPLES)
def test_every_example_conforms(doc):
    assert conforms(doc, SCHEMA) and VALIDATOR.is_valid(doc)


@given(near_valid())
def test_conforms_agrees_with_jsonschema_near_valid_policies(doc):
    assert conforms(doc, SCHEMA) == VALIDATOR.is_valid(doc)


@given(json_values)
def test_conforms_agrees_with_jsonschema_on_arbitrary_json(doc):
    assert conforms(doc, SCHEMA) == VALIDATOR.is_valid(doc)


def test_an_unknown_schema_keyword_is_refused_not_ignored():
    with pytest.raises(ValueError, match="patternProperties"):
        conforms("x", {"patternProperties": {"^y$": {}}})
