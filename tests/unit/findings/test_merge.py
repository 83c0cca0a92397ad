"""Merging findings across scanners: one finding per (vulnerability, package, version)."""

from __future__ import annotations

from dataclasses import replace

from gate.findings import MergedFindings, merge
from gate.model import ScanReport, Severity, Vulnerability


def vuln(
    id: str,
    package: str = "openssl",
    installed: str = "3.0.11-1~deb12u2",
    severity: Severity = Severity.HIGH,
    *,
    fixed: tuple[str, ...] = (),
    aliases: tuple[str, ...] = (),
    title: str = "",
    status: str = "",
    target: str = "",
) -> Vulnerability:
    return Vulnerability(
        id=id,
        package=package,
        installed=installed,
        severity=severity,
        fixed=fixed,
        aliases=frozenset(aliases),
        title=title,
        status=status,
        target=target,
    )


def trivy(*vulns: Vulnerability) -> ScanReport:
    return ScanReport(scanner="trivy", version="0.76.0", vulnerabilities=vulns)


def grype(*vulns: Vulnerability) -> ScanReport:
    return ScanReport(
        scanner="grype", version="0.96.0", db_built="2026-11-01T00:00:00Z", vulnerabilities=vulns
    )


def only(merged: MergedFindings) -> Vulnerability:
    assert len(merged.findings) == 1, merged.findings
    return merged.findings[0]


def test_ghsa_whose_related_id_is_the_trivy_cve_becomes_one_finding() -> None:
    merged = merge(
        [
            trivy(vuln("CVE-2024-0727", title="PKCS12 NULL deref")),
            grype(vuln("GHSA-9v9h-cgj8-h64p", aliases=("CVE-2024-0727",))),
        ]
    )
    finding = only(merged)
    assert finding.id == "CVE-2024-0727"
    assert finding.aliases == {"GHSA-9v9h-cgj8-h64p"}
    assert finding.found_by == {"trivy", "grype"}
    assert finding.title == "PKCS12 NULL deref"
    assert merged.counts() == {"total": 1, "by_all": 1, "only_one": 0}


def test_canonical_id_prefers_the_cve_even_when_only_grype_ran() -> None:
    finding = only(merge([grype(vuln("GHSA-9v9h-cgj8-h64p", aliases=("CVE-2024-0727",)))]))
    assert finding.id == "CVE-2024-0727"
    assert finding.ids == {"CVE-2024-0727", "GHSA-9v9h-cgj8-h64p"}


def test_severity_disagreement_takes_the_higher() -> None:
    merged = merge(
        [
            trivy(vuln("CVE-2024-0727", severity=Severity.MEDIUM)),
            grype(vuln("CVE-2024-0727", severity=Severity.CRITICAL)),
        ]
    )
    assert only(merged).severity is Severity.CRITICAL


def test_a_rating_beats_unknown_when_scanners_disagree() -> None:
    merged = merge(
        [
            trivy(vuln("CVE-2024-0727", severity=Severity.UNKNOWN)),
            grype(vuln("CVE-2024-0727", severity=Severity.LOW)),
        ]
    )
    assert only(merged).severity is Severity.LOW


def test_fixed_versions_are_the_union_in_version_order() -> None:
    merged = merge(
        [
            trivy(vuln("CVE-2024-0727", fixed=("3.0.13-1~deb12u1",), status="fixed")),
            grype(vuln("CVE-2024-0727", fixed=("3.0.9-1", "3.0.13-1~deb12u1", "3.0.10-1"))),
        ]
    )
    finding = only(merged)
    assert finding.fixed == ("3.0.9-1", "3.0.10-1", "3.0.13-1~deb12u1")
    assert finding.status == "fixed"


def test_a_fix_known_to_one_scanner_makes_the_merged_finding_fixed() -> None:
    merged = merge(
        [
            trivy(vuln("CVE-2024-0727", status="affected")),
            grype(vuln("CVE-2024-0727", fixed=("3.0.13-1",), status="fixed")),
        ]
    )
    assert only(merged).has_fix
    assert only(merged).status == "fixed"


def test_a_finding_only_one_scanner_reports_is_marked_as_such() -> None:
    merged = merge(
        [
            trivy(vuln("CVE-2024-0727"), vuln("CVE-2023-5678", severity=Severity.MEDIUM)),
            grype(vuln("CVE-2024-0727"), vuln("CVE-2024-2511", package="libssl3")),
        ]
    )
    assert len(merged.findings) == 3
    only_one = {(f.id, tuple(sorted(f.found_by))) for f in merged.only_one}
    assert only_one == {("CVE-2023-5678", ("trivy",)), ("CVE-2024-2511", ("grype",))}
    assert [f.id for f in merged.by_all] == ["CVE-2024-0727"]
    assert merged.counts() == {"total": 3, "by_all": 1, "only_one": 2}


def test_same_id_in_another_package_or_version_is_another_finding() -> None:
    merged = merge(
        [
            trivy(
                vuln("CVE-2024-0727", package="openssl"),
                vuln("CVE-2024-0727", package="libssl3"),
            ),
            grype(vuln("CVE-2024-0727", package="openssl", installed="3.0.13-1")),
        ]
    )
    keys = {(f.package, f.installed) for f in merged.findings}
    assert keys == {
        ("openssl", "3.0.11-1~deb12u2"),
        ("libssl3", "3.0.11-1~deb12u2"),
        ("openssl", "3.0.13-1"),
    }


def test_one_scanner_listing_a_cve_twice_for_a_package_collapses_to_one() -> None:
    merged = merge(
        [
            trivy(
                vuln("CVE-2024-0727", target="debian 12.5 (debian 12.5)"),
                vuln("CVE-2024-0727", target="usr/lib/app.jar", severity=Severity.CRITICAL),
            )
        ]
    )
    finding = only(merged)
    assert finding.severity is Severity.CRITICAL
    assert finding.target == "debian 12.5 (debian 12.5)"
    assert merged.only_one == ()  # one scanner cannot disagree with itself
    assert merged.counts() == {"total": 1, "by_all": 1, "only_one": 0}
    assert merged.summaries[0].entries == 2
    assert merged.summaries[0].distinct == 1


def test_an_umbrella_advisory_never_folds_two_cves_together() -> None:
    # An exception for one CVE must not silence the other, so they stay apart.
    merged = merge(
        [
            trivy(vuln("CVE-2024-0001"), vuln("CVE-2024-0002")),
            grype(vuln("GHSA-aaaa-bbbb-cccc", aliases=("CVE-2024-0001", "CVE-2024-0002"))),
        ]
    )
    ids = sorted(f.id for f in merged.findings)
    assert ids == ["CVE-2024-0001", "CVE-2024-0002", "GHSA-aaaa-bbbb-cccc"]
    by_id = {f.id: f for f in merged.findings}
    assert by_id["CVE-2024-0001"].aliases == frozenset()
    assert by_id["GHSA-aaaa-bbbb-cccc"].aliases == {"CVE-2024-0001", "CVE-2024-0002"}


def test_aliases_from_both_scanners_are_carried_for_exception_matching() -> None:
    merged = merge(
        [
            trivy(vuln("CVE-2024-0727", aliases=("DSA-5678-1",))),
            grype(vuln("GHSA-9v9h-cgj8-h64p", aliases=("CVE-2024-0727",))),
        ]
    )
    assert only(merged).ids == {"CVE-2024-0727", "DSA-5678-1", "GHSA-9v9h-cgj8-h64p"}


def test_package_names_match_case_insensitively() -> None:
    merged = merge(
        [
            trivy(vuln("CVE-2023-1", package="Django", installed="4.2.0")),
            grype(vuln("CVE-2023-1", package="django", installed="4.2.0")),
        ]
    )
    assert only(merged).found_by == {"trivy", "grype"}


def test_findings_are_ordered_worst_first_then_by_id() -> None:
    merged = merge(
        [
            trivy(
                vuln("CVE-2024-3", severity=Severity.LOW),
                vuln("CVE-2024-2", severity=Severity.CRITICAL),
                vuln("CVE-2024-1", severity=Severity.CRITICAL),
            )
        ]
    )
    assert [f.id for f in merged.findings] == ["CVE-2024-1", "CVE-2024-2", "CVE-2024-3"]


def test_per_scanner_summary_carries_version_db_and_counts() -> None:
    merged = merge(
        [
            trivy(vuln("CVE-2024-0727"), vuln("CVE-2024-1", severity=Severity.UNKNOWN)),
            grype(vuln("CVE-2024-0727", severity=Severity.CRITICAL)),
        ]
    )
    t, g = merged.summaries
    assert (t.name, t.version, t.db_built) == ("trivy", "0.76.0", None)
    assert t.counts == {"critical": 0, "high": 1, "medium": 0, "low": 0, "unknown": 1}
    assert (g.name, g.db_built, g.entries, g.distinct) == ("grype", "2026-11-01T00:00:00Z", 1, 1)
    assert g.counts["critical"] == 1
    assert merged.scanners == ("trivy", "grype")


def test_merging_is_independent_of_report_order_for_identity() -> None:
    a = trivy(vuln("CVE-2024-0727", severity=Severity.MEDIUM, fixed=("2",)))
    b = grype(vuln("GHSA-9v9h-cgj8-h64p", aliases=("CVE-2024-0727",), fixed=("1",)))
    one, two = only(merge([a, b])), only(merge([b, a]))
    assert (one.id, one.ids, one.severity, one.fixed, one.found_by) == (
        two.id,
        two.ids,
        two.severity,
        two.fixed,
        two.found_by,
    )


def test_no_reports_and_empty_reports_merge_to_nothing() -> None:
    assert merge([]).findings == ()
    merged = merge([trivy(), grype()])
    assert merged.findings == ()
    assert merged.counts() == {"total": 0, "by_all": 0, "only_one": 0}


def test_not_affected_from_one_scanner_does_not_hide_the_other_scanners_finding() -> None:
    merged = merge(
        [
            trivy(vuln("CVE-2024-0727", status="not_affected")),
            grype(vuln("CVE-2024-0727", status="not-fixed")),
        ]
    )
    assert only(merged).status == "not-fixed"
    alone = merge([trivy(vuln("CVE-2024-0727", status="not_affected"))])
    assert only(alone).status == "not_affected"


def test_source_packages_the_scanners_disagree_on_are_both_kept() -> None:
    """A waiver may name either scanner's source package, so neither name is dropped."""
    from_trivy = replace(vuln("CVE-2026-0001", "libssl3"), source_packages=frozenset({"openssl"}))
    from_grype = replace(vuln("CVE-2026-0001", "libssl3"), source_packages=frozenset({"openssl3"}))
    merged = only(merge([trivy(from_trivy), grype(from_grype)]))
    assert merged.source_packages == frozenset({"openssl", "openssl3"})
    assert merged.found_by == frozenset({"trivy", "grype"})
