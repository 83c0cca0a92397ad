"""The Trivy edge: the command it runs, the report it reads, and every way a run can fail.

Faults are injected with stub ``trivy`` executables on PATH (tests/support/stubs.py): real
processes that exit, crash, hang or write broken reports. Parsing is tested on report
files shaped like Trivy 0.76's ``--format json`` output.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from gate.errors import ScannerError
from gate.model import ScanTarget, Severity
from gate.scanners.interface import Scanner
from gate.scanners.trivy import DEFAULT_SCANNERS, Trivy, db_updated_at, parse_report
from tests.support.stubs import GO_PANIC, Stub, StubBin, process_alive

DIGEST = "sha256:" + "ab" * 32
REGISTRY_TARGET = ScanTarget("registry", f"127.0.0.1:5000/app@{DIGEST}")


def vuln(
    vid: str = "CVE-2026-0001",
    package: str = "libssl3",
    installed: str = "3.0.11-1~deb12u2",
    severity: str = "HIGH",
    fixed: str | None = "3.0.15-1~deb12u1",
    **extra: Any,
) -> dict[str, Any]:
    """One ``Results[].Vulnerabilities[]`` entry with the fields Trivy 0.76 writes."""
    entry: dict[str, Any] = {
        "VulnerabilityID": vid,
        "PkgID": f"{package}@{installed}",
        "PkgName": package,
        "PkgIdentifier": {"PURL": f"pkg:deb/debian/{package}@{installed}?arch=amd64"},
        "InstalledVersion": installed,
        "Status": "fixed" if fixed else "affected",
        "Layer": {"Digest": DIGEST, "DiffID": DIGEST},
        "SeveritySource": "debian",
        "PrimaryURL": f"https://avd.aquasec.com/nvd/{vid.lower()}",
        "DataSource": {"ID": "debian", "Name": "Debian Security Tracker"},
        "Title": f"{package}: test vulnerability",
        "Description": "A long description the gate never reads.",
        "Severity": severity,
        "VendorSeverity": {"debian": 3},
        "CVSS": {"nvd": {"V3Vector": "CVSS:3.1/AV:N", "V3Score": 7.5}},
        "References": ["https://example.org/advisory"],
    }
    if fixed is not None:
        entry["FixedVersion"] = fixed
    entry.update(extra)
    return entry


def report(
    vulns: list[dict[str, Any]] | None = None,
    secrets: list[dict[str, Any]] | None = None,
    *,
    family: str | None = "debian",
    **top: Any,
) -> dict[str, Any]:
    """A Trivy SchemaVersion 2 image report (keys in Trivy's own order)."""
    metadata: dict[str, Any] = {
        "ImageID": "sha256:" + "cd" * 32,
        "RepoDigests": [f"127.0.0.1:5000/app@{DIGEST}"],
        "ImageConfig": {"architecture": "amd64", "config": {"User": "app"}},
    }
    if family is not None:
        metadata["OS"] = {"Family": family, "Name": "12.5"}
    results: list[dict[str, Any]] = [
        {
            "Target": "127.0.0.1:5000/app (debian 12.5)",
            "Class": "os-pkgs",
            "Type": "debian",
            "Packages": [{"Name": "libssl3", "Version": "3.0.11-1~deb12u2"}],
            "Vulnerabilities": vulns if vulns is not None else [vuln()],
        }
    ]
    if secrets:
        results.append({"Target": "/app/config/deploy.env", "Class": "secret", "Secrets": secrets})
    doc: dict[str, Any] = {
        "SchemaVersion": 2,
        "Trivy": {"Version": "0.76.0"},
        "ReportID": "0193",
        "CreatedAt": "2026-11-01T00:00:00Z",
        "ArtifactName": f"127.0.0.1:5000/app@{DIGEST}",
        "ArtifactType": "container_image",
        "Metadata": metadata,
        "Results": results,
    }
    doc.update(top)
    return doc


AWS_SECRET = {
    "RuleID": "aws-access-key-id",
    "Category": "AWS",
    "Severity": "CRITICAL",
    "Title": "AWS Access Key ID",
    "StartLine": 2,
    "EndLine": 2,
    "Match": "AWS_ACCESS_KEY_ID=********************",
}


def write(tmp_path: Path, doc: Any, name: str = "trivy.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=2))
    return path


# --------------------------------------------------------------------------- parsing


def test_trivy_implements_the_scanner_interface() -> None:
    scanner: Scanner = Trivy()
    assert scanner.name == "trivy"


def test_a_report_is_read_into_the_gates_model(tmp_path: Path) -> None:
    doc = report(
        [
            vuln(VendorIDs=["DSA-5678-1", "CVE-2026-0001"]),
            vuln("CVE-2026-0003", "curl", "7.88.1-10+deb12u5", "MEDIUM", fixed=None),
        ],
        [AWS_SECRET],
    )
    parsed = parse_report(write(tmp_path, doc))

    assert parsed.scanner == "trivy"
    assert parsed.version == "0.76.0"
    assert parsed.artifact == f"127.0.0.1:5000/app@{DIGEST}"
    assert parsed.digests == (f"127.0.0.1:5000/app@{DIGEST}",)
    assert parsed.os == "debian 12.5"
    assert parsed.image_config == {"architecture": "amd64", "config": {"User": "app"}}
    openssl, curl = parsed.vulnerabilities
    assert openssl.id == "CVE-2026-0001"
    assert openssl.aliases == frozenset({"DSA-5678-1"})
    assert openssl.package == "libssl3"
    assert openssl.installed == "3.0.11-1~deb12u2"
    assert openssl.fixed == ("3.0.15-1~deb12u1",)
    assert openssl.severity is Severity.HIGH
    assert openssl.status == "fixed"
    assert openssl.url == "https://avd.aquasec.com/nvd/cve-2026-0001"
    assert openssl.purl == "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64"
    assert openssl.title == "libssl3: test vulnerability"
    assert openssl.target == "127.0.0.1:5000/app (debian 12.5)"
    assert openssl.found_by == frozenset({"trivy"})
    assert curl.fixed == () and not curl.has_fix and curl.status == "affected"
    (secret,) = parsed.secrets
    assert secret.rule_id == "aws-access-key-id"
    assert secret.severity is Severity.CRITICAL
    assert secret.target == "/app/config/deploy.env"
    assert secret.line == 2
    assert secret.category == "AWS"
    assert secret.title == "AWS Access Key ID"


def test_several_fixed_versions_are_split_on_commas(tmp_path: Path) -> None:
    doc = report([vuln(fixed="1.2.3-1, 1.3.0-2,2.0.0")])
    (finding,) = parse_report(write(tmp_path, doc)).vulnerabilities
    assert finding.fixed == ("1.2.3-1", "1.3.0-2", "2.0.0")


def test_an_unrecognised_severity_is_unknown_never_dropped(tmp_path: Path) -> None:
    doc = report([vuln(severity="SEVERE"), vuln("CVE-2026-0009")])
    del doc["Results"][0]["Vulnerabilities"][1]["Severity"]
    first, second = parse_report(write(tmp_path, doc)).vulnerabilities
    assert first.severity is Severity.UNKNOWN and second.severity is Severity.UNKNOWN


def test_no_os_detected_is_not_an_error_but_has_no_os(tmp_path: Path) -> None:
    none_family = parse_report(write(tmp_path, report([], family="none"), "a.json"))
    no_os = parse_report(write(tmp_path, report([], family=None), "b.json"))
    assert none_family.os is None and no_os.os is None
    assert none_family.vulnerabilities == ()


def test_a_report_without_results_has_no_findings(tmp_path: Path) -> None:
    doc = report()
    del doc["Results"]
    assert parse_report(write(tmp_path, doc)).vulnerabilities == ()


def test_a_repository_report_parses_without_image_metadata(tmp_path: Path) -> None:
    doc = {
        "SchemaVersion": 2,
        "ArtifactName": "deploy",
        "ArtifactType": "repository",
        "Results": [{"Target": "deploy.sh", "Class": "secret", "Secrets": [AWS_SECRET]}],
    }
    parsed = parse_report(write(tmp_path, doc))
    assert parsed.os is None and parsed.digests == () and parsed.image_config is None
    assert parsed.version == ""
    assert [s.target for s in parsed.secrets] == ["deploy.sh"]


def test_findings_before_their_target_in_the_file_still_get_it(tmp_path: Path) -> None:
    doc = report([vuln(), vuln("CVE-2026-0002", "zlib1g")], [AWS_SECRET])
    for result in doc["Results"]:
        target = result.pop("Target")
        result["Target"] = target  # now the last key of each result
    parsed = parse_report(write(tmp_path, doc))
    assert {v.target for v in parsed.vulnerabilities} == {"127.0.0.1:5000/app (debian 12.5)"}
    assert parsed.secrets[0].target == "/app/config/deploy.env"


def test_findings_in_several_results_keep_their_own_targets(tmp_path: Path) -> None:
    doc = report([vuln()])
    doc["Results"].append(
        {
            "Target": "app/requirements.txt",
            "Class": "lang-pkgs",
            "Type": "pip",
            "Vulnerabilities": [vuln("GHSA-xxxx-yyyy-zzzz", "requests", "2.0.0", "MEDIUM")],
        }
    )
    parsed = parse_report(write(tmp_path, doc))
    assert [(v.id, v.target) for v in parsed.vulnerabilities] == [
        ("CVE-2026-0001", "127.0.0.1:5000/app (debian 12.5)"),
        ("GHSA-xxxx-yyyy-zzzz", "app/requirements.txt"),
    ]


@pytest.mark.parametrize(
    ("version", "shown"),
    [(1, "1"), (3, "3"), ("2", "'2'"), (2.0, "2.0"), (True, "True"), (None, "missing")],
)
def test_any_schema_version_but_2_is_refused(tmp_path: Path, version: Any, shown: str) -> None:
    doc = report()
    if version is None:
        del doc["SchemaVersion"]
    else:
        doc["SchemaVersion"] = version
    with pytest.raises(ScannerError) as caught:
        parse_report(write(tmp_path, doc))
    assert str(caught.value).startswith(f"trivy report has SchemaVersion {shown}; ")


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.update(Results={}), "`Results` is not an array"),
        (lambda d: d.update(Results=[5]), "`Results[0]` is not an object"),
        (lambda d: d["Results"][0].update(Vulnerabilities="x"), "Vulnerabilities` is not an array"),
        (lambda d: d["Results"][0]["Vulnerabilities"].append(7), "`Results[0].Vulnerabilities[1]`"),
        (lambda d: d["Results"][0]["Vulnerabilities"][0].pop("VulnerabilityID"), "VulnerabilityID"),
        (lambda d: d["Results"][0]["Vulnerabilities"][0].update(PkgName=""), "PkgName"),
        (lambda d: d["Results"][0]["Vulnerabilities"][0].update(Severity=4), ".Severity` is"),
        (lambda d: d["Results"][0]["Vulnerabilities"][0].update(FixedVersion=[]), "FixedVersion"),
        (lambda d: d["Results"][0]["Vulnerabilities"][0].update(VendorIDs=[1]), "VendorIDs"),
        (lambda d: d["Results"][0]["Vulnerabilities"][0].update(PkgIdentifier="p"), "PkgIdent"),
        (lambda d: d["Results"][0].update(Target=["t"]), "Target` is not a string"),
        (lambda d: d.update(Metadata=[]), "`Metadata` is not an object"),
        (lambda d: d["Metadata"].update(RepoDigests="x"), "RepoDigests"),
        (lambda d: d["Metadata"].update(OS="debian"), "`Metadata.OS` is not an object"),
        (lambda d: d.update(Trivy={"Version": 76}), "`Trivy.Version` is not a string"),
        (lambda d: d.update(ArtifactName=7), "`ArtifactName` is not a string"),
        (lambda d: d["Results"].append({"Secrets": [{"Title": "x"}]}), "`Results[1].Secrets[0]`"),
        (lambda d: d["Results"].append({"Secrets": [dict(AWS_SECRET, StartLine="2")]}), "Start"),
    ],
)
def test_an_unexpected_schema_refuses_the_whole_report(
    tmp_path: Path, mutate: Any, fragment: str
) -> None:
    doc = report()
    mutate(doc)
    with pytest.raises(ScannerError) as caught:
        parse_report(write(tmp_path, doc))
    assert str(caught.value).startswith("trivy report is malformed: ")
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "trivy report is empty"),
        (b"  \n", "trivy report is empty"),
        (b"\x00\x01garbage", "trivy report is not a JSON object"),
        (b"[]", "trivy report is not a JSON object"),
        (b'{"SchemaVersion": 2, "Results": [', "trivy report is not valid JSON (parse error"),
        (b'{"SchemaVersion": 2} {"x": 1}', "trivy report is not valid JSON (parse error"),
        (b'{"SchemaVersion": 2, "Title": "\xff"}', "trivy report is not valid JSON"),
    ],
)
def test_unreadable_reports_are_refused(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "trivy.json"
    path.write_bytes(content)
    with pytest.raises(ScannerError) as caught:
        parse_report(path)
    assert str(caught.value).startswith(fragment)


def test_a_report_truncated_anywhere_is_refused_never_shortened(tmp_path: Path) -> None:
    data = json.dumps(report([vuln(), vuln("CVE-2026-0002", "zlib1g")], [AWS_SECRET])).encode()
    path = tmp_path / "trivy.json"
    for cut in range(0, len(data) - 1, 7):
        path.write_bytes(data[:cut])
        with pytest.raises(ScannerError):
            parse_report(path)
    path.write_bytes(data)
    assert len(parse_report(path).vulnerabilities) == 2


def test_a_missing_report_file_is_a_scanner_error(tmp_path: Path) -> None:
    with pytest.raises(ScannerError) as caught:
        parse_report(tmp_path / "absent.json")
    assert str(caught.value).startswith("cannot read trivy report ")


# --------------------------------------------------------------------------- the command


def _argv_of(stubs: StubBin, tmp_path: Path, scanner: Trivy, target: ScanTarget) -> list[str]:
    argv_file = tmp_path / "argv.json"
    stubs.install("trivy", Stub(report=json.dumps(report()), argv_file=argv_file))
    scanner.scan(target, timeout=60)
    argv: list[str] = json.loads(argv_file.read_text())
    return argv


def test_a_registry_image_is_scanned_remotely_by_digest(stubs: StubBin, tmp_path: Path) -> None:
    argv = _argv_of(stubs, tmp_path, Trivy(), REGISTRY_TARGET)
    assert argv[:3] == ["image", "--format", "json"]
    assert argv[argv.index("--image-src") + 1] == "remote"
    assert argv[-1] == f"127.0.0.1:5000/app@{DIGEST}"
    assert argv[argv.index("--scanners") + 1] == "secret,vuln"
    assert argv[argv.index("--timeout") + 1] == "60s"
    assert "--list-all-pkgs=true" in argv
    assert "--insecure" not in argv
    assert "--exit-code" not in argv


def test_concurrent_runs_share_no_locked_scan_cache_by_default(
    stubs: StubBin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRIVY_CACHE_BACKEND", raising=False)
    argv = _argv_of(stubs, tmp_path, Trivy(), REGISTRY_TARGET)
    assert argv[argv.index("--cache-backend") + 1] == "memory"


def test_a_cache_backend_the_user_chose_is_kept(stubs: StubBin, tmp_path: Path) -> None:
    argv = _argv_of(stubs, tmp_path, Trivy(env={"TRIVY_CACHE_BACKEND": "fs"}), REGISTRY_TARGET)
    assert "--cache-backend" not in argv


def test_an_insecure_registry_gets_plain_http(stubs: StubBin, tmp_path: Path) -> None:
    target = ScanTarget("registry", f"registry.internal:5000/app@{DIGEST}", insecure=True)
    argv = _argv_of(stubs, tmp_path, Trivy(), target)
    assert "--insecure" in argv
    assert argv[-1] == f"registry.internal:5000/app@{DIGEST}"


@pytest.mark.parametrize("kind", ["oci", "docker-archive"])
def test_local_images_are_scanned_through_input(stubs: StubBin, tmp_path: Path, kind: Any) -> None:
    argv = _argv_of(stubs, tmp_path, Trivy(), ScanTarget(kind, "/images/app"))
    assert argv[argv.index("--input") + 1] == "/images/app"
    assert "--image-src" not in argv


def test_only_the_scanners_the_policy_needs_are_run(stubs: StubBin, tmp_path: Path) -> None:
    argv = _argv_of(stubs, tmp_path, Trivy(scanners={"vuln"}), REGISTRY_TARGET)
    assert argv[argv.index("--scanners") + 1] == "vuln"
    assert {"vuln", "secret"} == DEFAULT_SCANNERS
    with pytest.raises(ValueError, match="scanners"):
        Trivy(scanners={"vuln", "sbom"})


def test_trivys_allowlisted_environment_passes_through(
    stubs: StubBin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "env.json"
    names = ("TRIVY_CACHE_DIR", "TRIVY_DB_REPOSITORY", "TRIVY_SKIP_DB_UPDATE")
    monkeypatch.setenv("TRIVY_CACHE_DIR", "/var/cache/trivy")
    monkeypatch.setenv("TRIVY_DB_REPOSITORY", "mirror.local/trivy-db:2")
    monkeypatch.setenv("TRIVY_SKIP_DB_UPDATE", "true")
    stubs.install("trivy", Stub(report=json.dumps(report()), env_file=env_file, env_names=names))
    Trivy().scan(REGISTRY_TARGET, timeout=60)
    assert json.loads(env_file.read_text()) == {
        "TRIVY_CACHE_DIR": "/var/cache/trivy",
        "TRIVY_DB_REPOSITORY": "mirror.local/trivy-db:2",
        "TRIVY_SKIP_DB_UPDATE": "true",
    }


def test_a_successful_scan_returns_the_parsed_report(stubs: StubBin) -> None:
    stubs.install("trivy", Stub(report=json.dumps(report([vuln()], [AWS_SECRET]))))
    parsed = Trivy().scan(REGISTRY_TARGET, timeout=60)
    assert [v.id for v in parsed.vulnerabilities] == ["CVE-2026-0001"]
    assert [s.rule_id for s in parsed.secrets] == ["aws-access-key-id"]


# --------------------------------------------------------------------------- scanner faults


def _scan_error(timeout: float = 60) -> ScannerError:
    with pytest.raises(ScannerError) as caught:
        Trivy().scan(REGISTRY_TARGET, timeout=timeout)
    return caught.value


def test_trivy_missing_from_path_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", StubBin(tmp_path).path_alone())
    error = _scan_error()
    assert str(error) == "trivy not found on PATH; install it or pass --trivy-report FILE"


def test_a_fatal_error_exit_1_is_an_error_with_trivys_stderr(stubs: StubBin) -> None:
    fatal = "2026-11-01T00:00:00Z\tFATAL\tFatal error\trun error: image scan error\n"
    stubs.install("trivy", Stub(exit_code=1, stderr=fatal, report=json.dumps(report())))
    error = _scan_error()
    assert str(error) == "trivy exited with code 1"
    assert "run error: image scan error" in error.detail


def test_a_go_panic_exit_2_is_an_error_even_with_a_report(stubs: StubBin) -> None:
    stubs.install("trivy", Stub(exit_code=2, stderr=GO_PANIC, report=json.dumps(report())))
    error = _scan_error()
    assert str(error) == "trivy exited with code 2"
    assert "panic: runtime error" in error.detail


def test_trivy_killed_by_a_signal_is_an_error(stubs: StubBin) -> None:
    stubs.install("trivy", Stub(signal=signal.SIGKILL))
    assert str(_scan_error()) == "trivy was killed by SIGKILL"


def test_a_hang_past_the_timeout_kills_trivy_and_its_children(
    stubs: StubBin, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    stubs.install("trivy", Stub(sleep=300, child_pid_file=pid_file))
    started = time.monotonic()
    error = _scan_error(timeout=1)
    assert str(error) == "trivy timed out after 1s; its process group was killed"
    assert time.monotonic() - started < 10
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while process_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(child)


def test_exit_0_without_a_report_file_is_an_error(stubs: StubBin) -> None:
    stubs.install("trivy", Stub(stderr="WARN\tsomething odd\n"))
    error = _scan_error()
    assert str(error) == "trivy exited 0 but wrote no report file"
    assert "something odd" in error.detail


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "trivy report is empty"),
        (b"panic: this is not json", "trivy report is not a JSON object"),
        (json.dumps(report()).encode()[:-40], "trivy report is not valid JSON"),
        (json.dumps(report(SchemaVersion=1)).encode(), "trivy report has SchemaVersion 1"),
    ],
    ids=["empty", "garbage", "truncated", "schema-1"],
)
def test_exit_0_with_an_unusable_report_is_an_error_with_stderr(
    stubs: StubBin, content: bytes, message: str
) -> None:
    stubs.install("trivy", Stub(report=content, stderr="INFO\tlast words from trivy\n"))
    error = _scan_error()
    assert str(error).startswith(message)
    assert "last words from trivy" in error.detail


def test_fifty_megabytes_of_stderr_give_a_bounded_message(stubs: StubBin) -> None:
    stubs.install("trivy", Stub(exit_code=1, stderr_mb=50))
    error = _scan_error(timeout=120)
    assert str(error) == "trivy exited with code 1"
    assert error.detail.endswith("the last stderr line\n")
    assert len(error.detail) < 9000


# --------------------------------------------------------------------------- source packages


def _with_packages(doc: dict[str, Any], packages: list[dict[str, Any]], *, first: bool) -> None:
    result = doc["Results"][0]
    vulns = result.pop("Vulnerabilities")
    result.pop("Packages")
    if first:
        result.update(Packages=packages, Vulnerabilities=vulns)
    else:
        result.update(Vulnerabilities=vulns, Packages=packages)


@pytest.mark.parametrize("packages_first", [True, False], ids=["trivy-order", "reversed"])
def test_a_findings_source_package_is_read_from_packages_by_uid(
    tmp_path: Path, packages_first: bool
) -> None:
    """Trivy 0.76 writes no SrcName on a finding: its package's ``Packages[]`` entry has it."""
    libssl = vuln(PkgIdentifier={"PURL": "pkg:deb/debian/libssl3", "UID": "u1"})
    curl = vuln("CVE-2026-0003", "curl", PkgIdentifier={"UID": "u2"})
    doc = report([libssl, curl])
    packages = [
        {"Name": "libssl3", "SrcName": "openssl", "Identifier": {"UID": "u1"}},
        {"Name": "curl", "SrcName": "curl", "Identifier": {"UID": "u2"}},
    ]
    _with_packages(doc, packages, first=packages_first)
    found = {
        v.package: v.source_packages for v in parse_report(write(tmp_path, doc)).vulnerabilities
    }
    assert found == {"libssl3": frozenset({"openssl"}), "curl": frozenset()}


def test_a_uid_listed_again_later_gives_earlier_findings_the_last_source(tmp_path: Path) -> None:
    """Findings are built with the source known when they are read; a ``Packages[]`` entry
    that comes later (another result's) still decides, as the last one for its UID."""
    doc = report([vuln(PkgIdentifier={"UID": "u1"})])
    _with_packages(
        doc, [{"Name": "libssl3", "SrcName": "openssl", "Identifier": {"UID": "u1"}}], first=True
    )
    later = [{"Name": "libssl3", "SrcName": "openssl3", "Identifier": {"UID": "u1"}}]
    doc["Results"].append({"Target": "again", "Packages": later})
    [finding] = parse_report(write(tmp_path, doc)).vulnerabilities
    assert finding.source_packages == frozenset({"openssl3"})


def test_a_report_without_packages_has_no_source_packages(tmp_path: Path) -> None:
    doc = report([vuln(PkgIdentifier={"UID": "u1"})])
    del doc["Results"][0]["Packages"]
    [finding] = parse_report(write(tmp_path, doc)).vulnerabilities
    assert finding.source_packages == frozenset()


def test_a_package_entry_of_the_wrong_shape_refuses_the_report(tmp_path: Path) -> None:
    doc = report()
    doc["Results"][0]["Packages"] = [{"Name": "libssl3", "SrcName": 7}]
    with pytest.raises(ScannerError, match="SrcName"):
        parse_report(write(tmp_path, doc))


def test_the_db_age_is_what_trivy_version_reports() -> None:
    text = json.dumps(
        {"Version": "0.76.0", "VulnerabilityDB": {"UpdatedAt": "2026-11-01T00:00:00Z"}}
    )
    assert db_updated_at(text) == "2026-11-01T00:00:00Z"
    assert db_updated_at('{"Version": "0.76.0"}') is None  # no DB downloaded
    assert db_updated_at("not json") is None


def test_a_live_scan_reads_the_db_age_from_the_cache_directory_trivy_reads(
    stubs: StubBin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "metadata.json").write_text('{"UpdatedAt": "2026-10-01T00:00:00Z"}')
    monkeypatch.setenv("TRIVY_CACHE_DIR", str(tmp_path))
    version = json.dumps({"VulnerabilityDB": {"UpdatedAt": "2026-11-01T00:00:00Z"}})
    stubs.install("trivy", Stub(report=json.dumps(report()), version=version))
    scanned = Trivy().scan(REGISTRY_TARGET, timeout=60)
    assert (scanned.db_built, scanned.db_source) == (
        "2026-10-01T00:00:00Z",
        "Trivy's DB metadata (db/metadata.json)",
    )


def test_without_a_known_cache_directory_the_db_age_is_asked_of_trivy_once(
    stubs: StubBin, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TRIVY_CACHE_DIR", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(name, raising=False)
    version = json.dumps({"VulnerabilityDB": {"UpdatedAt": "2026-11-01T00:00:00Z"}})
    stubs.install("trivy", Stub(report=json.dumps(report()), version=version))
    trivy = Trivy()
    first = trivy.scan(REGISTRY_TARGET, timeout=60)
    stubs.install("trivy", Stub(report=json.dumps(report()), version="{}"))
    second = trivy.scan(REGISTRY_TARGET, timeout=60)
    assert (first.db_built, first.db_source) == (
        "2026-11-01T00:00:00Z",
        "trivy version (VulnerabilityDB.UpdatedAt)",
    )
    assert second.db_built == first.db_built  # one DB per scanner: not asked again


def test_a_saved_report_has_no_db_age(tmp_path: Path) -> None:
    saved = parse_report(write(tmp_path, report()))
    assert (saved.db_built, saved.db_source) == (None, "")
