"""Property: anything fed to the Trivy parser gives a ScanReport or a ScannerError, nothing else.

And garbage never becomes a report: bytes that are not one JSON object, a document
without ``SchemaVersion`` 2, or a truncated report are refused; whatever is accepted holds
exactly as many findings as the file lists (none dropped on the way).

Examples per property come from the Hypothesis profile (tests/conftest.py): modest by
default, thousands with ``HYPOTHESIS_PROFILE=long``.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gate.errors import ScannerError
from gate.model import ScanReport
from gate.scanners.trivy import parse_report
from tests.unit.scanners.test_scanner_trivy import AWS_SECRET, report, vuln

KEYS = [
    "SchemaVersion",
    "Trivy",
    "Version",
    "ArtifactName",
    "Metadata",
    "OS",
    "Family",
    "Name",
    "RepoDigests",
    "ImageConfig",
    "Results",
    "Target",
    "Class",
    "Vulnerabilities",
    "Secrets",
    "Packages",
    "VulnerabilityID",
    "VendorIDs",
    "PkgName",
    "PkgIdentifier",
    "PURL",
    "InstalledVersion",
    "FixedVersion",
    "Severity",
    "Status",
    "Title",
    "PrimaryURL",
    "RuleID",
    "StartLine",
    "Category",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from([2, 1, "2", "HIGH", "none", "CVE-2026-0001", "", "a, b"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=25,
)


def parse_bytes(data: bytes) -> ScanReport | ScannerError:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trivy.json"
        path.write_bytes(data)
        try:
            return parse_report(path)
        except ScannerError as error:
            return error


def listed(doc: Any, key: str) -> int:
    """How many entries the document lists under ``Results[].<key>``, read with json."""
    results = doc.get("Results") or []
    return sum(len(r.get(key) or []) for r in results if r is not None)


def is_json_object(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data), dict)
    except ValueError:
        return False


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_become_a_report_unless_they_are_one(data: bytes) -> None:
    outcome = parse_bytes(data)
    if isinstance(outcome, ScanReport):
        assert is_json_object(data)
        assert json.loads(data).get("SchemaVersion") == 2


@given(json_values)
def test_arbitrary_json_gives_a_report_or_a_scanner_error(value: Any) -> None:
    outcome = parse_bytes(json.dumps(value).encode())
    if isinstance(outcome, ScanReport):
        assert isinstance(value, dict)
        assert type(value["SchemaVersion"]) is int and value["SchemaVersion"] == 2
        assert len(outcome.vulnerabilities) == listed(value, "Vulnerabilities")
        assert len(outcome.secrets) == listed(value, "Secrets")


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*prefix, index))
    return found


BASE = report([vuln(), vuln("CVE-2026-0002", "zlib1g", fixed=None)], [AWS_SECRET])
BASE_PATHS = _paths(BASE)[1:]


@given(st.sampled_from(BASE_PATHS), json_values | st.just("<delete>"))
def test_a_real_report_with_one_part_replaced_never_loses_findings(
    path: tuple[Any, ...], replacement: Any
) -> None:
    doc = copy.deepcopy(BASE)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if replacement == "<delete>":
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    outcome = parse_bytes(json.dumps(doc).encode())
    if isinstance(outcome, ScanReport):
        assert len(outcome.vulnerabilities) == listed(doc, "Vulnerabilities")
        assert len(outcome.secrets) == listed(doc, "Secrets")
        assert all(v.id and v.package for v in outcome.vulnerabilities)


@given(st.data())
def test_a_real_report_cut_or_corrupted_anywhere_is_refused(data: st.DataObject) -> None:
    raw = json.dumps(BASE, indent=2).encode()
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    assert isinstance(parse_bytes(raw[:cut]), ScannerError)
    where = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    byte = data.draw(st.sampled_from(b'{}[]",:\x00\xff'))
    corrupted = raw[:where] + bytes([byte]) + raw[where + 1 :]
    outcome = parse_bytes(corrupted)
    if isinstance(outcome, ScanReport):  # the byte landed harmlessly (e.g. inside a string)
        assert is_json_object(corrupted)
        assert len(outcome.vulnerabilities) == listed(json.loads(corrupted), "Vulnerabilities")
