"""End to end: the real CLI, the real Trivy binary, the real registry, images built here.

Each test runs ``python -m gate check`` as a user would and asserts on its exit code, its
terminal output and its JSON report.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import run_gate
from tests.support.oci import build_image, layer, push, write_docker_archive, write_oci_layout
from tests.support.rootfs import APP_PASSWD, AWS_SECRET_FILE, AWS_SECRET_PATH, debian_rootfs
from tests.support.trivydb import CLEAN_DEBIAN_PACKAGES, VULNERABLE_DEBIAN_PACKAGES

SHA = "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"


gate = run_gate


def write_policy(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "policy.yml"
    path.write_text("version: 1\n" + body, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def vulnerable(registry) -> str:
    image = build_image(
        [layer(debian_rootfs(VULNERABLE_DEBIAN_PACKAGES, passwd=APP_PASSWD))], user="app"
    )
    push(registry.host, "e2e/vulnerable", image, SHA[:7])
    return f"{registry.host}/e2e/vulnerable:{SHA[:7]}"


@pytest.fixture(scope="module")
def clean(registry) -> str:
    image = build_image(
        [layer(debian_rootfs(CLEAN_DEBIAN_PACKAGES, passwd=APP_PASSWD))], user="app"
    )
    push(registry.host, "e2e/clean", image, "v1")
    return f"{registry.host}/e2e/clean:v1"


@pytest.fixture(scope="module")
def with_secret(registry) -> str:
    files = debian_rootfs(CLEAN_DEBIAN_PACKAGES) | {AWS_SECRET_PATH: AWS_SECRET_FILE}
    image = build_image([layer(files)])
    push(registry.host, "e2e/secret", image, "v1")
    return f"{registry.host}/e2e/secret:v1"


def test_vulnerable_image_fails_and_the_report_names_the_cve(vulnerable, trivy_env, tmp_path):
    policy = write_policy(tmp_path, "vulnerabilities:\n  fail_on: high\n")
    report = tmp_path / "report.json"
    result = gate(
        "check", vulnerable, "--policy", str(policy), "--report-json", str(report), env=trivy_env
    )
    assert result.returncode == 1, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("FAIL") and "@sha256:" in first
    assert "CVE-2026-0002" in result.stdout and "zlib1g" in result.stdout
    data = json.loads(report.read_text())
    assert data["verdict"] == "fail"
    assert data["image"]["digest"].startswith("sha256:")
    (check,) = data["checks"]
    assert check["id"] == "vulnerabilities" and check["status"] == "fail"
    failing = {(f["id"], f["package"]) for f in check["findings"]}
    # HIGH and CRITICAL fail; UNKNOWN is judged as high by default; MEDIUM and LOW do not.
    assert failing == {
        ("CVE-2026-0001", "libssl3"),
        ("CVE-2026-0001", "openssl"),
        ("CVE-2026-0002", "zlib1g"),
        ("CVE-2026-0005", "tar"),
    }
    assert data["tools"]["trivy"]["version"]


def test_the_digest_judged_is_the_one_the_tag_resolved_to(
    vulnerable, registry, trivy_env, tmp_path
):
    policy = write_policy(tmp_path, "vulnerabilities:\n  fail_on: critical\n")
    report = tmp_path / "report.json"
    gate("check", vulnerable, "--policy", str(policy), "--report-json", str(report), env=trivy_env)
    digest = json.loads(report.read_text())["image"]["digest"]
    by_digest = gate(
        "check", f"{registry.host}/e2e/vulnerable@{digest}", "--policy", str(policy), env=trivy_env
    )
    assert digest in by_digest.stdout.splitlines()[0]


def test_threshold_above_the_findings_passes(clean, trivy_env, tmp_path):
    policy = write_policy(tmp_path, "vulnerabilities:\n  fail_on: high\n")
    result = gate("check", clean, "--policy", str(policy), env=trivy_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("PASS")


def test_critical_threshold_with_exception_for_the_critical_passes(vulnerable, trivy_env, tmp_path):
    policy = write_policy(
        tmp_path,
        "vulnerabilities:\n  fail_on: critical\n  exceptions:\n"
        "    - id: CVE-2026-0002\n      reason: zlib inflate path unused\n"
        "      expires: 2099-01-01\n",
    )
    result = gate("check", vulnerable, "--policy", str(policy), env=trivy_env)
    assert result.returncode == 0, result.stdout
    assert "waived: CVE-2026-0002 in zlib1g" in result.stdout
    assert "zlib inflate path unused" in result.stdout


def test_ignore_unfixed_lets_an_unfixed_finding_pass(vulnerable, trivy_env, tmp_path):
    strict = write_policy(
        tmp_path,
        "vulnerabilities:\n  fail_on: medium\n  exceptions:\n"
        + "".join(
            f"    - id: {cve}\n      reason: r\n      expires: 2099-01-01\n"
            for cve in ("CVE-2026-0001", "CVE-2026-0002", "CVE-2026-0005")
        ),
    )
    assert gate("check", vulnerable, "--policy", str(strict), env=trivy_env).returncode == 1
    relaxed = strict.read_text().replace(
        "fail_on: medium\n", "fail_on: medium\n  ignore_unfixed: true\n"
    )
    strict.write_text(relaxed)
    result = gate("check", vulnerable, "--policy", str(strict), env=trivy_env)
    assert result.returncode == 0, result.stdout


def test_expired_exception_no_longer_applies_and_is_reported(vulnerable, trivy_env, tmp_path):
    policy = write_policy(
        tmp_path,
        "vulnerabilities:\n  fail_on: critical\n  exceptions:\n"
        "    - id: CVE-2026-0002\n      reason: old waiver\n      expires: 2020-01-01\n",
    )
    result = gate("check", vulnerable, "--policy", str(policy), env=trivy_env)
    assert result.returncode == 1
    assert (
        "expired: exception CVE-2026-0002 expired 2020-01-01 and no longer applies" in result.stdout
    )


def test_warn_mode_exits_zero_and_shows_the_violations(vulnerable, trivy_env, tmp_path):
    policy = write_policy(tmp_path, "mode: warn\nvulnerabilities:\n  fail_on: high\n")
    result = gate("check", vulnerable, "--policy", str(policy), env=trivy_env)
    assert result.returncode == 0
    assert result.stdout.startswith("FAIL")
    assert "CVE-2026-0002" in result.stdout and "mode: warn" in result.stdout


def test_dry_run_exits_zero_on_a_violation(vulnerable, trivy_env, tmp_path):
    policy = write_policy(tmp_path, "vulnerabilities:\n  fail_on: high\n")
    result = gate("check", vulnerable, "--policy", str(policy), "--dry-run", env=trivy_env)
    assert result.returncode == 0
    assert result.stdout.startswith("FAIL") and "--dry-run" in result.stdout


def test_planted_secret_fails(with_secret, trivy_env, tmp_path):
    policy = write_policy(tmp_path, "secrets:\n  fail: true\n")
    result = gate("check", with_secret, "--policy", str(policy), env=trivy_env)
    assert result.returncode == 1
    assert "secrets" in result.stdout and AWS_SECRET_PATH in result.stdout
    assert b"AKIA2E0A8F3B244C9986".decode() not in result.stdout  # never print the secret


def test_saved_trivy_report_gives_the_same_verdict_as_the_live_scan(
    vulnerable, trivy_env, tmp_path
):
    policy = write_policy(tmp_path, "vulnerabilities:\n  fail_on: high\n")
    live_json = tmp_path / "live.json"
    live = gate(
        "check", vulnerable, "--policy", str(policy), "--report-json", str(live_json), env=trivy_env
    )
    digest = json.loads(live_json.read_text())["image"]["digest"]
    saved = tmp_path / "trivy.json"
    registry_ref = vulnerable.rsplit(":", 1)[0] + "@" + digest
    subprocess.run(
        ["trivy", "image", "--quiet", "--format", "json", "--output", str(saved), registry_ref],
        env=trivy_env,
        check=True,
        timeout=120,
    )
    replay_json = tmp_path / "replay.json"
    replay = gate(
        "check",
        "--trivy-report",
        str(saved),
        "--policy",
        str(policy),
        "--report-json",
        str(replay_json),
        env=trivy_env,
    )
    assert replay.returncode == live.returncode == 1
    live_ids = {
        (f["id"], f["package"]) for f in json.loads(live_json.read_text())["checks"][0]["findings"]
    }
    replay_data = json.loads(replay_json.read_text())
    assert {(f["id"], f["package"]) for f in replay_data["checks"][0]["findings"]} == live_ids
    assert replay_data["image"]["digest"] == digest


def test_saved_report_for_another_digest_is_refused(vulnerable, clean, trivy_env, tmp_path):
    saved = tmp_path / "trivy.json"
    subprocess.run(
        ["trivy", "image", "--quiet", "--format", "json", "--output", str(saved), clean],
        env=trivy_env,
        check=True,
        timeout=120,
    )
    policy = write_policy(tmp_path, "vulnerabilities:\n  fail_on: high\n")
    result = gate(
        "check", vulnerable, "--trivy-report", str(saved), "--policy", str(policy), env=trivy_env
    )
    assert result.returncode == 2
    assert "not for the judged image" in result.stdout + result.stderr


def test_saved_report_naming_no_digest_cannot_be_tied_to_the_image(vulnerable, trivy_env, tmp_path):
    saved = tmp_path / "trivy.json"
    # What `trivy image --input layout/` writes: no RepoDigests, so no digest to compare.
    saved.write_text(
        json.dumps({"SchemaVersion": 2, "ArtifactName": "layout/", "Metadata": {}, "Results": []})
    )
    policy = write_policy(tmp_path, "vulnerabilities:\n  fail_on: high\n")
    result = gate(
        "check", vulnerable, "--trivy-report", str(saved), "--policy", str(policy), env=trivy_env
    )
    assert result.returncode == 2
    assert "the trivy report names no image digest" in result.stdout + result.stderr


def test_oci_layout_and_docker_archive_are_gated_like_the_registry(trivy_env, tmp_path):
    image = build_image([layer(debian_rootfs(VULNERABLE_DEBIAN_PACKAGES))])
    write_oci_layout(tmp_path / "layout", image, tag="v1")
    write_docker_archive(tmp_path / "app.tar", image, "app:v1")
    policy = write_policy(tmp_path, "vulnerabilities:\n  fail_on: critical\n")
    for ref in (f"oci:{tmp_path / 'layout'}:v1", f"docker-archive:{tmp_path / 'app.tar'}"):
        result = gate("check", ref, "--policy", str(policy), env=trivy_env)
        assert result.returncode == 1, (ref, result.stdout, result.stderr)
        assert "CVE-2026-0002" in result.stdout


def test_missing_image_is_an_error(registry, trivy_env, tmp_path):
    policy = write_policy(tmp_path, "vulnerabilities:\n  fail_on: high\n")
    result = gate("check", f"{registry.host}/e2e/absent:v1", "--policy", str(policy), env=trivy_env)
    assert result.returncode == 2
    assert result.stdout.startswith("ERROR")
    assert "Traceback" not in result.stdout + result.stderr


def test_bad_policy_exits_2_with_file_line_and_col(vulnerable, trivy_env, tmp_path):
    policy = write_policy(tmp_path, "vulnerabilities:\n  fail_on: hihg\n")
    result = gate("check", vulnerable, "--policy", str(policy), env=trivy_env)
    assert result.returncode == 2
    assert f"{policy}:3:12" in result.stderr
    assert "low, medium, high, critical" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_a_policy_file_the_builtin_default_applies_and_says_so(clean, trivy_env, tmp_path):
    result = gate("check", clean, env=trivy_env, cwd=tmp_path)
    assert "built-in default policy" in result.stdout
    assert result.returncode in (0, 1)


def test_policy_in_the_default_location_is_found(vulnerable, trivy_env, tmp_path):
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "container-gate.yml").write_text(
        "version: 1\nvulnerabilities:\n  fail_on: critical\n"
    )
    result = gate("check", vulnerable, env=trivy_env, cwd=tmp_path)
    assert result.returncode == 1
    assert "built-in default" not in result.stdout


def test_version_prints_the_version():
    result = gate("--version", env=dict(os.environ))
    assert result.returncode == 0 and result.stdout.startswith("container-gate ")
