"""Running Grype: the command line, its environment, and failing closed on every fault.

No Grype binary can be installed here, so each test puts a stub ``grype`` executable (a
real process, see tests/support/stubs.py) first on PATH that writes realistic Grype JSON
and then exits, crashes, hangs or writes garbage on cue.
"""

from __future__ import annotations

import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gate.errors import ScannerError
from gate.model import ScanTarget, Severity
from gate.scanners.grype import Grype
from tests.support.grype import DIGEST, REPO, grype_match, grype_report
from tests.support.stubs import GO_PANIC, Stub, StubBin, process_alive

REGISTRY_TARGET = ScanTarget("registry", f"{REPO}@{DIGEST}", insecure=True)
REPORT = json.dumps(
    grype_report(
        [
            grype_match("GHSA-9v9h-cgj8-h64p", related=("CVE-2024-0727",), fixed=("3.0.13-1",)),
            grype_match("CVE-2023-5678", severity="Negligible"),
        ],
        user="1001",
    )
)


def grype_with(tmp_path: Path, stub: Stub) -> Grype:
    bin_dir = StubBin(tmp_path)
    bin_dir.install("grype", stub)
    return Grype(env={"PATH": bin_dir.path_with_system()})


def failure(
    grype: Grype, target: ScanTarget = REGISTRY_TARGET, timeout: float = 30
) -> ScannerError:
    with pytest.raises(ScannerError) as info:
        grype.scan(target, timeout=timeout)
    return info.value


# --------------------------------------------------------------------------- success


def test_a_successful_scan_is_parsed_from_the_report_file(tmp_path: Path) -> None:
    report = grype_with(tmp_path, Stub(report=REPORT)).scan(REGISTRY_TARGET, timeout=30)
    assert report.scanner == "grype"
    assert [(v.id, v.severity) for v in report.vulnerabilities] == [
        ("GHSA-9v9h-cgj8-h64p", Severity.HIGH),
        ("CVE-2023-5678", Severity.LOW),
    ]
    assert report.vulnerabilities[0].aliases == {"CVE-2024-0727"}
    assert report.image_config is not None and report.image_config["config"]["User"] == "1001"


def test_registry_scan_names_the_digest_and_never_uses_fail_on(tmp_path: Path) -> None:
    argv_file = tmp_path / "argv.json"
    grype_with(tmp_path, Stub(report=REPORT, argv_file=argv_file)).scan(
        ScanTarget("registry", f"{REPO}@{DIGEST}"), timeout=30
    )
    argv = json.loads(argv_file.read_text())
    assert argv[:3] == [f"registry:{REPO}@{DIGEST}", "-o", "json"]
    assert argv[3] == "--file" and argv[4].endswith(".json")
    assert not any(a.startswith("--fail-on") or a == "-f" for a in argv)


@pytest.mark.parametrize(
    ("kind", "location", "source"),
    [
        ("oci", "/work/layout", "oci-dir:/work/layout"),
        ("docker-archive", "/work/app.tar", "docker-archive:/work/app.tar"),
    ],
)
def test_local_images_use_grypes_explicit_source_schemes(
    tmp_path: Path, kind: str, location: str, source: str
) -> None:
    argv_file = tmp_path / "argv.json"
    target = ScanTarget(kind, location)  # type: ignore[arg-type]
    grype_with(tmp_path, Stub(report=REPORT, argv_file=argv_file)).scan(target, timeout=30)
    assert json.loads(argv_file.read_text())[0] == source


def test_insecure_registry_gets_plain_http_through_grypes_env(tmp_path: Path) -> None:
    env_file = tmp_path / "env.json"
    names = ("GRYPE_REGISTRY_INSECURE_USE_HTTP",)
    stub = Stub(report=REPORT, env_file=env_file, env_names=names)
    grype_with(tmp_path, stub).scan(REGISTRY_TARGET, timeout=30)
    assert json.loads(env_file.read_text()) == {"GRYPE_REGISTRY_INSECURE_USE_HTTP": "true"}


def test_secure_registry_does_not_get_plain_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRYPE_REGISTRY_INSECURE_USE_HTTP", raising=False)
    env_file = tmp_path / "env.json"
    stub = Stub(report=REPORT, env_file=env_file, env_names=("GRYPE_REGISTRY_INSECURE_USE_HTTP",))
    grype_with(tmp_path, stub).scan(ScanTarget("registry", f"{REPO}@{DIGEST}"), timeout=30)
    assert json.loads(env_file.read_text()) == {"GRYPE_REGISTRY_INSECURE_USE_HTTP": None}


def test_grype_environment_passes_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRYPE_DB_AUTO_UPDATE", "false")
    monkeypatch.setenv("GRYPE_DB_CACHE_DIR", str(tmp_path / "db"))
    env_file = tmp_path / "env.json"
    names = ("GRYPE_DB_AUTO_UPDATE", "GRYPE_DB_CACHE_DIR")
    stub = Stub(report=REPORT, env_file=env_file, env_names=names)
    grype_with(tmp_path, stub).scan(REGISTRY_TARGET, timeout=30)
    assert json.loads(env_file.read_text()) == {
        "GRYPE_DB_AUTO_UPDATE": "false",
        "GRYPE_DB_CACHE_DIR": str(tmp_path / "db"),
    }


# --------------------------------------------------------------------------- faults


def test_grype_missing_from_path_is_a_scanner_error(tmp_path: Path) -> None:
    grype = Grype(env={"PATH": StubBin(tmp_path).path_alone()})
    assert "grype not found on PATH" in str(failure(grype))


def test_a_crash_is_a_scanner_error_with_the_stderr_tail(tmp_path: Path) -> None:
    stub = Stub(exit_code=1, stderr="failed to catalog: could not fetch image\n")
    error = failure(grype_with(tmp_path, stub))
    assert "grype exited with code 1" in str(error)
    assert "could not fetch image" in error.detail


def test_a_panic_fails_even_after_a_clean_looking_report(tmp_path: Path) -> None:
    # Exit 2 is both --fail-on and a Go panic; the gate trusts neither, whatever the file says.
    empty = json.dumps(grype_report([]))
    error = failure(grype_with(tmp_path, Stub(report=empty, exit_code=2, stderr=GO_PANIC)))
    assert "exited with code 2" in str(error)
    assert "panic: runtime error" in error.detail


def test_a_signal_kill_is_a_scanner_error(tmp_path: Path) -> None:
    error = failure(grype_with(tmp_path, Stub(report=REPORT, signal=signal.SIGKILL)))
    assert "killed by SIGKILL" in str(error)


def test_a_hang_times_out_and_the_whole_process_group_is_killed(tmp_path: Path) -> None:
    child_pid_file = tmp_path / "child.pid"
    stub = Stub(report=REPORT, sleep=60, child_pid_file=child_pid_file)
    started = time.monotonic()
    error = failure(grype_with(tmp_path, stub), timeout=1.5)
    assert time.monotonic() - started < 10
    assert "grype timed out after 1.5s" in str(error)
    child = int(child_pid_file.read_text())
    deadline = time.monotonic() + 5
    while process_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(child), "grype's helper outlived the timeout"


def test_garbage_output_is_a_scanner_error(tmp_path: Path) -> None:
    error = failure(grype_with(tmp_path, Stub(report="Report written? not JSON\n")))
    assert "grype report is not a JSON object" in str(error)


def test_truncated_output_is_a_scanner_error(tmp_path: Path) -> None:
    error = failure(grype_with(tmp_path, Stub(report=REPORT[: len(REPORT) // 2])))
    assert "grype report is not valid JSON" in str(error)


def test_a_report_without_matches_is_a_scanner_error(tmp_path: Path) -> None:
    doc = json.loads(REPORT)
    del doc["matches"]
    error = failure(grype_with(tmp_path, Stub(report=json.dumps(doc))))
    assert "no `matches` array" in str(error)


def test_exit_zero_without_a_report_file_is_a_scanner_error(tmp_path: Path) -> None:
    error = failure(grype_with(tmp_path, Stub(report=None, exit_code=0)))
    assert "wrote no report" in str(error)


def test_a_flood_of_stderr_is_kept_to_its_tail(tmp_path: Path) -> None:
    error = failure(grype_with(tmp_path, Stub(exit_code=1, stderr_mb=20)))
    assert error.detail.endswith("the last stderr line\n")
    assert len(error.detail) < 64 * 1024


# --------------------------------------------------------------------------- threads


def test_one_grype_instance_scans_from_several_threads_at_once(tmp_path: Path) -> None:
    grype = grype_with(tmp_path, Stub(report=REPORT, sleep=1.5))
    settings_before = dict(vars(grype))
    targets = [
        ScanTarget("registry", f"{REPO}@{DIGEST}"),
        ScanTarget("oci", str(tmp_path / "layout")),
    ]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda t: grype.scan(t, timeout=30), targets))
    elapsed = time.monotonic() - started
    assert [len(r.vulnerabilities) for r in reports] == [2, 2]
    assert reports[0] == reports[1]
    assert vars(grype) == settings_before  # scanning leaves no state behind
    assert elapsed < 2.7, f"two 1.5 s scans took {elapsed:.1f} s: they ran one after the other"
