"""actionlint, the real linter (built from its Go module by setup), over every workflow we ship.

actionlint checks workflows, not action metadata: ``action.yml`` itself is not a workflow, but
actionlint reads it where a workflow runs the local action (``uses: ./``) and checks the inputs
passed to it. So it runs over ``.github/workflows/`` and over the workflow examples in the
documentation (the fenced YAML blocks with a ``jobs:`` key), which users copy verbatim.

Its optional shellcheck and pyflakes passes are off: they would make the verdict depend on
what else happens to be installed; zizmor (tests/action/test_action_zizmor.py) covers the scripts'
security.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT
from tests.support.tools import tool_or_skip

ROOT = REPO_ROOT
DOCS = (ROOT / "README.md", ROOT / "docs" / "ACTION.md")
_FENCED_YAML = re.compile(r"^```ya?ml\n(.*?)^```", re.M | re.S)


def actionlint(*files: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    binary = tool_or_skip("actionlint")
    return subprocess.run(
        [str(binary), "-no-color", "-shellcheck=", "-pyflakes=", *map(str, files)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def documented_workflows(directory: Path) -> list[Path]:
    """Each documented workflow as a file named after where it is (``README.md-L86.yml``)."""
    written = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for block in _FENCED_YAML.finditer(text):
            if not re.search(r"^jobs:", block.group(1), re.M):
                continue
            line = text.count("\n", 0, block.start(1)) + 1
            path = directory / f"{doc.name}-L{line}.yml"
            path.write_text(block.group(1), encoding="utf-8")
            written.append(path)
    return written


def test_actionlint_passes_on_the_workflows() -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    result = actionlint(*workflows)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_passes_on_the_documented_workflows(tmp_path: Path) -> None:
    documented = documented_workflows(tmp_path)
    assert {p.name.split("-L")[0] for p in documented} == {"README.md", "ACTION.md"}
    result = actionlint(*documented, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("workflow", "finding"),
    [
        (  # the README example once lacked its trigger
            "permissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
            "      - run: 'true'\n",
            '"on" section is missing',
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
            "      - run: echo ${{ github.event.head_commit.message }}\n",
            "potentially untrusted",
        ),
    ],
)
def test_actionlint_would_catch_a_broken_workflow(
    tmp_path: Path, workflow: str, finding: str
) -> None:
    """The lint is not vacuous: these are findings."""
    (tmp_path / "bad.yml").write_text(workflow, encoding="utf-8")
    result = actionlint(tmp_path / "bad.yml", cwd=tmp_path)
    assert result.returncode == 1
    assert finding in result.stdout
