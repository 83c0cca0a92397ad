"""Property: the merge's shortcut for a lone finding changes nothing the full merge would not.

Big reports are merged fast because a finding alone in its component is kept as it is
when merging it would change nothing (``_merged``/``_unchanged``). That shortcut must be
exact: for any finding, it returns what ``_merge_one`` builds, field for field. And a
whole merge must not depend on it: merging reports gives findings equal to merging each
component in full. Ids are drawn from spellings that differ only in case and whitespace,
where the two could most easily disagree.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gate.findings import _components, _merge_one, _merged, merge
from gate.model import ScanReport, Severity, Vulnerability

IDS = st.sampled_from(
    [
        "CVE-2024-0727",
        "cve-2024-0727",
        " CVE-2024-0727",
        "CVE-2024-0727 ",
        "CVE-2023-5678",
        "GHSA-9v9h-cgj8-h64p",
        "ghsa-9v9h-cgj8-h64p",
        "DSA-5678-1",
        "DLA-3711-1",
        "TEMP-0000000-A1B2C3",
        " x ",
    ]
)
VERSIONS = st.sampled_from(["3.0.13-1~deb12u1", "3.0.9-1", "3.0.13-1~deb12u1 ", "1.10", "1.2"])


@st.composite
def findings(draw: st.DrawFn, scanner: str = "trivy") -> Vulnerability:
    return Vulnerability(
        id=draw(IDS),
        package=draw(st.sampled_from(["openssl", "OpenSSL", "zlib"])),
        installed=draw(st.sampled_from(["3.0.11-1~deb12u2", "1.2.13"])),
        severity=draw(st.sampled_from(list(Severity))),
        fixed=tuple(draw(st.lists(VERSIONS, max_size=3))),
        aliases=draw(st.frozensets(IDS, max_size=3)),
        title=draw(st.sampled_from(["", "openssl: a flaw"])),
        status=draw(st.sampled_from(["", "fixed", "affected", "not_affected", "will_not_fix"])),
        url=draw(st.sampled_from(["", "https://avd.aquasec.com/nvd/cve-2024-0727"])),
        found_by=frozenset({scanner}),
        source_packages=draw(st.frozensets(st.sampled_from(["openssl", "zlib", "openssl3"]))),
    )


@given(findings())
def test_a_lone_finding_is_kept_only_when_merging_would_not_change_it(vuln: Vulnerability) -> None:
    assert _merged([vuln]) == _merge_one([vuln])


@given(st.lists(findings("trivy"), max_size=8), st.lists(findings("grype"), max_size=8))
def test_merging_reports_equals_merging_every_component_in_full(
    trivy: list[Vulnerability], grype: list[Vulnerability]
) -> None:
    reports = [
        ScanReport(scanner="trivy", vulnerabilities=tuple(trivy)),
        ScanReport(scanner="grype", vulnerabilities=tuple(grype)),
    ]
    merged = merge(reports)
    groups: dict[tuple[str, str], list[Vulnerability]] = {}
    for report in reports:
        for vuln in report.vulnerabilities:
            groups.setdefault((vuln.package.casefold(), vuln.installed), []).append(vuln)
    full = [_merge_one(c) for members in groups.values() for c in _components(members)]
    assert sorted(merged.findings, key=repr) == sorted(full, key=repr)
