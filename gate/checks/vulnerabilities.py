"""Check ``vulnerabilities``: merged scanner findings against the severity threshold.

Rules, in order, for each merged finding:

1. Its *effective* severity is its own, except UNKNOWN, which is judged as the policy's
   ``unknown_as`` (default high): a finding no scanner could rank must not slip through.
2. Below ``fail_on`` it does not fail.
3. With ``ignore_unfixed``, a finding with no fixed version does not fail.
4. A vendor status of ``not_affected`` does not fail: the distribution has stated the
   package is not vulnerable (as Trivy's ``--ignore-status`` would).
5. A ``not_affected`` or ``fixed`` OpenVEX statement for the judged image waives it
   (``gate.vex``: the latest applying statement decides); the report names the statement.
6. A matching, unexpired exception waives it; an expired one is reported and waives nothing.
   An exception matches by id or any alias, case-insensitively, and its ``package`` names
   the binary package or the source package it was built from (``openssl`` covers
   ``libssl3``). Exceptions that waived nothing are listed, so stale waivers get removed.
7. With a baseline and ``new_only``, a finding the baseline already had (``gate.checks.delta``)
   does not fail; it is listed apart as inherited.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import replace
from datetime import date, timedelta
from operator import attrgetter, itemgetter
from typing import Any, ClassVar

from gate import vex as openvex
from gate.checks import delta as deltas
from gate.evidence import (
    BaselineEvidence,
    ExceptionRow,
    FindingRow,
    FixedRow,
    Identity,
    InheritedRow,
    ScannerRow,
    VexRow,
    VulnerabilityEvidence,
)
from gate.findings import merge
from gate.model import (
    Baseline,
    CheckResult,
    Facts,
    Need,
    Problem,
    Severity,
    Status,
    Subject,
    VexStatement,
    Vulnerability,
    need,
    package_phrase,
)
from gate.policy.model import EXPIRY_WARNING_DAYS, Policy, VulnerabilityPolicy, VulnException

"""Exceptions expiring within this many days are listed, so waivers get renewed or fixed."""


_SEVERITY_OF = attrgetter("severity")
_JUDGED = itemgetter(0)


def _id_and_package(pair: tuple[Severity, Vulnerability]) -> tuple[str, str]:
    return pair[1].id, pair[1].package


def effective_severity(finding: Vulnerability, rules: VulnerabilityPolicy) -> Severity:
    return rules.unknown_as if finding.severity is Severity.UNKNOWN else finding.severity


def _finding_row(
    finding: Vulnerability, rules: VulnerabilityPolicy, judged: Severity | None = None
) -> FindingRow:
    vid, aliases = finding.id, finding.aliases
    return FindingRow(
        vid,
        tuple(sorted(aliases - {vid} if vid in aliases else aliases)),
        finding.package,
        tuple(sorted(finding.source_packages)),
        finding.installed,
        finding.fixed,
        finding.severity,
        effective_severity(finding, rules) if judged is None else judged,
        finding.status,
        finding.title,
        finding.url,
        finding.target,
        tuple(sorted(finding.found_by)),
    )


def _problem(
    finding: Vulnerability,
    judged: Severity,
    rules: VulnerabilityPolicy,
    delta: deltas.Delta | None = None,
) -> Problem:
    title = f": {finding.title}" if finding.title else ""
    data = _finding_row(finding, rules, judged)
    if delta is not None:
        data = replace(data, baseline="inherited" if finding in delta.inherited else "new")
    return Problem(
        rule=finding.id,
        message=f"{finding.id} in {package_phrase(finding.package, finding.source_packages)} "
        f"{finding.installed} ({judged.label}){title}",
        severity=judged,
        data=data,
    )


def _candidates(finding: Vulnerability, by_id: dict[str, list[VexStatement]]) -> list[VexStatement]:
    found: list[VexStatement] = []
    for ident in finding.ids:
        found += by_id.get(ident, ())
    return found


def _vex_decision(
    finding: Vulnerability, by_id: dict[str, list[VexStatement]], subject: Subject
) -> VexStatement | None:
    """The latest statement applying to the finding (see ``gate.vex``)."""
    candidates = _candidates(finding, by_id)
    return (
        openvex.deciding(finding, openvex.ordered(set(candidates)), subject) if candidates else None
    )


class Inventory(Collection[dict[str, Any]]):
    """Every finding by id and package: what a later run compares with (``--baseline``).

    ``first_seen`` is written only for findings the baseline already had (its own first
    sighting, else when the baseline was judged); a row without it was first seen in this
    run (``judged_at``). Empty ``aliases`` are left out. Both keep a 50,000-finding report
    small, since every report carries the inventory.

    The rows are built when read, which only the JSON report does: a run without
    ``--report-json`` would otherwise build 50,000 of them for nothing (about 7% of
    judging a big report).
    """

    __slots__ = ("_findings", "_inherited", "_since")

    def __init__(
        self,
        findings: tuple[Vulnerability, ...],
        delta: deltas.Delta | None = None,
        baseline: Baseline | None = None,
    ) -> None:
        self._findings = findings
        self._inherited = delta.inherited if delta is not None else None
        self._since = baseline.judged_at if baseline is not None else None

    def __len__(self) -> int:
        return len(self._findings)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._rows())

    def __contains__(self, row: object) -> bool:
        return row in self._rows()

    def _rows(self) -> list[dict[str, Any]]:
        findings = self._findings
        rows: list[dict[str, Any]] = [
            {"id": f.id, "package": f.package, "aliases": _other_ids(f)}
            if f.aliases
            else {"id": f.id, "package": f.package}
            for f in findings
        ]
        inherited, since = self._inherited, self._since
        if inherited:  # looked up only then: hashing 50,000 findings costs more than the rows
            for row, finding in zip(rows, findings, strict=True):
                old = inherited.get(finding)
                if old is not None and (old.first_seen or since):
                    row["first_seen"] = old.first_seen or since
        return rows


def _other_ids(finding: Vulnerability) -> list[str]:
    """The finding's aliases without its own id, sorted."""
    aliases = finding.aliases
    return sorted(aliases - {finding.id} if finding.id in aliases else aliases)


def _baseline_evidence(
    baseline: Baseline,
    delta: deltas.Delta,
    rules: VulnerabilityPolicy,
    failing: list[tuple[Severity, Vulnerability]],
    inherited_failing: list[tuple[Severity, Vulnerability]],
    facts: Facts,
    policy_sha256: str,
) -> BaselineEvidence:
    """``new`` and ``inherited`` list the findings that fail (or would, without new_only)."""
    judged = failing + inherited_failing
    inherited_rows = []
    for severity, finding in judged:
        old = delta.inherited.get(finding)
        if old is None:
            continue
        first_seen = old.first_seen or baseline.judged_at
        inherited_rows.append(
            InheritedRow.of(
                _finding_row(finding, rules, severity),
                first_seen,
                deltas.days_present(first_seen, facts.now),
            )
        )
    return BaselineEvidence(
        source=baseline.source,
        digest=baseline.digest,
        new_only=rules.new_only,
        warnings=tuple(
            deltas.warnings(
                baseline,
                repository=facts.subject.repository,
                policy_sha256=policy_sha256,
                scanners=rules.scanners,
            )
        ),
        counts={
            "new": len(delta.new),
            "inherited": len(delta.inherited),
            "fixed": len(delta.fixed),
        },
        new=tuple(_finding_row(f, rules, s) for s, f in judged if f not in delta.inherited),
        inherited=tuple(inherited_rows),
        fixed=tuple(
            FixedRow(f.id, tuple(sorted(f.aliases - {f.id})), f.package) for f in delta.fixed
        ),
    )


def _exception_row(exc: VulnException, finding: Vulnerability | None = None) -> ExceptionRow:
    return ExceptionRow(
        exc.id,
        exc.package,
        exc.reason,
        exc.expires.isoformat(),
        policy_line=exc.line,
        finding=None if finding is None else finding.id,
        finding_package=None if finding is None else finding.package,
        finding_source_packages=(
            tuple(sorted(finding.source_packages))
            if finding is not None and finding.source_packages
            else None
        ),
    )


def _severity_phrase(judged: list[Severity]) -> str:
    counts = Counter(judged)
    return ", ".join(f"{counts[s]} {s.label}" for s in sorted(counts, reverse=True) if counts[s])


class VulnerabilitiesCheck:
    id: ClassVar[str] = "vulnerabilities"

    def needs(self, policy: Policy) -> frozenset[Need] | None:
        rules = policy.vulnerabilities
        if rules is None:
            return None
        wanted = {Need.SCANS}
        if rules.baseline is not None:
            wanted.add(Need.BASELINE)
        if rules.vex or rules.vex_attestations:
            wanted.add(Need.VEX)
        return frozenset(wanted)

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
        baseline: Baseline | None = None
        delta: deltas.Delta | None = None
        if rules.baseline is not None:
            baseline = need(facts.baseline, "the baseline")
            refused = deltas.refusal(
                baseline, repository=facts.subject.repository, platform=facts.platform
            )
            if refused:
                return CheckResult(self.id, Status.ERROR, f"baseline refused: {refused}")
            delta = deltas.compute_delta(findings, baseline)
        statements: list[VexStatement] = []
        vex_facts = None
        if rules.vex or rules.vex_attestations:
            vex_facts = need(facts.vex, "the VEX statements")
            statements = openvex.ordered(vex_facts.statements)
        vex_by_id: dict[str, list[VexStatement]] = {}
        for statement in statements:
            for ident in statement.ids:
                vex_by_id.setdefault(ident, []).append(statement)
        vex_used: set[VexStatement] = set()
        vex_applied: list[VexRow] = []
        inherited_failing: list[tuple[Severity, Vulnerability]] = []
        subject = facts.subject

        failing: list[tuple[Severity, Vulnerability]] = []  # (effective severity, finding)
        applied: list[ExceptionRow] = []
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
            if vex_by_id:
                decided = _vex_decision(finding, vex_by_id, subject)
                if decided is not None and decided.status in openvex.WAIVING:
                    vex_applied.append(
                        VexRow.of(decided, finding=finding.id, finding_package=finding.package)
                    )
                    continue
            waiver = _waiver_for(finding, exceptions, today) if exceptions else None
            if waiver is not None:
                used.add(waiver)
                applied.append(_exception_row(waiver, finding))
                continue
            if delta is not None and rules.new_only and finding in delta.inherited:
                inherited_failing.append((severity, finding))
                continue
            failing.append((severity, finding))
        if vex_by_id:
            for finding in findings:
                for statement in _candidates(finding, vex_by_id):
                    if openvex.applies(statement, finding, subject):
                        vex_used.add(statement)

        expired = [
            replace(
                _exception_row(e),
                would_match=tuple(sorted({f.id for f in findings if _matches(e, f)})),
            )
            for e in rules.exceptions
            if e.expired(today)
        ]
        # Worst (as judged) first, then by id and package: two stable sorts, the second in C.
        failing.sort(key=_id_and_package)
        failing.sort(key=_JUDGED, reverse=True)
        problems = tuple(_problem(f, severity, rules, delta) for severity, f in failing)
        by_severity = Counter(map(_SEVERITY_OF, findings))
        evidence = VulnerabilityEvidence(
            fail_on=rules.fail_on.label,
            total=len(findings),
            by_severity=dict(sorted((s.label, n) for s, n in by_severity.items())),
            below_threshold=below,
            ignored_unfixed=unfixed,
            not_affected=not_affected,
            exceptions_applied=tuple(applied),
            exceptions_expired=tuple(expired),
            exceptions_unused=tuple(
                _exception_row(e)
                for e in rules.exceptions
                if e not in used and not e.expired(today)
            ),
            exceptions_expiring_soon=tuple(
                _exception_row(e)
                for e in rules.exceptions
                if not e.expired(today) and e.expires <= today + timedelta(days=EXPIRY_WARNING_DAYS)
            ),
            scanners=tuple(
                ScannerRow(s.name, s.version, s.db_built, s.entries, dict(s.counts), s.distinct)
                for s in merged.summaries
            ),
            agreement=merged.counts(),
            found_by_one_only=tuple(_finding_row(f, rules) for f in merged.only_one),
            no_os_packages=all(r.os is None for r in reports),
            judged_at=facts.now.isoformat(),
            identity=Identity(
                facts.subject.repository, facts.platform, policy.sha256, tuple(rules.scanners)
            ),
            inventory=Inventory(findings, delta, baseline),
        )
        if vex_facts is not None:
            evidence = replace(
                evidence,
                vex_attestations_refused=tuple(vex_facts.refused),
                vex_looked_in=tuple(vex_facts.looked_in),
                vex_applied=tuple(vex_applied),
                vex_unused=tuple(
                    VexRow.of(
                        s,
                        why="no finding in this image matches it"
                        if openvex.names_image(s, subject)
                        else "none of its products is this image (digest and repository)",
                    )
                    for s in statements
                    if s not in vex_used
                ),
            )
        if baseline is not None and delta is not None:
            evidence = replace(
                evidence,
                baseline=_baseline_evidence(
                    baseline, delta, rules, failing, inherited_failing, facts, policy.sha256
                ),
            )
        summary = _summary([s for s, _ in failing], rules, len(findings), applied, expired)
        summary += _unused_phrase(sum(1 for e in rules.exceptions if e not in used) - len(expired))
        if vex_applied:
            summary += f"; {len(vex_applied)} waived by VEX"
        if delta is not None:
            summary += (
                f"; {len(delta.new)} new, {len(delta.inherited)} inherited, "
                f"{len(delta.fixed)} fixed since the baseline"
            )
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
    applied: list[ExceptionRow],
    expired: list[ExceptionRow],
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
