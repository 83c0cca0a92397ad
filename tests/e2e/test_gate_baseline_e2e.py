"""End to end: gating only what is new since a baseline image or a saved report of it.

The real CLI, real Trivy and the real registry. The images (advisories in
tests/support/trivydb.py):

* ``old``: openssl 3.0.11 (CVE-2026-0001, high), tar unfixed (CVE-2026-0005, unknown →
  high), zlib fixed;
* ``new``: openssl upgraded to 3.0.13, still below the fix (so CVE-2026-0001 is inherited,
  not new: matching ignores the version), zlib downgraded (CVE-2026-0002, critical: new),
  tar fixed (CVE-2026-0005: fixed since the baseline);
* ``same``: like ``old`` with openssl upgraded, still vulnerable: nothing new.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.support.cli import run_gate
from tests.support.oci import build_image, layer, push
from tests.support.rootfs import APP_PASSWD, debian_rootfs
from tests.unit.report.test_sarif import SCHEMA_PATH

OLD = [
    ("libssl3", "openssl", "3.0.11-1~deb12u2"),
    ("openssl", "openssl", "3.0.11-1~deb12u2"),
    ("zlib1g", "zlib", "1:1.2.13.dfsg-1+deb12u1"),
    ("tar", "tar", "1.34+dfsg-1.2"),
    ("base-files", "base-files", "12.4+deb12u5"),
]
NEW = [
    ("libssl3", "openssl", "3.0.13-1~deb12u1"),
    ("openssl", "openssl", "3.0.13-1~deb12u1"),
    ("zlib1g", "zlib", "1:1.2.13.dfsg-1"),
    ("tar", "tar", "1.34+dfsg-1.2+deb12u1"),
    ("base-files", "base-files", "12.4+deb12u5"),
]
SAME = [*NEW[:2], OLD[2], OLD[3], OLD[4]]


def _push(registry, repo: str, packages, tag: str) -> str:
    image = build_image([layer(debian_rootfs(packages, passwd=APP_PASSWD))], user="app")
    push(registry.host, repo, image, tag)
    return f"{registry.host}/{repo}:{tag}"


@pytest.fixture(scope="module")
def images(registry) -> dict[str, str]:
    return {
        "old": _push(registry, "delta/app", OLD, "old"),
        "new": _push(registry, "delta/app", NEW, "new"),
        "same": _push(registry, "delta/app", SAME, "same"),
        "other": _push(registry, "delta/other", OLD, "old"),
    }


def write_policy(tmp_path: Path, body: str = "") -> Path:
    path = tmp_path / "policy.yml"
    path.write_text(
        "version: 1\nvulnerabilities:\n  fail_on: high\n  new_only: true\n" + body,
        encoding="utf-8",
    )
    return path


def _check(report: Path) -> dict[str, Any]:
    (check,) = json.loads(report.read_text())["checks"]
    assert isinstance(check, dict)
    return check


def _ids(rows) -> set[tuple[str, str]]:
    return {(r["id"], r["package"]) for r in rows}


def test_only_the_new_finding_fails_against_a_baseline_image(images, trivy_env, tmp_path):
    policy = write_policy(tmp_path)
    report, sarif = tmp_path / "report.json", tmp_path / "gate.sarif"
    result = run_gate(
        "check", images["new"], "--policy", str(policy), "--baseline", images["old"],
        "--report-json", str(report), "--sarif", str(sarif), env=trivy_env,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    check = _check(report)
    assert _ids(check["findings"]) == {("CVE-2026-0002", "zlib1g")}
    assert check["findings"][0]["baseline"] == "new"
    # SARIF holds what fails: with new_only, the new findings only.
    (run,) = json.loads(sarif.read_text())["runs"]
    assert [(r["ruleId"], r["baselineState"]) for r in run["results"]] == [
        ("vulnerability/CVE-2026-0002", "new")
    ]
    delta = check["evidence"]["baseline"]
    assert _ids(delta["new"]) == {("CVE-2026-0002", "zlib1g")}
    # openssl was upgraded but still carries CVE-2026-0001: inherited, not new.
    assert _ids(delta["inherited"]) == {("CVE-2026-0001", "libssl3"), ("CVE-2026-0001", "openssl")}
    assert _ids(delta["fixed"]) == {("CVE-2026-0005", "tar")}
    assert delta["source"].startswith("image ") and "@sha256:" in delta["source"]
    assert "inherited (not failing): CVE-2026-0001 in libssl3" in result.stdout
    assert "fixed since baseline: CVE-2026-0005 in tar" in result.stdout


def test_nothing_new_passes_with_new_only_and_fails_without(images, trivy_env, tmp_path):
    policy = write_policy(tmp_path)
    args = ("check", images["same"], "--policy", str(policy), "--baseline", images["old"])
    assert run_gate(*args, env=trivy_env).returncode == 0
    policy.write_text(policy.read_text().replace("new_only: true", "new_only: false"))
    result = run_gate(*args, env=trivy_env)
    assert result.returncode == 1
    assert "0 new, 3 inherited" in result.stdout


def test_a_saved_report_is_a_baseline_and_carries_first_seen(images, trivy_env, tmp_path):
    policy = write_policy(tmp_path)
    old_report = tmp_path / "old.json"
    first = run_gate(
        "check", images["old"], "--policy", str(policy), "--report-json", str(old_report),
        env=trivy_env,
    )  # fmt: skip
    assert first.returncode == 1  # no baseline: every finding is new
    judged_at = _check(old_report)["evidence"]["judged_at"]
    report = tmp_path / "report.json"
    result = run_gate(
        "check", images["new"], "--policy", str(policy), "--baseline", str(old_report),
        "--report-json", str(report), env=trivy_env,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    check = _check(report)
    assert _ids(check["findings"]) == {("CVE-2026-0002", "zlib1g")}
    delta = check["evidence"]["baseline"]
    assert delta["source"] == f"report {old_report}"
    assert {r["first_seen"] for r in delta["inherited"]} == {judged_at}
    assert {r["days_present"] for r in delta["inherited"]} == {0}
    # The new report's inventory keeps the first sighting, so a chain of baselines ages.
    # (A row without first_seen was first seen when its report was judged.)
    seen = {(r["id"], r["package"]): r.get("first_seen") for r in check["evidence"]["inventory"]}
    assert seen[("CVE-2026-0001", "openssl")] == judged_at
    assert seen[("CVE-2026-0002", "zlib1g")] is None


def test_the_baseline_from_the_policy_is_relative_to_the_policy_file(images, trivy_env, tmp_path):
    old_report = tmp_path / "old.json"
    run_gate("check", images["old"], "--policy", str(write_policy(tmp_path)), "--report-json",
             str(old_report), env=trivy_env)  # fmt: skip
    policy = write_policy(tmp_path, "  baseline: old.json\n")
    # The gate runs in the repository, not beside the policy: the path is the policy's.
    result = run_gate("check", images["same"], "--policy", str(policy), env=trivy_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 new, 3 inherited" in result.stdout


def test_a_baseline_of_another_repository_is_refused(images, trivy_env, tmp_path):
    policy = write_policy(tmp_path)
    result = run_gate(
        "check", images["new"], "--policy", str(policy), "--baseline", images["other"],
        env=trivy_env,
    )  # fmt: skip
    assert result.returncode == 2
    assert "baseline refused" in result.stdout and "delta/other" in result.stdout


def test_a_baseline_judged_with_another_policy_is_warned_about(images, trivy_env, tmp_path):
    old_policy = tmp_path / "old-policy.yml"
    old_policy.write_text("version: 1\nvulnerabilities:\n  fail_on: critical\n")
    old_report = tmp_path / "old.json"
    run_gate("check", images["old"], "--policy", str(old_policy), "--report-json",
             str(old_report), env=trivy_env)  # fmt: skip
    policy = write_policy(tmp_path)
    result = run_gate(
        "check", images["same"], "--policy", str(policy), "--baseline", str(old_report),
        env=trivy_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "baseline warning: the baseline was judged with another policy" in result.stdout


@pytest.mark.parametrize("content", ["not json", '{"images": []}', '{"images": [{"checks": []}]}'])
def test_an_unusable_baseline_report_is_an_error_not_everything_inherited(
    images, trivy_env, tmp_path, content
):
    policy = write_policy(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = run_gate(
        "check", images["same"], "--policy", str(policy), "--baseline", str(bad), env=trivy_env
    )
    assert result.returncode == 2, result.stdout
    assert f"baseline report {bad}" in result.stdout


def test_a_missing_baseline_report_or_image_is_an_error(images, registry, trivy_env, tmp_path):
    policy = write_policy(tmp_path)
    for baseline in (str(tmp_path / "missing.json"), f"{registry.host}/delta/app:gone"):
        result = run_gate(
            "check", images["same"], "--policy", str(policy), "--baseline", baseline,
            env=trivy_env,
        )  # fmt: skip
        assert result.returncode == 2, result.stdout
        assert "baseline" in result.stdout


def test_sarif_and_step_summary_carry_the_delta(images, trivy_env, tmp_path):
    policy = write_policy(tmp_path)
    policy.write_text(policy.read_text().replace("new_only: true", "new_only: false"))
    sarif, summary = tmp_path / "gate.sarif", tmp_path / "summary.md"
    env = {**trivy_env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = run_gate(
        "check", images["new"], "--policy", str(policy), "--baseline", images["old"],
        "--sarif", str(sarif), env=env,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    document = json.loads(sarif.read_text())
    validator = jsonschema.Draft4Validator(json.loads(SCHEMA_PATH.read_bytes()))
    errors = sorted(e.message for e in validator.iter_errors(document))
    assert errors == [], errors  # baselineState is part of SARIF 2.1.0
    (run,) = document["runs"]
    states = {(r["ruleId"], r["properties"]["package"]): r["baselineState"] for r in run["results"]}
    assert states == {
        ("vulnerability/CVE-2026-0002", "zlib1g"): "new",
        ("vulnerability/CVE-2026-0001", "libssl3"): "unchanged",
        ("vulnerability/CVE-2026-0001", "openssl"): "unchanged",
    }
    text = summary.read_text()
    assert "**Since baseline** image " in text and "1 new, 2 inherited, 1 fixed" in text
    assert "| CVE-2026-0001 | libssl3 | high |" in text


def test_a_baseline_image_is_scanned_as_the_judged_one_sharing_analyses_and_kept_reports(
    images, trivy_env, tmp_path
):
    """The two scans of one run overlap, so they go through one local Trivy server (never
    two standalone Trivys fighting over the cache's lock), and both reports are kept."""
    policy = write_policy(tmp_path)
    cache = tmp_path / "trivy-cache"
    shutil.copytree(trivy_env["TRIVY_CACHE_DIR"], cache)
    env = {k: v for k, v in trivy_env.items() if k != "TRIVY_CACHE_BACKEND"}
    env["TRIVY_CACHE_DIR"] = str(cache)
    args = ("check", images["new"], "--policy", str(policy), "--baseline", images["old"])
    first = run_gate(*args, "--verbose", env=env)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "starting a local Trivy server" in first.stderr
    assert "in use by another Trivy" not in first.stdout
    assert len(list((cache / "fanal" / "container-gate").glob("*.json"))) == 2
    second = run_gate(*args, "--verbose", env=env)
    assert second.returncode == 1
    assert second.stderr.count("trivy: reusing the report kept in") == 2
