"""GitHub Actions: workflow annotations, the step summary and step outputs, from one ``Run``.

When ``GITHUB_ACTIONS=true`` the CLI calls ``publish``; the same call on a laptop with those
variables set reproduces exactly what the Action shows (README: "local dry run").

Everything a scanner or registry wrote (CVE titles, paths, package names) is untrusted:

- **Annotations** are workflow commands on stdout (``::error file=F,line=L,title=T::msg``).
  Data is escaped as ``@actions/core`` does (``%`` → ``%25``, CR → ``%0D``, LF → ``%0A``), and
  properties also escape ``:`` and ``,``, so text can neither end the line (a second command)
  nor end the property list. ``::`` inside data is harmless: the runner splits on the first.
- **The summary** is markdown: table cells have ``|`` and backslash-escapable punctuation
  escaped, HTML metacharacters turned into entities and newlines flattened, so a title cannot
  break the table, inject HTML or fake links.
- **Outputs** are appended to ``$GITHUB_OUTPUT`` in the heredoc form with a random
  ``ghadelimiter_<uuid>`` delimiter, as ``@actions/core``'s ``setOutput`` does; a value that
  contains the delimiter is refused, so no value can close its heredoc and start another key.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from gate.errors import GateError, PolicyError, UsageError
from gate.evidence import ExceptionRow, FindingRow, VulnerabilityEvidence
from gate.masking import write_file
from gate.model import CheckResult, Problem, Severity, Status, Verdict
from gate.report.interface import Run, finding_package_cell, listed_problems, package_cell
from gate.report.sarif import repo_relative

SEVERITY_OUTPUTS = ("critical", "high", "medium", "low", "unknown")
OUTPUT_NAMES = ("verdict", *SEVERITY_OUTPUTS, "findings", "report", "sarif")
"""Every step output ``publish`` can write (action.yml maps each one)."""

MAX_LOCATED_ANNOTATIONS = 10
"""GitHub shows at most 10 error annotations per step; the rest are in the summary."""
MAX_PROBLEMS_IN_ANNOTATION = 5
MAX_SUMMARY_ROWS = 20
SUMMARY_LIMIT = 1024 * 1024 - 4096
"""GitHub rejects a step summary over 1 MiB; keep below it."""
_CELL_WIDTH = 160

_ICON = {"pass": "✅", "fail": "❌", "error": "⛔", "warn": "⚠️"}


# --------------------------------------------------------------------------- escaping


def escape_data(text: str) -> str:
    """Workflow-command data, as ``@actions/core``'s ``escapeData``."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Workflow-command property values, as ``@actions/core``'s ``escapeProperty``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


_MD_PUNCT = re.compile(r"([\\`*_\[\]|~#!])")
_MD_SPACE = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def md(text: object, *, width: int = _CELL_WIDTH) -> str:
    """Untrusted text as one safe markdown table cell (or inline text)."""
    flat = _MD_SPACE.sub(" ", str(text)).strip()
    if len(flat) > width:
        flat = flat[: width - 1] + "…"
    escaped = _MD_PUNCT.sub(r"\\\1", flat)
    return escaped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: object) -> str:
    """Untrusted text in an inline code span, with a fence longer than any backtick run."""
    flat = _MD_SPACE.sub(" ", str(text)).strip()
    longest = max((len(m) for m in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def guard(text: str) -> str:
    """Wrap untrusted text printed to a workflow log so the runner ignores commands in it.

    ``::stop-commands::TOKEN`` turns command processing off until ``::TOKEN::``; the token
    is random, so the text cannot turn it back on (GitHub's documented way to echo
    untrusted output).
    """
    token = uuid.uuid4().hex
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"::stop-commands::{token}\n{body}::{token}::\n"


# --------------------------------------------------------------------------- annotations


def _command(kind: str, message: str, **properties: str | int | None) -> str:
    props = ",".join(
        f"{name}={escape_property(str(value))}"
        for name, value in properties.items()
        if value is not None
    )
    return f"::{kind}{' ' + props if props else ''}::{escape_data(message)}"


def _problem_lines(problems: Sequence[Problem]) -> str:
    lines = [f"- {p.message}" for p in problems[:MAX_PROBLEMS_IN_ANNOTATION]]
    if len(problems) > MAX_PROBLEMS_IN_ANNOTATION:
        lines.append(
            f"… and {len(problems) - MAX_PROBLEMS_IN_ANNOTATION} more (see the job summary)"
        )
    return "\n".join(lines)


def _check_annotations(
    verdict: Verdict, check: CheckResult, file_of: Callable[[str], str]
) -> Iterable[str]:
    image = verdict.subject.reference
    title = f"container-gate {check.id}: {image}"
    if check.status is Status.ERROR:
        detail = check.detail.strip().splitlines()[-1:] if check.detail else []
        message = f"{check.id} could not decide (fail closed): {check.summary}"
        yield _command("error", "\n".join([message, *detail]), title=title)
        return
    if check.status is not Status.FAIL:
        return
    kind = "warning" if verdict.mode == "warn" else "error"
    located = [p for p in check.findings if p.location is not None]
    unlocated = [p for p in listed_problems(check) if p.location is None]
    for problem in located[:MAX_LOCATED_ANNOTATIONS]:
        assert problem.location is not None
        yield _command(
            kind,
            f"{image}: {problem.message}",
            file=file_of(problem.location.file),
            line=problem.location.line,
            title=title,
        )
    if unlocated or not located:
        body = f"{image}: {check.id} failed: {check.summary}"
        if unlocated:
            body += "\n" + _problem_lines(unlocated)
        yield _command(kind, body, title=title)


def annotation_lines(run: Run, *, root: Path, cwd: Path) -> list[str]:
    """One ``::error`` (``::warning`` in warn mode) per failing check; errors always ``::error``.

    Findings with a location (a Dockerfile ``FROM`` line) get their own annotation with
    ``file=`` and ``line=``, so they show on that line in the pull request.
    """

    def file_of(name: str) -> str:
        return repo_relative(name, root=root, cwd=cwd)

    return [
        line
        for verdict in run.verdicts
        for check in verdict.checks
        for line in _check_annotations(verdict, check, file_of)
    ]


# --------------------------------------------------------------------------- outputs


def failing_counts(run: Run) -> dict[str, int]:
    """Failing findings by the severity they were judged at, over every image."""
    counts: Counter[Severity] = Counter(
        problem.severity
        for verdict in run.verdicts
        for check in verdict.checks
        if check.status is Status.FAIL
        for problem in check.findings
        if problem.severity is not None
    )
    return {severity.label: counts[severity] for severity in Severity}


def outputs(
    run: Run, *, report_path: Path | None, sarif_path: Path | None, cwd: Path
) -> dict[str, str]:
    values: dict[str, str] = {"verdict": run.status}
    counts = failing_counts(run)
    values.update({name: str(counts[name]) for name in SEVERITY_OUTPUTS})
    values["findings"] = str(
        sum(len(c.findings) for v in run.verdicts for c in v.checks if c.status is Status.FAIL)
    )
    for name, path in (("report", report_path), ("sarif", sarif_path)):
        if path is not None:
            values[name] = str(path if path.is_absolute() else cwd / path)
    return values


def _new_delimiter() -> str:
    return f"ghadelimiter_{uuid.uuid4()}"


def format_outputs(
    values: Mapping[str, str], *, delimiter: Callable[[], str] = _new_delimiter
) -> str:
    """``$GITHUB_OUTPUT`` text, every value in the heredoc form (as ``@actions/core``)."""
    chunks = []
    for name, value in values.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name):
            raise GateError(f"invalid output name {name!r}")
        marker = delimiter()
        if marker in value or marker in name:
            raise GateError(
                f"output {name}: the value contains its delimiter; refusing to write it"
            )
        chunks.append(f"{name}<<{marker}\n{value}\n{marker}\n")
    return "".join(chunks)


# --------------------------------------------------------------------------- summary


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _status_cell(status: str) -> str:
    return f"{_ICON.get(status, '')} {status}".strip()


def _vuln_rows(rows: Sequence[FindingRow]) -> list[list[str]]:
    return [
        [
            _linked(row.id, row.url),
            md(package_cell(row)),
            md(row.installed),
            md(", ".join(row.fixed)) or "-",
            md(row.judged_as.label),
            md(row.title) or "-",
        ]
        for row in rows
    ]


_LINKABLE = re.compile(r"https?://[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]+")


def _linked(text: str, url: str) -> str:
    """``[CVE-…](advisory)``: the finding's id linked to its advisory (Trivy ``PrimaryURL``,
    Grype ``dataSource``), when the scanner gave an http(s) URL that needs no escaping."""
    cell = md(text)
    if _LINKABLE.fullmatch(url) and "(" not in url and ")" not in url:
        return f"[{cell}]({url})"
    return cell


def _exception_rows(rows: Sequence[ExceptionRow], with_finding: bool) -> list[list[str]]:
    out = []
    for row in rows:
        cells = [md(row.id)]
        if with_finding:
            cells.append(md(f"{row.finding or ''} in {finding_package_cell(row)}"))
        else:
            cells.append(md(row.package or "any package"))
        cells += [md(row.expires), md(row.reason)]
        out.append(cells)
    return out


def _findings_section(check: CheckResult, max_rows: int) -> list[str]:
    problems = list(check.findings)
    if problems and not all(isinstance(p.data, FindingRow) for p in problems):
        problems = list(listed_problems(check))  # not the summary again
    if not problems or check.status is not Status.FAIL or max_rows <= 0:
        return []
    shown = problems[:max_rows]
    count = f"top {len(shown)} of {len(problems)}" if len(shown) < len(problems) else len(shown)
    heading = f"**{md(check.id)}: failing findings** ({count})"
    rows_of_findings = [p.data for p in shown if isinstance(p.data, FindingRow)]
    if len(rows_of_findings) == len(shown):
        table = _table(
            ("id", "package", "installed", "fixed", "severity", "title"),
            _vuln_rows(rows_of_findings),
        )
    else:
        rows = []
        for p in shown:
            where = "-"
            if p.location is not None:
                where = code(
                    f"{p.location.file}:{p.location.line}" if p.location.line else p.location.file
                )
            rows.append([md(p.rule), where, md(p.message)])
        table = _table(("rule", "where", "message"), rows)
    return ["", heading, "", *table]


def _exceptions_section(check: CheckResult) -> list[str]:
    evidence = check.evidence
    if not isinstance(evidence, VulnerabilityEvidence):
        return []
    lines: list[str] = []
    sections = (
        (evidence.exceptions_applied, "Exceptions applied", True),
        (evidence.exceptions_expiring_soon, "Exceptions expiring within 14 days", False),
        (evidence.exceptions_expired, "Expired exceptions (no longer applied)", False),
        (evidence.exceptions_unused, "Unused exceptions (waived nothing in this image)", False),
    )
    for rows, title, with_finding in sections:
        if not rows:
            continue
        head = ("exception", "finding" if with_finding else "package", "expires", "reason")
        lines += [
            "",
            f"**{title}** ({len(rows)})",
            "",
            *_table(head, _exception_rows(rows, with_finding)),
        ]
    return lines


def _delta_section(check: CheckResult, max_rows: int) -> list[str]:
    """The baseline delta and the VEX statements applied (see gate.checks.vulnerabilities)."""
    evidence = check.evidence
    if not isinstance(evidence, VulnerabilityEvidence):
        return []
    lines: list[str] = []
    vex = evidence.vex_applied or ()
    if vex:
        rows = [
            [
                md(f"{r.finding} in {r.finding_package}"),
                md(r.status),
                md(r.justification or r.impact_statement),
                md(r.author),
                md(r.source),
            ]
            for r in vex[:max_rows]
        ]
        head = ("finding", "status", "justification", "author", "statement from")
        lines += ["", f"**Waived by VEX** ({len(vex)})", "", *_table(head, rows)]
    refused = evidence.vex_attestations_refused or ()
    lines += [f"- VEX attestation refused: {md(text, width=300)}" for text in refused[:max_rows]]
    unused = evidence.vex_unused or ()
    if unused:
        lines.append(f"- {len(unused)} VEX statement(s) matched nothing (see the JSON report)")
    baseline = evidence.baseline
    if baseline is not None:
        counts = baseline.counts
        lines += [
            "",
            f"**Since baseline** {md(baseline.source)}: {counts['new']} new, "
            f"{counts['inherited']} inherited, {counts['fixed']} fixed"
            + (" (only new findings fail)" if baseline.new_only else ""),
        ]
        lines += [f"- warning: {md(w)}" for w in baseline.warnings]
        inherited = baseline.inherited[:max_rows]
        if inherited:
            rows = [
                [
                    md(r.id),
                    md(r.package),
                    md(r.judged_as.label),
                    md("-" if r.days_present is None else f"{r.days_present} days"),
                ]
                for r in inherited
            ]
            lines += ["", *_table(("inherited", "package", "severity", "present for"), rows)]
    return lines


def _error_section(check: CheckResult) -> list[str]:
    if check.status is not Status.ERROR or not check.detail:
        return []
    tail = [_MD_SPACE.sub(" ", line) for line in check.detail.strip().splitlines()[-10:]]
    body = "\n".join(tail)
    longest = max((len(m) for m in re.findall(r"`{3,}", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return ["", f"**{md(check.id)}: error detail**", "", fence, body, fence]


def _tools_line(verdict: Verdict) -> list[str]:
    parts = []
    for name, info in verdict.tools.items():
        if isinstance(info, Mapping):
            text = f"{name} {info.get('version') or '?'}"
            if info.get("db_built"):
                source = f", from {info['db_source']}" if info.get("db_source") else ""
                text += f" (DB built {info['db_built']}{source})"
            else:
                text += " (DB age unknown)"
            if info.get("reused"):
                text += ", report reused: same digest, Trivy, DB and settings"
        else:
            text = f"{name} {info}"
        parts.append(md(text, width=200))
    return ["", "Tools: " + ", ".join(parts)] if parts else []


def _verdict_section(verdict: Verdict, max_rows: int) -> list[str]:
    status = verdict.status
    if status == "fail" and verdict.mode == "warn":
        shown = f"{_ICON['warn']} FAIL (warn mode: not enforced)"
    else:
        shown = f"{_ICON[status]} {status.upper()}"
    lines = [
        "",
        f"### {shown}: {md(verdict.subject.reference, width=300)}",
        "",
        f"Judged {code(verdict.subject.pinned)}",
        "",
        *_table(
            ("check", "status", "summary"),
            (
                [md(c.id), _status_cell(c.status.value), md(c.summary, width=400)]
                for c in verdict.checks
            ),
        ),
    ]
    for check in verdict.checks:
        lines += _findings_section(check, max_rows)
        lines += _exceptions_section(check)
        lines += _delta_section(check, max_rows)
        lines += _error_section(check)
    if verdict.notes:
        lines += ["", *(f"- {md(note, width=400)}" for note in verdict.notes)]
    lines += _tools_line(verdict)
    return lines


def summary(run: Run, *, max_rows: int = MAX_SUMMARY_ROWS) -> str:
    """The step summary: verdict per image, checks, top findings, exceptions."""
    status = run.status
    mode = run.verdicts[0].mode if run.verdicts else "enforce"
    headline = f"{_ICON[status]} {status.upper()}"
    if status == "fail" and all(v.mode == "warn" for v in run.verdicts):
        headline = f"{_ICON['warn']} FAIL (warn mode: not enforced)"
    lines = [f"## container-gate: {headline}", ""]
    lines.append(
        f"Policy {code(run.policy_source)} · mode {mode} · "
        f"{len(run.verdicts)} image{'s' if len(run.verdicts) != 1 else ''}"
    )
    if len(run.verdicts) > 1:
        lines += [
            "",
            *_table(
                ("image", "digest", "verdict"),
                (
                    [md(v.subject.reference), code(v.subject.digest or "-"), _status_cell(v.status)]
                    for v in run.verdicts
                ),
            ),
        ]
    for verdict in run.verdicts:
        lines += _verdict_section(verdict, max_rows)
    text = "\n".join(lines) + "\n\n"
    if len(text.encode()) > SUMMARY_LIMIT and max_rows > 0:
        return summary(run, max_rows=0)
    return text


# --------------------------------------------------------------------------- publish


def _append(variable: str, path: str, text: str) -> None:
    try:
        write_file(path, text, append=True)
    except OSError as error:
        raise GateError(f"cannot write ${variable} ({path}): {error.strerror}") from error


def publish(
    run: Run,
    *,
    report_path: Path | None = None,
    sarif_path: Path | None = None,
    stdout: TextIO | None = None,
) -> None:
    """Annotations to stdout, summary to ``$GITHUB_STEP_SUMMARY``, outputs to ``$GITHUB_OUTPUT``.

    ``report_path``/``sarif_path`` are the files this invocation wrote (``--report-json``,
    ``--sarif``); they become the ``report`` and ``sarif`` outputs as absolute paths.
    A file variable that is set but cannot be written is an error (exit 2): a gate whose
    verdict cannot reach the workflow must not look like a pass.
    """
    out = stdout if stdout is not None else sys.stdout
    cwd = Path.cwd()
    workspace = os.environ.get("GITHUB_WORKSPACE")
    root = Path(workspace) if workspace else cwd
    lines = annotation_lines(run, root=root, cwd=cwd)
    if lines:
        out.write("\n".join(lines) + "\n")
        out.flush()
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        _append("GITHUB_STEP_SUMMARY", summary_file, summary(run))
    output_file = os.environ.get("GITHUB_OUTPUT")
    if output_file:
        values = outputs(run, report_path=report_path, sarif_path=sarif_path, cwd=cwd)
        _append("GITHUB_OUTPUT", output_file, format_outputs(values))


# ------------------------------------------------------------- errors before a verdict

_POSITIONED = re.compile(r"(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<message>.*)")
_FLAG = re.compile(r"--[a-z][a-z-]*")


def as_inputs(message: str, names: str) -> str:
    """Name CLI flags as the inputs that set them (``--platform`` -> input `platform`).

    ``names`` is ``--flag=input,…``, as the Action's run-gate.sh exports it in
    ``CONTAINER_GATE_INPUTS``: the wrapper owns the mapping, the CLI knows no Action.
    """
    mapping = dict(pair.split("=", 1) for pair in names.split(",") if "=" in pair)
    return _FLAG.sub(lambda m: f"input `{mapping[m[0]]}`" if m[0] in mapping else m[0], message)


def error_commands(error: GateError, *, root: Path, cwd: Path) -> list[str]:
    """``::error`` annotations for a run that stopped before any verdict.

    A policy error becomes one annotation per problem on the policy file at its line and
    column (``FILE:LINE:COL: …``, as ``gate.policy.loader`` writes them), so the pull
    request shows it on the line to fix.
    """
    if not isinstance(error, PolicyError):
        kind = "usage error" if isinstance(error, UsageError) else "error"
        detail = error.detail.strip().splitlines()[-1:] if error.detail else []
        return [
            _command("error", "\n".join([error.message, *detail]), title=f"container-gate {kind}")
        ]
    lines = []
    for text in error.message.splitlines()[:MAX_LOCATED_ANNOTATIONS]:
        found = _POSITIONED.fullmatch(text)
        if found is None:
            lines.append(_command("error", text, title="container-gate: invalid policy"))
            continue
        lines.append(
            _command(
                "error",
                found["message"],
                file=repo_relative(found["file"], root=root, cwd=cwd),
                line=int(found["line"]),
                col=int(found["col"]),
                title="container-gate: invalid policy",
            )
        )
    return lines


def error_summary(error: GateError) -> str:
    """The step summary of a run that stopped before any verdict: what to fix, nothing judged."""
    if isinstance(error, PolicyError):
        head = "**The policy is not valid**; no image was judged. Fix:"
    elif isinstance(error, UsageError):
        head = "**Usage error**; no image was judged:"
    else:
        head = "**Error**; no image was judged:"
    items = [f"- {md(line, width=400)}" for line in error.message.splitlines()]
    return "\n".join([f"## container-gate: {_ICON['error']} ERROR", "", head, "", *items]) + "\n\n"


def publish_error(error: GateError, *, stdout: TextIO | None = None) -> None:
    """What ``publish`` does for a verdict, for an error that stopped the run before one:
    annotations, a summary section, and ``verdict=error``, so it is seen where users look."""
    out = stdout if stdout is not None else sys.stdout
    cwd = Path.cwd()
    workspace = os.environ.get("GITHUB_WORKSPACE")
    out.write("\n".join(error_commands(error, root=Path(workspace) if workspace else cwd, cwd=cwd)))
    out.write("\n")
    out.flush()
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        _append("GITHUB_STEP_SUMMARY", summary_file, error_summary(error))
    output_file = os.environ.get("GITHUB_OUTPUT")
    if output_file:
        _append("GITHUB_OUTPUT", output_file, format_outputs({"verdict": "error"}))
