"""Progress: long steps say on stderr what runs, for which image, and for how long; stdout and
the JSON report never carry it, and only an interactive terminal outside CI gets ``\\r``."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from gate.progress import Progress
from tests.support.cli import run_gate
from tests.support.oci import build_image, layer, write_oci_layout
from tests.support.stubs import Stub, StubBin
from tests.unit.scanners.test_scanner_trivy import report


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_slow_scanner_reports_that_it_is_still_running_on_stderr_only(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    image = build_image([layer({"app/x": b"x"})], user="1000")
    write_oci_layout(layout, image, tag="v1")
    doc = report([])
    del doc["Metadata"]["RepoDigests"]  # as Trivy writes for an OCI layout
    doc["Metadata"]["ImageID"] = image.config_digest  # a report of the judged image
    bin_dir = StubBin(tmp_path)
    bin_dir.install("trivy", Stub(report=json.dumps(doc), sleep=2.6))
    policy = tmp_path / "policy.yml"
    policy.write_text("version: 1\nvulnerabilities:\n  fail_on: high\n")
    out = tmp_path / "report.json"
    env = {
        "PATH": bin_dir.path_with_system(),
        "HOME": str(tmp_path),
        "CONTAINER_GATE_PROGRESS_INTERVAL": "1",
    }

    result = run_gate(
        "check", f"oci:{layout}", "--policy", str(policy), "--report-json", str(out), env=env
    )

    assert result.returncode == 0, result.stdout + result.stderr
    target = f"oci:{layout}"
    assert f"container-gate: trivy: scanning ({target})" in result.stderr
    assert f"container-gate: trivy: scanning: still running after 1 s ({target})" in result.stderr
    assert "container-gate: trivy: scanning: finished after 3 s" in result.stderr
    assert "\r" not in result.stderr  # a pipe, not a terminal: plain lines only
    assert "still running" not in result.stdout and "container-gate: trivy" not in result.stdout
    assert "still running" not in out.read_text()


def test_progress_can_be_switched_off(tmp_path: Path) -> None:
    stream = io.StringIO()
    progress = Progress.from_environment(stream, {"CONTAINER_GATE_PROGRESS_INTERVAL": "0"})
    with progress.step("trivy: scanning", "app:1"):
        pass
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    ("env", "rewrites"),
    [({}, True), ({"CI": "true"}, False), ({"GITHUB_ACTIONS": "true"}, False)],
)
def test_only_a_terminal_outside_ci_gets_a_rewritten_status_line(
    env: dict[str, str], rewrites: bool
) -> None:
    stream = Terminal()
    progress = Progress.from_environment(
        stream, {"CONTAINER_GATE_PROGRESS_INTERVAL": "0.05", **env}
    )
    with progress.step("grype: scanning", "app:1"):
        time.sleep(0.3)
    text = stream.getvalue()
    assert "grype: scanning: still running after" in text
    assert ("\r" in text) is rewrites
