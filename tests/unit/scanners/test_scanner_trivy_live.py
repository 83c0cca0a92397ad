"""The Trivy edge against the real Trivy 0.76 binary, offline, on images built in Python.

Images are pushed to a real loopback docker-registry (``registry`` fixture) or written
as OCI layouts and docker archives; Trivy reads a tiny DB built by the tests
(``trivy_env``), so the expected findings are exact (tests/support/trivydb.py).
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from gate.errors import ScannerError
from gate.model import ScanReport, ScanTarget
from gate.scanners.trivy import Trivy, parse_report
from tests.support import oci, rootfs, trivydb
from tests.support.registry import RunningRegistry


def findings(parsed: ScanReport) -> set[tuple[str, str, str]]:
    return {(v.id, v.package, v.severity.name) for v in parsed.vulnerabilities}


@pytest.fixture(scope="module")
def vulnerable_image() -> oci.BuiltImage:
    files = rootfs.debian_rootfs(trivydb.VULNERABLE_DEBIAN_PACKAGES, passwd=rootfs.APP_PASSWD)
    secret = {rootfs.AWS_SECRET_PATH: rootfs.AWS_SECRET_FILE}
    return oci.build_image([oci.layer(files), oci.layer(secret)], user="app")


@pytest.fixture(scope="module")
def pushed(registry: RunningRegistry, vulnerable_image: oci.BuiltImage) -> str:
    """``host/repo@sha256:…`` of the vulnerable image in the loopback registry."""
    digest = oci.push(registry.host, "gate/trivy-live", vulnerable_image, "v1")
    return f"{registry.host}/gate/trivy-live@{digest}"


def test_a_registry_image_is_scanned_by_digest_with_every_finding(
    trivy_env: dict[str, str], pushed: str
) -> None:
    parsed = Trivy(env=trivy_env).scan(ScanTarget("registry", pushed), timeout=180)

    assert findings(parsed) == trivydb.EXPECTED_DEBIAN_FINDINGS
    assert {s.rule_id for s in parsed.secrets} == rootfs.AWS_SECRET_RULE_IDS
    assert {s.target for s in parsed.secrets} == {f"/{rootfs.AWS_SECRET_PATH}"}
    assert parsed.version == "0.76.0"
    assert parsed.artifact == pushed
    assert parsed.digests == (pushed,)
    assert parsed.os is not None and parsed.os.startswith("debian 12")
    assert parsed.image_config is not None
    assert parsed.image_config["config"]["User"] == "app"
    openssl = next(v for v in parsed.vulnerabilities if v.package == "libssl3")
    assert openssl.fixed == (trivydb.OPENSSL_HIGH.fixed_version,)
    assert openssl.status == "fixed"
    curl = next(v for v in parsed.vulnerabilities if v.package == "curl")
    assert curl.fixed == () and curl.status == "affected"


def test_the_insecure_flag_still_reaches_a_plain_http_registry(
    trivy_env: dict[str, str], pushed: str
) -> None:
    parsed = Trivy(scanners={"vuln"}, env=trivy_env).scan(
        ScanTarget("registry", pushed, insecure=True), timeout=180
    )
    assert findings(parsed) == trivydb.EXPECTED_DEBIAN_FINDINGS


def test_a_policy_without_secrets_does_not_scan_for_them(
    trivy_env: dict[str, str], pushed: str
) -> None:
    parsed = Trivy(scanners={"vuln"}, env=trivy_env).scan(
        ScanTarget("registry", pushed), timeout=180
    )
    assert parsed.secrets == ()
    assert findings(parsed) == trivydb.EXPECTED_DEBIAN_FINDINGS


@pytest.mark.parametrize("kind", ["oci", "docker-archive"])
def test_local_images_give_the_same_findings(
    trivy_env: dict[str, str], vulnerable_image: oci.BuiltImage, tmp_path: Path, kind: str
) -> None:
    if kind == "oci":
        location = oci.write_oci_layout(tmp_path / "layout", vulnerable_image)
        target = ScanTarget("oci", str(location))
    else:
        location = oci.write_docker_archive(tmp_path / "image.tar", vulnerable_image, "app:v1")
        target = ScanTarget("docker-archive", str(location))
    parsed = Trivy(env=trivy_env).scan(target, timeout=180)
    assert findings(parsed) == trivydb.EXPECTED_DEBIAN_FINDINGS
    assert {s.rule_id for s in parsed.secrets} == rootfs.AWS_SECRET_RULE_IDS


def test_a_saved_report_reads_exactly_as_the_live_scan(
    trivy_env: dict[str, str], pushed: str, tmp_path: Path
) -> None:
    live = Trivy(env=trivy_env).scan(ScanTarget("registry", pushed), timeout=180)
    saved = tmp_path / "saved.json"
    # What a user's earlier CI step runs (Trivy's defaults, not the gate's flags).
    argv = ["trivy", "image", "--format", "json", "--output", str(saved), pushed]
    proc = subprocess.run(argv, env=trivy_env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # What only the gate knows: which scanners ran, and the DB's age (its metadata.json).
    assert (live.db_built, live.db_source) == (
        "2026-11-01T00:00:00Z",
        "Trivy's DB metadata (db/metadata.json)",
    )
    known = replace(
        parse_report(saved), secrets_scanned=True, db_built=live.db_built, db_source=live.db_source
    )
    assert known == live
    assert {v.package: v.source_packages for v in live.vulnerabilities}["libssl3"] == {"openssl"}


def test_an_image_without_an_os_is_no_error_but_has_no_os(
    trivy_env: dict[str, str], tmp_path: Path
) -> None:
    image = oci.build_image([oci.layer({"app/server": b"\x7fELF static binary"})])
    layout = oci.write_oci_layout(tmp_path / "layout", image)
    parsed = Trivy(env=trivy_env).scan(ScanTarget("oci", str(layout)), timeout=180)
    assert parsed.os is None
    assert parsed.vulnerabilities == ()


@pytest.mark.parametrize(
    ("base_env", "empty_cache", "message", "cause"),
    [
        pytest.param(
            "broken_trivy_env", False, "trivy exited with code 2", "panic",
            id="panicking-on-a-broken-db",
        ),
        pytest.param(
            "trivy_env", True, "trivy exited with code 1",
            "--skip-db-update cannot be specified on the first run",
            id="no-db-with-updates-skipped",
        ),
    ],
)  # fmt: skip
def test_a_db_trivy_cannot_use_is_a_scanner_error_naming_the_cause(
    request: pytest.FixtureRequest,
    vulnerable_image: oci.BuiltImage,
    tmp_path: Path,
    base_env: str,
    empty_cache: bool,
    message: str,
    cause: str,
) -> None:
    env = dict(request.getfixturevalue(base_env))
    if empty_cache:
        env["TRIVY_CACHE_DIR"] = str(tmp_path / "empty-cache")
    layout = oci.write_oci_layout(tmp_path / "layout", vulnerable_image)
    with pytest.raises(ScannerError) as caught:
        Trivy(env=env).scan(ScanTarget("oci", str(layout)), timeout=180)
    assert str(caught.value) == message
    assert cause in caught.value.detail


def test_a_digest_the_registry_does_not_have_is_a_scanner_error(
    trivy_env: dict[str, str], registry: RunningRegistry
) -> None:
    absent = f"{registry.host}/gate/trivy-live@sha256:{'0' * 64}"
    with pytest.raises(ScannerError) as caught:
        Trivy(env=trivy_env).scan(ScanTarget("registry", absent), timeout=180)
    assert str(caught.value) == "trivy exited with code 1"
    assert caught.value.detail
