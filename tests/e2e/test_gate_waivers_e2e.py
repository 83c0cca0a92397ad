"""End to end: waivers that explain themselves, with real Trivy and real Grype.

The image installs ``libssl3`` and ``openssl`` (both from the ``openssl`` source package)
and ``zlib1g`` (from ``zlib``), as Debian's dpkg status says with its ``Source:`` field;
the advisories are keyed on the source package, as Debian's are. Trivy reads the source
from its ``Packages[].SrcName``, Grype from ``artifact.upstreams``.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gate.report.github import md
from tests.support.cli import run_gate
from tests.support.oci import build_image, layer, push
from tests.support.paths import REPO_ROOT
from tests.support.rootfs import APP_PASSWD, debian_rootfs
from tests.support.trivydb import VULNERABLE_DEBIAN_PACKAGES

ROOT = REPO_ROOT
BUILT = build_image([layer(debian_rootfs(VULNERABLE_DEBIAN_PACKAGES, passwd=APP_PASSWD))])

#: ``openssl`` and ``zlib`` are source packages; the findings are in libssl3, openssl, zlib1g.
SOURCE_WAIVERS = """
  exceptions:
    - id: cve-2026-0001
      package: openssl
      reason: not reachable, we never parse PKCS12
      expires: 2099-12-31
    - id: Cve-2026-0002
      package: zlib
      reason: compression is off
      expires: 2099-12-31
"""


@pytest.fixture(scope="module")
def pushed(registry) -> tuple[str, str]:
    """The image's tag reference and its ``repo@sha256:…`` reference."""
    digest = push(registry.host, "e2e/waivers", BUILT, "v1")
    return f"{registry.host}/e2e/waivers:v1", f"{registry.host}/e2e/waivers@{digest}"


@pytest.fixture(scope="module")
def image(pushed: tuple[str, str]) -> str:
    return pushed[0]


def gate_json(
    tmp_path: Path, reference: str, policy: str, env: dict[str, str], *extra: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    policy_file = tmp_path / "policy.yml"
    policy_file.write_text(policy)
    out = tmp_path / "report.json"
    result = run_gate(
        "check",
        reference,
        "--policy",
        str(policy_file),
        "--report-json",
        str(out),
        *extra,
        env={**env, "PYTHONPATH": str(ROOT)},  # this checkout's gate, run from tmp_path
        cwd=tmp_path,
    )
    assert "Traceback" not in result.stdout + result.stderr
    return result, json.loads(out.read_text())


def actions_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The variables a GitHub runner sets for a step, with files of this test's own."""
    return {
        **env,
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
        "GITHUB_WORKSPACE": str(tmp_path),
    }


def guarded_and_commands(stdout: str) -> tuple[str, str]:
    """Split the Actions stdout into the terminal report (inside ``::stop-commands::``)
    and the workflow commands after it."""
    found = re.search(r"::stop-commands::(\w+)\n(.*?)\n::\1::\n(.*)", stdout, re.DOTALL)
    assert found, stdout
    return found[2], found[3]


@pytest.mark.parametrize("scanners", ["trivy", "grype", "trivy, grype"])
def test_a_waiver_for_the_source_package_with_an_id_in_any_case_waives_its_binaries(
    image, scanners_env, tmp_path, scanners
):
    policy = (
        f"version: 1\nvulnerabilities:\n  fail_on: high\n  unknown_as: low\n"
        f"  scanners: [{scanners}]\n" + SOURCE_WAIVERS
    )
    result, report = gate_json(tmp_path, image, policy, scanners_env)
    assert result.returncode == 0, result.stdout + result.stderr
    [check] = report["checks"]
    applied = {
        (
            row["id"],
            row["finding"],
            row["finding_package"],
            tuple(row.get("finding_source_packages", ())),
        )
        for row in check["evidence"]["exceptions_applied"]
    }
    assert applied == {
        ("cve-2026-0001", "CVE-2026-0001", "libssl3", ("openssl",)),
        ("cve-2026-0001", "CVE-2026-0001", "openssl", ()),
        ("Cve-2026-0002", "CVE-2026-0002", "zlib1g", ("zlib",)),
    }
    assert check["evidence"]["exceptions_unused"] == []
    assert (
        "waived: CVE-2026-0001 in libssl3 (source openssl) by exception cve-2026-0001"
        in result.stdout
    )


def test_without_the_source_package_a_package_waiver_covers_only_that_binary(
    image, trivy_env, tmp_path
):
    policy = (
        "version: 1\nvulnerabilities:\n  fail_on: high\n  unknown_as: low\n  exceptions:\n"
        "    - {id: CVE-2026-0001, package: libssl3, reason: r, expires: 2099-12-31}\n"
        "    - {id: CVE-2026-0002, reason: r, expires: 2099-12-31}\n"
    )
    result, report = gate_json(tmp_path, image, policy, trivy_env)
    assert result.returncode == 1
    failing = [(f["id"], f["package"]) for f in report["checks"][0]["findings"]]
    assert failing == [("CVE-2026-0001", "openssl")]


def test_in_actions_every_exception_is_accounted_for_and_each_text_appears_once(
    image, scanners_env, tmp_path
):
    (tmp_path / "Dockerfile").write_text("FROM debian:12\nUSER app\n")
    policy = (
        "version: 1\nvulnerabilities:\n  fail_on: high\n  unknown_as: low\n"
        "  scanners: [trivy, grype]\n  exceptions:\n"
        "    - {id: cve-2026-0002, package: zlib, reason: compression disabled, expires: 2099-12-31}\n"
        "    - {id: CVE-2020-1111, reason: long gone, expires: 2099-12-31}\n"
        "    - {id: CVE-2026-0001, reason: too old, expires: 2020-01-01}\n"
        "image:\n  non_root: true\nbase_image:\n  require_digest: true\n"
    )
    env = actions_env(scanners_env, tmp_path)
    result, report = gate_json(tmp_path, image, policy, env, "--dockerfile", "Dockerfile")
    assert result.returncode == 1, result.stdout + result.stderr
    terminal, commands = guarded_and_commands(result.stdout)
    summary = (tmp_path / "summary.md").read_text()

    # Unused and expired exceptions: in the terminal and in the step summary.
    assert "unused: exception CVE-2020-1111 (policy line 8) waived nothing" in terminal
    assert "expired: exception CVE-2026-0001 expired 2020-01-01 and no longer applies" in terminal
    assert "**Unused exceptions (waived nothing in this image)** (1)" in summary
    assert "| CVE-2020-1111 | any package | 2099-12-31 | long gone |" in summary
    assert "**Expired exceptions (no longer applied)** (1)" in summary

    # Each failing finding links to its advisory; each scanner's DB age, and its source.
    assert (
        "| [CVE-2026-0001](https://avd.aquasec.com/nvd/cve-2026-0001) | libssl3 (source openssl) |"
        in summary
    )
    assert (
        "trivy 0.76.0 (DB built 2026-11-01T00:00:00Z, from Trivy's DB metadata (db/metadata.json))"
        in summary
    )
    assert re.search(
        r"grype 0\.120\.1 \(DB built [0-9T:-]+Z, from grype report \(descriptor\.db\)\)", summary
    )

    # Each check's text once: one summary, one line per check, no doubled location.
    assert summary.count("## container-gate") == 1
    for check in report["checks"]:
        assert summary.count(f"| {md(check['summary'], width=400)} |") == 1, check["id"]
        assert terminal.count(check["summary"]) == 1, check["id"]
    root = next(c for c in report["checks"] if c["id"] == "non-root")
    assert root["status"] == "fail"
    assert summary.count(md(root["summary"], width=400)) == 1
    assert commands.count(root["summary"]) == 1
    assert "Dockerfile:1: Dockerfile:1:" not in terminal
    assert terminal.count("Dockerfile:1") == 1
    assert "Dockerfile:1" not in summary.replace("`Dockerfile:1`", "")
    assert "::error file=Dockerfile,line=1," in commands
    assert "Dockerfile:1" not in commands


def test_a_saved_trivy_report_waives_by_source_and_says_its_db_age_is_unknown(
    pushed, trivy_env, tmp_path
):
    """A Trivy 0.76 report saved elsewhere (trivy-action) lists Packages by default."""
    image, digest = pushed
    saved = tmp_path / "trivy.json"
    subprocess.run(
        ["trivy", "image", "--quiet", "--format", "json", "--output", str(saved), digest],
        env=trivy_env,
        check=True,
        timeout=120,
    )
    policy = "version: 1\nvulnerabilities:\n  fail_on: high\n  unknown_as: low\n" + SOURCE_WAIVERS
    env = actions_env(trivy_env, tmp_path)
    result, report = gate_json(tmp_path, image, policy, env, "--trivy-report", str(saved))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(report["checks"][0]["evidence"]["exceptions_applied"]) == 3
    assert "Tools: trivy 0.76.0 (DB age unknown)" in (tmp_path / "summary.md").read_text()


def test_policy_validate_warns_of_an_expired_exception_and_still_passes(tmp_path):
    policy = tmp_path / "policy.yml"
    policy.write_text(
        "version: 1\nvulnerabilities:\n  exceptions:\n"
        "    - {id: CVE-2026-0001, reason: r, expires: 2099-12-31}\n"
        "    - {id: CVE-2026-0002, reason: r, expires: 2020-01-01}\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    result = run_gate("policy", "validate", str(policy), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == (
        f"{policy}:5: warning: exception CVE-2026-0002 expired 2020-01-01 and no longer "
        "waives anything; renew it or remove it"
    )
