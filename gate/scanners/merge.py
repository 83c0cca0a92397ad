"""Merge the findings of several scanners into one de-duplicated list.

Pure: reports in, ``MergedFindings`` out, no I/O. Used for one scanner too, so a single
report is normalised the same way (Trivy lists a CVE once per target; Grype lists a
package once per location).

**Identity.** One finding per (vulnerability, package, installed version). Within one
(package, installed) key, findings whose id sets (own id plus aliases) overlap are the
same vulnerability: a Grype ``GHSA-…`` whose ``relatedVulnerabilities`` name the CVE that
Trivy reports becomes one finding. The grouping is a union-find over those id sets, with
one guard: two groups are never joined if that would put two *different* CVE ids in one
finding. CVE ids are distinct vulnerabilities by definition, and an umbrella advisory
that aliases two CVEs must not fold them together, since an exception for one CVE would
then silence the other (fail closed). Such an umbrella stays a finding of its own.

**Merged fields.**

- ``id``: the canonical id. If the group's ids contain exactly one CVE, that CVE (so the
  same vulnerability keeps the same id, and SARIF rule, whichever scanners ran);
  otherwise the lowest of the members' own ids ranked CVE, then GHSA, then anything else.
  Every other id is kept in ``aliases``, so an exception naming any of them matches.
- ``severity``: the highest. ``Severity.UNKNOWN`` sorts lowest, so a scanner that rated
  the finding beats one that did not: UNKNOWN means "no rating", not "maybe critical".
- ``fixed``: the union, in natural version order (digit runs compared as numbers).
- ``found_by``: every scanner that reported it.
- ``status``: ``fixed`` when any scanner knows a fix; ``not_affected`` only when every
  member says so (a vendor waiver from one scanner must not hide another's finding);
  else the first status given.
- ``title``, ``url``, ``purl``, ``target``, and the package spelling: from the member
  whose own id is the canonical id, else the first that has one (report order).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from gate.model import ScanReport, Severity, Vulnerability

_CVE = re.compile(r"CVE-\d{4}-\d+", re.IGNORECASE)
_DIGITS = re.compile(r"(\d+)")

#: Severity labels in report order (worst first), so every summary lists all of them.
SEVERITY_ORDER: tuple[Severity, ...] = tuple(sorted(Severity, reverse=True))


@dataclass(frozen=True)
class ScannerSummary:
    """What one scanner contributed.

    ``counts`` and ``entries`` count the report's entries as the scanner listed them (so
    they match the file's own contents); ``distinct`` counts the merged findings this
    scanner is among the ``found_by`` of.
    """

    name: str
    version: str
    db_built: str | None
    counts: Mapping[str, int]
    entries: int
    distinct: int


@dataclass(frozen=True)
class MergedFindings:
    """The merged, de-duplicated findings, worst first, and how the scanners agreed."""

    findings: tuple[Vulnerability, ...]
    scanners: tuple[str, ...]
    summaries: tuple[ScannerSummary, ...] = field(default=())

    @property
    def by_all(self) -> tuple[Vulnerability, ...]:
        """Findings every scanner reported (all of them when only one scanner ran)."""
        every = frozenset(self.scanners)
        return tuple(f for f in self.findings if f.found_by >= every)

    @property
    def only_one(self) -> tuple[Vulnerability, ...]:
        """Findings exactly one scanner reported, when two or more ran: the disagreements."""
        if len(self.scanners) < 2:
            return ()
        return tuple(f for f in self.findings if len(f.found_by) == 1)

    def counts(self) -> dict[str, int]:
        """``total``, ``by_all`` and ``only_one``: the agreement figures for the report."""
        return {
            "total": len(self.findings),
            "by_all": len(self.by_all),
            "only_one": len(self.only_one),
        }


def merge(reports: Sequence[ScanReport]) -> MergedFindings:
    """Merge ``reports`` (one per scanner, in a stable order) into one finding list."""
    scanners = tuple(dict.fromkeys(r.scanner for r in reports))
    groups: dict[tuple[str, str], list[Vulnerability]] = {}
    for report in reports:
        for vuln in report.vulnerabilities:
            tagged = _with_scanner(vuln, report.scanner)
            groups.setdefault((vuln.package.casefold(), vuln.installed), []).append(tagged)

    findings: list[Vulnerability] = []
    for members in groups.values():
        if len(members) == 1:  # the common case, kept cheap for 50,000-finding reports
            findings.append(_unchanged(members[0]) or _merge_one(members))
        else:
            findings.extend(_merge_one(c) for c in _components(members))
    # Worst first, then by id; one sort with a plain-int key (enum attribute access is slow
    # when done 50,000 times).
    findings.sort(key=lambda v: (-int(v.severity), v.id, v.package, v.installed))
    merged = tuple(findings)
    return MergedFindings(merged, scanners, _summaries(reports, scanners, merged))


# --------------------------------------------------------------------------- grouping


def _norm(ident: str) -> str:
    return ident.strip().upper()


def _cves(ids: Iterable[str]) -> frozenset[str]:
    return frozenset(n for n in map(_norm, ids) if _CVE.fullmatch(n))


def _components(members: list[Vulnerability]) -> list[list[Vulnerability]]:
    """Union-find over overlapping id sets, refusing joins that mix two CVEs."""
    parent = list(range(len(members)))
    cves = [_cves(m.ids) for m in members]

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[str, list[int]] = {}
    for i, member in enumerate(members):
        for ident in {_norm(x) for x in member.ids}:
            for j in seen.setdefault(ident, []):
                a, b = find(i), find(j)
                if a == b:
                    continue
                joined = cves[a] | cves[b]
                if len(joined) <= 1 or cves[a] == cves[b]:
                    parent[b] = a
                    cves[a] = joined
            seen[ident].append(i)

    by_root: dict[int, list[Vulnerability]] = {}
    for i, member in enumerate(members):
        by_root.setdefault(find(i), []).append(member)
    return list(by_root.values())


# --------------------------------------------------------------------------- merging


def _rank(ident: str) -> tuple[int, str]:
    norm = _norm(ident)
    if _CVE.fullmatch(norm):
        return (0, norm)
    if norm.startswith("GHSA-"):
        return (1, norm)
    return (2, norm)


def _canonical(members: list[Vulnerability]) -> str:
    all_ids = [i for m in members for i in (m.id, *sorted(m.aliases))]
    cves = {_norm(i): i for i in all_ids if _CVE.fullmatch(_norm(i))}
    if len(cves) == 1:
        return next(iter(cves.values())).strip()
    return min((m.id.strip() for m in members), key=_rank)



def _unchanged(vuln: Vulnerability) -> Vulnerability | None:
    """``vuln`` itself when merging it alone would change nothing, else None."""
    if vuln.fixed and vuln.status != "fixed":
        return None
    if len(vuln.fixed) > 1 and list(vuln.fixed) != sorted(set(vuln.fixed), key=_version_key):
        return None
    if vuln.id != vuln.id.strip():
        return None
    if vuln.aliases and (vuln.id in vuln.aliases or _renamed_alone(vuln)):
        return None
    return vuln


def _renamed_alone(vuln: Vulnerability) -> bool:
    """Whether ``_canonical([vuln])`` would differ from ``vuln.id``, without building it.

    A CVE id keeps its name unless an alias spells the same CVE differently; any other id
    is renamed exactly when its aliases hold a single CVE.
    """
    if _CVE.fullmatch(vuln.id):
        return any(_norm(alias) == vuln.id for alias in vuln.aliases)
    return len(_cves(vuln.aliases)) == 1


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    parts = _DIGITS.split(version)
    return tuple((1, int(p)) if i % 2 else (0, p) for i, p in enumerate(parts))


def _first(values: Iterable[str]) -> str:
    return next((v for v in values if v), "")


def _merge_one(members: list[Vulnerability]) -> Vulnerability:
    canonical = _canonical(members)
    primary = next((m for m in members if _norm(m.id) == _norm(canonical)), members[0])
    ordered = [primary, *(m for m in members if m is not primary)]

    aliases: dict[str, str] = {}
    for m in ordered:
        for ident in (m.id, *sorted(m.aliases)):
            aliases.setdefault(_norm(ident), ident.strip())
    aliases.pop(_norm(canonical), None)

    fixed = sorted({f for m in members for f in m.fixed}, key=_version_key)
    return Vulnerability(
        id=canonical,
        package=primary.package,
        installed=primary.installed,
        severity=max(m.severity for m in members),
        fixed=tuple(fixed),
        aliases=frozenset(aliases.values()),
        title=_first(m.title for m in ordered),
        status=_status(ordered, fixed),
        url=_first(m.url for m in ordered),
        purl=_first(m.purl for m in ordered),
        target=_first(m.target for m in ordered),
        found_by=frozenset().union(*(m.found_by for m in members)),
    )


def _status(ordered: list[Vulnerability], fixed: list[str]) -> str:
    """``fixed`` if anyone knows a fix; ``not_affected`` only if *every* scanner says so.

    A scanner that lists the finding without that status considers the package
    affected, and one scanner's waiver must not silence another's finding.
    """
    if fixed:
        return "fixed"
    if all(m.status == "not_affected" for m in ordered):
        return "not_affected"
    return _first(m.status for m in ordered if m.status != "not_affected")


def _with_scanner(vuln: Vulnerability, scanner: str) -> Vulnerability:
    if scanner in vuln.found_by:
        return vuln
    return replace(vuln, found_by=vuln.found_by | {scanner})


def _summaries(
    reports: Sequence[ScanReport], scanners: tuple[str, ...], merged: tuple[Vulnerability, ...]
) -> tuple[ScannerSummary, ...]:
    out = []
    for name in scanners:
        mine = [r for r in reports if r.scanner == name]
        counts = {s.label: 0 for s in SEVERITY_ORDER}
        for report in mine:
            for vuln in report.vulnerabilities:
                counts[vuln.severity.label] += 1
        out.append(
            ScannerSummary(
                name=name,
                version=_first(r.version for r in mine),
                db_built=next((r.db_built for r in mine if r.db_built), None),
                counts=counts,
                entries=sum(counts.values()),
                distinct=sum(1 for f in merged if name in f.found_by),
            )
        )
    return tuple(out)
