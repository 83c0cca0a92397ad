"""End to end, as the Action runs it: the real CLI with ``GITHUB_ACTIONS=true`` and real Trivy.

Two images in one invocation, three output formats (terminal, JSON, SARIF) plus the GitHub
annotations, summary and outputs: each image is still scanned exactly once, which a counting
shim in front of the real Trivy binary proves.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import jsonschema
import pytest

from tests.support.oci import build_image, layer, write_oci_layout
from tests.support.rootfs import APP_PASSWD, debian_rootfs
from tests.support.trivydb import CLEAN_DEBIAN_PACKAGES, VULNERABLE_DEBIAN_PACKAGES
from tests.unit.report.test_github_report import issued_commands, read_outputs
from tests.unit.report.test_sarif import SCHEMA_PATH


@pytest.fixture(scope="module")
def github_run(
    trivy_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    tmp_path = tmp_path_factory.mktemp("github-run")
    workspace = tmp_path / "repo"
    service = workspace / "svc"
    service.mkdir(parents=True)
    (service / "Dockerfile").write_text("FROM debian:12\nUSER app\n")
    (service / "policy.yml").write_text(
        "version: 1\nvulnerabilities:\n  fail_on: high\nbase_image:\n  require_digest: true\n"
    )
    images = []
    for name, packages in (
        ("vulnerable", VULNERABLE_DEBIAN_PACKAGES),
        ("clean", CLEAN_DEBIAN_PACKAGES),
    ):
        image = build_image([layer(debian_rootfs(packages, passwd=APP_PASSWD))], user="app")
        write_oci_layout(tmp_path / name, image, tag="v1")
        images.append(f"oci:{tmp_path / name}")

    real_trivy = shutil.which("trivy", path=trivy_env["PATH"])
    assert real_trivy is not None
    shim_dir, calls = tmp_path / "shim", tmp_path / "trivy-calls"
    shim_dir.mkdir()
    (shim_dir / "trivy").write_text(
        f'#!/bin/sh\necho "$*" >> "{calls}"\nexec "{real_trivy}" "$@"\n'
    )
    (shim_dir / "trivy").chmod(0o755)

    output, summary = tmp_path / "github_output", tmp_path / "summary.md"
    env = {
        **trivy_env,
        "PATH": f"{shim_dir}:{trivy_env['PATH']}",
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_WORKSPACE": str(workspace),
    }
    result = subprocess.run(
        [
            sys.executable, "-m", "gate", "check", *images,
            "--policy", "policy.yml", "--dockerfile", "Dockerfile",
            "--sarif", "out/gate.sarif", "--report-json", "out/report.json",
        ],
        cwd=service, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    return {
        "result": result,
        "images": images,
        "service": service,
        "calls": calls.read_text().splitlines() if calls.exists() else [],
        "outputs": read_outputs(output.read_text()) if output.exists() else {},
        "summary": summary.read_text() if summary.exists() else "",
    }


def test_each_image_is_scanned_once_however_many_formats(github_run) -> None:
    result = github_run["result"]
    assert result.returncode == 1, result.stdout + result.stderr
    scans = [c for c in github_run["calls"] if c.startswith("image ")]  # not `trivy version`
    assert len(scans) == 2, github_run["calls"]


def test_outputs_carry_the_overall_verdict_and_failing_counts(github_run) -> None:
    outputs = github_run["outputs"]
    assert outputs["verdict"] == "fail"
    assert int(outputs["critical"]) >= 1 and int(outputs["high"]) >= 1
    assert outputs["low"] == "0"


def test_outputs_name_the_report_and_sarif_files(github_run) -> None:
    """Needs run.py to call ``publish(run, report_path=..., sarif_path=...)``."""
    outputs, service = github_run["outputs"], github_run["service"]
    assert outputs.get("report") == str(service / "out" / "report.json")
    assert outputs.get("sarif") == str(service / "out" / "gate.sarif")


def test_base_image_annotations_point_at_the_dockerfile_in_the_repository(github_run) -> None:
    commands = issued_commands(github_run["result"].stdout)
    located = [props for name, props, _ in commands if "file" in props]
    assert located and all(p["file"] == "svc/Dockerfile" and p["line"] == "1" for p in located)
    assert {name for name, _, _ in commands} == {"error"}


def test_summary_has_a_verdict_per_image(github_run) -> None:
    summary = github_run["summary"]
    assert summary.startswith("## container-gate: ❌ FAIL")
    assert summary.count("\n### ") == 2
    assert "CVE-2026-0002" in summary


def test_sarif_is_schema_valid_with_one_category_per_image(github_run) -> None:
    document = json.loads((github_run["service"] / "out" / "gate.sarif").read_text())
    schema = json.loads(SCHEMA_PATH.read_text())
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(document))
    assert not errors, errors[0].message
    categories = [run["automationDetails"]["id"] for run in document["runs"]]
    assert len(set(categories)) == 2
    located = [
        loc["physicalLocation"]
        for run in document["runs"]
        for res in run["results"]
        if res["ruleId"] == "base-digest/unpinned-base"
        for loc in res["locations"]
    ]
    assert located and all(
        p["artifactLocation"]["uri"] == "svc/Dockerfile" and p["region"]["startLine"] == 1
        for p in located
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "registry.test/app:v1", "--policy", "missing\n::error::injected"],
        ["check", "registry.test/app:v1\n::error::injected"],
    ],
    ids=["policy error", "usage error"],
)
def test_error_messages_in_actions_cannot_issue_workflow_commands(
    argv: list[str], tmp_path
) -> None:
    env = {"PATH": "/usr/bin:/bin", "GITHUB_ACTIONS": "true", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "gate", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2
    assert "::error::injected" in done.stdout + done.stderr  # shown, as data
    issued = issued_commands(done.stdout) + issued_commands(done.stderr)
    # The gate's own annotation may quote the text (escaped); the text itself issues nothing.
    assert not [c for c in issued if c[2].startswith("injected")], issued
