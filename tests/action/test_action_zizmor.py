"""zizmor, the real linter (a PyPI wheel pinned in the test extra), run offline from the suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT


def zizmor(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    if binary is None:
        pytest.fail("zizmor is not installed; run `make test` (it is in the test extra)")
    return subprocess.run(
        [binary, "--offline", "--no-progress", "--color=never", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_zizmor_passes_on_the_workflows_and_action_yml() -> None:
    result = zizmor("action.yml", ".github/workflows", cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_would_catch_an_input_interpolated_into_a_script(tmp_path: Path) -> None:
    """The lint is not vacuous: the injection this repository avoids is a finding."""
    (tmp_path / "action.yml").write_text(
        "name: bad\n"
        "description: interpolates an input into a script\n"
        "inputs:\n"
        "  image:\n"
        "    description: image\n"
        "runs:\n"
        "  using: composite\n"
        "  steps:\n"
        "    - shell: bash\n"
        '      run: echo "${{ inputs.image }}"\n',
        encoding="utf-8",
    )
    result = zizmor("action.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "template-injection" in result.stdout + result.stderr
