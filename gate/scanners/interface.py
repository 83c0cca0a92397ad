"""The scanner interface: turn one resolved image into one parsed ``ScanReport``.

Implementations run a tool as a subprocess (argument list, timeout, stderr tail in
errors) or parse a report the user already has. Any failure raises ``ScannerError``;
a scanner never returns a partial report.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from gate.model import ScanReport, ScanTarget


class Scanner(Protocol):
    name: str

    def scan(self, target: ScanTarget, *, timeout: float) -> ScanReport:
        """Scan the image at ``target`` (always a digest, never a tag)."""
        ...

    def parse_report(self, path: Path) -> ScanReport:
        """Parse a JSON report this scanner wrote earlier; raise ScannerError if unusable."""
        ...

    def ignored_settings(self, environ: Mapping[str, str], cwd: Path) -> list[str]:
        """Settings the tool would read from ``environ`` or files, which a scan ignores.

        Names only (a variable's value may be a secret), for the report's notes.
        """
        ...
