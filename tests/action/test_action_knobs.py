"""The Action's knobs: every CLI option a workflow needs has an input, reaching the CLI as one
argv entry, and a bad input is named as the workflow spells it (``input `platform```), in an
annotation and in the step summary, before anything runs.

Also: ``--fail-on`` through the real CLI, and scanner versions whose sum the user supplies.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
import yaml

from tests.action.test_action_install import PLATFORM, install, tarball, with_own_checksums
from tests.action.test_action_run_gate import STUB_PYTHON, run_gate
from tests.support.cli import run_gate as gate_cli
from tests.support.paths import REPO_ROOT
from tests.unit.report.test_github_report import workflow_commands
from tests.unit.scanners.test_scanner_trivy import report, vuln, write

ROOT = REPO_ROOT


@pytest.fixture
def stub_python(tmp_path: Path) -> Path:
    """A stand-in interpreter that records the argv run-gate.sh gives ``python -m gate``."""
    path = tmp_path / "python"
    path.write_text(STUB_PYTHON.format(python=sys.executable))
    path.chmod(0o755)
    return path


# --------------------------------------------------------------------------- action.yml


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        ("platform", "GATE_PLATFORM"),
        ("scanner-timeout", "GATE_SCANNER_TIMEOUT"),
        ("insecure-registry", "GATE_INSECURE_REGISTRIES"),
        ("parallel", "GATE_PARALLEL"),
        ("dry-run", "GATE_DRY_RUN"),
        ("fail-on", "GATE_FAIL_ON"),
        ("trivy-report", "GATE_TRIVY_REPORT"),
        ("grype-report", "GATE_GRYPE_REPORT"),
    ],
)
def test_each_cli_knob_is_an_input_passed_through_env(name: str, variable: str) -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert name in action["inputs"]
    gate = next(s for s in action["runs"]["steps"] if s.get("id") == "gate")
    assert gate["env"][variable] == f"${{{{ inputs.{name} }}}}"


def test_supplied_scanner_sums_reach_the_installer() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    step = next(s for s in action["runs"]["steps"] if "install-scanners.sh" in s.get("run", ""))
    assert step["env"]["INSTALL_SHA256_TRIVY"] == "${{ inputs.trivy-sha256 }}"
    assert step["env"]["INSTALL_SHA256_GRYPE"] == "${{ inputs.grype-sha256 }}"
    assert step["env"]["CONTAINER_GATE_ASSET_CACHE"] == "${{ steps.install.outputs.assets }}"


def test_the_venv_and_scanner_caches_are_keyed_on_what_they_hold() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    keys = {
        s["id"]: s["with"]["key"]
        for s in action["runs"]["steps"]
        if "cache/restore" in s.get("uses", "")
    }
    assert "steps.install.outputs.lock" in keys["venv-cache"]
    assert "steps.python.outputs.python-version" in keys["venv-cache"]
    assert "steps.install.outputs.sums" in keys["scanner-cache"]
    assert "steps.install.outputs.scanners" in keys["scanner-cache"]  # both versions


# --------------------------------------------------------------------------- run-gate.sh


@pytest.mark.parametrize(
    ("arch", "platform"),
    [("X64", "linux/amd64"), ("ARM64", "linux/arm64"), ("ARM", "linux/arm/v7")],
)
def test_the_platform_defaults_to_the_runners_architecture(
    tmp_path: Path, stub_python: Path, arch: str, platform: str
) -> None:
    result, recorded, _ = run_gate(
        tmp_path, stub_python, GATE_IMAGES="app:1", RUNNER_ARCH=arch, STUB_VERDICT="pass"
    )
    assert result.returncode == 0, result.stdout
    assert f"--platform={platform}" in recorded["argv"]


def test_the_platform_input_wins_over_the_runner(tmp_path: Path, stub_python: Path) -> None:
    _, recorded, _ = run_gate(
        tmp_path, stub_python, GATE_IMAGES="app:1", RUNNER_ARCH="ARM64",
        GATE_PLATFORM="linux/arm/v6", STUB_VERDICT="pass",
    )  # fmt: skip
    assert [a for a in recorded["argv"] if a.startswith("--platform")] == [
        "--platform=linux/arm/v6"
    ]


def test_outside_a_known_runner_the_cli_default_platform_applies(
    tmp_path: Path, stub_python: Path
) -> None:
    _, recorded, _ = run_gate(tmp_path, stub_python, GATE_IMAGES="app:1", STUB_VERDICT="pass")
    assert not any(a.startswith("--platform") for a in recorded["argv"])


def test_every_knob_becomes_its_flag(tmp_path: Path, stub_python: Path) -> None:
    _, recorded, _ = run_gate(
        tmp_path,
        stub_python,
        GATE_IMAGES="app:1",
        GATE_SCANNER_TIMEOUT="1200",
        GATE_INSECURE_REGISTRIES="registry.internal:5000\nmirror.lan",
        GATE_PARALLEL="4",
        GATE_DRY_RUN="true",
        GATE_FAIL_ON="CRITICAL",
        GATE_TRIVY_REPORT="out/trivy.json",
        STUB_VERDICT="pass",
    )
    argv = recorded["argv"][: recorded["argv"].index("--")]
    for flag in (
        "--scanner-timeout=1200",
        "--insecure-registry=registry.internal:5000",
        "--insecure-registry=mirror.lan",
        "--parallel=4",
        "--dry-run",
        "--fail-on=CRITICAL",
        "--trivy-report=out/trivy.json",
    ):
        assert flag in argv


@pytest.mark.parametrize(
    ("variable", "value", "input_name"),
    [
        ("GATE_PLATFORM", "linux arm64", "platform"),
        ("GATE_PARALLEL", "0", "parallel"),
        ("GATE_PARALLEL", "two", "parallel"),
        ("GATE_SCANNER_TIMEOUT", "10m", "scanner-timeout"),
        ("GATE_SCANNER_TIMEOUT", "0", "scanner-timeout"),
        ("GATE_DRY_RUN", "yes please", "dry-run"),
        ("GATE_FAIL_ON", "severe", "fail-on"),
        ("GATE_MODE", "audit", "mode"),
        ("GATE_SCANNERS", "trivy,snyk", "scanners"),
        ("GATE_INSECURE_REGISTRIES", "http://registry:5000", "insecure-registry"),
    ],
)
def test_a_bad_input_is_named_as_the_workflow_spells_it(
    tmp_path: Path, stub_python: Path, variable: str, value: str, input_name: str
) -> None:
    summary = tmp_path / "summary.md"
    result, recorded, outputs = run_gate(
        tmp_path, stub_python, GATE_IMAGES="app:1", GITHUB_STEP_SUMMARY=str(summary),
        **{variable: value},
    )  # fmt: skip
    assert result.returncode == 2 and recorded == {}, "the CLI must not run"
    errors = [data for name, _, data in workflow_commands(result.stdout) if name == "error"]
    assert len(errors) == 1 and errors[0].startswith(f"input `{input_name}`: "), errors
    assert f"got '{value}'" in errors[0]
    assert f"input `{input_name}`" in summary.read_text()
    assert outputs == {} or outputs.get("verdict") == "error"


# --------------------------------------------------------------------------- --fail-on, CLI


def test_fail_on_overrides_the_policy_threshold(tmp_path: Path) -> None:
    saved = write(tmp_path, report([vuln(severity="MEDIUM")]))
    policy = tmp_path / "policy.yml"
    policy.write_text("version: 1\nvulnerabilities:\n  fail_on: high\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    base = ("check", "--trivy-report", str(saved), "--policy", str(policy))
    assert gate_cli(*base, env=env).returncode == 0
    out = tmp_path / "r.json"
    lowered = gate_cli(*base, "--fail-on", "MEDIUM", "--report-json", str(out), env=env)
    assert lowered.returncode == 1, lowered.stdout + lowered.stderr
    assert json.loads(out.read_text())["verdict"] == "fail"
    assert gate_cli(*base, "--fail-on", "critical", env=env).returncode == 0


def test_fail_on_refuses_a_word_that_is_not_a_severity(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text("version: 1\nvulnerabilities: {}\n")
    result = gate_cli("check", "app:1", "--policy", str(policy), "--fail-on", "severe", env={})
    assert result.returncode == 2
    assert "--fail-on: 'severe' is not a severity; allowed: low, medium, high, critical" in (
        result.stderr
    )


# --------------------------------------------------------------------------- supplied sums

pytestmark_linux = pytest.mark.skipif(PLATFORM is None, reason="checksums cover Linux amd64/arm64")
ASSET = {
    "linux-amd64": "trivy_9.9.9_Linux-64bit.tar.gz",
    "linux-arm64": "trivy_9.9.9_Linux-ARM64.tar.gz",
}


def _assets(tmp_path: Path) -> tuple[Path, str]:
    assets = tmp_path / "assets"
    assets.mkdir()
    data = tarball({"trivy": b"#!/bin/sh\necho 'Version: 9.9.9'\n"})
    (assets / ASSET[str(PLATFORM)]).write_bytes(data)
    return assets, hashlib.sha256(data).hexdigest()


@pytestmark_linux
def test_a_supplied_sum_installs_an_unrecorded_version(tmp_path: Path) -> None:
    assets, digest = _assets(tmp_path)
    for supplied in (digest, f"linux-amd64={digest}\nlinux-arm64={digest}"):
        dest = tmp_path / "bin"
        result = install("trivy=9.9.9", assets=assets, dest=dest, INSTALL_SHA256_TRIVY=supplied)
        assert result.returncode == 0, result.stderr
        assert f"verified sha256 {digest}" in result.stdout
        assert (dest / "trivy").is_file()


@pytestmark_linux
def test_a_wrong_supplied_sum_installs_nothing(tmp_path: Path) -> None:
    assets, _ = _assets(tmp_path)
    result = install(
        "trivy=9.9.9", assets=assets, dest=tmp_path / "bin", INSTALL_SHA256_TRIVY="0" * 64
    )
    assert result.returncode != 0 and "checksum mismatch" in result.stderr
    assert not (tmp_path / "bin" / "trivy").exists()


@pytestmark_linux
def test_a_supplied_sum_may_not_contradict_a_recorded_one(tmp_path: Path) -> None:
    assets, digest = _assets(tmp_path)
    script = with_own_checksums(
        tmp_path, [f"trivy 9.9.9 {PLATFORM} {ASSET[str(PLATFORM)]} {'1' * 64}"]
    )
    result = install(
        "trivy=9.9.9",
        script=script,
        assets=assets,
        dest=tmp_path / "bin",
        INSTALL_SHA256_TRIVY=digest,
    )
    assert result.returncode != 0 and "contradicts the one recorded" in result.stderr


@pytestmark_linux
def test_a_tampered_cached_archive_is_never_used(tmp_path: Path) -> None:
    assets, digest = _assets(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / ASSET[str(PLATFORM)]).write_bytes(tarball({"trivy": b"#!/bin/sh\necho evil\n"}))
    result = install(
        "trivy=9.9.9", assets=assets, dest=tmp_path / "bin",
        INSTALL_SHA256_TRIVY=digest, CONTAINER_GATE_ASSET_CACHE=str(cache),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "(cached archive)" not in result.stdout
    assert hashlib.sha256((cache / ASSET[str(PLATFORM)]).read_bytes()).hexdigest() == digest
    again = install(
        "trivy=9.9.9", assets=tmp_path / "nowhere", dest=tmp_path / "bin2",
        INSTALL_SHA256_TRIVY=digest, CONTAINER_GATE_ASSET_CACHE=str(cache),
    )  # fmt: skip
    assert again.returncode == 0 and "(cached archive)" in again.stdout


# --------------------------------------------------------------------------- docs


def test_the_docs_use_one_placeholder_for_where_the_action_is_hosted() -> None:
    texts = {
        p: p.read_text(encoding="utf-8")
        for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    }
    for path, text in texts.items():
        assert "org/container-gate" not in text, path
    action = texts[ROOT / "docs" / "ACTION.md"]
    assert "Replace `OWNER/container-gate` with where you host" in action
    assert all(
        "OWNER/container-gate" in line or "uses: ./" in line
        for text in texts.values()
        for line in text.splitlines()
        if "container-gate@" in line
    )


def test_the_docs_list_every_host_the_action_contacts() -> None:
    action = (ROOT / "docs" / "ACTION.md").read_text(encoding="utf-8")
    for host in (
        "github.com", "pypi.org", "files.pythonhosted.org", "mirror.gcr.io", "ghcr.io",
        "grype.anchore.io",
    ):  # fmt: skip
        assert f"`{host}`" in action, host
    assert "Not contacted: **Sigstore**" in action
