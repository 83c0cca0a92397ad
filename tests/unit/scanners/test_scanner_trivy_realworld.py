"""Conformance: real Trivy reports (``../shared/realworld/trivy/``) parse and are judged.

Every file is read twice, independently: by the gate's streaming parser and by a plain
``json.load`` here. The severity counts, statuses, secrets and image facts the gate
reports must equal the file's own contents. Skipped cleanly when the data is absent.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from gate.core import evaluate
from gate.model import Facts, Status, Subject
from gate.policy.model import Policy, SecretsPolicy, VulnerabilityPolicy
from gate.scanners.trivy import parse_report
from tests.support.paths import REPO_ROOT

REALWORLD = REPO_ROOT.parent / "shared" / "realworld" / "trivy"
FILES: list[Path | None] = [*sorted(REALWORLD.glob("*.json"))] if REALWORLD.is_dir() else [None]

pytestmark = pytest.mark.realworld


def entries(doc: dict[str, Any], key: str) -> list[tuple[str, dict[str, Any]]]:
    return [(r["Target"], e) for r in doc.get("Results") or [] for e in r.get(key) or []]


@pytest.fixture(params=FILES, ids=lambda p: p.name if p else "absent")
def report_file(request: pytest.FixtureRequest) -> Path:
    if request.param is None:
        pytest.skip("../shared/realworld/trivy is not present")
    path: Path = request.param
    return path


def test_every_real_report_parses_to_the_files_own_contents(report_file: Path) -> None:
    doc = json.loads(report_file.read_text())
    parsed = parse_report(report_file)

    vulns = entries(doc, "Vulnerabilities")
    assert Counter(v.severity.name for v in parsed.vulnerabilities) == Counter(
        v["Severity"] for _, v in vulns
    )
    assert Counter(v.status for v in parsed.vulnerabilities) == Counter(
        v.get("Status", "") for _, v in vulns
    )
    assert [(v.target, v.id, v.package, v.installed) for v in parsed.vulnerabilities] == [
        (t, v["VulnerabilityID"], v["PkgName"], v["InstalledVersion"]) for t, v in vulns
    ]
    assert [v.fixed for v in parsed.vulnerabilities] == [
        tuple(f.strip() for f in v["FixedVersion"].split(",")) if v.get("FixedVersion") else ()
        for _, v in vulns
    ]
    secrets = entries(doc, "Secrets")
    assert [(s.target, s.rule_id, s.severity.name, s.line) for s in parsed.secrets] == [
        (t, s["RuleID"], s["Severity"], s["StartLine"]) for t, s in secrets
    ]

    metadata = doc.get("Metadata", {})
    family = metadata.get("OS", {}).get("Family", "none")
    assert (parsed.os is None) == (family == "none")
    assert parsed.image_config == metadata.get("ImageConfig")
    assert parsed.digests == tuple(d for d in metadata.get("RepoDigests", []) if d)
    assert parsed.artifact == doc["ArtifactName"]
    assert parsed.version == doc.get("Trivy", {}).get("Version", "")


def test_every_real_report_is_judged_without_error(report_file: Path) -> None:
    doc = json.loads(report_file.read_text())
    parsed = parse_report(report_file)
    policy = Policy(
        source="conformance",
        vulnerabilities=VulnerabilityPolicy(scanners=("trivy",)),
        secrets=SecretsPolicy(),
    )
    facts = Facts(
        subject=Subject(reference=parsed.artifact or report_file.name, digest=None),
        now=datetime(2026, 11, 1, tzinfo=timezone.utc),
        scans=(parsed,),
    )
    verdict = evaluate(policy, facts)

    assert all(c.status is not Status.ERROR for c in verdict.checks), verdict.checks
    check = next(c for c in verdict.checks if c.id == "vulnerabilities")
    (trivy,) = check.evidence["scanners"]
    file_counts = Counter(v["Severity"].lower() for _, v in entries(doc, "Vulnerabilities"))
    assert {k: n for k, n in trivy["by_severity"].items() if n} == dict(file_counts)
    assert trivy["findings"] == sum(file_counts.values())


def test_the_readme_facts_about_the_data_hold() -> None:
    """Spot checks against ../shared/realworld/README.md, so a wrong parser cannot agree
    with itself: the non-root user, the skipped scan, the repository secrets."""
    if not REALWORLD.is_dir():
        pytest.skip("../shared/realworld/trivy is not present")
    distroless = parse_report(REALWORLD / "alpine-distroless.json")
    assert distroless.image_config is not None
    assert distroless.image_config["config"]["User"] == "65532"
    assert distroless.os == "alpine 3.16"

    skipped = parse_report(REALWORLD / "alpine-39-skip.json")
    assert skipped.os is None and skipped.vulnerabilities == ()

    secrets = parse_report(REALWORLD / "secrets.json")
    assert [(s.rule_id, s.severity.name, s.target) for s in secrets.secrets] == [
        ("aws-access-key-id", "CRITICAL", "deploy.sh"),
        ("mysecret", "HIGH", "deploy.sh"),
    ]
    statuses = {v.status for v in parse_report(REALWORLD / "all_statuses.json").vulnerabilities}
    assert statuses == {
        "unknown",
        "not_affected",
        "affected",
        "fixed",
        "under_investigation",
        "will_not_fix",
        "fix_deferred",
        "end_of_life",
    }
