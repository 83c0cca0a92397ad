"""Property: any JSON fed to the Grype parser gives a ScanReport or a ScannerError, nothing else.

And garbage never passes: whatever parses must still have a ``matches`` array and come
from Grype, and every finding in it names a vulnerability, a package and a version.
Examples per property come from the Hypothesis profile (tests/conftest.py).
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
from gate.scanners.grype import parse_report
from tests.support.grype import grype_match, grype_report

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["", "grype", "High", "Negligible", "CVE-2024-0727", "sha256:ab", "=="])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "matches",
                    "vulnerability",
                    "artifact",
                    "id",
                    "name",
                    "version",
                    "severity",
                    "fix",
                    "versions",
                    "state",
                    "relatedVulnerabilities",
                    "locations",
                    "path",
                    "source",
                    "target",
                    "config",
                    "descriptor",
                    "db",
                    "built",
                    "status",
                    "distro",
                    "repoDigests",
                    "manifestDigest",
                    "userInput",
                    "ignoredMatches",
                ]
            )
            | st.text(max_size=8),
            inner,
            max_size=5,
        )
    ),
    max_leaves=25,
)


def _parse(document: Any) -> ScanReport | ScannerError:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grype.json"
        path.write_text(json.dumps(document))
        try:
            return parse_report(path)
        except ScannerError as error:
            return error


def _assert_sound(result: ScanReport | ScannerError) -> None:
    if isinstance(result, ScannerError):
        assert result.message.strip() and "\n" not in result.message
        return
    assert result.scanner == "grype"
    for vuln in result.vulnerabilities:
        assert vuln.id and vuln.package and isinstance(vuln.installed, str)


@given(json_values)
def test_any_json_value_gives_a_report_or_a_scanner_error(document: Any) -> None:
    _assert_sound(_parse(document))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, sub in value.items():
            found += _paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            found += _paths(sub, (*prefix, index))
    return found


BASE = grype_report(
    [
        grype_match("GHSA-9v9h-cgj8-h64p", related=("CVE-2024-0727",), fixed=("3.0.13-1",)),
        grype_match("CVE-2023-5678", severity=None),
    ]
)
BASE_PATHS = [p for p in _paths(BASE) if p]


@given(st.sampled_from(BASE_PATHS), json_values)
def test_any_field_of_a_real_report_replaced_by_any_json_is_handled(
    path: tuple[Any, ...], replacement: Any
) -> None:
    document = copy.deepcopy(BASE)
    holder = document
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = replacement
    _assert_sound(_parse(document))


@given(st.integers(min_value=0, max_value=len(json.dumps(BASE)) - 1))
def test_any_truncation_of_a_real_report_is_refused(cut: int) -> None:
    text = json.dumps(BASE)[:cut]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grype.json"
        path.write_text(text)
        try:
            parse_report(path)
        except ScannerError:
            return
    raise AssertionError(f"a report cut at {cut} bytes was accepted")
