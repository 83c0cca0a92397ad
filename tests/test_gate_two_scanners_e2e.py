"""End to end with two scanners: real Trivy, stub Grype (no Grype binary can be installed here).

The Grype stub is a real executable on PATH that writes realistic Grype JSON for the digest
the gate resolved, and exits with the code a test chooses.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_gate
from tests.support.grype import grype_match, grype_report
from tests.support.oci import build_image, layer, push
from tests.support.rootfs import APP_PASSWD, debian_rootfs
from tests.support.stubs import Stub, StubBin
from tests.support.trivydb import VULNERABLE_DEBIAN_PACKAGES

POLICY = "version: 1\nvulnerabilities:\n  fail_on: high\n  scanners: [trivy, grype]\n"


BUILT = build_image([layer(debian_rootfs(VULNERABLE_DEBIAN_PACKAGES, passwd=APP_PASSWD))])


@pytest.fixture(scope="module")
def image(registry) -> tuple[str, str]:
    digest = push(registry.host, "e2e/two", BUILT, "v1")
    return f"{registry.host}/e2e/two:v1", digest


def grype_doc(reference: str, digest: str, matches: list[Any]) -> str:
    repository = reference.rsplit(":", 1)[0]
    doc = grype_report(
        matches, user_input=f"{repository}@{digest}", repo_digests=(f"{repository}@{digest}",)
    )
    doc["source"]["target"]["manifestDigest"] = digest
    doc["source"]["target"]["imageID"] = BUILT.config_digest
    return json.dumps(doc)


def with_grype(tmp_path: Path, trivy_env: dict[str, str], stub: Stub) -> dict[str, str]:
    bin_dir = StubBin(tmp_path / "stubs")
    bin_dir.install("grype", stub)
    env = dict(trivy_env)
    env["PATH"] = os.pathsep.join([str(bin_dir.path), env["PATH"]])
    return env


def test_cve_and_ghsa_alias_from_two_scanners_become_one_finding(image, trivy_env, tmp_path):
    reference, digest = image
    matches = [
        # Grype reports the openssl CVE under a GHSA id whose related id is Trivy's CVE,
        # and rates it higher than Trivy does.
        grype_match(
            "GHSA-aaaa-bbbb-cccc",
            "openssl",
            "3.0.11-1~deb12u2",
            "Critical",
            fixed=("3.0.15-1~deb12u1",),
            related=("CVE-2026-0001",),
        ),
        # A finding only Grype has.
        grype_match("CVE-2026-9999", "base-files", "12.4+deb12u5", "High", fixed=("12.4+deb12u6",)),
    ]
    env = with_grype(tmp_path, trivy_env, Stub(report=grype_doc(reference, digest, matches)))
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    out = tmp_path / "report.json"
    result = run_gate(
        "check", *[reference, "--policy", str(policy), "--report-json", str(out)], env=env
    )
    assert result.returncode == 1, result.stdout + result.stderr
    check = json.loads(out.read_text())["checks"][0]
    openssl = [f for f in check["findings"] if f["package"] == "openssl"]
    assert len(openssl) == 1
    assert openssl[0]["id"] == "CVE-2026-0001"
    assert "GHSA-aaaa-bbbb-cccc" in openssl[0]["aliases"]
    assert openssl[0]["severity"] == "critical"  # the higher of HIGH (Trivy) and Critical (Grype)
    assert openssl[0]["found_by"] == ["grype", "trivy"]
    only_one = {(f["id"], tuple(f["found_by"])) for f in check["evidence"]["found_by_one_only"]}
    assert ("CVE-2026-9999", ("grype",)) in only_one
    assert ("CVE-2026-0002", ("trivy",)) in only_one
    assert "found by all scanners" in result.stdout


def test_grype_crash_is_an_error_even_when_trivy_passes(image, trivy_env, tmp_path):
    reference, digest = image
    stub = Stub(
        report=grype_doc(reference, digest, []),
        exit_code=1,
        stderr="failed to load vulnerability db",
    )
    env = with_grype(tmp_path, trivy_env, stub)
    policy = tmp_path / "policy.yml"
    policy.write_text(
        POLICY.replace("fail_on: high", "fail_on: critical") + "  exceptions:\n"
        "    - id: CVE-2026-0002\n      reason: r\n      expires: 2099-01-01\n"
    )
    result = run_gate("check", *[reference, "--policy", str(policy)], env=env)
    assert result.returncode == 2
    assert result.stdout.startswith("ERROR")
    assert "failed to load vulnerability db" in result.stdout


def test_grype_garbage_report_is_an_error_that_carries_grype_stderr(image, trivy_env, tmp_path):
    reference, _ = image
    stub = Stub(report='{"matches": [', stderr="grype: write interrupted by SIGPIPE")
    env = with_grype(tmp_path, trivy_env, stub)
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    result = run_gate("check", *[reference, "--policy", str(policy)], env=env)
    assert result.returncode == 2
    assert "grype report is not valid JSON" in result.stdout
    assert "grype: write interrupted by SIGPIPE" in result.stdout


def test_a_report_for_a_scanner_the_policy_does_not_run_is_refused(tmp_path):
    digest = "sha256:" + "5" * 64
    grype = tmp_path / "grype.json"
    grype.write_text(grype_doc("registry.test/app:v1", digest, []))
    policy = tmp_path / "policy.yml"
    policy.write_text("version: 1\nvulnerabilities:\n  fail_on: high\n")
    result = run_gate(
        "check", "--grype-report", str(grype), "--policy", str(policy), env=dict(os.environ)
    )
    assert result.returncode == 2
    assert "--grype-report given, but the policy does not run grype (it runs trivy)" in (
        result.stdout + result.stderr
    )
    assert "--scanners grype,trivy" in result.stdout + result.stderr


SCANNER_CREDENTIALS = (
    "TRIVY_USERNAME",
    "TRIVY_PASSWORD",
    "GRYPE_REGISTRY_AUTH_AUTHORITY",
    "GRYPE_REGISTRY_AUTH_USERNAME",
    "GRYPE_REGISTRY_AUTH_PASSWORD",
)


@pytest.mark.parametrize("trivy_own", [None, "ci-robot"])
def test_env_registry_credentials_reach_both_scanners_in_their_own_variables(
    image, tmp_path, trivy_own
):
    reference, digest = image
    host = reference.split("/", 1)[0]
    seen = {name: tmp_path / f"{name}-env.json" for name in ("trivy", "grype")}
    trivy_doc = {
        "SchemaVersion": 2,
        "ArtifactName": f"{reference.rsplit(':', 1)[0]}@{digest}",
        "Metadata": {"RepoDigests": [f"{reference.rsplit(':', 1)[0]}@{digest}"]},
        "Results": [],
    }
    bin_dir = StubBin(tmp_path / "stubs")
    for name, report in (
        ("trivy", json.dumps(trivy_doc)),
        ("grype", grype_doc(reference, digest, [])),
    ):
        stub = Stub(report=report, env_file=seen[name], env_names=SCANNER_CREDENTIALS)
        bin_dir.install(name, stub)
    env = {**os.environ, "PATH": os.pathsep.join([str(bin_dir.path), os.environ["PATH"]])}
    env.update(REGISTRY_USERNAME="deployer", REGISTRY_PASSWORD="s3cret-Token")
    if trivy_own:
        env.update(TRIVY_USERNAME=trivy_own, TRIVY_PASSWORD="its-own")
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    result = run_gate("check", reference, "--policy", str(policy), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    trivy = json.loads(seen["trivy"].read_text())
    grype = json.loads(seen["grype"].read_text())
    expected_trivy = (trivy_own, "its-own") if trivy_own else ("deployer", "s3cret-Token")
    assert (trivy["TRIVY_USERNAME"], trivy["TRIVY_PASSWORD"]) == expected_trivy
    assert grype["GRYPE_REGISTRY_AUTH_AUTHORITY"] == host
    assert grype["GRYPE_REGISTRY_AUTH_USERNAME"] == "deployer"
    assert grype["GRYPE_REGISTRY_AUTH_PASSWORD"] == "s3cret-Token"
    assert "s3cret-Token" not in result.stdout + result.stderr


def test_grype_report_for_another_digest_is_an_error(image, trivy_env, tmp_path):
    reference, _ = image
    other = "sha256:" + "0" * 64
    env = with_grype(tmp_path, trivy_env, Stub(report=grype_doc(reference, other, [])))
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    result = run_gate("check", *[reference, "--policy", str(policy)], env=env)
    assert result.returncode == 2
    assert "scanned the wrong image" in result.stdout


def test_two_scanners_run_concurrently(image, tmp_path):
    reference, digest = image
    repository = reference.rsplit(":", 1)[0]
    trivy_doc = {
        "SchemaVersion": 2,
        "ArtifactName": f"{repository}@{digest}",
        "ArtifactType": "container_image",
        "Metadata": {
            "OS": {"Family": "debian", "Name": "12.5"},
            "RepoDigests": [f"{repository}@{digest}"],
        },
        "Results": [],
    }
    bin_dir = StubBin(tmp_path / "stubs")
    bin_dir.install("trivy", Stub(report=json.dumps(trivy_doc), sleep=2.0))
    bin_dir.install("grype", Stub(report=grype_doc(reference, digest, []), sleep=2.0))
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(bin_dir.path), env["PATH"]])
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    started = time.monotonic()
    result = run_gate("check", *[reference, "--policy", str(policy)], env=env)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    # Run one after the other they would take over 4 s; the generous bound proves overlap.
    assert elapsed < 3.5, elapsed


def test_saved_trivy_and_grype_reports_are_judged_together_without_an_image(tmp_path):
    digest = "sha256:" + "5" * 64
    reference = "registry.test/app:v1"
    trivy_doc = {
        "SchemaVersion": 2,
        "ArtifactName": reference,
        "ArtifactType": "container_image",
        "Metadata": {
            "OS": {"Family": "debian", "Name": "12.5"},
            "RepoDigests": [f"registry.test/app@{digest}"],
        },
        "Results": [
            {
                "Target": "app (debian 12.5)",
                "Class": "os-pkgs",
                "Type": "debian",
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": "CVE-2026-0001",
                        "PkgName": "openssl",
                        "InstalledVersion": "3.0.11-1~deb12u2",
                        "FixedVersion": "3.0.15-1~deb12u1",
                        "Status": "fixed",
                        "Severity": "MEDIUM",
                        "Title": "t",
                    }
                ],
            }
        ],
    }
    trivy_file = tmp_path / "trivy.json"
    trivy_file.write_text(json.dumps(trivy_doc))
    grype_file = tmp_path / "grype.json"
    grype_file.write_text(
        grype_doc(
            reference,
            digest,
            [
                grype_match(
                    "GHSA-aaaa-bbbb-cccc",
                    "openssl",
                    "3.0.11-1~deb12u2",
                    "High",
                    fixed=("3.0.15-1~deb12u1",),
                    related=("CVE-2026-0001",),
                ),
            ],
        )
    )
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    out = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items()}
    result = run_gate(
        "check",
        "--trivy-report",
        str(trivy_file),
        "--grype-report",
        str(grype_file),
        "--policy",
        str(policy),
        "--report-json",
        str(out),
        env=env,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert data["image"]["digest"] == digest
    (finding,) = data["checks"][0]["findings"]
    assert (finding["id"], finding["severity"], finding["found_by"]) == (
        "CVE-2026-0001",
        "high",
        ["grype", "trivy"],
    )


def test_grype_report_alone_feeds_the_non_root_check_from_its_embedded_config(tmp_path):
    realworld = (
        Path(__file__).resolve().parents[2]
        / "shared"
        / "realworld"
        / "grype"
        / "check_all_fields.json"
    )
    if not realworld.exists():
        pytest.skip("../shared/realworld is not present")
    policy = tmp_path / "policy.yml"
    policy.write_text("version: 1\nimage:\n  non_root: true\n")
    out = tmp_path / "report.json"
    result = run_gate(
        "check",
        "--grype-report",
        str(realworld),
        "--policy",
        str(policy),
        "--report-json",
        str(out),
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    check = json.loads(out.read_text())["checks"][0]
    assert (check["id"], check["status"]) == ("non-root", "pass")
    assert "1001" in check["summary"]


def test_image_with_no_os_packages_passes_and_says_so(registry, trivy_env, tmp_path):
    built = build_image([layer({"app/server": b"\x7fELF static binary"})], user="65532")
    push(registry.host, "e2e/static", built, "v1")
    policy = tmp_path / "policy.yml"
    policy.write_text("version: 1\nvulnerabilities:\n  fail_on: low\n")
    result = run_gate(
        "check", f"{registry.host}/e2e/static:v1", "--policy", str(policy), env=trivy_env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no OS packages were found" in result.stdout
