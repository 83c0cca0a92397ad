"""Every output format of one realistic verdict, pinned byte for byte.

The vulnerability check's evidence is typed (``gate.evidence``); the formats must not
notice: the same facts give the same JSON, terminal text, SARIF and step summary. The
pinned files are in ``tests/data/pinned/`` (regenerate with ``GATE_UPDATE_PINNED=1``, and
review the diff: a change there is a change of the report's format).
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from gate.checks.secrets import SecretsCheck
from gate.checks.vulnerabilities import VulnerabilitiesCheck
from gate.core import evaluate
from gate.model import (
    Baseline,
    BaselineFinding,
    Facts,
    ScanReport,
    Secret,
    Severity,
    Verdict,
    VexFacts,
    VexStatement,
    Vulnerability,
)
from gate.policy.model import Policy, SecretsPolicy, VulnerabilityPolicy, VulnException
from gate.report import github
from gate.report.interface import Run
from gate.report.json_report import JsonRenderer
from gate.report.sarif import SarifRenderer
from gate.report.terminal import TerminalRenderer
from tests.support.facts import NOW, SUBJECT
from tests.support.paths import REPO_ROOT

PINNED = REPO_ROOT / "tests" / "data" / "pinned"


def _vuln(vid: str, package: str, severity: Severity, by: str, **kw: object) -> Vulnerability:
    return Vulnerability(
        id=vid,
        package=package,
        installed=str(kw.pop("installed", "1.0-1")),
        severity=severity,
        target="app (debian 12.5)",
        found_by=frozenset({by}),
        url=f"https://avd.aquasec.com/nvd/{vid.lower()}",
        **kw,  # type: ignore[arg-type]
    )


TRIVY = ScanReport(
    "trivy",
    version="0.76.0",
    db_built="2026-11-27T00:00:00Z",
    os="debian 12.5",
    vulnerabilities=(
        _vuln("CVE-2026-0001", "openssl", Severity.CRITICAL, "trivy", fixed=("3.0.12-1",)),
        _vuln("CVE-2026-0002", "zlib", Severity.HIGH, "trivy", title="a | pipe `tick`"),
        _vuln("CVE-2026-0003", "curl", Severity.UNKNOWN, "trivy"),
        _vuln("CVE-2026-0004", "bash", Severity.HIGH, "trivy", status="not_affected"),
        _vuln("CVE-2026-0005", "libc6", Severity.HIGH, "trivy", fixed=("2.36-9+deb12u9",)),
        _vuln("CVE-2026-0006", "tar", Severity.LOW, "trivy"),
        _vuln("CVE-2026-0007", "gzip", Severity.MEDIUM, "trivy", aliases=frozenset({"DSA-1"})),
    ),
    secrets=(Secret("aws-access-key-id", "AWS Access Key ID", Severity.CRITICAL, "/app/.env", 2),),
    secrets_scanned=True,
)
GRYPE = ScanReport(
    "grype",
    version="0.120.1",
    db_built="2026-11-26T00:00:00Z",
    os="debian 12.5",
    vulnerabilities=(
        _vuln("CVE-2026-0001", "openssl", Severity.CRITICAL, "grype", fixed=("3.0.12-1",)),
        _vuln(
            "GHSA-aaaa-bbbb-cccc",
            "zlib",
            Severity.HIGH,
            "grype",
            aliases=frozenset({"CVE-2026-0002"}),
        ),
        _vuln("CVE-2026-0008", "perl", Severity.HIGH, "grype"),
    ),
    secrets_scanned=False,
)
POLICY = Policy(
    "container-gate.yml",
    vulnerabilities=VulnerabilityPolicy(
        fail_on=Severity.HIGH,
        scanners=("trivy", "grype"),
        exceptions=(
            VulnException("CVE-2026-0005", "not reachable", date(2026, 12, 5), "libc6", 12),
            VulnException("CVE-2026-0008", "waiting for upstream", date(2026, 11, 1), None, 16),
            VulnException("CVE-2020-9999", "old", date(2027, 6, 1), None, 19),
        ),
    ),
    secrets=SecretsPolicy(fail=True),
)


# The next build of the same image line: judged against the first as its baseline, with
# an OpenVEX document, a finding in a binary package of a source package, and new_only.
NEXT = replace(SUBJECT, reference="registry.test/app:def5678", digest="sha256:" + "b" * 64)
NEXT_SCAN = ScanReport(
    "trivy",
    version="0.76.0",
    db_built="2026-11-27T00:00:00Z",
    os="debian 12.5",
    vulnerabilities=(
        _vuln("CVE-2026-0001", "openssl", Severity.CRITICAL, "trivy", fixed=("3.0.12-1",)),
        _vuln("CVE-2026-0003", "curl", Severity.UNKNOWN, "trivy"),
        _vuln(
            "CVE-2026-0010",
            "libssl3",
            Severity.HIGH,
            "trivy",
            source_packages=frozenset({"openssl"}),
        ),
        _vuln(
            "CVE-2026-0011",
            "libexpat1",
            Severity.CRITICAL,
            "trivy",
            fixed=("2.5.0-1+deb12u2",),
            source_packages=frozenset({"expat"}),
        ),
        _vuln("CVE-2026-0012", "libxml2", Severity.HIGH, "trivy"),
    ),
    secrets_scanned=False,
)
BASELINE = Baseline(
    "previous.json",
    findings=(
        BaselineFinding("CVE-2026-0001", "openssl", first_seen="2026-11-18T12:00:00+00:00"),
        BaselineFinding("CVE-2026-0003", "curl"),
        BaselineFinding("CVE-2026-0007", "gzip", frozenset({"DSA-1"})),
    ),
    digest=SUBJECT.digest,
    repository=SUBJECT.repository,
    policy_sha256="0" * 64,
    scanners=("trivy",),
    judged_at="2026-11-20T00:00:00+00:00",
)
PRODUCT = f"{NEXT.repository}@{NEXT.digest}"
VEX = VexFacts(
    statements=(
        VexStatement(
            "vex.json", "doc-1", "security@example.com", "CVE-2026-0012",
            frozenset(), ((PRODUCT, ()),), "not_affected",
            justification="vulnerable_code_not_in_execute_path", timestamp="2026-11-25T00:00:00Z",
        ),
        VexStatement(
            "vex.json", "doc-1", "security@example.com", "CVE-2026-0099",
            frozenset(), ((PRODUCT, ()),), "not_affected",
            justification="component_not_present", timestamp="2026-11-25T00:00:00Z", order=1,
        ),
    ),
    refused=("registry.test/app@sha256:bbbb: an attestation signed by nobody the policy trusts",),
)  # fmt: skip
NEXT_POLICY = Policy(
    "container-gate.yml",
    vulnerabilities=VulnerabilityPolicy(
        fail_on=Severity.HIGH,
        baseline="previous.json",
        new_only=True,
        vex=(Path("vex.json"),),
        exceptions=(
            VulnException(
                "CVE-2026-0010", "openssl's own advisory", date(2027, 1, 31), "openssl", 9
            ),
        ),
    ),
)


def _run() -> Run:
    tools = {"trivy": {"version": "0.76.0"}, "grype": {"version": "0.120.1"}}
    facts = Facts(SUBJECT, NOW, scans=(TRIVY, GRYPE))
    verdict = evaluate(POLICY, facts, checks=[VulnerabilitiesCheck(), SecretsCheck()])
    verdict = Verdict(
        verdict.subject,
        verdict.checks,
        tools=tools,
        timings={"scan_trivy": 1.23456},
        notes=("a note",),
    )
    facts = Facts(NEXT, NOW, scans=(NEXT_SCAN,), baseline=BASELINE, vex=VEX)
    following = evaluate(NEXT_POLICY, facts, checks=[VulnerabilitiesCheck()])
    following = Verdict(following.subject, following.checks, tools={"trivy": tools["trivy"]})
    return Run((verdict, following), "container-gate.yml")


def _outputs(tmp_path: Path) -> dict[str, str]:
    run = _run()
    return {
        "report.json": JsonRenderer().render(run),
        "terminal.txt": TerminalRenderer().render(run),
        "results.sarif": SarifRenderer(root=tmp_path, cwd=tmp_path).render(run),
        "summary.md": github.summary(run),
        "annotations.txt": "\n".join(github.annotation_lines(run, root=tmp_path, cwd=tmp_path)),
    }


@pytest.mark.parametrize("name", sorted(_outputs(Path("/nonexistent"))))
def test_every_format_of_the_same_verdict_is_unchanged(name: str, tmp_path: Path) -> None:
    text = _outputs(tmp_path)[name]
    pinned = PINNED / name
    if os.environ.get("GATE_UPDATE_PINNED"):
        pinned.parent.mkdir(parents=True, exist_ok=True)
        pinned.write_text(text, encoding="utf-8")
    assert text == pinned.read_text(encoding="utf-8")
