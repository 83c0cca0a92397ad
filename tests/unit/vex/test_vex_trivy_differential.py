"""Differential: the gate's OpenVEX decisions against real Trivy's ``--vex`` on the same image.

Hypothesis writes OpenVEX documents (statements for this image or another, by purl with or
without ``repository_url``, with or without ``subcomponents``, every status, equal and
distinct timestamps); Trivy scans the image with each (``trivy image --vex FILE``), and the
findings it drops must be exactly those ``gate.vex`` waives. Product spellings Trivy does
not read (a bare digest, ``REPO@DIGEST``, a package purl as the product) are left out: the
gate accepts the first two as naming the image, and never the third.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate import vex as openvex
from gate.findings import merge
from gate.model import Subject, Vulnerability
from gate.scanners.trivy import parse_report
from tests.support.oci import build_image, layer, push
from tests.support.rootfs import APP_PASSWD, debian_rootfs
from tests.support.trivydb import VULNERABLE_DEBIAN_PACKAGES

EXAMPLES = 60
CVES = ["CVE-2026-0001", "CVE-2026-0002", "CVE-2026-0003", "CVE-2026-0005", "CVE-2026-0099"]
SUBCOMPONENTS = [
    "pkg:deb/debian/zlib1g",
    "pkg:deb/debian/openssl",
    "pkg:deb/debian/libssl3",
    "pkg:deb/debian/zlib1g?arch=amd64",
    "pkg:deb/debian/libssl3?arch=arm64",
    "pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5",
    "pkg:deb/debian/curl@7.88.1-10",
]
TIMES = ["2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"]
STATUSES = {
    "not_affected": {"justification": "vulnerable_code_not_in_execute_path"},
    "fixed": {},
    "affected": {"action_statement": "upgrade"},
    "under_investigation": {},
}


@pytest.fixture(scope="module")
def scanned(registry, trivy_env, tmp_path_factory) -> tuple[Subject, list[Vulnerability], Path]:
    built = build_image(
        [layer(debian_rootfs(VULNERABLE_DEBIAN_PACKAGES, passwd=APP_PASSWD))], user="app"
    )
    push(registry.host, "vexdiff/app", built, "v1")
    repository = f"{registry.host}/vexdiff/app"
    subject = Subject(f"{repository}:v1", built.digest, repository, "v1")
    root = tmp_path_factory.mktemp("vexdiff")
    report = root / "plain.json"
    _trivy(trivy_env, subject, report)
    findings = list(merge([parse_report(report)]).findings)
    assert {f.id for f in findings} >= {"CVE-2026-0001", "CVE-2026-0002"}
    return subject, findings, root


def _trivy(env: dict[str, str], subject: Subject, output: Path, *extra: str) -> None:
    subprocess.run(
        ["trivy", "image", "--quiet", "--scanners", "vuln", "--format", "json",
         "--output", str(output), *extra, subject.pinned],
        env=env, check=True, timeout=120, capture_output=True,
    )  # fmt: skip


def _products(subject: Subject) -> list[str]:
    assert subject.digest is not None and subject.repository is not None
    version = subject.digest.replace(":", "%3A")
    other = "sha256%3A" + "0" * 64
    return [
        f"pkg:oci/app@{version}",
        f"pkg:oci/app@{version}?repository_url={subject.repository}",
        f"pkg:oci/app@{version}?repository_url=elsewhere.example/app",
        f"pkg:oci/app@{other}",
        f"pkg:oci/other@{version}",
    ]


@st.composite
def statements(draw: st.DrawFn, products: list[str]) -> dict[str, Any]:
    status = draw(st.sampled_from(sorted(STATUSES)))
    chosen = draw(st.lists(st.sampled_from(products), min_size=1, max_size=2, unique=True))
    subs = st.lists(st.sampled_from(SUBCOMPONENTS), max_size=2, unique=True)
    listed = [(p, draw(subs)) for p in chosen]  # each product its own subcomponents
    return {
        "vulnerability": {"name": draw(st.sampled_from(CVES))},
        "products": [
            {"@id": p, **({"subcomponents": [{"@id": c} for c in cs]} if cs else {})}
            for p, cs in listed
        ],
        "status": status,
        "timestamp": draw(st.sampled_from(TIMES)),
        **STATUSES[status],
    }


def _document(body: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.test/vex/diff",
        "author": "tests",
        "timestamp": "2026-11-01T00:00:00Z",
        "version": 1,
        "statements": body,
    }


def test_the_gate_waives_exactly_what_trivy_vex_drops(scanned, trivy_env) -> None:
    subject, findings, root = scanned
    products = _products(subject)
    outcomes = {"some dropped": 0, "none dropped": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(statements(products), min_size=1, max_size=4))
    def differential(body: list[dict[str, Any]]) -> None:
        document = root / "vex.json"
        data = json.dumps(_document(body)).encode()
        document.write_bytes(data)
        output = root / "with-vex.json"
        _trivy(trivy_env, subject, output, "--vex", str(document))
        kept = {(f.id, f.package) for f in merge([parse_report(output)]).findings}
        dropped_by_trivy = {(f.id, f.package) for f in findings} - kept
        ordered = openvex.ordered(openvex.parse_openvex(data, "vex.json"))
        waived_by_gate = set()
        for finding in findings:
            decided = openvex.deciding(finding, ordered, subject)
            if decided is not None and decided.status in openvex.WAIVING:
                waived_by_gate.add((finding.id, finding.package))
        assert waived_by_gate == dropped_by_trivy, json.dumps(body, indent=1)
        outcomes["some dropped" if dropped_by_trivy else "none dropped"] += 1

    differential()
    # Not vacuous: the generated documents both waive and fail to waive.
    assert outcomes["some dropped"] >= 3 and outcomes["none dropped"] >= 3, outcomes
