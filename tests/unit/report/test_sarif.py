"""SARIF 2.1.0: valid against the official OASIS schema, one run per image, stable identities."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gate.model import CheckResult, Severity, Status, Subject, Verdict
from gate.report.interface import Run
from gate.report.sarif import SarifRenderer
from tests.support.paths import REPO_ROOT
from tests.unit.report.test_github_report import DIGEST_A, error_run, sample_run, vuln

SCHEMA_PATH = REPO_ROOT / "tests" / "data" / "sarif-2.1.0-schema.json"
SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    raw = SCHEMA_PATH.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256, "the vendored schema was modified"
    schema = json.loads(raw)
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def render(run: Run, tmp_path: Path, cwd: Path | None = None) -> dict[str, Any]:
    text = SarifRenderer(root=tmp_path, cwd=cwd or tmp_path).render(run)
    document: dict[str, Any] = json.loads(text)
    return document


def assert_valid(validator: jsonschema.Draft4Validator, document: dict[str, Any]) -> None:
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def results_by_rule(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {result["ruleId"]: result for result in run["results"]}


def test_sarif_is_valid_against_the_official_schema(validator, tmp_path: Path) -> None:
    assert_valid(validator, render(sample_run(), tmp_path))
    assert_valid(validator, render(error_run(), tmp_path))


def test_a_schema_violation_is_caught(validator, tmp_path: Path) -> None:
    """The validator is not vacuous: a level SARIF does not know is rejected."""
    document = render(sample_run(), tmp_path)
    document["runs"][0]["results"][0]["level"] = "critical"
    assert list(validator.iter_errors(document))


def test_one_run_per_image_each_with_its_own_category(tmp_path: Path) -> None:
    runs = render(sample_run(), tmp_path)["runs"]
    assert [r["automationDetails"]["id"] for r in runs] == [
        "container-gate/ghcr.io/acme/app/",
        "container-gate/ghcr.io/acme/worker/",
    ]
    assert [r["properties"]["image"]["digest"] for r in runs] == [
        DIGEST_A,
        "sha256:" + "b" * 64,
    ]


def test_category_and_rule_ids_do_not_change_with_tag_digest_or_title(tmp_path: Path) -> None:
    first = sample_run()
    verdict = first.verdicts[0]
    rebuilt = replace(
        verdict,
        subject=Subject("ghcr.io/acme/app:9e8d7c6", "sha256:" + "c" * 64, "ghcr.io/acme/app"),
        checks=tuple(
            replace(
                c,
                findings=tuple(
                    replace(p, message=p.message + " (newer wording)") for p in c.findings
                ),
            )
            for c in verdict.checks
        ),
    )
    before = render(first, tmp_path)["runs"][0]
    after = render(Run((rebuilt,), first.policy_source), tmp_path)["runs"][0]
    assert before["automationDetails"] == after["automationDetails"]
    assert [r["ruleId"] for r in before["results"]] == [r["ruleId"] for r in after["results"]]
    assert [r["partialFingerprints"] for r in before["results"]] == [
        r["partialFingerprints"] for r in after["results"]
    ]
    assert [r["ruleId"] for r in before["results"]] == [
        "vulnerability/CVE-2026-0001",
        "vulnerability/CVE-2026-0002",
        "base-digest/unpinned-base",
        "non-root/root-user",
    ]


def test_base_image_result_is_located_on_the_dockerfile_line(tmp_path: Path) -> None:
    workdir = tmp_path / "services" / "api"
    run = render(sample_run(), tmp_path, cwd=workdir)["runs"][0]
    location = results_by_rule(run)["base-digest/unpinned-base"]["locations"][0]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "services/api/Dockerfile", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 1},
    }


def test_unlocated_results_land_on_the_images_dockerfile(tmp_path: Path) -> None:
    run = render(sample_run(), tmp_path)["runs"][0]
    for rule in ("vulnerability/CVE-2026-0001", "non-root/root-user"):
        physical = results_by_rule(run)[rule]["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": "Dockerfile", "uriBaseId": "%SRCROOT%"}


def test_without_a_dockerfile_results_land_on_the_image_repository(tmp_path: Path) -> None:
    verdict = Verdict(
        Subject("ghcr.io/acme/app:1", DIGEST_A, "ghcr.io/acme/app", "1"),
        (
            CheckResult(
                "vulnerabilities",
                Status.FAIL,
                "1 finding",
                (vuln("CVE-2026-0001", "openssl", "3.0.11-1", Severity.HIGH),),
            ),
        ),
    )
    run = render(Run((verdict,), "p.yml"), tmp_path)["runs"][0]
    physical = run["results"][0]["locations"][0]["physicalLocation"]
    assert physical == {"artifactLocation": {"uri": "ghcr.io/acme/app"}, "region": {"startLine": 1}}


def test_levels_and_security_severity_follow_the_judged_severity(tmp_path: Path) -> None:
    problems = tuple(
        vuln(f"CVE-2026-000{n}", "pkg", "1", severity)
        for n, severity in enumerate(
            (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.UNKNOWN)
        )
    )
    verdict = Verdict(
        Subject("app:1", DIGEST_A, "app", "1"),
        (CheckResult("vulnerabilities", Status.FAIL, "5", problems),),
    )
    run = render(Run((verdict,), "p.yml"), tmp_path)["runs"][0]
    assert [r["level"] for r in run["results"]] == ["error", "error", "warning", "note", "note"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["properties"]["security-severity"] for r in rules] == [
        "9.5",
        "8.0",
        "5.5",
        "2.0",
        "0.1",
    ]
    assert [r["ruleIndex"] for r in run["results"]] == [0, 1, 2, 3, 4]
    assert rules[0]["helpUri"] == "https://avd.aquasec.com/nvd/cve-2026-0000"
    hygiene = render(sample_run(), tmp_path)["runs"][0]
    assert results_by_rule(hygiene)["non-root/root-user"]["level"] == "error"


def test_an_error_verdict_is_an_unsuccessful_execution_not_an_alert(tmp_path: Path) -> None:
    run = render(error_run(), tmp_path)["runs"][0]
    assert run["results"] == []
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert "could not decide" in invocation["toolExecutionNotifications"][0]["message"]["text"]
    assert run["properties"]["verdict"] == "error"


def test_passing_checks_produce_no_results(tmp_path: Path) -> None:
    run = render(sample_run(), tmp_path)["runs"][1]
    assert run["results"] == [] and run["invocations"][0]["executionSuccessful"] is True


def test_oci_layout_category_ignores_the_tag(tmp_path: Path) -> None:
    verdicts = tuple(
        Verdict(Subject(ref, DIGEST_A), ())
        for ref in ("oci:build/layout:v1", "oci:build/layout:v2")
    )
    ids = {
        render(Run((verdict,), "p"), tmp_path)["runs"][0]["automationDetails"]["id"]
        for verdict in verdicts
    }
    assert ids == {"container-gate/oci:build/layout/"}


def test_two_images_of_one_repository_in_one_run_get_distinct_categories(tmp_path: Path) -> None:
    """upload-sarif refuses a file whose runs share a category."""
    verdicts = tuple(
        Verdict(Subject(f"ghcr.io/acme/app:{tag}", DIGEST_A, "ghcr.io/acme/app", tag), ())
        for tag in ("3f2a9c1", "3f2a9c1-debug", "3f2a9c1-slim")
    )
    runs = render(Run(verdicts, "p"), tmp_path)["runs"]
    assert [r["automationDetails"]["id"] for r in runs] == [
        "container-gate/ghcr.io/acme/app/",
        "container-gate/ghcr.io/acme/app#2/",
        "container-gate/ghcr.io/acme/app#3/",
    ]
