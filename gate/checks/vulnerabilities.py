"""Check ``vulnerabilities``: merged scanner findings against the severity threshold.

Rules, in order, for each merged finding:

1. Its *effective* severity is its own, except UNKNOWN, which is judged as the policy's
   ``unknown_as`` (default high): a finding no scanner could rank must not slip through.
2. Below ``fail_on`` it does not fail.
3. With ``ignore_unfixed``, a finding with no fixed version does not fail.
4. A vendor status of ``not_affected`` does not fail: the distribution has stated the
   package is not vulnerable (as Trivy's ``--ignore-status`` would).
5. A matching, unexpired exception waives it; an expired one is reported and waives nothing.
   An exception matches by id or any alias, case-insensitively, and its ``package`` names
   the binary package or the source package it was built from (``openssl`` covers
   ``libssl3``). Exceptions that waived nothing are listed, so stale waivers get removed.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from operator import attrgetter, itemgetter
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
    package_phrase,
)
from gate.policy.model import Policy, VulnerabilityPolicy, VulnException
from gate.scanners.merge import merge

EXPIRY_WARNING_DAYS = 14
"""Exceptions expiring within this many days are listed, so waivers get renewed or fixed."""


_SEVERITY_OF = attrgetter("severity")
_JUDGED = itemgetter(0)


def _id_and_package(pair: tuple[Severity, Vulnerability]) -> tuple[str, str]:
    return pair[1].id, pair[1].package


def effective_severity(finding: Vulnerability, rules: VulnerabilityPolicy) -> Severity:
    return rules.unknown_as if finding.severity is Severity.UNKNOWN else finding.severity


def _finding_row(
    finding: Vulnerability, rules: VulnerabilityPolicy, judged: Severity | None = None
) -> dict[str, Any]:
    vid, aliases = finding.id, finding.aliases
    return {
        "id": vid,
        "aliases": sorted(aliases - {vid} if vid in aliases else aliases),
        "package": finding.package,
        "source_packages": sorted(finding.source_packages),
        "installed": finding.installed,
        "fixed": list(finding.fixed),
        "severity": finding.severity.label,
        "judged_as": (effective_severity(finding, rules) if judged is None else judged).label,
        "status": finding.status,
        "title": finding.title,
        "url": finding.url,
        "target": finding.target,
        "found_by": sorted(finding.found_by),
    }


def _problem(finding: Vulnerability, judged: Severity, rules: VulnerabilityPolicy) -> Problem:
    title = f": {finding.title}" if finding.title else ""
    return Problem(
        rule=finding.id,
        message=f"{finding.id} in {package_phrase(finding.package, finding.source_packages)} "
        f"{finding.installed} ({judged.label}){title}",
        severity=judged,
        data=_finding_row(finding, rules, judged),
    )


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
        if finding.source_packages:
            row["finding_source_packages"] = sorted(finding.source_packages)
    return row


def _severity_phrase(judged: list[Severity]) -> str:
    counts = Counter(judged)
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

        failing: list[tuple[Severity, Vulnerability]] = []  # (effective severity, finding)
        applied: list[dict[str, Any]] = []
        used: set[VulnException] = set()
        below = unfixed = not_affected = 0
        # effective_severity, inlined: this loop runs once per finding (50,000 in a big report).
        unknown, unknown_as, fail_on = Severity.UNKNOWN, rules.unknown_as, rules.fail_on
        ignore_unfixed, exceptions = rules.ignore_unfixed, rules.exceptions
        for finding in findings:
            severity = finding.severity
            if severity is unknown:
                severity = unknown_as
            if severity < fail_on:
                below += 1
                continue
            if ignore_unfixed and not finding.fixed:
                unfixed += 1
                continue
            if finding.status == "not_affected":
                not_affected += 1
                continue
            waiver = _waiver_for(finding, exceptions, today) if exceptions else None
            if waiver is not None:
                used.add(waiver)
                applied.append(_exception_row(waiver, finding))
                continue
            failing.append((severity, finding))

        expired = [
            {
                **_exception_row(e),
                "would_match": sorted({f.id for f in findings if _matches(e, f)}),
            }
            for e in rules.exceptions
            if e.expired(today)
        ]
        # Worst (as judged) first, then by id and package: two stable sorts, the second in C.
        failing.sort(key=_id_and_package)
        failing.sort(key=_JUDGED, reverse=True)
        problems = tuple(_problem(f, severity, rules) for severity, f in failing)
        by_severity = Counter(map(_SEVERITY_OF, findings))
        evidence = {
            "fail_on": rules.fail_on.label,
            "total": len(findings),
            "by_severity": dict(sorted((s.label, n) for s, n in by_severity.items())),
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
        summary = _summary([s for s, _ in failing], rules, len(findings), applied, expired)
        summary += _unused_phrase(sum(1 for e in rules.exceptions if e not in used) - len(expired))
        status = Status.FAIL if failing else Status.PASS
        return CheckResult(self.id, status, summary, problems, evidence)


def _waiver_for(
    finding: Vulnerability, exceptions: tuple[VulnException, ...], today: date
) -> VulnException | None:
    """The first unexpired exception matching the finding by its id or any alias."""
    for exc in exceptions:
        if _matches(exc, finding) and not exc.expired(today):
            return exc
    return None


def _matches(exc: VulnException, finding: Vulnerability) -> bool:
    return exc.matches(finding.ids, finding.package, finding.source_packages)


def _unused_phrase(unused: int) -> str:
    if not unused:
        return ""
    return f"; {unused} exception{'s' if unused != 1 else ''} unused"


def _summary(
    failing: list[Severity],
    rules: VulnerabilityPolicy,
    total: int,
    applied: list[dict[str, Any]],
    expired: list[dict[str, Any]],
) -> str:
    threshold = rules.fail_on.label
    if failing:
        text = (
            f"{len(failing)} finding{'s' if len(failing) != 1 else ''} at or above {threshold} "
            f"({_severity_phrase(failing)})"
        )
    else:
        text = f"no findings at or above {threshold} ({total} found in all)"
    if applied:
        text += f"; {len(applied)} waived by exceptions"
    if expired:
        text += f"; {len(expired)} exception{'s' if len(expired) != 1 else ''} expired"
    return text
