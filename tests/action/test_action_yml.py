"""action.yml and the repository workflows, read as data: the Action's contract and its hygiene.

- every input is documented, kebab-case and used; every output is written by the gate step;
- no ``run:`` block interpolates an expression (inputs and github.event.* reach scripts only
  through ``env:``), in action.yml and in every workflow;
- third-party actions are pinned by full commit SHA and service images by digest;
- the default scanner versions have SHA-256 sums recorded in the repository.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gate.report.github import OUTPUT_NAMES
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
ACTION_FILE = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CHECKSUMS = ROOT / "scripts" / "scanner-checksums.txt"
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
PINNED_USES = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), path
    return document


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    return load(ACTION_FILE)


def steps_of(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every step of an action (runs.steps) or a workflow (jobs.*.steps)."""
    if "runs" in document:
        yield from document["runs"].get("steps", [])
    for job in (document.get("jobs") or {}).values():
        yield from job.get("steps", []) or []


def strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def expressions(node: object) -> list[str]:
    return [m.strip() for text in strings(node) for m in EXPRESSION.findall(text)]


def read_checksums() -> dict[tuple[str, str, str], tuple[str, str]]:
    entries: dict[tuple[str, str, str], tuple[str, str]] = {}
    for number, raw in enumerate(CHECKSUMS.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        assert len(fields) == 5, f"line {number}: TOOL VERSION PLATFORM ASSET SHA256"
        tool, version, platform, asset, digest = fields
        assert re.fullmatch(r"[0-9a-f]{64}", digest), f"line {number}: bad sha256"
        assert version in asset, f"line {number}: asset does not name version {version}"
        assert (tool, version, platform) not in entries, f"line {number}: duplicate"
        entries[(tool, version, platform)] = (asset, digest)
    return entries


# --------------------------------------------------------------------------- inputs/outputs


def test_every_input_is_documented_and_kebab_case(action) -> None:
    assert action["inputs"], "action.yml declares no inputs"
    for name, spec in action["inputs"].items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name), name
        assert spec.get("description", "").strip(), f"input {name} has no description"


def test_the_inputs_the_issue_names_exist(action) -> None:
    required = {
        "image", "policy", "dockerfile", "build-args", "git-sha", "mode", "scanners",
        "trivy-version", "grype-version", "sarif-file", "report-file",
        "registry-username", "registry-password", "working-directory",
    }  # fmt: skip
    assert required <= set(action["inputs"])
    assert action["inputs"]["policy"]["default"] == ".github/container-gate.yml"
    assert action["inputs"]["git-sha"]["default"] == "${{ github.sha }}"
    assert action["inputs"]["image"]["required"] is True


def test_every_input_is_used(action) -> None:
    used = {
        m.group(1)
        for expression in expressions(action["runs"])
        for m in re.finditer(r"\binputs\.([A-Za-z0-9_-]+)", expression)
    }
    assert set(action["inputs"]) - used == set(), "declared but never used"
    assert used - set(action["inputs"]) == set(), "used but never declared"


def test_every_output_is_written_by_the_gate_step(action) -> None:
    gate_steps = [s for s in action["runs"]["steps"] if s.get("id") == "gate"]
    assert len(gate_steps) == 1
    assert set(action["outputs"]) == set(OUTPUT_NAMES)
    for name, spec in action["outputs"].items():
        assert spec["value"] == f"${{{{ steps.gate.outputs.{name} }}}}", name
        assert spec.get("description", "").strip(), f"output {name} has no description"


def test_the_action_only_installs_and_calls_the_cli(action) -> None:
    gate = next(s for s in action["runs"]["steps"] if s.get("id") == "gate")
    assert gate["run"].strip() == 'bash "$ACTION_PATH/scripts/run-gate.sh"'
    assert gate["env"]["GATE_IMAGES"] == "${{ inputs.image }}"
    assert gate["env"]["REGISTRY_PASSWORD"] == "${{ inputs.registry-password }}"


def test_the_db_cache_is_saved_also_when_the_job_fails(action) -> None:
    steps = action["runs"]["steps"]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    assert "actions/cache/restore" in uses and "actions/cache/save" in uses
    index = next(i for i, s in enumerate(steps) if s.get("name") == "Save vulnerability DB cache")
    save = steps[index]
    assert save["uses"].split("@")[0] == "actions/cache/save"
    assert save["if"].strip().startswith("always()")
    assert "steps.db.outcome == 'success'" in save["if"], "never cache a DB that failed to prepare"
    assert index > [s.get("id") for s in steps].index("gate")


# --------------------------------------------------------------------------- injection and pinning


@pytest.mark.parametrize("path", [ACTION_FILE, *WORKFLOWS], ids=lambda p: p.name)
def test_no_run_block_interpolates_an_expression(path: Path) -> None:
    """``${{ inputs.* }}`` or ``${{ github.event.* }}`` in a script is script injection."""
    for step in steps_of(load(path)):
        if "run" in step:
            assert "${{" not in step["run"], f"{path.name}: step {step.get('name')!r}"


@pytest.mark.parametrize("path", [ACTION_FILE, *WORKFLOWS], ids=lambda p: p.name)
def test_untrusted_contexts_are_never_used(path: Path) -> None:
    for expression in expressions(load(path)):
        assert "github.event." not in expression, expression
        assert "github.head_ref" not in expression, expression


@pytest.mark.parametrize("path", [ACTION_FILE, *WORKFLOWS], ids=lambda p: p.name)
def test_third_party_actions_are_pinned_by_full_commit_sha(path: Path) -> None:
    document = load(path)
    references = [s["uses"] for s in steps_of(document) if "uses" in s]
    references += [j["uses"] for j in (document.get("jobs") or {}).values() if "uses" in j]
    for reference in references:
        if reference.startswith("./"):
            continue
        assert PINNED_USES.fullmatch(reference), f"{path.name}: {reference} is not SHA-pinned"
    for line in path.read_text().splitlines():
        if re.search(r"uses: [^.\s].*@[0-9a-f]{40}", line):
            assert re.search(r"# v\d", line), f"{path.name}: say which version: {line.strip()}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_grant_no_default_permissions(path: Path) -> None:
    document = load(path)
    assert document.get("permissions") == {}, "top-level permissions must be {}"
    for name, job in document["jobs"].items():
        assert "permissions" in job, f"job {name} must state its permissions"
        for service in (job.get("services") or {}).values():
            assert "@sha256:" in service["image"], f"job {name}: pin service images by digest"


def test_self_test_runs_the_local_action_expecting_pass_then_fail() -> None:
    steps = list(steps_of(load(ROOT / ".github" / "workflows" / "self-test.yml")))
    local = [s for s in steps if s.get("uses", "").startswith("./")]
    assert [s["id"] for s in local] == ["pass", "fail"]
    assert local[1].get("continue-on-error") is True
    assert "continue-on-error" not in local[0]
    assert "steps.fail.outputs.verdict" in " ".join(expressions(steps[-1]))


def test_release_moves_v1_only_after_ci_and_self_test() -> None:
    release = load(ROOT / ".github" / "workflows" / "release.yml")
    mover = release["jobs"]["move-major-tag"]
    assert set(mover["needs"]) == {"ci", "self-test"}
    assert mover["permissions"] == {"contents": "write"}
    assert release["jobs"]["ci"]["uses"].startswith("./.github/workflows/ci.yml")


def test_ci_runs_the_readme_test_command_and_actionlint() -> None:
    ci = load(ROOT / ".github" / "workflows" / "ci.yml")
    runs = [s.get("run", "") for s in steps_of(ci)]
    assert "make test" in runs
    assert any("zizmor --offline" in r for r in runs)
    assert any("install-scanners.sh actionlint" in r for r in runs)


# --------------------------------------------------------------------------- recorded checksums


def test_checksum_file_is_well_formed() -> None:
    assert read_checksums()


@pytest.mark.parametrize("tool", ["trivy", "grype"])
def test_default_scanner_versions_have_recorded_checksums(action, tool: str) -> None:
    version = action["inputs"][f"{tool}-version"]["default"]
    entries = read_checksums()
    for platform in ("linux-amd64", "linux-arm64"):
        assert (tool, version, platform) in entries, f"{tool} {version} {platform}"


def test_actionlint_used_by_ci_has_a_recorded_checksum() -> None:
    assert any(tool == "actionlint" for tool, _, _ in read_checksums())


def test_trivy_s_layer_analyses_are_cached_by_trivy_version_and_db_builds(action) -> None:
    steps = action["runs"]["steps"]
    ids = [s.get("id") for s in steps]
    fanal = [s for s in steps if str(s.get("with", {}).get("path", "")).endswith("/trivy/fanal")]
    restore, save = fanal
    assert restore["uses"].startswith("actions/cache/restore@")
    assert save["uses"].startswith("actions/cache/save@")
    keyed = "${{ steps.analysis-key.outputs.key }}"
    assert keyed in restore["with"]["key"] and keyed in save["with"]["key"]
    assert restore["with"]["key"] == save["with"]["key"]
    prefix = restore["with"]["restore-keys"].strip()
    assert keyed in prefix and restore["with"]["key"].startswith(prefix)
    assert "${{ github.run_id }}" in restore["with"]["key"]  # each run saves what it added
    assert steps.index(restore) < ids.index("gate") < steps.index(save)
    assert ids.index("db") < ids.index("analysis-key") < steps.index(restore)
    assert "steps.analysis-key.outcome == 'success'" in save["if"]
    assert "--analysis-key" in steps[ids.index("analysis-key")]["run"]


def test_the_java_db_is_prepared_and_cached_like_the_main_db(action) -> None:
    steps = action["runs"]["steps"]
    ids = [s.get("id") for s in steps]
    assert "trivy-java" in steps[ids.index("db")]["run"]
    assert steps[ids.index("gate")]["env"]["TRIVY_SKIP_JAVA_DB_UPDATE"] == "true"
    restore = steps[ids.index("db-cache")]
    assert "/trivy/java-db" in restore["with"]["path"]
