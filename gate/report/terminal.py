"""The human report: first line the verdict and digest, then each check with its status.

Scanner text (titles, paths) is untrusted: control characters are replaced before
printing, so a hostile CVE title cannot rewrite the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from gate.evidence import ExceptionRow, FindingRow, VulnerabilityEvidence
from gate.model import CheckResult, Verdict
from gate.report.interface import Run, finding_package_cell, listed_problems, package_cell

MAX_ROWS = 50
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_VULN_COLUMNS = (
    ("ID", "id"),
    ("PACKAGE", "package_shown"),
    ("INSTALLED", "installed"),
    ("FIXED", "fixed"),
    ("SEVERITY", "severity_shown"),
    ("TITLE", "title"),
)
_TITLE_WIDTH = 60


def clean(text: object) -> str:
    return _CONTROL.sub(" ", str(text))


def _cell(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(clean(v) for v in value) or "-"
    return clean(value) if value not in (None, "") else "-"


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> list[str]:
    cells = [[_cell(row.get(key))[:_TITLE_WIDTH] for _, key in columns] for row in rows]
    widths = [max([len(head)] + [len(r[i]) for r in cells]) for i, (head, _) in enumerate(columns)]
    lines = ["  ".join(head.ljust(w) for (head, _), w in zip(columns, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return [line.rstrip() for line in lines]


def _severity_shown(row: FindingRow) -> str:
    """``unknown (as high)`` where the policy's ``unknown_as`` ranked an unranked finding."""
    severity, judged = row.severity.label, row.judged_as.label
    return f"{severity} (as {judged})" if judged != severity else severity


def _exception_lines(evidence: VulnerabilityEvidence) -> list[str]:
    lines: list[str] = []
    for row in evidence.exceptions_applied:
        lines.append(
            f"waived: {clean(row.finding)} in {clean(finding_package_cell(row))} "
            f"by exception {clean(row.id)} until {row.expires}: {clean(row.reason)}"
        )
    for row in evidence.exceptions_expired:
        matches = ", ".join(row.would_match or ()) or "nothing found now"
        lines.append(
            f"expired: exception {clean(row.id)} expired {row.expires} and no longer "
            f"applies (matches: {clean(matches)})"
        )
    for row in evidence.exceptions_expiring_soon:
        lines.append(f"expiring soon: exception {clean(row.id)} expires {row.expires}")
    for row in evidence.exceptions_unused:
        lines.append(
            f"unused: exception {clean(_exception_name(row))} waived nothing in this image; "
            "remove it, or check its id and package"
        )
    return lines


def _vex_lines(evidence: VulnerabilityEvidence) -> list[str]:
    lines = [
        f"vex: {clean(row.finding)} in {clean(row.finding_package)} is "
        f"{clean(row.status)} ({clean(row.justification or row.impact_statement)}) "
        f"by {clean(row.author)}, {clean(row.source)}"
        for row in evidence.vex_applied or ()
    ]
    lines += [
        f"vex statement unused: {clean(row.vulnerability)} {clean(row.status)} "
        f"in {clean(row.source)}: {clean(row.why)}"
        for row in (evidence.vex_unused or ())[:MAX_ROWS]
    ]
    lines += [
        f"vex attestation refused: {clean(text)}"
        for text in evidence.vex_attestations_refused or ()
    ]
    return lines


def _baseline_lines(evidence: VulnerabilityEvidence) -> list[str]:
    """The delta: counts, then the inherited findings (shown apart, with their age)."""
    baseline = evidence.baseline
    if baseline is None:
        return []
    counts = baseline.counts
    lines = [
        f"baseline {clean(baseline.source)}: {counts['new']} new, "
        f"{counts['inherited']} inherited, {counts['fixed']} fixed since"
        + (" (only new findings fail)" if baseline.new_only else "")
    ]
    lines += [f"baseline warning: {clean(text)}" for text in baseline.warnings]
    for row in baseline.inherited[:MAX_ROWS]:
        age = row.days_present
        since = f", present {age} days (since {row.first_seen})" if age is not None else ""
        verb = "inherited (not failing)" if baseline.new_only else "inherited"
        lines.append(
            f"{verb}: {clean(row.id)} in {clean(row.package)} ({row.judged_as.label}){since}"
        )
    lines += [
        f"fixed since baseline: {clean(row.id)} in {clean(row.package)}"
        for row in baseline.fixed[:MAX_ROWS]
    ]
    return lines


def _exception_name(row: ExceptionRow) -> str:
    """``CVE-… (package openssl, policy line 7)``: enough to find the entry in the policy."""
    where = [f"package {row.package}"] if row.package else []
    where += [f"policy line {row.policy_line}"] if row.policy_line else []
    return f"{row.id} ({', '.join(where)})" if where else row.id


def _agreement_lines(evidence: VulnerabilityEvidence) -> list[str]:
    """Where two scanners ran: what each found, and the findings only one of them saw."""
    scanners = evidence.scanners
    if len(scanners) < 2:
        return []
    lines = [
        f"scanner {clean(row.name)} {clean(row.version or '?')}: {row.findings} entries"
        for row in scanners
    ]
    agreement = evidence.agreement
    lines.append(
        f"found by all scanners: {agreement.get('by_all', 0)}; "
        f"by one only: {agreement.get('only_one', 0)}"
    )
    lines += [
        f"  only {clean(', '.join(row.found_by))}: {clean(row.id)} in {clean(row.package)}"
        for row in evidence.found_by_one_only[:MAX_ROWS]
    ]
    return lines


def _check_lines(check: CheckResult) -> list[str]:
    lines = [f"  {check.status.value.upper():<5}  {check.id:<16} {clean(check.summary)}"]
    body: list[str] = []
    rows = [p.data for p in check.findings if isinstance(p.data, FindingRow)]
    if rows and len(rows) == len(check.findings):
        shown = [
            {**r.as_json(), "severity_shown": _severity_shown(r), "package_shown": package_cell(r)}
            for r in rows[:MAX_ROWS]
        ]
        body += table(shown, _VULN_COLUMNS)
    else:
        for problem in listed_problems(check)[:MAX_ROWS]:
            where = ""
            if problem.location is not None:
                where = clean(problem.location.file)
                where += f":{problem.location.line}" if problem.location.line else ""
                where += ": "
            body.append(f"- {where}{clean(problem.message)}")
    if len(check.findings) > MAX_ROWS:
        body.append(f"... and {len(check.findings) - MAX_ROWS} more (see --report-json)")
    evidence = check.evidence
    if isinstance(evidence, VulnerabilityEvidence):
        body += _exception_lines(evidence)
        body += _vex_lines(evidence)
        body += _baseline_lines(evidence)
        if evidence.no_os_packages:
            body.append("note: no OS packages were found (scratch or static image)")
        body += _agreement_lines(evidence)
    if check.detail:
        body += [clean(line) for line in check.detail.splitlines()[-20:]]
    lines += [f"         {line}" for line in body]
    return lines


def render_verdict(verdict: Verdict) -> list[str]:
    subject = verdict.subject
    lines = [f"{verdict.status.upper()}  {clean(subject.pinned)}"]
    if subject.manifest_digest and subject.manifest_digest != subject.digest:
        lines.append(f"  index; judged its image for --platform: {clean(subject.manifest_digest)}")
    lines += [line for check in verdict.checks for line in _check_lines(check)]
    lines += [f"  note: {clean(note)}" for note in verdict.notes]
    return lines


class TerminalRenderer:
    def render(self, run: Run) -> str:
        blocks = ["\n".join(render_verdict(v)) for v in run.verdicts]
        if len(run.verdicts) > 1:
            blocks.insert(0, f"{run.status.upper()}  {len(run.verdicts)} images")
        return "\n\n".join(blocks) + "\n"
