"""The offline Trivy DB, rootfs builders and image writers work with the real Trivy binary.

These pin down the exact invocation the gate can rely on: no network, a plain-HTTP loopback
registry needing no ``--insecure``, and the three daemon-less inputs (registry, OCI layout
directory, docker-archive tarball).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import oci, rootfs, trivydb
from tests.support.registry import RunningRegistry


def run_trivy(env: dict[str, str], out: Path, *target: str) -> subprocess.CompletedProcess[str]:
    argv = ["trivy", "image", "--quiet", "--format", "json", "--output", str(out), *target]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def scan(env: dict[str, str], tmp_path: Path, *target: str) -> dict[str, Any]:
    out = tmp_path / "report.json"
    proc = run_trivy(env, out, *target)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def vulns(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for r in report.get("Results", []) for v in r.get("Vulnerabilities") or []]


def findings(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(v["VulnerabilityID"], v["PkgName"], v["Severity"]) for v in vulns(report)}


def secret_rules(report: dict[str, Any]) -> set[str]:
    return {
        s["RuleID"]
        for r in report.get("Results", [])
        if r["Class"] == "secret"
        for s in r.get("Secrets") or []
    }


@pytest.fixture(scope="module")
def vulnerable_image() -> oci.BuiltImage:
    files = rootfs.debian_rootfs(trivydb.VULNERABLE_DEBIAN_PACKAGES, passwd=rootfs.APP_PASSWD)
    secret = {rootfs.AWS_SECRET_PATH: rootfs.AWS_SECRET_FILE}
    return oci.build_image([oci.layer(files), oci.layer(secret)], user="app")


def test_registry_image_reports_default_advisories_and_planted_secret(
    registry: RunningRegistry,
    trivy_env: dict[str, str],
    vulnerable_image: oci.BuiltImage,
    tmp_path: Path,
) -> None:
    digest = oci.push(registry.host, "support/vulnerable", vulnerable_image, "v1")
    ref = f"{registry.host}/support/vulnerable@{digest}"
    report = scan(trivy_env, tmp_path, "--image-src", "remote", ref)

    assert findings(report) == trivydb.EXPECTED_DEBIAN_FINDINGS
    status = {v["PkgName"]: v["Status"] for v in vulns(report)}
    assert status["curl"] == "affected" and status["libssl3"] == "fixed"
    openssl = next(v for v in vulns(report) if v["PkgName"] == "libssl3")
    assert openssl["FixedVersion"] == trivydb.OPENSSL_HIGH.fixed_version
    assert secret_rules(report) == rootfs.AWS_SECRET_RULE_IDS
    meta = report["Metadata"]
    assert meta["OS"]["Family"] == "debian"
    assert meta["ImageID"] == vulnerable_image.config_digest
    assert meta["RepoDigests"] == [f"{registry.host}/support/vulnerable@{digest}"]
    assert meta["ImageConfig"]["config"]["User"] == "app"


@pytest.mark.parametrize("kind", ["oci-layout-dir", "docker-archive"])
def test_local_inputs_scan_like_the_registry(
    kind: str, trivy_env: dict[str, str], vulnerable_image: oci.BuiltImage, tmp_path: Path
) -> None:
    if kind == "oci-layout-dir":
        target = oci.write_oci_layout(tmp_path / "layout", vulnerable_image, "v1")
    else:
        target = oci.write_docker_archive(tmp_path / "image.tar", vulnerable_image, "app:v1")
    report = scan(trivy_env, tmp_path, "--input", str(target))
    assert findings(report) == trivydb.EXPECTED_DEBIAN_FINDINGS
    assert secret_rules(report) == rootfs.AWS_SECRET_RULE_IDS
    assert report["Metadata"]["ImageID"] == vulnerable_image.config_digest


def test_packages_at_fixed_versions_have_no_findings(
    trivy_env: dict[str, str], tmp_path: Path
) -> None:
    files = rootfs.debian_rootfs(trivydb.CLEAN_DEBIAN_PACKAGES)
    layout = oci.write_oci_layout(tmp_path / "layout", oci.build_image([oci.layer(files)]))
    report = scan(trivy_env, tmp_path, "--input", str(layout))
    assert report["Metadata"]["OS"]["Family"] == "debian"
    assert vulns(report) == []
    assert secret_rules(report) == set()


def test_broken_db_makes_trivy_panic_with_exit_code_2(
    broken_trivy_env: dict[str, str], vulnerable_image: oci.BuiltImage, tmp_path: Path
) -> None:
    layout = oci.write_oci_layout(tmp_path / "layout", vulnerable_image)
    proc = run_trivy(broken_trivy_env, tmp_path / "out.json", "--input", str(layout))
    assert proc.returncode == 2
    assert "panic" in proc.stderr


def test_alpine_rootfs_and_custom_advisories(trivy_env: dict[str, str], tmp_path: Path) -> None:
    advisory = trivydb.Advisory("CVE-2026-1001", "openssl", "HIGH", "3.5.5-r0", "alpine 3.22")
    env = dict(trivy_env, TRIVY_CACHE_DIR=str(trivydb.build_trivy_cache(tmp_path, [advisory])))
    files = rootfs.alpine_rootfs([("libcrypto3", "openssl", "3.5.4-r0")])
    layout = oci.write_oci_layout(tmp_path / "layout", oci.build_image([oci.layer(files)]))
    report = scan(env, tmp_path, "--input", str(layout))
    assert report["Metadata"]["OS"]["Family"] == "alpine"
    assert findings(report) == {("CVE-2026-1001", "libcrypto3", "HIGH")}


def test_db_buckets_larger_than_a_page_are_read_in_full(
    trivy_env: dict[str, str], tmp_path: Path
) -> None:
    many = [
        trivydb.Advisory(f"CVE-2026-{n:05d}", "openssl", "MEDIUM", "3.0.15-1~deb12u1")
        for n in range(10_000, 10_400)
    ]
    env = dict(trivy_env, TRIVY_CACHE_DIR=str(trivydb.build_trivy_cache(tmp_path, many)))
    assert (tmp_path / "db" / "trivy.db").stat().st_size > 8 * trivydb.PAGE_SIZE
    files = rootfs.debian_rootfs([("libssl3", "openssl", "3.0.11-1~deb12u2")])
    layout = oci.write_oci_layout(tmp_path / "layout", oci.build_image([oci.layer(files)]))
    report = scan(env, tmp_path, "--input", str(layout))
    assert {v["VulnerabilityID"] for v in vulns(report)} == {a.vuln_id for a in many}


def test_offline_trivy_writes_nothing_into_home(
    trivy_env: dict[str, str], vulnerable_image: oci.BuiltImage, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    layout = oci.write_oci_layout(tmp_path / "layout", vulnerable_image)
    scan(dict(trivy_env, HOME=str(home)), tmp_path, "--input", str(layout))
    assert list(home.iterdir()) == []
    assert not (Path(trivy_env["TRIVY_CACHE_DIR"]) / "fanal").exists()
