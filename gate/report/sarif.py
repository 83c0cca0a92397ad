"""SARIF 2.1.0 for GitHub code scanning: one run per image, stable rule ids, Dockerfile locations.

Why it is shaped this way:

- **One run per image, each with its own ``automationDetails.id``** (``container-gate/<repo>/``).
  Code scanning keeps one analysis per category; with a shared category the upload for one
  image would close the alerts of the others (GitHub's "SARIF support for code scanning").
  The category is built from the repository, never the tag or digest, so it is the same on
  every commit and alerts carry over from run to run.
- **Rule ids are stable across runs**: ``vulnerability/<id>`` for findings, ``secret/<rule>``
  for secrets, and ``<check>/<rule>`` for everything else (``base-digest/unpinned-base``,
  ``non-root/root-user``). Nothing run-specific (digest, version, time) goes into a rule id.
- **Locations.** A problem that knows where it comes from (a ``FROM`` line) is located on that
  file and line. Code scanning drops results without a location, so every other result is
  placed on the image's Dockerfile when the verdict names one (line 1), else on the image
  repository as a pseudo-path, as Trivy's own SARIF does for image findings.
- **Levels from severity**: critical/high → ``error``, medium → ``warning``, low/unknown →
  ``note``; a hygiene or signature problem has no severity and fails the gate, so it is an
  ``error``. ``security-severity`` on each rule drives GitHub's severity column.
- **Errors are not findings.** A check that could not decide (fail closed) is reported as a
  tool execution notification with ``executionSuccessful: false``, not as an alert.

Paths are made relative to the repository root (``GITHUB_WORKSPACE`` when set, else the
working directory), the root that code scanning resolves ``%SRCROOT%`` against.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from gate import __version__
from gate.evidence import FindingRow, json_object
from gate.model import CheckResult, Problem, Severity, Status, Verdict
from gate.report.interface import Run

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
TOOL_NAME = "container-gate"
CATEGORY_PREFIX = "container-gate"
SRCROOT = "%SRCROOT%"

#: GitHub maps security-severity onto its column: >= 9.0 critical, 7.0-8.9 high,
#: 4.0-6.9 medium, 0.1-3.9 low.
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
    Severity.UNKNOWN: "0.1",
}
#: A problem without a severity (hygiene, signature) fails the gate on its own: rank it high.
_UNRANKED_SECURITY_SEVERITY = "7.0"
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.UNKNOWN: "note",
}


def repo_relative(file: str, *, root: Path, cwd: Path) -> str:
    """``file`` (as the gate was given it, relative to ``cwd``) relative to ``root``, POSIX-style.

    A path outside ``root`` is returned as given: pointing code scanning or an annotation at
    a wrong file would be worse than an unresolved one.
    """
    path = Path(file)
    absolute = Path(os.path.normpath(path if path.is_absolute() else cwd / path))
    base = Path(os.path.normpath(root))
    try:
        relative = absolute.relative_to(base)
    except ValueError:
        return PurePosixPath(*path.parts).as_posix() if not path.is_absolute() else file
    return relative.as_posix()


def category(verdict: Verdict) -> str:
    """The stable per-image name: the repository, without tag or digest."""
    subject = verdict.subject
    if subject.repository:
        return subject.repository
    reference = subject.reference
    for scheme in ("oci:", "oci-dir:"):
        if reference.startswith(scheme):
            # oci:DIR[:TAG]: the tag changes from build to build, the layout directory does not.
            return scheme + reference[len(scheme) :].split(":", 1)[0]
    return reference.split("@", 1)[0]


def automation_ids(verdicts: Iterable[Verdict]) -> list[str]:
    """One distinct ``container-gate/<category>/`` per run (the trailing slash makes the
    whole id the category), as code scanning requires of the runs in one file.

    Two images of one repository in one run (``app:<sha>`` and ``app:<sha>-debug``) would
    share a category, and ``upload-sarif`` refuses the whole file then. The first keeps the
    plain id; the n-th of the same repository gets ``container-gate/<repo>#n/``, stable as
    long as the images are listed in the same order (tags change every build, so they
    cannot name a category).
    """
    seen: dict[str, int] = {}
    ids = []
    for verdict in verdicts:
        name = category(verdict)
        seen[name] = seen.get(name, 0) + 1
        suffix = f"#{seen[name]}" if seen[name] > 1 else ""
        ids.append(f"{CATEGORY_PREFIX}/{name}{suffix}/")
    return ids


def rule_id(check: CheckResult, problem: Problem) -> str:
    if isinstance(problem.data, FindingRow):
        return f"vulnerability/{problem.rule}"
    if "/" in problem.rule:
        return problem.rule
    return f"{check.id}/{problem.rule}"


def level(problem: Problem) -> str:
    return "error" if problem.severity is None else _LEVEL[problem.severity]


def _security_severity(problem: Problem) -> str:
    if problem.severity is None:
        return _UNRANKED_SECURITY_SEVERITY
    return _SECURITY_SEVERITY[problem.severity]


def _rule(check: CheckResult, problem: Problem) -> dict[str, Any]:
    data = problem.data
    if isinstance(data, FindingRow):
        short = data.title.strip() or f"{problem.rule} in {data.package}"
        url: object = data.url
    else:
        short = f"{check.id}: {problem.rule}"
        url = data.get("url")
    rule: dict[str, Any] = {
        "id": rule_id(check, problem),
        "name": rule_id(check, problem).replace("/", "_"),
        "shortDescription": {"text": short[:1000]},
        "defaultConfiguration": {"level": level(problem)},
        "properties": {
            "security-severity": _security_severity(problem),
            "tags": ["security", "container", check.id],
        },
    }
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        rule["helpUri"] = url
    return rule


def _fallback_file(verdict: Verdict) -> str | None:
    """The Dockerfile this verdict names, if any: the natural home of an image's alerts."""
    for check in verdict.checks:
        for problem in check.findings:
            if problem.location is not None:
                return problem.location.file
        for base in check.evidence.get("bases", []) or []:
            if isinstance(base, Mapping) and isinstance(base.get("file"), str):
                return str(base["file"])
    return None


def _fingerprint(verdict: Verdict, check: CheckResult, problem: Problem) -> str:
    """Identity of one alert across runs: image repository, rule and package, not the version."""
    data = problem.data
    package = data.package if isinstance(data, FindingRow) else data.get("package", "")
    parts = [category(verdict), rule_id(check, problem), str(package)]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


class SarifRenderer:
    """Render a ``Run`` as SARIF 2.1.0.

    ``root`` and ``cwd`` default to ``GITHUB_WORKSPACE`` (else the working directory) and the
    working directory, read once when the renderer is made; ``render`` is then pure.
    """

    def __init__(self, *, root: Path | None = None, cwd: Path | None = None) -> None:
        self.cwd = cwd if cwd is not None else Path.cwd()
        workspace = os.environ.get("GITHUB_WORKSPACE")
        self.root = root if root is not None else (Path(workspace) if workspace else self.cwd)

    def render(self, run: Run) -> str:
        # No indent: json uses its C encoder only without one (50,000 findings: 2 s, not 15 s).
        return json.dumps(self.document(run), ensure_ascii=False, separators=(",", ":")) + "\n"

    def document(self, run: Run) -> dict[str, Any]:
        return {
            "$schema": SCHEMA_URI,
            "version": "2.1.0",
            "runs": [
                self._run(verdict, run.policy_source, automation)
                for verdict, automation in zip(
                    run.verdicts, automation_ids(run.verdicts), strict=True
                )
            ],
        }

    def _uri(self, file: str) -> str:
        """A URI reference (spaces and the like percent-encoded), relative to %SRCROOT%."""
        return quote(repo_relative(file, root=self.root, cwd=self.cwd), safe="/")

    def _location(self, verdict: Verdict, problem: Problem, fallback: str | None) -> dict[str, Any]:
        if problem.location is not None:
            physical: dict[str, Any] = {
                "artifactLocation": {"uri": self._uri(problem.location.file), "uriBaseId": SRCROOT}
            }
            physical["region"] = {"startLine": problem.location.line or 1}
        else:
            if fallback is not None:
                artifact = {"uri": self._uri(fallback), "uriBaseId": SRCROOT}
            else:
                artifact = {"uri": quote(category(verdict), safe="/:@")}
            physical = {"artifactLocation": artifact, "region": {"startLine": 1}}
        return {
            "physicalLocation": physical,
            "message": {"text": verdict.subject.pinned},
        }

    def _results(
        self, verdict: Verdict, rules: dict[str, dict[str, Any]]
    ) -> Iterable[dict[str, Any]]:
        index: dict[str, int] = {}
        fallback = _fallback_file(verdict)
        for check in verdict.checks:
            if check.status is not Status.FAIL:
                continue
            for problem in check.findings:
                rid = rule_id(check, problem)
                if rid not in rules:
                    index[rid] = len(rules)
                    rules[rid] = _rule(check, problem)
                result: dict[str, Any] = {
                    "ruleId": rid,
                    "ruleIndex": index[rid],
                    "level": level(problem),
                    "message": {"text": f"{verdict.subject.reference}: {problem.message}"[:10_000]},
                    "locations": [self._location(verdict, problem, fallback)],
                    "partialFingerprints": {
                        "containerGateFinding/v1": _fingerprint(verdict, check, problem)
                    },
                    "properties": {
                        "check": check.id,
                        "image": verdict.subject.pinned,
                        **({"severity": problem.severity.label} if problem.severity else {}),
                        **{k: v for k, v in json_object(problem.data).items() if k in _RESULT_KEYS},
                    },
                }
                data = problem.data
                state = data.baseline if isinstance(data, FindingRow) else None
                if state is not None:
                    # SARIF 2.1.0 §3.27.24: "new" or "unchanged" relative to the baseline.
                    result["baselineState"] = "new" if state == "new" else "unchanged"
                yield result

    def _run(self, verdict: Verdict, policy_source: str, automation: str) -> dict[str, Any]:
        rules: dict[str, dict[str, Any]] = {}
        results = list(self._results(verdict, rules))
        errors = [c for c in verdict.checks if c.status is Status.ERROR]
        invocation: dict[str, Any] = {"executionSuccessful": not errors}
        if errors:
            invocation["toolExecutionNotifications"] = [
                {
                    "level": "error",
                    "descriptor": {"id": f"{c.id}/error"},
                    "message": {"text": f"{c.id} could not decide (fail closed): {c.summary}"},
                }
                for c in errors
            ]
        return {
            "tool": {
                "driver": {
                    "name": TOOL_NAME,
                    "version": __version__,
                    "semanticVersion": __version__,
                    "rules": list(rules.values()),
                }
            },
            "automationDetails": {"id": automation},
            "invocations": [invocation],
            "results": results,
            "properties": {
                "verdict": verdict.status,
                "mode": verdict.mode,
                "policy": policy_source,
                "image": {
                    "reference": verdict.subject.reference,
                    "digest": verdict.subject.digest,
                    "repository": verdict.subject.repository,
                    "tag": verdict.subject.tag,
                },
            },
        }


#: Finding fields copied into a result's property bag (the JSON report has the rest).
_RESULT_KEYS = frozenset(
    {"id", "aliases", "package", "installed", "fixed", "judged_as", "status", "found_by", "line"}
)
