"""The vulnerability check's evidence, typed: what the check hands every renderer.

Renderers read these by attribute (``row.package``, ``evidence.exceptions_applied``) and
tell a vulnerability finding from any other by its type, not by looking for a key. Each
class is also a read-only mapping of its JSON object (``row["package"]``, ``dict(row)``),
so ``CheckResult.evidence`` and ``Problem.data`` keep meaning "the JSON a machine reads";
``as_json`` builds that object, with the keys in the order the JSON report has always had.

Pure: no I/O, imports only the model.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from gate.model import Severity, VexStatement


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

    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"baseline"})

    id: str
    aliases: tuple[str, ...]
    package: str
    source_packages: tuple[str, ...]
    """The source packages it was built from (``openssl`` for ``libssl3``), sorted."""
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
    baseline: str | None = None
    """With a baseline, a failing finding's place in the delta: ``new`` or ``inherited``."""

    def as_json(self) -> dict[str, Any]:
        # Written out: one per failing finding, tens of thousands in a big report.
        row = {
            "id": self.id,
            "aliases": list(self.aliases),
            "package": self.package,
            "source_packages": list(self.source_packages),
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
        if self.baseline is not None:
            row["baseline"] = self.baseline
        return row


@dataclass(frozen=True, eq=False, slots=True)
class InheritedRow(FindingRow):
    """A finding the baseline already had, with when it was first seen and for how long."""

    first_seen: str | None = None
    days_present: int | None = None
    """None when ``first_seen`` is no zoned RFC 3339 time (``gate.checks.delta.days_present``)."""

    @classmethod
    def of(cls, row: FindingRow, first_seen: str | None, days_present: int | None) -> InheritedRow:
        return cls(
            row.id,
            row.aliases,
            row.package,
            row.source_packages,
            row.installed,
            row.fixed,
            row.severity,
            row.judged_as,
            row.status,
            row.title,
            row.url,
            row.target,
            row.found_by,
            row.baseline,
            first_seen,
            days_present,
        )

    def as_json(self) -> dict[str, Any]:
        row = FindingRow.as_json(self)
        row["first_seen"] = self.first_seen
        row["days_present"] = self.days_present
        return row


@dataclass(frozen=True, eq=False, slots=True)
class FixedRow(JsonObject):
    """A baseline finding this image no longer has."""

    id: str
    aliases: tuple[str, ...]
    package: str


@dataclass(frozen=True, eq=False, slots=True)
class BaselineEvidence(JsonObject):
    """The delta against a baseline report: counts, warnings, and the rows of each side."""

    source: str
    digest: str | None
    new_only: bool
    warnings: tuple[str, ...]
    counts: Mapping[str, int]
    new: tuple[FindingRow, ...]
    """The failing (or, with ``new_only``, would-fail) findings the baseline did not have."""
    inherited: tuple[InheritedRow, ...]
    fixed: tuple[FixedRow, ...]


@dataclass(frozen=True, eq=False, slots=True)
class VexRow(JsonObject):
    """One OpenVEX statement: applied to ``finding``, or unused (``why``)."""

    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"finding", "finding_package", "why"})

    finding: str | None
    finding_package: str | None
    vulnerability: str
    status: str
    justification: str
    impact_statement: str
    author: str
    document: str
    source: str
    timestamp: str
    why: str | None = None

    @classmethod
    def of(
        cls,
        statement: VexStatement,
        *,
        finding: str | None = None,
        finding_package: str | None = None,
        why: str | None = None,
    ) -> VexRow:
        return cls(
            finding,
            finding_package,
            statement.vulnerability,
            statement.status,
            statement.justification,
            statement.impact_statement,
            statement.author,
            statement.document_id,
            statement.source,
            statement.timestamp,
            why,
        )


@dataclass(frozen=True, eq=False, slots=True)
class ExceptionRow(JsonObject):
    """One policy exception: applied to ``finding``, expired (``would_match``), or unused."""

    _OPTIONAL: ClassVar[frozenset[str]] = frozenset(
        {"policy_line", "finding", "finding_package", "finding_source_packages", "would_match"}
    )

    id: str
    package: str | None
    reason: str
    expires: str
    policy_line: int | None = None
    finding: str | None = None
    finding_package: str | None = None
    finding_source_packages: tuple[str, ...] | None = None
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
    judged_at: str
    identity: Identity
    inventory: Collection[Mapping[str, Any]]
    """Every finding by id and package, for a later run's baseline; read by no renderer, so
    its rows stay plain JSON objects (one per finding, 50,000 in a big report), built only
    when the JSON report lists them (``gate.checks.vulnerabilities.Inventory``)."""
    vex_attestations_refused: tuple[str, ...] | None = None
    vex_looked_in: tuple[str, ...] | None = None
    vex_applied: tuple[VexRow, ...] | None = None
    vex_unused: tuple[VexRow, ...] | None = None
    baseline: BaselineEvidence | None = None

    _OPTIONAL: ClassVar[frozenset[str]] = frozenset(
        {"vex_attestations_refused", "vex_looked_in", "vex_applied", "vex_unused", "baseline"}
    )

    def as_json(self) -> dict[str, Any]:
        # The inventory's rows are JSON already: list them as they are.
        return {
            key: list(self.inventory) if key == "inventory" else to_json(getattr(self, key))
            for key in self._keys()
        }


@dataclass(frozen=True, eq=False, slots=True)
class Identity(JsonObject):
    """What the image was judged as: what a later run's baseline must match."""

    repository: str | None
    platform: str | None
    policy_sha256: str
    scanners: tuple[str, ...]
