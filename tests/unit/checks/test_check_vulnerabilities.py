"""The vulnerability check, judged purely from facts (no scanner runs here)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from gate.checks.vulnerabilities import VulnerabilitiesCheck
from gate.core import evaluate
from gate.model import Facts, ScanReport, Severity, Status, Unavailable, Vulnerability
from gate.policy.model import Policy, VulnerabilityPolicy, VulnException
from tests.support.facts import NOW, SUBJECT


def vuln(
    vid: str,
    severity: Severity,
    *,
    package: str = "openssl",
    fixed: tuple[str, ...] = ("3.0.13-1",),
    aliases: frozenset[str] = frozenset(),
    status: str = "fixed",
) -> Vulnerability:
    return Vulnerability(
        id=vid,
        package=package,
        installed="3.0.11-1",
        severity=severity,
        fixed=fixed,
        aliases=aliases,
        status=status,
        title=f"{vid} title",
    )


def facts(*vulns: Vulnerability, scanner: str = "trivy") -> Facts:
    return Facts(
        SUBJECT, NOW, scans=(ScanReport(scanner, vulnerabilities=vulns, os="debian 12.5"),)
    )


def judge(rules: VulnerabilityPolicy, the_facts: Facts):
    return VulnerabilitiesCheck().evaluate(Policy("test", vulnerabilities=rules), the_facts)


def test_finding_at_threshold_fails_and_is_named():
    result = judge(
        VulnerabilityPolicy(fail_on=Severity.HIGH), facts(vuln("CVE-2024-0001", Severity.HIGH))
    )
    assert result.status is Status.FAIL
    assert [p.rule for p in result.findings] == ["CVE-2024-0001"]
    assert result.findings[0].data["package"] == "openssl"
    assert "1 finding at or above high" in result.summary


def test_threshold_above_findings_passes():
    result = judge(
        VulnerabilityPolicy(fail_on=Severity.CRITICAL), facts(vuln("CVE-1", Severity.HIGH))
    )
    assert result.status is Status.PASS
    assert result.evidence["below_threshold"] == 1


def test_unknown_severity_is_judged_as_unknown_as():
    unknown = vuln("CVE-9", Severity.UNKNOWN)
    assert judge(VulnerabilityPolicy(fail_on=Severity.HIGH), facts(unknown)).status is Status.FAIL
    relaxed = VulnerabilityPolicy(fail_on=Severity.HIGH, unknown_as=Severity.MEDIUM)
    assert judge(relaxed, facts(unknown)).status is Status.PASS


def test_ignore_unfixed_drops_findings_without_a_fix():
    unfixed = vuln("CVE-2", Severity.CRITICAL, fixed=(), status="affected")
    assert judge(VulnerabilityPolicy(), facts(unfixed)).status is Status.FAIL
    result = judge(VulnerabilityPolicy(ignore_unfixed=True), facts(unfixed))
    assert result.status is Status.PASS
    assert result.evidence["ignored_unfixed"] == 1


def test_exception_applies_until_it_expires():
    exc = VulnException("CVE-3", reason="not reachable", expires=date(2027, 3, 31))
    result = judge(VulnerabilityPolicy(exceptions=(exc,)), facts(vuln("CVE-3", Severity.HIGH)))
    assert result.status is Status.PASS
    assert result.evidence["exceptions_applied"][0]["reason"] == "not reachable"


def test_exception_is_valid_through_its_expiry_day():
    exc = VulnException("CVE-3", reason="r", expires=NOW.date())
    assert (
        judge(VulnerabilityPolicy(exceptions=(exc,)), facts(vuln("CVE-3", Severity.HIGH))).status
        is Status.PASS
    )


def test_expired_exception_no_longer_applies_and_is_reported():
    exc = VulnException("CVE-3", reason="old waiver", expires=date(2026, 11, 27))
    result = judge(VulnerabilityPolicy(exceptions=(exc,)), facts(vuln("CVE-3", Severity.HIGH)))
    assert result.status is Status.FAIL
    assert result.evidence["exceptions_expired"][0]["would_match"] == ["CVE-3"]
    assert "1 exception expired" in result.summary


def test_exception_matches_an_alias():
    ghsa = vuln("GHSA-xxxx-yyyy-zzzz", Severity.HIGH, aliases=frozenset({"CVE-2024-7"}))
    exc = VulnException("CVE-2024-7", reason="alias", expires=date(2027, 1, 1))
    assert judge(VulnerabilityPolicy(exceptions=(exc,)), facts(ghsa)).status is Status.PASS


def test_exception_limited_to_a_package_does_not_waive_another_package():
    exc = VulnException("CVE-4", reason="only libssl", expires=date(2027, 1, 1), package="libssl3")
    result = judge(VulnerabilityPolicy(exceptions=(exc,)), facts(vuln("CVE-4", Severity.HIGH)))
    assert result.status is Status.FAIL
    assert result.evidence["exceptions_unused"][0]["id"] == "CVE-4"


def test_exception_expiring_within_fourteen_days_is_flagged():
    exc = VulnException("CVE-5", reason="r", expires=date(2026, 12, 5))
    result = judge(VulnerabilityPolicy(exceptions=(exc,)), facts())
    assert [row["id"] for row in result.evidence["exceptions_expiring_soon"]] == ["CVE-5"]


def test_vendor_not_affected_does_not_fail():
    result = judge(
        VulnerabilityPolicy(), facts(vuln("CVE-6", Severity.HIGH, fixed=(), status="not_affected"))
    )
    assert result.status is Status.PASS
    assert result.evidence["not_affected"] == 1


def test_missing_scanner_report_is_an_error_not_a_pass():
    rules = VulnerabilityPolicy(scanners=("trivy", "grype"))
    result = judge(rules, facts())
    assert result.status is Status.ERROR
    assert "grype" in result.summary


def test_scanner_failure_makes_the_verdict_an_error():
    broken = Facts(SUBJECT, NOW, scans=Unavailable("trivy exited with code 2", "panic: boom"))
    verdict = evaluate(Policy("test", vulnerabilities=VulnerabilityPolicy()), broken)
    assert verdict.status == "error"
    assert verdict.checks[0].detail == "panic: boom"


def test_policy_that_enables_nothing_is_an_error():
    verdict = evaluate(Policy("test"), Facts(SUBJECT, NOW))
    assert verdict.status == "error"


# --------------------------------------------------------------------------- waivers


def test_exception_id_matches_case_insensitively():
    exc = VulnException("cve-2026-0001", reason="r", expires=date(2027, 3, 31))
    result = judge(
        VulnerabilityPolicy(exceptions=(exc,)), facts(vuln("CVE-2026-0001", Severity.HIGH))
    )
    assert result.status is Status.PASS
    assert [r["finding"] for r in result.evidence["exceptions_applied"]] == ["CVE-2026-0001"]


def test_exception_id_matches_an_alias_case_insensitively():
    exc = VulnException("ghsa-abcd-efgh-ijkl", reason="r", expires=date(2027, 3, 31))
    finding = vuln("CVE-2026-0001", Severity.HIGH, aliases=frozenset({"GHSA-abcd-EFGH-ijkl"}))
    assert judge(VulnerabilityPolicy(exceptions=(exc,)), facts(finding)).status is Status.PASS


def test_exception_for_a_source_package_waives_its_binary_packages():
    exc = VulnException("CVE-2026-0001", reason="r", expires=date(2027, 3, 31), package="openssl")
    libssl = replace(
        vuln("CVE-2026-0001", Severity.HIGH, package="libssl3"),
        source_packages=frozenset({"openssl"}),
    )
    result = judge(VulnerabilityPolicy(exceptions=(exc,)), facts(libssl))
    assert result.status is Status.PASS
    [row] = result.evidence["exceptions_applied"]
    assert (row["finding_package"], row["finding_source_packages"]) == ("libssl3", ["openssl"])


def test_exception_for_a_package_does_not_waive_another_source():
    exc = VulnException("CVE-2026-0001", reason="r", expires=date(2027, 3, 31), package="openssl")
    other = replace(
        vuln("CVE-2026-0001", Severity.HIGH, package="libfoo"),
        source_packages=frozenset({"foo"}),
    )
    result = judge(VulnerabilityPolicy(exceptions=(exc,)), facts(other))
    assert result.status is Status.FAIL
    assert result.findings[0].message.startswith("CVE-2026-0001 in libfoo (source foo) ")
    assert result.findings[0].data["source_packages"] == ["foo"]


def test_exceptions_that_waive_nothing_are_listed_as_unused_and_expired_ones_apart():
    used = VulnException("CVE-1", reason="r", expires=date(2027, 3, 31))
    unused = VulnException("CVE-404", reason="r", expires=date(2027, 3, 31), line=9)
    below = VulnException("CVE-LOW", reason="r", expires=date(2027, 3, 31))  # not needed
    expired = VulnException("CVE-2", reason="r", expires=date(2020, 1, 1))
    result = judge(
        VulnerabilityPolicy(exceptions=(used, unused, below, expired)),
        facts(vuln("CVE-1", Severity.HIGH), vuln("CVE-LOW", Severity.LOW)),
    )
    assert [r["id"] for r in result.evidence["exceptions_unused"]] == ["CVE-404", "CVE-LOW"]
    assert result.evidence["exceptions_unused"][0]["policy_line"] == 9
    assert [r["id"] for r in result.evidence["exceptions_expired"]] == ["CVE-2"]


def test_the_summary_counts_unused_exceptions():
    unused = VulnException("CVE-404", reason="r", expires=date(2027, 3, 31))
    result = judge(VulnerabilityPolicy(exceptions=(unused,)), facts(vuln("CVE-1", Severity.LOW)))
    assert result.summary == "no findings at or above high (1 found in all); 1 exception unused"
