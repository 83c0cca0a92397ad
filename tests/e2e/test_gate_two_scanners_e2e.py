"""End to end with two scanners: real Trivy and real Grype on a real registry image.

Both scanners run offline against DBs built from the same advisories (``scanners_env``):
Trivy's by tests/support/trivydb.py, Grype's by Grype's own v6 writer
(tests/support/grypedb). A test that needs the scanners to disagree gives Grype a DB with
different advisories. What a real Grype cannot be made to do (write garbage, report another
image, sleep on cue) is a stub executable first on PATH.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import grype_environment
from tests.support.authproxy import BasicAuthProxy
from tests.support.cli import run_gate
from tests.support.grype import grype_match, grype_report
from tests.support.oci import build_image, layer, push
from tests.support.paths import REPO_ROOT
from tests.support.rootfs import APP_PASSWD, debian_rootfs
from tests.support.stubs import Stub, StubBin
from tests.support.trivydb import (
    BASH_LOW,
    CURL_MEDIUM_UNFIXED,
    DEFAULT_ADVISORIES,
    EXPECTED_DEBIAN_FINDINGS,
    OPENSSL_HIGH,
    TAR_UNKNOWN,
    VULNERABLE_DEBIAN_PACKAGES,
    Advisory,
)

POLICY = "version: 1\nvulnerabilities:\n  fail_on: high\n  scanners: [trivy, grype]\n"
#: An advisory only Grype's DB has (base-files is installed, and clean in Trivy's DB).
BASE_FILES_GRYPE_ONLY = Advisory("CVE-2026-9999", "base-files", "HIGH", "12.4+deb12u6")


BUILT = build_image([layer(debian_rootfs(VULNERABLE_DEBIAN_PACKAGES, passwd=APP_PASSWD))])


@pytest.fixture(scope="module")
def image(registry) -> tuple[str, str]:
    digest = push(registry.host, "e2e/two", BUILT, "v1")
    return f"{registry.host}/e2e/two:v1", digest


def with_grype_db(
    trivy_env: dict[str, str], root: Path, advisories: tuple[Advisory, ...], **kwargs: Any
) -> dict[str, str]:
    """Real Trivy on the default DB, real Grype on a DB of *advisories*."""
    grype = grype_environment(root, advisories, **kwargs)
    env = {k: v for k, v in trivy_env.items() if not k.startswith("GRYPE_")}
    env.update({k: v for k, v in grype.items() if k.startswith(("GRYPE_", "XDG_CONFIG"))})
    return env


def gate_json(
    reference: str, env: dict[str, str], tmp_path: Path, policy: str = POLICY
) -> tuple[Any, dict[str, Any]]:
    """Run the gate; return the process and the vulnerabilities check of its JSON report."""
    policy_file = tmp_path / "policy.yml"
    policy_file.write_text(policy)
    out = tmp_path / "report.json"
    result = run_gate(
        "check", reference, "--policy", str(policy_file), "--report-json", str(out), env=env
    )
    assert "Traceback" not in result.stdout + result.stderr
    checks = json.loads(out.read_text())["checks"] if out.exists() else [{}]
    return result, checks[0]


def only_one(check: dict[str, Any]) -> set[tuple[str, tuple[str, ...]]]:
    return {(f["id"], tuple(f["found_by"])) for f in check["evidence"]["found_by_one_only"]}


def test_the_same_advisories_in_both_dbs_are_one_finding_each_found_by_both(
    image, scanners_env, tmp_path
):
    reference, digest = image
    policy = POLICY.replace("fail_on: high", "fail_on: low")  # every finding is listed
    result, check = gate_json(reference, scanners_env, tmp_path, policy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"FAIL  {reference.rsplit(':', 1)[0]}@{digest}")
    found = {(f["id"], f["package"], f["severity"].upper()) for f in check["findings"]}
    assert found == EXPECTED_DEBIAN_FINDINGS
    assert {tuple(f["found_by"]) for f in check["findings"]} == {("grype", "trivy")}
    assert only_one(check) == set()
    versions = {row["name"]: row["version"] for row in check["evidence"]["scanners"]}
    assert versions["grype"] == "0.120.1"
    assert "found by all scanners: 6; by one only: 0" in result.stdout


def test_an_advisory_only_in_grypes_db_is_a_disagreement(image, trivy_env, tmp_path):
    reference, _ = image
    env = with_grype_db(trivy_env, tmp_path / "grype", (*DEFAULT_ADVISORIES, BASE_FILES_GRYPE_ONLY))
    result, check = gate_json(reference, env, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert only_one(check) == {("CVE-2026-9999", ("grype",))}
    base_files = [f for f in check["findings"] if f["package"] == "base-files"]
    assert [(f["id"], f["severity"]) for f in base_files] == [("CVE-2026-9999", "high")]
    assert "found by all scanners: 6; by one only: 1" in result.stdout
    assert "only grype: CVE-2026-9999 in base-files" in result.stdout


def test_cve_and_ghsa_alias_from_two_scanners_become_one_finding(image, trivy_env, tmp_path):
    reference, _ = image
    # Grype's DB names the openssl advisory by a GHSA id whose related id is Trivy's CVE,
    # rates it higher than Trivy's DB does, and lacks zlib's: a finding only Trivy has.
    ghsa = Advisory("GHSA-aaaa-bbbb-cccc", "openssl", "CRITICAL", OPENSSL_HIGH.fixed_version)
    advisories = (ghsa, CURL_MEDIUM_UNFIXED, BASH_LOW, TAR_UNKNOWN, BASE_FILES_GRYPE_ONLY)
    env = with_grype_db(
        trivy_env,
        tmp_path / "grype",
        advisories,
        aliases={ghsa.vuln_id: (OPENSSL_HIGH.vuln_id,)},
    )
    result, check = gate_json(reference, env, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    openssl = [f for f in check["findings"] if f["package"] == "openssl"]
    assert len(openssl) == 1
    assert openssl[0]["id"] == "CVE-2026-0001"
    assert "GHSA-aaaa-bbbb-cccc" in openssl[0]["aliases"]
    assert openssl[0]["severity"] == "critical"  # the higher of HIGH (Trivy) and Critical (Grype)
    assert openssl[0]["found_by"] == ["grype", "trivy"]
    assert only_one(check) == {("CVE-2026-9999", ("grype",)), ("CVE-2026-0002", ("trivy",))}
    assert "found by all scanners" in result.stdout


def test_grype_without_its_db_is_an_error_even_when_trivy_passes(image, scanners_env, tmp_path):
    reference, _ = image
    env = {**scanners_env, "GRYPE_DB_CACHE_DIR": str(tmp_path / "no-db")}
    policy = (
        POLICY.replace("fail_on: high", "fail_on: critical") + "  exceptions:\n"
        "    - id: CVE-2026-0002\n      reason: r\n      expires: 2099-01-01\n"
    )
    result, check = gate_json(reference, env, tmp_path, policy)
    assert result.returncode == 2
    assert result.stdout.startswith("ERROR")
    assert "grype exited with code 1" in result.stdout
    assert "failed to load vulnerability db: database does not exist" in result.stdout
    assert check["status"] == "error"


def with_grype(tmp_path: Path, trivy_env: dict[str, str], stub: Stub) -> dict[str, str]:
    bin_dir = StubBin(tmp_path / "stubs")
    bin_dir.install("grype", stub)
    env = dict(trivy_env)
    env["PATH"] = os.pathsep.join([str(bin_dir.path), env["PATH"]])
    return env


def grype_doc(reference: str, digest: str, matches: list[Any]) -> str:
    repository = reference.rsplit(":", 1)[0]
    doc = grype_report(
        matches, user_input=f"{repository}@{digest}", repo_digests=(f"{repository}@{digest}",)
    )
    doc["source"]["target"]["manifestDigest"] = digest
    doc["source"]["target"]["imageID"] = BUILT.config_digest
    return json.dumps(doc)


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


USER, PASSWORD = "deployer", "s3cret-Token"
ROBOT, ROBOT_PASSWORD = "ci-robot", "its-own"


@pytest.fixture(scope="module")
def private(registry, image) -> Iterator[BasicAuthProxy]:
    """The image behind basic auth on 127.0.0.2 (no scanner's plain-HTTP fallback)."""
    with BasicAuthProxy(registry.host, {USER: PASSWORD, ROBOT: ROBOT_PASSWORD}) as proxy:
        yield proxy


def tool_of(agent: str) -> str:
    """The program in a User-Agent: ``trivy/0.76.0``, ``/path/to/grype go-containerregistry/…``."""
    first = agent.split(" ")[0]
    return Path(first).name if first.startswith("/") else first.split("/")[0]


@pytest.mark.parametrize("trivy_own", [None, ROBOT])
def test_env_registry_credentials_reach_both_real_scanners_in_their_own_variables(
    image, private, scanners_env, tmp_path, trivy_own
):
    _, digest = image
    reference = f"{private.host}/e2e/two:v1"
    env = {k: v for k, v in scanners_env.items() if k != "GRYPE_REGISTRY_INSECURE_USE_HTTP"}
    env.update(REGISTRY_USERNAME=USER, REGISTRY_PASSWORD=PASSWORD)
    if trivy_own:
        env.update(TRIVY_USERNAME=trivy_own, TRIVY_PASSWORD=ROBOT_PASSWORD)
    before = len(private.seen())
    result, check = gate_json(reference, env, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"FAIL  {private.host}/e2e/two@{digest}")
    assert {tuple(f["found_by"]) for f in check["findings"]} == {("grype", "trivy")}
    users: dict[str, set[str | None]] = {"grype": set(), "trivy": set()}
    for seen in private.seen()[before:]:
        tool = tool_of(seen.agent)
        if "/blobs/" in seen.path and tool in users:
            users[tool].add(seen.user)
    assert users["grype"] == {USER}
    assert users["trivy"] == {trivy_own or USER}
    assert PASSWORD not in result.stdout + result.stderr


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
    # Stubs that sleep 2 s make the overlap measurable; real scans of this image are too quick.
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
    realworld = REPO_ROOT.parent / "shared" / "realworld" / "grype" / "check_all_fields.json"
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


def test_image_with_no_os_packages_passes_and_says_so(registry, scanners_env, tmp_path):
    built = build_image([layer({"app/server": b"\x7fELF static binary"})], user="65532")
    push(registry.host, "e2e/static", built, "v1")
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY.replace("fail_on: high", "fail_on: low"))
    result = run_gate(
        "check", f"{registry.host}/e2e/static:v1", "--policy", str(policy), env=scanners_env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no OS packages were found" in result.stdout
