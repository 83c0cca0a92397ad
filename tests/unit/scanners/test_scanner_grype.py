"""Reading Grype JSON reports: fields, severities, the embedded image config, and refusals.

The builders here write Grype JSON shaped like grype 0.8x/0.9x output (field for field
from its presenter model), including the base64 image config and manifest.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gate.errors import ScannerError
from gate.model import Severity
from gate.scanners.grype import parse_report
from tests.support.grype import DIGEST, INDEX_DIGEST, REPO, grype_match, grype_report
from tests.support.paths import REPO_ROOT

REALWORLD = REPO_ROOT.parent / "shared" / "realworld" / "grype"


def write(tmp_path: Path, document: Any, name: str = "grype.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


# --------------------------------------------------------------------------- fields


def test_a_match_becomes_a_vulnerability_with_its_fix_aliases_and_location(
    tmp_path: Path,
) -> None:
    doc = grype_report(
        [
            grype_match(
                "GHSA-9v9h-cgj8-h64p",
                fixed=("3.0.13-1~deb12u1",),
                related=("CVE-2024-0727", "GHSA-9v9h-cgj8-h64p"),
                path="/usr/lib/x86_64-linux-gnu/libssl.so.3",
            )
        ]
    )
    report = parse_report(write(tmp_path, doc))
    (v,) = report.vulnerabilities
    assert (v.id, v.package, v.installed) == ("GHSA-9v9h-cgj8-h64p", "openssl", "3.0.11-1~deb12u2")
    assert v.severity is Severity.HIGH
    assert v.fixed == ("3.0.13-1~deb12u1",)
    assert v.status == "fixed"
    assert v.aliases == {"CVE-2024-0727"}  # its own id is not an alias of itself
    assert v.url == "https://security-tracker.debian.org/tracker/GHSA-9v9h-cgj8-h64p"
    assert v.purl.startswith("pkg:deb/debian/openssl@3.0.11-1~deb12u2")
    assert v.target == "/usr/lib/x86_64-linux-gnu/libssl.so.3"
    assert v.found_by == {"grype"}


def test_report_names_tool_db_image_and_os(tmp_path: Path) -> None:
    report = parse_report(write(tmp_path, grype_report([])))
    assert report.scanner == "grype"
    assert report.version == "0.86.1"
    assert report.db_built == "2026-11-01T04:36:17Z"
    assert report.artifact == f"{REPO}@{DIGEST}"
    assert report.digests == (f"{REPO}@{INDEX_DIGEST}", DIGEST)
    assert report.os == "debian 12"
    assert report.vulnerabilities == ()


def test_db_build_time_is_read_from_schema_v5_descriptors_too(tmp_path: Path) -> None:
    report = parse_report(write(tmp_path, grype_report([], db="v5")))
    assert report.db_built == "2024-02-22T01:23:26Z"


def test_embedded_base64_config_gives_the_image_user(tmp_path: Path) -> None:
    report = parse_report(write(tmp_path, grype_report([], user="65532")))
    assert report.image_config is not None
    assert report.image_config["config"]["User"] == "65532"
    assert report.image_config["created"] == "2026-11-01T00:00:00Z"


def test_a_repo_digest_for_the_manifest_is_not_listed_twice(tmp_path: Path) -> None:
    doc = grype_report([], repo_digests=(f"{REPO}@{DIGEST}",))
    assert parse_report(write(tmp_path, doc)).digests == (f"{REPO}@{DIGEST}",)


def test_redacted_or_placeholder_digests_name_no_image(tmp_path: Path) -> None:
    doc = grype_report([], repo_digests=("REDACTED",))
    doc["source"]["target"]["manifestDigest"] = "sha256:test"
    assert parse_report(write(tmp_path, doc)).digests == ()


def test_docker_archive_input_keeps_no_synthesised_manifest_digest(tmp_path: Path) -> None:
    doc = grype_report([], user_input="docker-archive:/tmp/app.tar", repo_digests=())
    assert parse_report(write(tmp_path, doc)).digests == ()


def test_grype_0_120_archive_scan_keeps_no_synthesised_manifest_digest(tmp_path: Path) -> None:
    # Grype 0.120 writes the bare path as userInput; the gate knows it ran an archive scan.
    doc = grype_report([], user_input="/tmp/app.tar", repo_digests=())
    assert parse_report(write(tmp_path, doc), archive=True).digests == ()
    assert parse_report(write(tmp_path, doc)).digests == (DIGEST,)  # an OCI layout keeps it


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("Critical", Severity.CRITICAL),
        ("High", Severity.HIGH),
        ("Medium", Severity.MEDIUM),
        ("Low", Severity.LOW),
        ("Negligible", Severity.LOW),
        ("Unknown", Severity.UNKNOWN),
        (None, Severity.UNKNOWN),
    ],
)
def test_grype_severities_map_onto_the_gate_scale(
    tmp_path: Path, word: str | None, expected: Severity
) -> None:
    report = parse_report(write(tmp_path, grype_report([grype_match("CVE-1", severity=word)])))
    assert report.vulnerabilities[0].severity is expected


def test_ignored_matches_are_not_judged(tmp_path: Path) -> None:
    doc = grype_report([grype_match("CVE-2024-0727")])
    doc["ignoredMatches"] = [{"vulnerability": {"id": "CVE-2"}, "artifact": {}}] * 3
    assert [v.id for v in parse_report(write(tmp_path, doc)).vulnerabilities] == ["CVE-2024-0727"]


def test_top_level_keys_may_come_in_any_order(tmp_path: Path) -> None:
    doc = grype_report([grype_match("CVE-2024-0727")], user="app")
    reordered = {k: doc[k] for k in sorted(doc)}  # descriptor and distro before matches
    report = parse_report(write(tmp_path, reordered))
    assert report.version == "0.86.1"
    assert report.image_config is not None and report.image_config["config"]["User"] == "app"
    assert len(report.vulnerabilities) == 1


def test_every_match_is_kept_even_the_same_cve_at_two_paths(tmp_path: Path) -> None:
    doc = grype_report(
        [
            grype_match("CVE-2021-33574", "libc6", "2.28-10", path="/lib/libc.so.6"),
            grype_match("CVE-2021-33574", "libc6", "2.28-10", path="/usr/lib/libc.so.6"),
        ]
    )
    # The parser keeps the scanner's entries; merge() makes them one finding.
    assert len(parse_report(write(tmp_path, doc)).vulnerabilities) == 2


# --------------------------------------------------------------------------- refusals


def refused(tmp_path: Path, document: Any) -> str:
    with pytest.raises(ScannerError) as info:
        parse_report(write(tmp_path, document))
    return str(info.value)


def test_a_report_without_matches_is_refused(tmp_path: Path) -> None:
    doc = grype_report([])
    del doc["matches"]
    assert "no `matches` array" in refused(tmp_path, doc)


def test_null_matches_is_refused(tmp_path: Path) -> None:
    doc = grype_report([])
    doc["matches"] = None
    assert "matches" in refused(tmp_path, doc)


def test_matches_that_is_not_an_array_is_refused(tmp_path: Path) -> None:
    doc = grype_report([])
    doc["matches"] = {"vulnerability": {}}
    assert "matches" in refused(tmp_path, doc)


def test_a_json_document_from_another_tool_is_refused(tmp_path: Path) -> None:
    doc = grype_report([])
    doc["descriptor"]["name"] = "syft"
    assert "descriptor.name" in refused(tmp_path, doc)
    del doc["descriptor"]
    assert "descriptor.name" in refused(tmp_path, doc)


def test_a_truncated_report_is_refused_not_shortened(tmp_path: Path) -> None:
    text = json.dumps(grype_report([grype_match(f"CVE-2024-{i}") for i in range(50)]))
    cut = text[: text.index("CVE-2024-40")]
    assert "not valid JSON" in refused(tmp_path, cut)


def test_garbage_and_empty_files_are_refused(tmp_path: Path) -> None:
    assert "not a JSON object" in refused(tmp_path, "panic: runtime error\n")
    assert "empty" in refused(tmp_path, "")
    assert "not a JSON object" in refused(tmp_path, "[]")
    assert "not valid JSON" in refused(tmp_path, json.dumps(grype_report([])) + "{}")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScannerError, match="cannot read grype report"):
        parse_report(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda m: m["vulnerability"].pop("id"), "lacks a vulnerability id"),
        (lambda m: m["artifact"].pop("name"), "lacks a vulnerability id, a package name"),
        (lambda m: m["artifact"].pop("version"), "or a version"),
        (lambda m: m.pop("artifact"), "no artifact"),
        (lambda m: m["vulnerability"]["fix"].update(versions="1.0"), "fix.versions"),
        (lambda m: m["vulnerability"]["fix"].update(versions=[1]), "non-string"),
        (lambda m: m.update(relatedVulnerabilities=[{"url": "x"}]), "without an id"),
        (lambda m: m["artifact"].update(name=["openssl"]), "artifact.name"),
    ],
)
def test_a_match_missing_what_the_gate_judges_on_is_refused(
    tmp_path: Path, mutate: Any, fragment: str
) -> None:
    match = grype_match("CVE-2024-0727")
    mutate(match)
    message = refused(tmp_path, grype_report([grype_match("CVE-1"), match]))
    assert fragment in message
    assert "matches[1]" in message


def test_an_undecodable_embedded_config_is_refused(tmp_path: Path) -> None:
    doc = grype_report([])
    doc["source"]["target"]["config"] = "not base64!"
    assert "source.target.config" in refused(tmp_path, doc)
    doc["source"]["target"]["config"] = base64.b64encode(b"[1, 2]").decode()
    assert "source.target.config" in refused(tmp_path, doc)


# --------------------------------------------------------------------------- conformance


def _independent_counts(document: dict[str, Any]) -> Counter[str]:
    """Severity counts straight from the file, without the gate's parser or mapping."""
    words = {
        "Critical": "critical",
        "High": "high",
        "Medium": "medium",
        "Low": "low",
        "Negligible": "low",
    }
    return Counter(
        words.get(m["vulnerability"].get("severity"), "unknown") for m in document["matches"]
    )


def _realworld_files() -> list[Path]:
    return sorted(REALWORLD.glob("*.json")) if REALWORLD.is_dir() else []


@pytest.mark.realworld
@pytest.mark.parametrize("path", _realworld_files(), ids=lambda p: p.name)
def test_realworld_report_parses_with_the_files_own_severity_counts(path: Path) -> None:
    document = json.loads(path.read_text())
    report = parse_report(path)
    assert Counter(v.severity.label for v in report.vulnerabilities) == _independent_counts(
        document
    )
    assert len(report.vulnerabilities) == len(document["matches"])
    assert report.version == document["descriptor"]["version"]


@pytest.mark.realworld
@pytest.mark.parametrize("path", _realworld_files(), ids=lambda p: p.name)
def test_realworld_report_is_judged_and_the_gate_reports_the_files_counts(path: Path) -> None:
    from datetime import datetime, timezone

    from gate.checks.vulnerabilities import VulnerabilitiesCheck
    from gate.model import Facts, Status, Subject
    from gate.policy.model import Policy, VulnerabilityPolicy

    report = parse_report(path)
    facts = Facts(
        Subject("(from report)", None), datetime(2026, 11, 28, tzinfo=timezone.utc), scans=(report,)
    )
    rules = VulnerabilityPolicy(fail_on=Severity.CRITICAL, scanners=("grype",))
    result = VulnerabilitiesCheck().evaluate(Policy("test", vulnerabilities=rules), facts)
    assert result.status in (Status.PASS, Status.FAIL), result.summary
    (summary,) = result.evidence["scanners"]
    expected = _independent_counts(json.loads(path.read_text()))
    assert {k: n for k, n in summary["by_severity"].items() if n} == dict(expected)
    # At fail_on critical, only critical entries fail (unknown is judged as high).
    assert (result.status is Status.FAIL) == (expected["critical"] > 0)


@pytest.mark.realworld
def test_realworld_reports_are_present_or_skipped() -> None:
    if not REALWORLD.is_dir():
        pytest.skip("../shared/realworld/grype is absent")
    assert _realworld_files(), "the realworld grype folder holds no reports"


@pytest.mark.realworld
@pytest.mark.parametrize(
    ("name", "user"),
    [
        ("check_all_fields.json", "1001"),
        ("fix_available.json", "cams"),
        ("issue_9618.json", "1001"),
        ("no_vuln.json", ""),
        ("same_cve_different_paths.json", None),
        ("grype-presenter-images.json", None),
    ],
)
def test_realworld_embedded_config_user(name: str, user: str | None) -> None:
    path = REALWORLD / name
    if not path.is_file():
        pytest.skip(f"{name} is absent")
    config = parse_report(path).image_config
    if user is None:
        assert config is None
    else:
        assert config is not None and config["config"]["User"] == user


@pytest.mark.realworld
def test_realworld_missing_severity_is_unknown_and_db_time_is_read() -> None:
    path = REALWORLD / "issue_9618.json"
    if not path.is_file():
        pytest.skip("issue_9618.json is absent")
    report = parse_report(path)
    unknown = [v for v in report.vulnerabilities if v.severity is Severity.UNKNOWN]
    assert [(v.id, v.package, v.installed) for v in unknown] == [
        ("CVE-2024-26308", "commons-compress", "1.21")
    ]
    assert report.db_built == "2024-02-22T01:23:26Z"
    assert report.os == "redhat 8.7"


@pytest.mark.realworld
def test_realworld_same_cve_at_two_paths_is_one_merged_finding() -> None:
    from gate.findings import merge

    path = REALWORLD / "same_cve_different_paths.json"
    if not path.is_file():
        pytest.skip("same_cve_different_paths.json is absent")
    merged = merge([parse_report(path)])
    assert [(f.id, f.package, f.installed) for f in merged.findings] == [
        ("CVE-2021-33574", "libc6", "2.28-10")
    ]
    assert merged.summaries[0].entries == 2


def _upstreams(match: dict[str, Any], *names: object) -> dict[str, Any]:
    match["artifact"]["upstreams"] = [{"name": n} for n in names]
    return match


def test_a_matchs_upstream_is_its_source_package(tmp_path: Path) -> None:
    doc = grype_report(
        [
            _upstreams(grype_match("CVE-2026-0001", "libssl3"), "openssl"),
            _upstreams(grype_match("CVE-2026-0004", "bash"), "bash"),  # itself: no other source
            grype_match("CVE-2026-0003", "curl"),
        ]
    )
    found = {
        v.package: v.source_packages for v in parse_report(write(tmp_path, doc)).vulnerabilities
    }
    assert found == {"libssl3": frozenset({"openssl"}), "bash": frozenset(), "curl": frozenset()}


def test_an_upstream_of_the_wrong_shape_refuses_the_report(tmp_path: Path) -> None:
    doc = grype_report([_upstreams(grype_match("CVE-2026-0001", "libssl3"), 7)])
    with pytest.raises(ScannerError, match="upstreams"):
        parse_report(write(tmp_path, doc))


def test_the_db_build_time_is_read_from_the_report(tmp_path: Path) -> None:
    report = parse_report(write(tmp_path, grype_report([])))
    assert report.db_built and report.db_source == "grype report (descriptor.db)"
