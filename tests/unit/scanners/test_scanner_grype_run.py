"""Running Grype: the real program on real images, and failing closed on every fault.

The scans run the real ``grype`` (built from its Go module by ``scripts/go-tools.sh``)
offline, against a DB of the tests' advisories (``grype_env``), on images pushed to the
real loopback ``registry`` or written as an OCI layout or a ``docker save`` archive. What a
real Grype cannot be made to do (crash, hang, write garbage or half a report) is injected
with a stub ``grype`` executable (a real process, see tests/support/stubs.py).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from gate.errors import ScannerError
from gate.model import ScanReport, ScanTarget, Severity
from gate.scanners.grype import Grype
from tests.support.authproxy import BasicAuthProxy
from tests.support.grype import DIGEST, REPO, grype_match, grype_report
from tests.support.oci import build_image, layer, push, write_docker_archive, write_oci_layout
from tests.support.registry import RunningRegistry
from tests.support.rootfs import APP_PASSWD, debian_rootfs
from tests.support.stubs import GO_PANIC, Stub, StubBin, process_alive
from tests.support.trivydb import VULNERABLE_DEBIAN_PACKAGES

GRYPE_VERSION = "0.120.1"  # scripts/go-tools.txt
IMAGE = build_image(
    [layer(debian_rootfs(VULNERABLE_DEBIAN_PACKAGES, passwd=APP_PASSWD))], user="1000"
)
#: What real Grype finds in IMAGE with the default advisories: (id, package, severity).
#: The same as Trivy's (tests.support.trivydb.EXPECTED_DEBIAN_FINDINGS), from the same DB.
EXPECTED = {
    ("CVE-2026-0001", "libssl3", Severity.HIGH),
    ("CVE-2026-0001", "openssl", Severity.HIGH),
    ("CVE-2026-0002", "zlib1g", Severity.CRITICAL),
    ("CVE-2026-0003", "curl", Severity.MEDIUM),
    ("CVE-2026-0004", "bash", Severity.LOW),
    ("CVE-2026-0005", "tar", Severity.UNKNOWN),
}


@dataclass(frozen=True)
class Pushed:
    host: str
    repository: str
    digest: str

    @property
    def pinned(self) -> str:
        return f"{self.repository}@{self.digest}"


@pytest.fixture(scope="module")
def pushed(registry: RunningRegistry) -> Pushed:
    digest = push(registry.host, "grype/run", IMAGE, "v1")
    return Pushed(registry.host, f"{registry.host}/grype/run", digest)


def findings(report: ScanReport) -> set[tuple[str, str, Severity]]:
    return {(v.id, v.package, v.severity) for v in report.vulnerabilities}


# --------------------------------------------------------------------------- real Grype


def test_real_grype_scans_the_judged_digest_from_the_registry(
    pushed: Pushed, grype_env: dict[str, str]
) -> None:
    target = ScanTarget("registry", pushed.pinned, insecure=True)
    report = Grype(env=grype_env).scan(target, timeout=120)
    assert findings(report) == EXPECTED
    assert report.scanner == "grype" and report.version == GRYPE_VERSION
    assert report.artifact == pushed.pinned
    assert pushed.digest in {d.rpartition("@")[2] for d in report.digests}
    assert report.os == "debian 12.5"
    assert report.db_built  # descriptor.db.status.built of the v6 DB
    assert report.image_config is not None and report.image_config["config"]["User"] == "1000"


def test_real_grype_reports_fix_state_and_source_link(
    pushed: Pushed, grype_env: dict[str, str]
) -> None:
    target = ScanTarget("registry", pushed.pinned, insecure=True)
    report = Grype(env=grype_env).scan(target, timeout=120)
    by_package = {v.package: v for v in report.vulnerabilities}
    assert by_package["zlib1g"].fixed == ("1:1.2.13.dfsg-1+deb12u1",)
    assert by_package["zlib1g"].status == "fixed"
    assert by_package["curl"].fixed == () and by_package["curl"].status == "not-fixed"
    assert by_package["bash"].url == ("https://security-tracker.debian.org/tracker/CVE-2026-0004")
    assert by_package["bash"].target == "/var/lib/dpkg/status"
    assert by_package["libssl3"].purl.startswith("pkg:deb/debian/libssl3@3.0.11-1~deb12u2")


USER, PASSWORD = "deployer", "s3cret-Token"


@pytest.fixture(scope="module")
def private(registry: RunningRegistry, pushed: Pushed) -> Iterator[BasicAuthProxy]:
    """The pushed image behind basic auth on 127.0.0.2: Grype's HTTP fallback does not apply."""
    with BasicAuthProxy(registry.host, {USER: PASSWORD}) as proxy:
        yield proxy


def private_target(private: BasicAuthProxy, pushed: Pushed, *, insecure: bool) -> ScanTarget:
    return ScanTarget("registry", f"{private.host}/grype/run@{pushed.digest}", insecure=insecure)


def without_grype_insecure(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != "GRYPE_REGISTRY_INSECURE_USE_HTTP"}


def test_a_private_plain_http_registry_gets_the_gates_credentials_and_plain_http(
    private: BasicAuthProxy, pushed: Pushed, grype_env: dict[str, str]
) -> None:
    env = {**without_grype_insecure(grype_env), "REGISTRY_USERNAME": USER}
    env["REGISTRY_PASSWORD"] = PASSWORD
    before = len(private.seen())
    report = Grype(env=env).scan(private_target(private, pushed, insecure=True), timeout=120)
    assert findings(report) == EXPECTED
    blobs = [s for s in private.seen()[before:] if "/blobs/" in s.path]
    assert blobs and all(s.user == USER for s in blobs)  # Grype logged in as the gate's user


def test_without_credentials_the_private_registry_is_a_scanner_error(
    private: BasicAuthProxy, pushed: Pushed, grype_env: dict[str, str]
) -> None:
    with pytest.raises(ScannerError) as info:
        Grype(env=grype_env).scan(private_target(private, pushed, insecure=True), timeout=120)
    assert "grype exited with code 1" in str(info.value)
    assert "UNAUTHORIZED" in info.value.detail


def test_a_plain_http_registry_not_declared_insecure_is_a_scanner_error(
    private: BasicAuthProxy, pushed: Pushed, grype_env: dict[str, str]
) -> None:
    # Grype speaks TLS unless told otherwise; the gate tells it only for plain-HTTP targets.
    env = {**without_grype_insecure(grype_env), "REGISTRY_USERNAME": USER}
    env["REGISTRY_PASSWORD"] = PASSWORD
    with pytest.raises(ScannerError) as info:
        Grype(env=env).scan(private_target(private, pushed, insecure=False), timeout=120)
    assert "grype exited with code 1" in str(info.value)
    assert "first record does not look like a TLS handshake" in info.value.detail


def test_an_oci_layout_is_scanned_with_oci_dir(tmp_path: Path, grype_env: dict[str, str]) -> None:
    layout = write_oci_layout(tmp_path / "layout", IMAGE, "v1")
    target = ScanTarget("oci", f"{layout}@{IMAGE.digest}")
    report = Grype(env=grype_env).scan(target, timeout=120)
    assert findings(report) == EXPECTED
    assert report.digests == (IMAGE.digest,)


def test_a_docker_archive_is_scanned_and_its_synthetic_digest_is_not_trusted(
    tmp_path: Path, grype_env: dict[str, str]
) -> None:
    archive = write_docker_archive(tmp_path / "app.tar", IMAGE, "app:v1")
    report = Grype(env=grype_env).scan(ScanTarget("docker-archive", str(archive)), timeout=120)
    assert findings(report) == EXPECTED
    assert report.digests == ()  # no registry ever served the manifest Grype synthesises


def test_an_image_the_registry_does_not_have_is_a_scanner_error(
    pushed: Pushed, grype_env: dict[str, str]
) -> None:
    missing = f"{pushed.repository}@sha256:{'0' * 64}"
    with pytest.raises(ScannerError) as info:
        Grype(env=grype_env).scan(ScanTarget("registry", missing, insecure=True), timeout=120)
    assert "grype exited with code 1" in str(info.value)
    assert "MANIFEST_UNKNOWN" in info.value.detail


def test_no_vulnerability_db_with_updates_off_is_a_scanner_error(
    pushed: Pushed, grype_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**grype_env, "GRYPE_DB_CACHE_DIR": str(tmp_path / "empty")}
    with pytest.raises(ScannerError) as info:
        Grype(env=env).scan(ScanTarget("registry", pushed.pinned, insecure=True), timeout=120)
    assert "grype exited with code 1" in str(info.value)
    assert "failed to load vulnerability db: database does not exist" in info.value.detail
    assert "\x1b[" not in info.value.detail  # plain text, not Grype's red ERROR lines


def test_a_db_that_fails_its_checksum_is_a_scanner_error(
    pushed: Pushed, grype_env: dict[str, str], tmp_path: Path
) -> None:
    cache = tmp_path / "db"
    (cache / "6").mkdir(parents=True)
    installed = Path(grype_env["GRYPE_DB_CACHE_DIR"]) / "6"
    (cache / "6" / "vulnerability.db").write_bytes(
        (installed / "vulnerability.db").read_bytes() + b"\0"
    )
    (cache / "6" / "import.json").write_bytes((installed / "import.json").read_bytes())
    env = {**grype_env, "GRYPE_DB_CACHE_DIR": str(cache)}
    with pytest.raises(ScannerError) as info:
        Grype(env=env).scan(ScanTarget("registry", pushed.pinned, insecure=True), timeout=120)
    assert "grype exited with code 1" in str(info.value)
    assert "bad db checksum" in info.value.detail


# --------------------------------------------------------------------------- faults (stub)

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


def test_registry_scan_never_uses_fail_on(tmp_path: Path) -> None:
    # Grype's --fail-on exit code (2) is also a Go panic's: the argv must never ask for it.
    argv_file = tmp_path / "argv.json"
    grype_with(tmp_path, Stub(report=REPORT, argv_file=argv_file)).scan(
        ScanTarget("registry", f"{REPO}@{DIGEST}"), timeout=30
    )
    argv = json.loads(argv_file.read_text())
    assert argv[:3] == [f"registry:{REPO}@{DIGEST}", "-o", "json"]
    assert argv[3] == "--file" and argv[4].endswith(".json")
    assert not any(a.startswith("--fail-on") or a == "-f" for a in argv)


def test_grype_missing_from_path_is_a_scanner_error(tmp_path: Path) -> None:
    grype = Grype(env={"PATH": StubBin(tmp_path).path_alone()})
    assert "grype not found on PATH" in str(failure(grype))


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
    # A stub that sleeps 1.5 s makes overlap measurable; real scans take too little time.
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


def test_real_grype_scans_from_two_threads_at_once(
    pushed: Pushed, grype_env: dict[str, str], tmp_path: Path
) -> None:
    layout = write_oci_layout(tmp_path / "layout", IMAGE, "v1")
    grype = Grype(env=grype_env)
    targets = [
        ScanTarget("registry", pushed.pinned, insecure=True),
        ScanTarget("oci", f"{layout}@{IMAGE.digest}"),
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda t: grype.scan(t, timeout=120), targets))
    assert [findings(r) for r in reports] == [EXPECTED, EXPECTED]
