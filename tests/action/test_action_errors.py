"""Errors where users look: in GitHub Actions, a run that stops before any verdict (a bad
policy, a bad input) shows as annotations and in the step summary, not only in the raw log.

The Action's own script runs with a simulated runner environment and the real CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO_ROOT
from tests.unit.report.test_github_report import issued_commands, read_outputs

ROOT = REPO_ROOT
SCRIPT = ROOT / "scripts" / "run-gate.sh"

POLICY = """\
version: 1
vulnerabilities:
  severity: HIGH,CRITICAL
image:
  tag: latest
"""


def run_action(
    workspace: Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], str, dict[str, str]]:
    summary, output = workspace.parent / "summary.md", workspace.parent / "output"
    summary.write_text("")
    output.write_text("")
    environment = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),  # this checkout's gate, not an installed one
        "GATE_PYTHON": sys.executable,
        "GATE_OUT_DIR": str(workspace.parent / "out"),
        "GATE_WORKING_DIRECTORY": str(workspace),
        "GATE_IMAGES": "ghcr.io/acme/app:1",
        "GATE_POLICY": ".github/container-gate.yml",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
        "RUNNER_ARCH": "X64",
        **env,
    }
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=60
    )
    return result, summary.read_text(), read_outputs(output.read_text())


def test_a_first_run_with_a_wrong_policy_shows_it_as_annotations_and_in_the_summary(
    tmp_path: Path,
) -> None:
    workspace = tmp_path / "repo"
    (workspace / ".github").mkdir(parents=True)
    (workspace / ".github" / "container-gate.yml").write_text(POLICY)

    result, summary, outputs = run_action(workspace)

    assert result.returncode == 2, result.stdout + result.stderr
    errors = [(p, data) for name, p, data in issued_commands(result.stdout) if name == "error"]
    assert [(p["file"], p["line"], p["col"]) for p, _ in errors] == [
        (".github/container-gate.yml", "3", "3"),
        (".github/container-gate.yml", "5", "8"),
    ]
    assert all(p["title"] == "container-gate: invalid policy" for p, _ in errors)
    assert "use vulnerabilities.fail_on: high" in errors[0][1]
    assert "'latest' is not allowed" in errors[1][1]
    assert "## container-gate: ⛔ ERROR" in summary
    assert "The policy is not valid" in summary and "fail\\_on: high" in summary
    assert outputs == {"verdict": "error"}


def test_a_usage_error_from_the_cli_names_the_input(tmp_path: Path) -> None:
    workspace = tmp_path / "repo"
    workspace.mkdir()
    (workspace / "gate.yml").write_text("version: 1\nimage:\n  non_root: true\n")

    result, summary, outputs = run_action(workspace, GATE_POLICY="gate.yml", GATE_FAIL_ON="high")

    assert result.returncode == 2
    errors = [data for name, _, data in issued_commands(result.stdout) if name == "error"]
    assert errors == ["input `fail-on` given, but the policy has no vulnerabilities section"]
    assert "input \\`fail-on\\`" in summary
    assert outputs == {"verdict": "error"}


def test_outside_actions_the_error_stays_on_stderr_only(tmp_path: Path) -> None:
    (tmp_path / "policy.yml").write_text(POLICY)
    result = subprocess.run(
        [sys.executable, "-m", "gate", "check", "app:1", "--policy", str(tmp_path / "policy.yml")],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    assert "policy.yml:3:3: vulnerabilities: unknown key 'severity'" in result.stderr
