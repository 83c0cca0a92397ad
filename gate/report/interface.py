"""What every report format renders: one ``Run`` (the verdicts of one invocation).

A renderer is a pure function of the Run. The CLI scans each image once and hands the
same Run to every requested format, so two output formats never mean two scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gate.evidence import ExceptionRow, FindingRow
from gate.model import CheckResult, Problem, Verdict, package_phrase

Overall = Literal["pass", "fail", "error"]
_RANK: dict[Overall, int] = {"pass": 0, "fail": 1, "error": 2}


@dataclass(frozen=True)
class Run:
    verdicts: tuple[Verdict, ...]
    policy_source: str

    @property
    def status(self) -> Overall:
        """The worst verdict of all images: error over fail over pass."""
        worst: Overall = "pass"
        for verdict in self.verdicts:
            if _RANK[verdict.status] > _RANK[worst]:
                worst = verdict.status
        return "error" if not self.verdicts else worst


def listed_problems(check: CheckResult) -> tuple[Problem, ...]:
    """The problems to list under a check's summary line: each shown once.

    A check with one problem often says it in its summary too (``no user is configured``);
    listing it again under that summary prints the same sentence twice. A problem with a
    location is always listed, since its place is what the reader needs.
    """
    return tuple(p for p in check.findings if p.location is not None or p.message != check.summary)


def package_cell(row: FindingRow) -> str:
    """A finding's package with its source package (``libssl3 (source openssl)``)."""
    return package_phrase(row.package, row.source_packages)


def finding_package_cell(row: ExceptionRow) -> str:
    """The package of the finding an applied exception waived, with its source package."""
    return package_phrase(row.finding_package or "", row.finding_source_packages or ())
