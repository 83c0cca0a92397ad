"""What every report format renders: one ``Run`` (the verdicts of one invocation).

A renderer is a pure function of the Run. The CLI scans each image once and hands the
same Run to every requested format, so two output formats never mean two scans.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from gate.model import CheckResult, Problem, Verdict

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


class Renderer(Protocol):
    def render(self, run: Run) -> str: ...


def listed_problems(check: CheckResult) -> tuple[Problem, ...]:
    """The problems to list under a check's summary line: each shown once.

    A check with one problem often says it in its summary too (``no user is configured``);
    listing it again under that summary prints the same sentence twice. A problem with a
    location is always listed, since its place is what the reader needs.
    """
    return tuple(p for p in check.findings if p.location is not None or p.message != check.summary)


def package_cell(row: Mapping[str, Any], package_key: str = "package") -> str:
    """``libssl3 (source openssl)``: a finding's package and the source package it was built
    from, which is what advisories and waivers usually name."""
    sources = row.get("source_packages" if package_key == "package" else "finding_source_packages")
    package = str(row.get(package_key, ""))
    if sources and isinstance(sources, list):
        return f"{package} (source {', '.join(map(str, sources))})"
    return package
