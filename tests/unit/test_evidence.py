"""Typed evidence reads as its JSON object: the same keys, in the same order, as JSON data."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from gate.evidence import ExceptionRow, FindingRow, InheritedRow, json_object, to_json
from gate.model import Severity

ROW = FindingRow(
    "CVE-1", ("GHSA-1",), "libssl3", ("openssl",), "3.0-1", ("3.1-1",), Severity.UNKNOWN, Severity.HIGH,
    "fixed", "t", "https://x", "app", ("grype", "trivy"),
)  # fmt: skip


def test_a_finding_row_as_a_mapping_is_its_json_object() -> None:
    assert dict(ROW) == ROW.as_json() == json_object(ROW)
    assert list(ROW) == list(ROW.as_json())
    assert ROW["severity"] == "unknown" and ROW["judged_as"] == "high"
    assert ROW["fixed"] == ["3.1-1"]
    assert json.dumps(ROW.as_json()) == json.dumps(to_json(ROW))


def test_an_absent_optional_field_is_no_key() -> None:
    row = ExceptionRow("CVE-1", None, "because", "2027-01-01")
    assert dict(row) == {
        "id": "CVE-1",
        "package": None,
        "reason": "because",
        "expires": "2027-01-01",
    }
    with pytest.raises(KeyError):
        row["finding"]
    assert row.get("would_match") is None and "policy_line" not in row


def test_typed_rows_compare_as_their_json() -> None:
    assert ExceptionRow("CVE-1", None, "r", "2027-01-01") == {
        "id": "CVE-1", "package": None, "reason": "r", "expires": "2027-01-01",
    }  # fmt: skip


def test_a_baseline_state_is_a_key_only_when_a_baseline_was_compared() -> None:
    assert "baseline" not in ROW
    row = replace(ROW, baseline="new")
    assert dict(row) == row.as_json() and list(row)[-1] == "baseline" and row["baseline"] == "new"


def test_an_inherited_row_keeps_an_unknown_age_as_null() -> None:
    row = InheritedRow.of(ROW, "2026-11-01T00:00:00+00:00", None)
    assert dict(row) == row.as_json()
    assert list(row)[-2:] == ["first_seen", "days_present"] and row["days_present"] is None
