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
- ``source_packages``: the union: where Trivy's ``SrcName`` and Grype's upstream differ,
  both names are kept (a waiver may name either). The parsers leave out a source named
  like the package itself.
- ``status``: ``fixed`` when any scanner knows a fix; ``not_affected`` only when every
  member says so (a vendor waiver from one scanner must not hide another's finding);
  else the first status given.
- ``title``, ``url``, ``purl``, ``target``, and the package spelling: from the member
  whose own id is the canonical id, else the first that has one (report order).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain, repeat
from operator import attrgetter, contains, lt, ne

from gate.model import ScanReport, Severity, Vulnerability

_CVE = re.compile(r"CVE-\d{4}-\d+", re.IGNORECASE)
_DIGITS = re.compile(r"(\d+)")
_SEVERITY_OF = attrgetter("severity")
_COLUMNS = attrgetter("id", "aliases", "package", "installed", "found_by", "fixed", "status")
_CANONICAL_CVE = re.compile(r"CVE-[0-9]{4}-[0-9]+")
_BLOCK = 4096

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
        total = len(self.findings)
        if len(self.scanners) < 2:  # one scanner: it found them all (50,000 not walked)
            return {"total": total, "by_all": total, "only_one": 0}
        return {"total": total, "by_all": len(self.by_all), "only_one": len(self.only_one)}


def merge(reports: Sequence[ScanReport]) -> MergedFindings:
    """Merge ``reports`` (one per scanner, in a stable order) into one finding list."""
    scanners = tuple(dict.fromkeys(r.scanner for r in reports))
    if len(reports) == 1 and _already_merged(reports[0]):
        findings = list(reports[0].vulnerabilities)
    else:
        findings = _merge_groups(reports)
    # Worst first, then by id: two stable sorts keyed in C (attrgetter), faster for 50,000
    # findings than one sort on a key built in Python.
    findings.sort(key=attrgetter("id", "package", "installed"))
    findings.sort(key=attrgetter("severity"), reverse=True)
    merged = tuple(findings)
    return MergedFindings(merged, scanners, _summaries(reports, scanners, merged))


def _merge_groups(reports: Sequence[ScanReport]) -> list[Vulnerability]:
    """The findings of ``reports`` merged per (package, version), in no particular order."""
    groups: dict[tuple[str, str], list[Vulnerability]] = {}
    for report in reports:
        scanner = report.scanner
        for vuln in report.vulnerabilities:
            tagged = vuln if scanner in vuln.found_by else _with_scanner(vuln, scanner)
            groups.setdefault((vuln.package.casefold(), vuln.installed), []).append(tagged)

    findings: list[Vulnerability] = []
    apart = _Apart()
    for members in groups.values():
        if len(members) == 1 or apart(members):
            # Every member is a component of its own (the common case: one scanner lists
            # a package's CVEs once each), kept as it is when merging would change nothing.
            for member in members:
                findings.append(_unchanged(member) or _merge_one([member]))
        else:
            findings.extend(_merged(c) for c in _components(members))
    return findings


def _already_merged(report: ScanReport) -> bool:
    """Whether merging one scanner's report would keep every finding as it is.

    The common case, checked in bulk with C-level passes (``map``, ``zip``, sets) over
    columns of fields instead of a Python loop per finding: every id is a CVE written in
    canonical form and no alias is a CVE, so each finding names exactly one CVE and keeps
    its id; no two findings share (package, version, CVE), so no two can join
    (``_components`` refuses any join that would put two CVEs in one finding); aliases
    are unpadded and none of a finding's aliases differ only in case; fixed versions are
    in order with status ``fixed``; and the scanner is already in ``found_by``. That is
    ``_unchanged`` for every finding, each in a component of its own. A hypothesis test
    (tests/unit/findings/test_merge_bulk.py) holds this to the full merge. Columns are read
    a block at a time, so the check adds little to the peak memory of a 50,000-finding
    report.
    """
    vulns = report.vulnerabilities
    keys: set[tuple[str, str, str]] = set()
    aliases: set[str] = set()
    folded: dict[str, str] = {}
    for start in range(0, len(vulns), _BLOCK):
        block = vulns[start : start + _BLOCK]
        ids, aliases_of, packages, versions, found_by, fixed, statuses = zip(
            *map(_COLUMNS, block), strict=True
        )
        if not all(map(_CANONICAL_CVE.fullmatch, ids)):
            return False
        if not all(map(contains, found_by, repeat(report.scanner))):
            return False
        for has_fix, status in set(zip(map(bool, fixed), statuses, strict=True)):
            if has_fix and status != "fixed":
                return False
        if max(map(len, fixed)) > 1 and not _in_order([f for f in fixed if len(f) > 1]):
            return False
        for several in (a for a in aliases_of if len(a) > 1):
            if len(set(map(str.upper, several))) != len(several):
                return False
        aliases.update(chain.from_iterable(aliases_of))
        folded.update(zip(packages, map(str.casefold, packages), strict=True))
        keys.update(zip(packages, versions, ids, strict=True))
    if len(keys) != len(vulns) or len(set(folded.values())) != len(folded):
        return False  # a duplicate, or two spellings of one package: grouping decides
    # No padded alias and no CVE alias (both checked in C: 100,000 distinct aliases in a
    # report where every finding has its own advisories).
    return not any(map(ne, aliases, map(str.strip, aliases))) and not any(
        map(_CVE.fullmatch, aliases)
    )


# --------------------------------------------------------------------------- grouping


def _norm(ident: str) -> str:
    return ident.strip().upper()


class _Apart:
    """Whether no two findings of one (package, version) group can join.

    That holds when each names exactly one CVE (as its id or an alias) and no two name the
    same: every join ``_components`` could make would put two CVEs in one finding, which
    its guard refuses. This answers for most groups without the union-find. The CVE read
    from each id is remembered (``""`` for none), since aliases repeat across groups (one
    DSA fixes 30 CVEs); this runs once per finding, so the lookups are inlined.
    """

    def __init__(self) -> None:
        self._cve: dict[str, str] = {}

    def __call__(self, members: list[Vulnerability]) -> bool:
        cve_of = self._cve
        known = cve_of.get
        is_cve = _CVE.fullmatch
        seen: set[str] = set()
        for member in members:
            ident = member.id
            own = known(ident)
            if own is None:
                norm = ident.strip().upper()
                own = cve_of[ident] = norm if is_cve(norm) else ""
            for alias in member.aliases:
                cve = known(alias)
                if cve is None:
                    norm = alias.strip().upper()
                    cve = cve_of[alias] = norm if is_cve(norm) else ""
                if cve and cve != own:
                    if own:
                        return False  # names two CVEs
                    own = cve
            if not own or own in seen:
                return False
            seen.add(own)
        return True


def _components(members: list[Vulnerability]) -> list[list[Vulnerability]]:
    """Union-find over overlapping id sets, refusing joins that mix two CVEs."""
    normalized = [{_norm(x) for x in (m.id, *m.aliases)} for m in members]
    cves = [frozenset(n for n in ids if _CVE.fullmatch(n)) for ids in normalized]
    parent = list(range(len(members)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[str, list[int]] = {}
    for i, ids in enumerate(normalized):
        for ident in ids:
            earlier = seen.setdefault(ident, [])
            for j in earlier:
                a, b = find(i), find(j)
                if a == b:
                    continue
                if cves[a] == cves[b]:
                    parent[b] = a
                elif len(joined := cves[a] | cves[b]) <= 1:
                    parent[b] = a
                    cves[a] = joined
            earlier.append(i)

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


def _merged(members: list[Vulnerability]) -> Vulnerability:
    """One finding from a component of the same vulnerability.

    A component of one finding (the common case: one scanner lists a package's CVEs once
    each, so a package with 25 CVEs makes 25 components of one) is kept as it is when
    merging would change nothing, which keeps 50,000-finding reports cheap.
    """
    if len(members) == 1:
        unchanged = _unchanged(members[0])
        if unchanged is not None:
            return unchanged
    return _merge_one(members)


def _unchanged(vuln: Vulnerability) -> Vulnerability | None:
    """``vuln`` itself when ``_merge_one([vuln])`` would return an equal finding, else None.

    That is: its fixed versions are already in order with its status agreeing, its id and
    aliases are already stripped and spelled apart (no two the same CVE or GHSA in
    different case), and it would not be renamed to a lone CVE alias. A hypothesis test
    (tests/unit/findings/test_merge_fuzz.py) holds this to ``_merge_one`` on generated findings.
    """
    fixed = vuln.fixed
    if fixed and (
        vuln.status != "fixed"
        or (len(fixed) > 1 and list(fixed) != sorted(set(fixed), key=_version_key))
    ):
        return None
    vid = vuln.id
    if vid != vid.strip():
        return None
    aliases = vuln.aliases
    if aliases:
        spelled = {vid.upper()}
        for alias in aliases:
            norm = alias.upper()
            if norm in spelled or alias != alias.strip():
                return None
            spelled.add(norm)
        if not _CVE.fullmatch(vid) and sum(1 for n in spelled if _CVE.fullmatch(n)) == 1:
            return None  # renamed to its one CVE
    return vuln


def _version_key(version: str) -> list[str | int]:
    """Natural order: digit runs compare as numbers, the text between them as text.

    ``re.split`` with one group alternates text (even places) and digits (odd places),
    so elements at the same place always have the same type and lists compare directly.
    """
    parts: list[str | int] = list(_DIGITS.split(version))
    parts[1::2] = map(int, parts[1::2])
    return parts


def _in_order(column: list[tuple[str, ...]]) -> bool:
    """Whether every tuple of fixed versions is strictly increasing in natural order: as
    the merge sorts it, with no duplicate. Two spellings of one version ("1.01", "1.1")
    are not: the full merge decides their order. Each distinct version is keyed once
    (a report repeats them), and the pairs are compared in C."""
    distinct = set(chain.from_iterable(column))
    key = dict(zip(distinct, map(_version_key, distinct), strict=True)).__getitem__
    lower: list[str] = []
    upper: list[str] = []
    for versions in column:
        lower += versions[:-1]
        upper += versions[1:]
    return all(map(lt, map(key, lower), map(key, upper)))


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
        source_packages=frozenset().union(*(m.source_packages for m in members)),
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
        found: Counter[Severity] = Counter()
        for report in mine:
            found.update(map(_SEVERITY_OF, report.vulnerabilities))  # in C: 50,000 findings
        counts = {s.label: found[s] for s in SEVERITY_ORDER}
        out.append(
            ScannerSummary(
                name=name,
                version=_first(r.version for r in mine),
                db_built=next((r.db_built for r in mine if r.db_built), None),
                counts=counts,
                entries=sum(counts.values()),
                distinct=(
                    len(merged)  # one scanner found every merged finding
                    if len(scanners) == 1
                    else sum(1 for f in merged if name in f.found_by)
                ),
            )
        )
    return tuple(out)
