"""The machine-readable report (``--report-json``). Its shape is documented in the README.

Single image: ``{"verdict", "mode", "policy", "image", "checks", "tools", "timings", "notes",
"images"}``. With several images the top level carries the overall verdict, ``image`` is
null, ``checks`` lists every image's checks (each with ``image``), and ``images[]`` holds one
entry per image in the single-image shape.
"""

from __future__ import annotations

import json
from typing import Any

from gate.evidence import json_object
from gate.model import CheckResult, Problem, Verdict
from gate.report.interface import Run

FORMAT_VERSION = 1


def _problem(problem: Problem) -> dict[str, Any]:
    data = json_object(problem.data)
    row: dict[str, Any] = {"rule": problem.rule, "message": problem.message, **data}
    if problem.severity is not None:
        row.setdefault("severity", problem.severity.label)
    if problem.location is not None:
        row["location"] = {"file": problem.location.file, "line": problem.location.line}
    return row


def check_dict(check: CheckResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": check.id,
        "status": check.status.value,
        "summary": check.summary,
        "findings": [_problem(p) for p in check.findings],
        "evidence": dict(json_object(check.evidence)),
    }
    if check.detail:
        out["detail"] = check.detail
    return out


def verdict_dict(verdict: Verdict) -> dict[str, Any]:
    return {
        "verdict": verdict.status,
        "mode": verdict.mode,
        "image": {
            "reference": verdict.subject.reference,
            "digest": verdict.subject.digest,
            "manifest_digest": verdict.subject.manifest_digest,
            "repository": verdict.subject.repository,
            "tag": verdict.subject.tag,
        },
        "checks": [check_dict(c) for c in verdict.checks],
        "tools": dict(verdict.tools),
        "timings": {k: round(v, 3) for k, v in verdict.timings.items()},
        "notes": list(verdict.notes),
    }


def run_dict(run: Run) -> dict[str, Any]:
    images = [verdict_dict(v) for v in run.verdicts]
    if len(images) == 1:
        top = dict(images[0])
    else:
        top = {
            "verdict": run.status,
            "mode": images[0]["mode"] if images else "enforce",
            "image": None,
            "checks": [
                {**c, "image": img["image"]["digest"] or img["image"]["reference"]}
                for img in images
                for c in img["checks"]
            ],
            "tools": {},
            "timings": {},
            "notes": [],
        }
    top["verdict"] = run.status
    top["format_version"] = FORMAT_VERSION
    top["policy"] = run.policy_source
    top["images"] = images
    return top


class JsonRenderer:
    def render(self, run: Run) -> str:
        # Compact on purpose: ``indent`` switches json to its pure-Python encoder, which is
        # several times slower on reports with tens of thousands of findings.
        return json.dumps(run_dict(run), default=str) + "\n"
