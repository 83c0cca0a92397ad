"""The vulnerability check's evidence, typed: what the check hands every renderer.

Renderers read these by attribute (``row.package``, ``evidence.exceptions_applied``) and
tell a vulnerability finding from any other by its type, not by looking for a key. Each
class is also a read-only mapping of its JSON object (``row["package"]``, ``dict(row)``),
so ``CheckResult.evidence`` and ``Problem.data`` keep meaning "the JSON a machine reads";
``as_json`` builds that object, with the keys in the order the JSON report has always had.

Pure: no I/O, imports only the model.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from gate.model import Severity


def to_json(value: Any) -> Any:
    """``value`` as JSON data: typed rows become objects, tuples lists, severities words."""
    if isinstance(value, JsonObject):
        return value.as_json()
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if isinstance(value, Severity):
        return value.label
    if isinstance(value, Mapping):
        return {k: to_json(v) for k, v in value.items()}
    return value


def json_object(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """The JSON object of ``CheckResult.evidence`` or ``Problem.data``, typed or not."""
    return value.as_json() if isinstance(value, JsonObject) else value


class JsonObject(Mapping[str, Any]):
    """A typed row that reads as its JSON object. Fields in ``_OPTIONAL`` are left out when None."""

    __slots__ = ()
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    def _keys(self) -> list[str]:
        return [
            f.name
            for f in fields(self)  # type: ignore[arg-type]
            if f.name not in self._OPTIONAL or getattr(self, f.name) is not None
        ]

    def as_json(self) -> dict[str, Any]:
        return {key: to_json(getattr(self, key)) for key in self._keys()}

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:  # type: ignore[attr-defined]
            raise KeyError(key)
        value = getattr(self, key)
        if value is None and key in self._OPTIONAL:
            raise KeyError(key)
        return to_json(value)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())


@dataclass(frozen=True, eq=False, slots=True)
class FindingRow(JsonObject):
    """One merged vulnerability finding: a failing ``Problem``'s data, or a one-scanner row."""

    id: str
    aliases: tuple[str, ...]
    package: str
    installed: str
    fixed: tuple[str, ...]
    severity: Severity
    judged_as: Severity
    """The severity the policy judged it at (``unknown_as`` for an unranked finding)."""
    status: str
    title: str
    url: str
    target: str
    found_by: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        # Written out: one per failing finding, tens of thousands in a big report.
        return {
            "id": self.id,
            "aliases": list(self.aliases),
            "package": self.package,
            "installed": self.installed,
            "fixed": list(self.fixed),
            "severity": self.severity.label,
            "judged_as": self.judged_as.label,
            "status": self.status,
            "title": self.title,
            "url": self.url,
            "target": self.target,
            "found_by": list(self.found_by),
        }


@dataclass(frozen=True, eq=False, slots=True)
class ExceptionRow(JsonObject):
    """One policy exception: applied to ``finding``, expired (``would_match``), or unused."""

    _OPTIONAL: ClassVar[frozenset[str]] = frozenset(
        {"policy_line", "finding", "finding_package", "would_match"}
    )

    id: str
    package: str | None
    reason: str
    expires: str
    policy_line: int | None = None
    finding: str | None = None
    finding_package: str | None = None
    would_match: tuple[str, ...] | None = None


@dataclass(frozen=True, eq=False, slots=True)
class ScannerRow(JsonObject):
    """What one scanner reported: entries as listed, by severity, distinct findings."""

    name: str
    version: str
    db_built: str | None
    findings: int
    by_severity: Mapping[str, int]
    distinct: int


@dataclass(frozen=True, eq=False, slots=True)
class VulnerabilityEvidence(JsonObject):
    """The vulnerability check's evidence (``CheckResult.evidence``)."""

    fail_on: str
    total: int
    by_severity: Mapping[str, int]
    below_threshold: int
    ignored_unfixed: int
    not_affected: int
    exceptions_applied: tuple[ExceptionRow, ...]
    exceptions_expired: tuple[ExceptionRow, ...]
    exceptions_unused: tuple[ExceptionRow, ...]
    exceptions_expiring_soon: tuple[ExceptionRow, ...]
    scanners: tuple[ScannerRow, ...]
    agreement: Mapping[str, Any]
    found_by_one_only: tuple[FindingRow, ...]
    no_os_packages: bool
