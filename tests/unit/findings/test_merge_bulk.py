"""Property: merging one scanner's report takes a bulk shortcut that changes nothing.

``merge`` checks a single report in bulk (``_already_merged``) and, when no finding could
join another or be rewritten, keeps the findings as they are instead of grouping them one
by one. That shortcut must be exact: for any report, ``merge`` gives the findings the full
per-component merge builds. The ids, aliases, versions and statuses are drawn so that the
shortcut's conditions both hold and fail (padded, lower-case and CVE aliases, duplicate
CVEs in one package, fixed versions out of order, a fix with another status).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gate.findings import _already_merged, _components, _merge_one, merge
from gate.model import ScanReport, Severity, Vulnerability

IDS = st.sampled_from(
    ["CVE-2024-0727", "CVE-2023-5678", "CVE-2022-0001", "cve-2024-0727", " CVE-2022-0001"]
)
ALIASES = st.sampled_from(
    ["DSA-5678-1", "dsa-5678-1", "GHSA-9v9h-cgj8-h64p", "DLA-3711-1 ", "CVE-2023-5678"]
)
VERSIONS = st.sampled_from(["3.0.13-1~deb12u1", "3.0.9-1", "1.10", "1.2", "1.02"])


@st.composite
def findings(draw: st.DrawFn) -> Vulnerability:
    return Vulnerability(
        id=draw(IDS),
        package=draw(st.sampled_from(["openssl", "OpenSSL", "zlib"])),
        installed=draw(st.sampled_from(["3.0.11-1~deb12u2", "1.2.13"])),
        severity=draw(st.sampled_from(list(Severity))),
        fixed=tuple(draw(st.lists(VERSIONS, max_size=2, unique=True))),
        aliases=draw(st.frozensets(ALIASES, max_size=2)),
        status=draw(st.sampled_from(["", "fixed", "affected"])),
        found_by=draw(st.sampled_from([frozenset({"trivy"}), frozenset()])),
    )


def _full_merge(report: ScanReport) -> list[Vulnerability]:
    groups: dict[tuple[str, str], list[Vulnerability]] = {}
    for vuln in report.vulnerabilities:
        tagged = Vulnerability(**{**vuln.__dict__, "found_by": vuln.found_by | {"trivy"}})
        groups.setdefault((vuln.package.casefold(), vuln.installed), []).append(tagged)
    return [_merge_one(c) for members in groups.values() for c in _components(members)]


@given(st.lists(findings(), max_size=6))
def test_merging_one_report_equals_merging_every_component_in_full(
    vulns: list[Vulnerability],
) -> None:
    report = ScanReport(scanner="trivy", vulnerabilities=tuple(vulns))
    merged = merge([report])
    assert sorted(merged.findings, key=repr) == sorted(_full_merge(report), key=repr)


@given(st.lists(findings(), max_size=6))
def test_the_shortcut_keeps_only_reports_the_full_merge_would_not_change(
    vulns: list[Vulnerability],
) -> None:
    report = ScanReport(scanner="trivy", vulnerabilities=tuple(vulns))
    if _already_merged(report):
        assert sorted(vulns, key=repr) == sorted(_full_merge(report), key=repr)


def test_a_report_of_distinct_cves_takes_the_shortcut() -> None:
    vulns = tuple(
        Vulnerability(
            id=f"CVE-2026-{i:05d}",
            package=f"lib{i % 3}",
            installed="1.0",
            severity=Severity.HIGH,
            fixed=("1.1",),
            aliases=frozenset({"DSA-5000-1"}),
            status="fixed",
            found_by=frozenset({"trivy"}),
        )
        for i in range(30)
    )
    report = ScanReport(scanner="trivy", vulnerabilities=vulns)
    assert _already_merged(report)
    assert set(merge([report]).findings) == set(vulns)


def test_a_cve_listed_twice_for_one_package_does_not_take_the_shortcut() -> None:
    vuln = Vulnerability(
        id="CVE-2024-0727",
        package="openssl",
        installed="3.0.11",
        severity=Severity.HIGH,
        found_by=frozenset({"trivy"}),
    )
    report = ScanReport(scanner="trivy", vulnerabilities=(vuln, vuln))
    assert not _already_merged(report)
    assert merge([report]).findings == (vuln,)
