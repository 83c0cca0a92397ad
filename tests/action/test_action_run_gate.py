"""scripts/run-gate.sh: inputs (env only) become exactly the intended argv, credentials are masked,
and a CLI that stops before publishing still leaves ``verdict=error``.

``GATE_PYTHON`` points at a stub interpreter that records the argv and environment it was
given, so the test sees precisely what ``python -m gate check`` would receive.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import REPO_ROOT
from tests.unit.report.test_github_report import read_outputs, workflow_commands

ROOT = REPO_ROOT
SCRIPT = ROOT / "scripts" / "run-gate.sh"

STUB_PYTHON = """#!{python}
import json, os, sys
record = {{
    "argv": sys.argv[1:],
    "cwd": os.getcwd(),
    "GITHUB_ACTIONS": os.environ.get("GITHUB_ACTIONS"),
    "PATH0": os.environ["PATH"].split(os.pathsep)[0],
    "REGISTRY_PASSWORD": os.environ.get("REGISTRY_PASSWORD"),
}}
with open(os.environ["STUB_RECORD"], "w") as handle:
    json.dump(record, handle)
verdict = os.environ.get("STUB_VERDICT")
if verdict:
    with open(os.environ["GITHUB_OUTPUT"], "a") as handle:
        handle.write("verdict<<ghadelimiter_x\\n" + verdict + "\\nghadelimiter_x\\n")
sys.exit(int(os.environ.get("STUB_EXIT", "0")))
"""


@pytest.fixture
def stub_python(tmp_path: Path) -> Path:
    path = tmp_path / "python"
    path.write_text(STUB_PYTHON.format(python=sys.executable))
    path.chmod(0o755)
    return path


def run_gate(
    tmp_path: Path, stub_python: Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], dict[str, str]]:
    output = tmp_path / "github_output"
    output.write_text("")
    record = tmp_path / "record.json"
    record.unlink(missing_ok=True)
    environment = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "GATE_PYTHON": str(stub_python),
        "GATE_BIN": str(tmp_path / "scanners"),
        "GATE_OUT_DIR": str(tmp_path / "out"),
        "GATE_WORKING_DIRECTORY": str(tmp_path),
        "GITHUB_OUTPUT": str(output),
        "STUB_RECORD": str(record),
        **env,
    }
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=30
    )
    recorded = json.loads(record.read_text()) if record.exists() else {}
    return result, recorded, read_outputs(output.read_text())


def test_newline_separated_images_become_separate_arguments(
    tmp_path: Path, stub_python: Path
) -> None:
    images = "  ghcr.io/acme/app:1\n\n\tghcr.io/acme/worker@sha256:" + "a" * 64 + "  \n"
    result, recorded, _ = run_gate(tmp_path, stub_python, GATE_IMAGES=images, STUB_VERDICT="pass")
    assert result.returncode == 0, result.stdout + result.stderr
    argv = recorded["argv"]
    assert argv[:2] == ["-m", "gate"]
    separator = argv.index("--")
    assert argv[separator + 1 :] == ["ghcr.io/acme/app:1", "ghcr.io/acme/worker@sha256:" + "a" * 64]
    assert argv[2] == "check"
    assert recorded["GITHUB_ACTIONS"] == "true"
    assert recorded["PATH0"] == str(tmp_path / "scanners")
    assert recorded["cwd"] == str(tmp_path)


def test_hostile_values_are_passed_verbatim_never_executed(
    tmp_path: Path, stub_python: Path
) -> None:
    hostile = "$(touch pwned) `touch pwned2` ; rm -rf / * \"quoted\" 'single'"
    result, recorded, _ = run_gate(
        tmp_path,
        stub_python,
        GATE_IMAGES="--policy=/etc/passwd\napp:1",
        GATE_GIT_SHA=hostile,
        GATE_BUILD_ARGS="VERSION=1 2\nNOTE=a;b",
        GATE_DOCKERFILES="docker/Dockerfile *\n",
        STUB_VERDICT="pass",
    )
    assert result.returncode == 0, result.stderr
    argv = recorded["argv"]
    assert f"--git-sha={hostile}" in argv
    assert [a for a in argv if a.startswith("--build-arg")] == [
        "--build-arg=VERSION=1 2",
        "--build-arg=NOTE=a;b",
    ]
    assert "--dockerfile=docker/Dockerfile *" in argv
    # An image that looks like an option stays an image: it comes after `--`.
    assert argv[argv.index("--") + 1 :] == ["--policy=/etc/passwd", "app:1"]
    assert not any(a.startswith("--policy") for a in argv[: argv.index("--")])
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


def test_optional_inputs_map_to_flags(tmp_path: Path, stub_python: Path) -> None:
    (tmp_path / "gate.yml").write_text("version: 1\n")
    _, recorded, _ = run_gate(
        tmp_path,
        stub_python,
        GATE_IMAGES="app:1",
        GATE_POLICY="gate.yml",
        GATE_GIT_SHA="3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
        GATE_SCANNERS="trivy,\ngrype",
        GATE_SARIF_FILE="out/gate.sarif",
        STUB_VERDICT="pass",
    )
    argv = recorded["argv"]
    assert "--policy=gate.yml" in argv
    assert "--git-sha=3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39" in argv
    assert "--scanners=trivy,grype" in argv
    assert "--sarif=out/gate.sarif" in argv
    assert f"--report-json={tmp_path / 'out' / 'report.json'}" in argv


def test_the_default_policy_path_is_optional_but_a_named_one_is_passed(
    tmp_path: Path, stub_python: Path
) -> None:
    _, recorded, _ = run_gate(
        tmp_path, stub_python, GATE_IMAGES="app:1", GATE_POLICY=".github/container-gate.yml",
        STUB_VERDICT="pass",
    )  # fmt: skip
    assert not any(a.startswith("--policy") for a in recorded["argv"])
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "container-gate.yml").write_text("version: 1\n")
    _, recorded, _ = run_gate(
        tmp_path, stub_python, GATE_IMAGES="app:1", GATE_POLICY=".github/container-gate.yml",
        STUB_VERDICT="pass",
    )  # fmt: skip
    assert "--policy=.github/container-gate.yml" in recorded["argv"]
    _, recorded, _ = run_gate(
        tmp_path, stub_python, GATE_IMAGES="app:1", GATE_POLICY="missing.yml", STUB_VERDICT="pass"
    )
    assert "--policy=missing.yml" in recorded["argv"]  # the CLI reports it missing (exit 2)


def test_registry_credentials_are_masked_before_the_gate_runs(
    tmp_path: Path, stub_python: Path
) -> None:
    password = "p%ss\nsecond-line"
    result, recorded, _ = run_gate(
        tmp_path,
        stub_python,
        GATE_IMAGES="app:1",
        REGISTRY_USERNAME="robot$acme",
        REGISTRY_PASSWORD=password,
        STUB_VERDICT="pass",
    )
    masks = [data for name, _, data in workflow_commands(result.stdout) if name == "add-mask"]
    assert masks == [password, "p%ss", "second-line", "robot$acme"]
    assert recorded["REGISTRY_PASSWORD"] == password  # the CLI reads it from the environment


def test_a_cli_that_stops_before_publishing_leaves_verdict_error(
    tmp_path: Path, stub_python: Path
) -> None:
    result, _, outputs = run_gate(tmp_path, stub_python, GATE_IMAGES="app:1", STUB_EXIT="2")
    assert result.returncode == 2
    assert outputs == {"verdict": "error"}


def test_no_verdict_and_exit_zero_is_still_an_error(tmp_path: Path, stub_python: Path) -> None:
    result, _, outputs = run_gate(tmp_path, stub_python, GATE_IMAGES="app:1", STUB_EXIT="0")
    assert result.returncode == 2 and outputs == {"verdict": "error"}


def test_the_clis_verdict_and_exit_code_pass_through(tmp_path: Path, stub_python: Path) -> None:
    result, _, outputs = run_gate(
        tmp_path, stub_python, GATE_IMAGES="app:1", STUB_VERDICT="fail", STUB_EXIT="1"
    )
    assert result.returncode == 1 and outputs == {"verdict": "fail"}


def test_an_empty_image_input_is_an_error_annotation(tmp_path: Path, stub_python: Path) -> None:
    result, recorded, _ = run_gate(tmp_path, stub_python, GATE_IMAGES=" \n \n")
    assert result.returncode == 2 and recorded == {}
    assert [name for name, _, _ in workflow_commands(result.stdout)] == ["error"]


def test_a_missing_working_directory_is_an_error(tmp_path: Path, stub_python: Path) -> None:
    result, recorded, _ = run_gate(
        tmp_path, stub_python, GATE_IMAGES="app:1", GATE_WORKING_DIRECTORY=str(tmp_path / "nope")
    )
    assert result.returncode == 2 and recorded == {}
    assert "working-directory" in result.stdout
