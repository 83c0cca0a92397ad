"""What every report format renders: one ``Run`` (the verdicts of one invocation).

A renderer is a pure function of the Run. The CLI scans each image once and hands the
same Run to every requested format, so two output formats never mean two scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gate.model import Verdict

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
