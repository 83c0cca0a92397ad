"""Check ``vulnerabilities``: merged scanner findings against the severity threshold.

Rules, in order, for each merged finding:

1. Its *effective* severity is its own, except UNKNOWN, which is judged as the policy's
   ``unknown_as`` (default high): a finding no scanner could rank must not slip through.
2. Below ``fail_on`` it does not fail.
3. With ``ignore_unfixed``, a finding with no fixed version does not fail.
4. A vendor status of ``not_affected`` does not fail: the distribution has stated the
   package is not vulnerable (as Trivy's ``--ignore-status`` would).
5. A matching, unexpired exception waives it; an expired one is reported and waives nothing.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any, ClassVar

from gate.model import (
    CheckResult,
    Facts,
    Need,
    Problem,
    Severity,
    Status,
    Vulnerability,
    need,
)
from gate.policy.model import Policy, VulnerabilityPolicy, VulnException
from gate.scanners.merge import merge

EXPIRY_WARNING_DAYS = 14
"""Exceptions expiring within this many days are listed, so waivers get renewed or fixed."""


def effective_severity(finding: Vulnerability, rules: VulnerabilityPolicy) -> Severity:
    return rules.unknown_as if finding.severity is Severity.UNKNOWN else finding.severity


def _finding_row(finding: Vulnerability, rules: VulnerabilityPolicy) -> dict[str, Any]:
    return {
        "id": finding.id,
        "aliases": sorted(finding.aliases - {finding.id}),
        "package": finding.package,
        "installed": finding.installed,
        "fixed": list(finding.fixed),
        "severity": finding.severity.label,
        "judged_as": effective_severity(finding, rules).label,
        "status": finding.status,
        "title": finding.title,
        "url": finding.url,
        "target": finding.target,
        "found_by": sorted(finding.found_by),
    }


def _exception_row(exc: VulnException, finding: Vulnerability | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": exc.id,
        "package": exc.package,
        "reason": exc.reason,
        "expires": exc.expires.isoformat(),
    }
    if exc.line is not None:
        row["policy_line"] = exc.line
    if finding is not None:
        row["finding"] = finding.id
        row["finding_package"] = finding.package
    return row


def _severity_phrase(findings: list[Vulnerability], rules: VulnerabilityPolicy) -> str:
    counts = Counter(effective_severity(f, rules) for f in findings)
    return ", ".join(f"{counts[s]} {s.label}" for s in sorted(counts, reverse=True) if counts[s])


class VulnerabilitiesCheck:
    id: ClassVar[str] = "vulnerabilities"

    def needs(self, policy: Policy) -> frozenset[Need] | None:
        return None if policy.vulnerabilities is None else frozenset({Need.SCANS})

    def evaluate(self, policy: Policy, facts: Facts) -> CheckResult:
        rules = policy.vulnerabilities
        assert rules is not None
        reports = tuple(
            r for r in need(facts.scans, "scanner reports") if r.scanner in rules.scanners
        )
        missing = sorted(set(rules.scanners) - {r.scanner for r in reports})
        if missing:
            return CheckResult(
                self.id,
                Status.ERROR,
                f"no report from {', '.join(missing)}; every listed scanner must run",
            )
        merged = merge(reports)
        findings = merged.findings
        today = facts.now.date()

        failing: list[Vulnerability] = []
        applied: list[dict[str, Any]] = []
        used: set[VulnException] = set()
        below = unfixed = not_affected = 0
        for finding in findings:
            if effective_severity(finding, rules) < rules.fail_on:
                below += 1
                continue
            if rules.ignore_unfixed and not finding.has_fix:
                unfixed += 1
                continue
            if finding.status == "not_affected":
                not_affected += 1
                continue
            waiver = _waiver_for(finding, rules.exceptions, today)
            if waiver is not None:
                used.add(waiver)
                applied.append(_exception_row(waiver, finding))
                continue
            failing.append(finding)

        expired = [
            {
                **_exception_row(e),
                "would_match": sorted({f.id for f in findings if e.matches(f.ids, f.package)}),
            }
            for e in rules.exceptions
            if e.expired(today)
        ]
        failing.sort(key=lambda f: (-effective_severity(f, rules), f.id, f.package))
        problems = tuple(
            Problem(
                rule=f.id,
                message=f"{f.id} in {f.package} {f.installed} "
                f"({effective_severity(f, rules).label})" + (f": {f.title}" if f.title else ""),
                severity=effective_severity(f, rules),
                data=_finding_row(f, rules),
            )
            for f in failing
        )
        evidence = {
            "fail_on": rules.fail_on.label,
            "total": len(findings),
            "by_severity": dict(sorted(Counter(f.severity.label for f in findings).items())),
            "below_threshold": below,
            "ignored_unfixed": unfixed,
            "not_affected": not_affected,
            "exceptions_applied": applied,
            "exceptions_expired": expired,
            "exceptions_unused": [
                _exception_row(e)
                for e in rules.exceptions
                if e not in used and not e.expired(today)
            ],
            "exceptions_expiring_soon": [
                _exception_row(e)
                for e in rules.exceptions
                if not e.expired(today) and e.expires <= today + timedelta(days=EXPIRY_WARNING_DAYS)
            ],
            "scanners": [
                {
                    "name": s.name,
                    "version": s.version,
                    "db_built": s.db_built,
                    "findings": s.entries,
                    "by_severity": dict(s.counts),
                    "distinct": s.distinct,
                }
                for s in merged.summaries
            ],
            "agreement": merged.counts(),
            "found_by_one_only": [_finding_row(f, rules) for f in merged.only_one],
            "no_os_packages": all(r.os is None for r in reports),
        }
        summary = _summary(failing, rules, len(findings), applied, expired)
        status = Status.FAIL if failing else Status.PASS
        return CheckResult(self.id, status, summary, problems, evidence)


def _waiver_for(
    finding: Vulnerability, exceptions: tuple[VulnException, ...], today: date
) -> VulnException | None:
    """The first unexpired exception matching the finding by its id or any alias."""
    for exc in exceptions:
        if exc.matches(finding.ids, finding.package) and not exc.expired(today):
            return exc
    return None


def _summary(
    failing: list[Vulnerability],
    rules: VulnerabilityPolicy,
    total: int,
    applied: list[dict[str, Any]],
    expired: list[dict[str, Any]],
) -> str:
    threshold = rules.fail_on.label
    if failing:
        text = (
            f"{len(failing)} finding{'s' if len(failing) != 1 else ''} at or above {threshold} "
            f"({_severity_phrase(failing, rules)})"
        )
    else:
        text = f"no findings at or above {threshold} ({total} found in all)"
    if applied:
        text += f"; {len(applied)} waived by exceptions"
    if expired:
        text += f"; {len(expired)} exception{'s' if len(expired) != 1 else ''} expired"
    return text
