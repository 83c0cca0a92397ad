"""Fault matrix, scanners: every way a scanner can fail ends in exit 2 (or a real verdict).

The image is a real one, pushed once per module to the loopback ``registry``; the scanners
are stub executables (real processes, ``tests/support/stubs.py``) first and alone on
``PATH``, so each row injects exactly one fault. A stub's report names the pushed digest,
as the real scanner's would. The control rows show that the same stubs, well behaved, let
the gate pass: the fault, not the harness, is what fails each row.

Faults the real Grype produces itself (no vulnerability DB, a DB that fails its checksum)
are rows with the real Grype (``grype_env``) rather than a stub; its control rows show the
real Grype reaching the image's own verdict.
"""

from __future__ import annotations

import base64
import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import (
    Outcome,
    Row,
    base_env,
    check_row,
    read_report,
    run_cli,
    run_measured,
    write_policy,
)
from tests.support.grype import grype_match, grype_report
from tests.support.oci import build_image, layer, push
from tests.support.registry import RunningRegistry
from tests.support.rootfs import debian_rootfs
from tests.support.stubs import GO_PANIC, Stub, StubBin, process_alive
from tests.unit.scanners.test_scanner_trivy import report as trivy_report
from tests.unit.scanners.test_scanner_trivy import vuln

REPO = "faults/scanners"
IMAGE = build_image([layer({"app/server.py": b"print('hi')\n"})], user="1000")
OTHER = build_image([layer({"app/other.py": b"print('other')\n"})], user="1000")


@dataclass(frozen=True)
class Pushed:
    """The image as the registry holds it: what the gate is asked for, what it judges."""

    reference: str
    repository: str
    digest: str
    config: str


@pytest.fixture(scope="module")
def pushed(registry: RunningRegistry) -> Pushed:
    digest = push(registry.host, REPO, IMAGE, "v1")
    return Pushed(
        f"{registry.host}/{REPO}:v1", f"{registry.host}/{REPO}", digest, IMAGE.config_digest
    )


@dataclass(frozen=True)
class Scanner:
    name: str
    policy: str
    clean: Callable[[Pushed], str]
    vulnerable: Callable[[Pushed], str]


def _trivy(image: Pushed, vulns: list[dict[str, Any]]) -> str:
    doc = trivy_report(vulns)
    doc["ArtifactName"] = f"{image.repository}@{image.digest}"
    doc["Metadata"]["RepoDigests"] = [f"{image.repository}@{image.digest}"]
    doc["Metadata"]["ImageID"] = image.config
    return json.dumps(doc)


def _grype(image: Pushed, matches: list[dict[str, Any]]) -> str:
    named = f"{image.repository}@{image.digest}"
    doc = grype_report(matches, user_input=named, repo_digests=(named,))
    doc["source"]["target"]["manifestDigest"] = image.digest
    doc["source"]["target"]["imageID"] = image.config
    return json.dumps(doc)


SCANNERS = {
    "trivy": Scanner(
        "trivy",
        "vulnerabilities:\n  fail_on: high\n",
        lambda image: _trivy(image, []),
        lambda image: _trivy(image, [vuln("CVE-2026-0002", "zlib", severity="CRITICAL")]),
    ),
    "grype": Scanner(
        "grype",
        "vulnerabilities:\n  fail_on: high\n  scanners: [grype]\n",
        lambda image: _grype(image, []),
        lambda image: _grype(image, [grype_match("CVE-2026-0002", "zlib", "1.2", "Critical")]),
    ),
}


def gate(
    tmp_path: Path, pushed: Pushed, scanner: Scanner, stub: Stub | None, *extra: str
) -> Outcome:
    """Run the gate with ``stub`` as the only program on PATH (None: nothing installed)."""
    bin_dir = StubBin(tmp_path)
    if stub is not None:
        bin_dir.install(scanner.name, stub)
    policy = write_policy(tmp_path, scanner.policy)
    env = base_env(bin_dir.path_alone(), tmp_path)
    return run_cli("check", pushed.reference, "--policy", policy, *extra, env=env)


@pytest.mark.parametrize("name", sorted(SCANNERS))
@pytest.mark.parametrize(
    ("vulnerable", "code", "verdict", "fragment"),
    [(False, 0, "PASS", ""), (True, 1, "FAIL", "CVE-2026-0002")],
    ids=["clean image passes", "vulnerable image fails"],
)
def test_control_a_well_behaved_stub_reaches_the_image_s_own_verdict(
    name: str,
    vulnerable: bool,
    code: int,
    verdict: str,
    fragment: str,
    pushed: Pushed,
    tmp_path: Path,
) -> None:
    scanner = SCANNERS[name]
    report = scanner.vulnerable(pushed) if vulnerable else scanner.clean(pushed)
    outcome = gate(tmp_path, pushed, scanner, Stub(report=report))
    assert outcome.code == code, outcome.output
    assert outcome.stdout.startswith(f"{verdict}  {pushed.repository}@{pushed.digest}")
    assert fragment in outcome.output
    assert "Traceback" not in outcome.output and "internal error" not in outcome.output


# --------------------------------------------------------------------------- the matrix

TRUNCATE = 0.6
"""Where a truncated report is cut: past the first finding's start, before the end."""

Make = Callable[[Scanner, Pushed], "Stub | None"]


def _truncated(scanner: Scanner, image: Pushed) -> Stub:
    report = scanner.vulnerable(image)
    return Stub(report=report[: int(len(report) * TRUNCATE)])


def _wrong_types(scanner: Scanner, image: Pushed) -> Stub:
    report = scanner.clean(image)
    report = report.replace('"Vulnerabilities": []', '"Vulnerabilities": {"CVE-1": 1}')
    return Stub(report=report.replace('"matches": []', '"matches": {"CVE-1": 1}'))


def _another_image(scanner: Scanner, image: Pushed) -> Stub:
    other = Pushed(image.reference, image.repository, OTHER.digest, OTHER.config_digest)
    return Stub(report=scanner.clean(other))


FAULTS: list[tuple[Row, Make]] = [
    (Row("missing binary", 2, "not found on PATH; install it or pass --"), lambda s, i: None),
    (
        Row("crash: exit code 1", 2, "exited with code 1"),
        lambda s, i: Stub(exit_code=1, stderr="FATAL\tinit error: DB error: database is corrupt\n"),
    ),
    (
        Row("crash: Go panic, exit code 2", 2, "panic: runtime error: invalid memory address"),
        lambda s, i: Stub(exit_code=2, stderr=GO_PANIC),
    ),
    (
        Row("killed by a signal", 2, "was killed by SIGSEGV"),
        lambda s, i: Stub(signal=signal.SIGSEGV),
    ),
    (
        Row("garbage report", 2, "report is not a JSON object"),
        lambda s, i: Stub(report=b"<html><body>502 Bad Gateway</body></html>"),
    ),
    (Row("truncated report", 2, "report is not valid JSON"), _truncated),
    (Row("empty report", 2, "report is empty"), lambda s, i: Stub(report=b"")),
    (Row("whitespace report", 2, "report is empty"), lambda s, i: Stub(report=b"  \n\t\n")),
    (
        Row("exit 0 but no report file", 2, "exited 0 but wrote no report file"),
        lambda s, i: Stub(),
    ),
    (
        Row("two JSON documents", 2, "report is not valid JSON"),
        lambda s, i: Stub(report=s.clean(i) + s.clean(i)),
    ),
    (
        Row("a JSON array, not an object", 2, "report is not a JSON object"),
        lambda s, i: Stub(report="[]"),
    ),
    (Row("findings of the wrong type", 2, "report is malformed"), _wrong_types),
    (Row("a report for another image", 2, "scanned the wrong image"), _another_image),
    (
        Row("stderr flood (50 MB) and a crash", 2, "the last stderr line"),
        lambda s, i: Stub(stderr_mb=50, exit_code=1),
    ),
]


def _with_source(doc: dict[str, Any], source: object) -> dict[str, Any]:
    """A Trivy report whose package names its source package as ``source``."""
    doc["Results"][0]["Packages"] = [{"Name": "libssl3", "SrcName": source}]
    return doc


def _upstream(name: object) -> dict[str, Any]:
    """A Grype artifact whose upstream (source package) is ``{"name": name}``."""
    artifact: dict[str, Any] = grype_match("CVE-2026-0001")["artifact"]
    return {**artifact, "upstreams": [{"name": name}, name]}


SCHEMA_FAULTS: list[tuple[str, Row, str]] = [
    (
        "trivy",
        Row("SchemaVersion 1", 2, "trivy report has SchemaVersion 1"),
        json.dumps({"SchemaVersion": 1, "ArtifactName": "x", "Results": []}),
    ),
    (
        "trivy",
        Row("no SchemaVersion", 2, "trivy report has SchemaVersion missing"),
        json.dumps({"ArtifactName": "x", "Results": []}),
    ),
    (
        "grype",
        Row("grype report without matches", 2, "grype report is malformed: no `matches` array"),
        json.dumps({k: v for k, v in grype_report([]).items() if k != "matches"}),
    ),
    (
        "grype",
        Row("a report not from Grype", 2, "`descriptor.name` is not grype"),
        json.dumps({"matches": [], "descriptor": {"name": "syft"}}),
    ),
    (
        "trivy",
        Row("a package's SrcName not a string", 2, "Packages[].SrcName` is not a string"),
        json.dumps(_with_source(trivy_report([vuln()]), 7)),
    ),
    (
        "grype",
        Row("an upstream not {name}", 2, "artifact.upstreams` holds an entry that is not"),
        json.dumps(grype_report([{**grype_match("CVE-2026-0001"), "artifact": _upstream(7)}])),
    ),
]


#: Stub rows whose fault the real tool produces: those are real-tool rows instead (below).
REAL_INSTEAD = {("grype", "crash: exit code 1")}
STUB_CASES = [
    (name, row, make)
    for name in sorted(SCANNERS)
    for row, make in FAULTS
    if (name, row.fault) not in REAL_INSTEAD
]


@pytest.mark.parametrize(
    ("name", "row", "make"), STUB_CASES, ids=[f"{n}: {r}" for n, r, _ in STUB_CASES]
)
def test_scanner_fault(name: str, row: Row, make: Make, pushed: Pushed, tmp_path: Path) -> None:
    scanner = SCANNERS[name]
    outcome = gate(tmp_path, pushed, scanner, make(scanner, pushed))
    check_row(outcome, row)
    assert outcome.stdout.startswith(f"ERROR  {pushed.repository}@{pushed.digest}")
    assert name in outcome.output


@pytest.mark.parametrize(
    ("name", "row", "report"), SCHEMA_FAULTS, ids=[f"{n}: {r}" for n, r, _ in SCHEMA_FAULTS]
)
def test_scanner_fault_unexpected_schema(
    name: str, row: Row, report: str, pushed: Pushed, tmp_path: Path
) -> None:
    check_row(gate(tmp_path, pushed, SCANNERS[name], Stub(report=report)), row)


def test_when_both_scanners_fail_both_failures_are_reported(pushed: Pushed, tmp_path: Path) -> None:
    bin_dir = StubBin(tmp_path)
    bin_dir.install("grype", Stub(exit_code=2, stderr="grype: database is corrupt"))
    policy = write_policy(tmp_path, "vulnerabilities:\n  scanners: [trivy, grype]\n")
    env = base_env(bin_dir.path_alone(), tmp_path)
    outcome = run_cli("check", pushed.reference, "--policy", policy, env=env)
    check_row(outcome, Row("both scanners fail", 2, "trivy not found on PATH"))
    assert "grype exited with code 2" in outcome.output
    assert "database is corrupt" in outcome.output


def test_stderr_flood_is_kept_as_a_bounded_tail(pushed: Pushed, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    bin_dir = StubBin(tmp_path)
    bin_dir.install("trivy", Stub(stderr_mb=50, exit_code=1))
    policy = write_policy(tmp_path, SCANNERS["trivy"].policy)
    args = ("check", pushed.reference, "--policy", policy, "--report-json", str(report))
    outcome = run_measured(*args, env=base_env(bin_dir.path_alone(), tmp_path))
    check_row(outcome, Row("stderr flood (50 MB)", 2, "the last stderr line"))
    assert len(outcome.output) < 16 * 1024
    (check,) = read_report(report)["checks"]
    assert check["status"] == "error"
    assert "earlier bytes not shown" in check["detail"]
    assert len(check["detail"]) < 16 * 1024
    assert outcome.max_rss_mib is not None and outcome.max_rss_mib < 200, outcome.max_rss_mib


def test_stderr_flood_from_a_working_scanner_still_reaches_a_verdict(
    pushed: Pushed, tmp_path: Path
) -> None:
    scanner = SCANNERS["trivy"]
    stub = Stub(report=scanner.vulnerable(pushed), stderr_mb=50)
    check_row(
        gate(tmp_path, pushed, scanner, stub), Row("stderr flood, exit 0", 1, "CVE-2026-0002")
    )


def test_hanging_scanners_are_killed_with_their_process_groups_and_leave_no_orphan(
    pushed: Pushed, tmp_path: Path
) -> None:
    """Both scanners hang at once (they run concurrently): each is killed at the timeout."""
    bin_dir = StubBin(tmp_path)
    pid_files = {name: tmp_path / f"{name}-child.pid" for name in SCANNERS}
    for name, scanner in SCANNERS.items():
        stub = Stub(report=scanner.clean(pushed), sleep=120, child_pid_file=pid_files[name])
        bin_dir.install(name, stub)
    policy = write_policy(tmp_path, "vulnerabilities:\n  scanners: [trivy, grype]\n")
    report = tmp_path / "report.json"
    args = ("check", pushed.reference, "--policy", policy, "--scanner-timeout", "2")
    env = base_env(bin_dir.path_alone(), tmp_path)
    outcome = run_cli(*args, "--report-json", str(report), env=env)
    fragment = "timed out after 2s; its process group was killed"
    check_row(outcome, Row("hang past the timeout", 2, fragment))
    timings = read_report(report)["timings"]
    assert 2 <= timings["scan_trivy"] < 4 and 2 <= timings["scan_grype"] < 4, timings
    deadline = time.monotonic() + 5
    for name, pid_file in pid_files.items():
        orphan = int(pid_file.read_text())
        while process_alive(orphan) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive(orphan), f"{name}'s helper {orphan} outlived the gate"


# --------------------------------------------------------------------------- real Grype

VULNERABLE = build_image(
    [layer(debian_rootfs([("zlib1g", "zlib", "1:1.2.13.dfsg-1")]))], user="1000"
)


@pytest.fixture(scope="module")
def vulnerable(registry: RunningRegistry) -> Pushed:
    digest = push(registry.host, REPO, VULNERABLE, "vulnerable")
    return Pushed(
        f"{registry.host}/{REPO}:vulnerable",
        f"{registry.host}/{REPO}",
        digest,
        VULNERABLE.config_digest,
    )


def real_grype(tmp_path: Path, image: Pushed, env: dict[str, str]) -> Outcome:
    """Run the gate with the real Grype (and nothing else the policy needs)."""
    policy = write_policy(tmp_path, SCANNERS["grype"].policy)
    return run_cli("check", image.reference, "--policy", policy, env=env)


@pytest.mark.parametrize(
    ("image", "code", "verdict", "fragment"),
    [("pushed", 0, "PASS", ""), ("vulnerable", 1, "FAIL", "CVE-2026-0002")],
    ids=["clean image passes", "vulnerable image fails"],
)
def test_control_real_grype_reaches_the_image_s_own_verdict(
    image: str,
    code: int,
    verdict: str,
    fragment: str,
    request: pytest.FixtureRequest,
    grype_env: dict[str, str],
    tmp_path: Path,
) -> None:
    pushed_image: Pushed = request.getfixturevalue(image)
    outcome = real_grype(tmp_path, pushed_image, grype_env)
    assert outcome.code == code, outcome.output
    assert outcome.stdout.startswith(f"{verdict}  {pushed_image.repository}@{pushed_image.digest}")
    assert fragment in outcome.output
    assert "Traceback" not in outcome.output and "internal error" not in outcome.output


def _db_without_its_checksum(grype_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A copy of the installed DB, one byte longer than its ``import.json`` digest says."""
    installed = Path(grype_env["GRYPE_DB_CACHE_DIR"]) / "6"
    copy = tmp_path / "db" / "6"
    copy.mkdir(parents=True)
    (copy / "vulnerability.db").write_bytes((installed / "vulnerability.db").read_bytes() + b"\0")
    (copy / "import.json").write_bytes((installed / "import.json").read_bytes())
    return {"GRYPE_DB_CACHE_DIR": str(copy.parent)}


REAL_GRYPE_FAULTS: list[tuple[Row, Callable[[dict[str, str], Path], dict[str, str]]]] = [
    (
        Row("grype: no vulnerability DB, updates off", 2, "database does not exist"),
        lambda env, tmp: {"GRYPE_DB_CACHE_DIR": str(tmp / "no-db")},
    ),
    (
        Row("grype: DB fails its checksum", 2, "bad db checksum"),
        _db_without_its_checksum,
    ),
]


@pytest.mark.parametrize(
    ("row", "change"), REAL_GRYPE_FAULTS, ids=[str(r) for r, _ in REAL_GRYPE_FAULTS]
)
def test_real_grype_fault(
    row: Row,
    change: Callable[[dict[str, str], Path], dict[str, str]],
    vulnerable: Pushed,
    grype_env: dict[str, str],
    tmp_path: Path,
) -> None:
    outcome = real_grype(tmp_path, vulnerable, {**grype_env, **change(grype_env, tmp_path)})
    check_row(outcome, row)
    assert outcome.stdout.startswith(f"ERROR  {vulnerable.repository}@{vulnerable.digest}")
    assert "grype exited with code 1" in outcome.output
    assert "\x1b[" not in outcome.output  # Grype's error lines arrive as plain text


NESTING = 10_000
"""A 20 KB report nested this deep: with ijson, the parser used before, its per-level prefix
strings made it cost ~260 MiB unguarded (memory grew with the square of the depth); json's
scanner refuses it at its recursion limit, before building it."""


@pytest.mark.parametrize("name", sorted(SCANNERS))
def test_deeply_nested_report_is_refused_in_small_memory(
    name: str, pushed: Pushed, tmp_path: Path
) -> None:
    key = {"trivy": '"SchemaVersion": 2, "Results"', "grype": '"matches"'}[name]
    report = "{" + key + ": [" + "[" * NESTING + "]" * NESTING + "]}"
    bin_dir = StubBin(tmp_path)
    bin_dir.install(name, Stub(report=report))
    policy = write_policy(tmp_path, SCANNERS[name].policy)
    env = base_env(bin_dir.path_alone(), tmp_path)
    outcome = run_measured("check", pushed.reference, "--policy", policy, env=env)
    check_row(outcome, Row("deeply nested report", 2, "nested deeper than 256 levels"))
    assert outcome.max_rss_mib is not None and outcome.max_rss_mib < 150, outcome.max_rss_mib


USER, PASSWORD = "ci-bot", "s3cret-never-printed"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@pytest.mark.parametrize("name", sorted(SCANNERS))
def test_a_scanner_that_echoes_the_credentials_never_shows_them(
    name: str, pushed: Pushed, tmp_path: Path
) -> None:
    """The gate forwards its credentials to the scanner; a scanner that prints them back
    (a registry's error quoted on stderr) has them masked in every form, before the
    stderr tail is cut, however long the line is."""
    echo = f"GET https://{USER}:{PASSWORD}@r.example/v2/: DENIED: Basic {BASIC} ({PASSWORD})"
    stub = Stub(exit_code=1, stderr=("x" * 8000 + echo + "\n") * 3)
    bin_dir = StubBin(tmp_path)
    bin_dir.install(name, stub)
    env = base_env(bin_dir.path_alone(), tmp_path)
    env |= {"REGISTRY_USERNAME": USER, "REGISTRY_PASSWORD": PASSWORD}
    policy = write_policy(tmp_path, SCANNERS[name].policy)
    outcome = run_cli("check", pushed.reference, "--policy", policy, env=env)
    check_row(outcome, Row("stderr echoing the credentials", 2, "DENIED: Basic ***"))
    assert PASSWORD not in outcome.output
    assert not [
        BASIC[i : i + 8] for i in range(len(BASIC) - 7) if BASIC[i : i + 8] in outcome.output
    ]
