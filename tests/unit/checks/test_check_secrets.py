"""Check ``secrets``: any secret Trivy finds fails; a pass says what it rests on."""

from __future__ import annotations

from gate.checks.secrets import SecretsCheck
from gate.core import evaluate
from gate.model import CheckResult, Facts, ScanReport, Secret, Severity, Status
from gate.policy.model import Policy, SecretsPolicy
from tests.support.facts import NOW, SUBJECT

POLICY = Policy("test", secrets=SecretsPolicy(fail=True))
KEY = Secret(
    rule_id="aws-access-key-id",
    category="AWS",
    severity=Severity.CRITICAL,
    title="AWS Access Key ID",
    target="/app/deploy.env",
    line=2,
)


def judge(*reports: ScanReport) -> CheckResult:
    facts = Facts(SUBJECT, NOW, scans=reports)
    return evaluate(POLICY, facts, checks=[SecretsCheck()]).checks[0]


def test_a_secret_fails_with_rule_file_and_line() -> None:
    result = judge(ScanReport("trivy", secrets=(KEY,), secrets_scanned=True))
    assert result.status is Status.FAIL
    assert [p.message for p in result.findings] == ["AWS Access Key ID in /app/deploy.env line 2"]


def test_a_secret_in_a_saved_report_fails_too() -> None:
    assert judge(ScanReport("trivy", secrets=(KEY,))).status is Status.FAIL


def test_no_secret_from_a_scan_the_gate_ran_passes() -> None:
    result = judge(ScanReport("trivy", secrets_scanned=True))
    assert (result.status, result.summary) == (Status.PASS, "no secrets found")


def test_no_secret_in_a_saved_report_passes_but_says_the_scan_is_not_recorded() -> None:
    result = judge(ScanReport("trivy"))
    assert result.status is Status.PASS
    assert "does not record whether secret scanning ran" in result.summary
    assert result.evidence == {"secret_scan": "not recorded in the saved report"}


def test_without_a_trivy_report_no_secret_scan_ran_and_that_is_an_error() -> None:
    result = judge(ScanReport("grype", secrets_scanned=False))
    assert result.status is Status.ERROR
