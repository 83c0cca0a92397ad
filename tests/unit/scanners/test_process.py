"""``gate.scanners._process.run_tool`` against real stub processes: every way a tool fails."""

from __future__ import annotations

import json
import os
import signal
import time
import tracemalloc
from pathlib import Path

import pytest

from gate.errors import ScannerError
from gate.scanners._process import STDERR_TAIL_BYTES, run_tool
from tests.support.stubs import GO_PANIC, Stub, StubBin, process_alive


def _wait_gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_successful_run_returns_its_output(stubs: StubBin) -> None:
    stubs.install("tool", Stub(stdout="Version: 1.2.3\n", stderr="INFO fine\n"))
    done = run_tool(["tool", "--version"], tool="tool", timeout=30)
    assert done.returncode == 0
    assert done.stdout == "Version: 1.2.3\n"
    assert done.stderr == "INFO fine\n"
    assert done.argv[0] == str(stubs.path / "tool")
    assert done.argv[1:] == ("--version",)


def test_a_missing_executable_names_the_tool_and_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = StubBin(tmp_path)
    monkeypatch.setenv("PATH", empty.path_alone())
    with pytest.raises(ScannerError) as caught:
        run_tool(["trivy", "image"], tool="trivy", timeout=30)
    assert str(caught.value) == "trivy not found on PATH; install it or pass --trivy-report FILE"


def test_a_non_zero_exit_fails_with_the_code_and_the_stderr_tail(stubs: StubBin) -> None:
    stubs.install("trivy", Stub(exit_code=1, stderr="FATAL\tFatal error\tinit error: DB\n"))
    with pytest.raises(ScannerError) as caught:
        run_tool(["trivy", "image", "x"], tool="trivy", timeout=30)
    assert str(caught.value) == "trivy exited with code 1"
    assert "FATAL\tFatal error\tinit error: DB" in caught.value.detail


def test_a_go_panic_exit_2_is_a_failure_with_the_panic_in_detail(stubs: StubBin) -> None:
    stubs.install("trivy", Stub(exit_code=2, stderr=GO_PANIC))
    with pytest.raises(ScannerError) as caught:
        run_tool(["trivy"], tool="trivy", timeout=30)
    assert str(caught.value) == "trivy exited with code 2"
    assert "nil pointer dereference" in caught.value.detail


def test_a_tool_killed_by_a_signal_is_named_by_that_signal(stubs: StubBin) -> None:
    stubs.install("grype", Stub(signal=signal.SIGSEGV, stderr="about to crash\n"))
    with pytest.raises(ScannerError) as caught:
        run_tool(["grype"], tool="grype", timeout=30)
    assert str(caught.value) == "grype was killed by SIGSEGV"
    assert "about to crash" in caught.value.detail


def test_a_hang_past_the_timeout_kills_the_whole_process_group(
    stubs: StubBin, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    stubs.install("trivy", Stub(sleep=120, child_pid_file=pid_file, stderr="scanning...\n"))
    started = time.monotonic()
    with pytest.raises(ScannerError) as caught:
        run_tool(["trivy"], tool="trivy", timeout=1.5)
    elapsed = time.monotonic() - started
    assert str(caught.value) == "trivy timed out after 1.5s; its process group was killed"
    assert "scanning..." in caught.value.detail
    assert elapsed < 10  # not the stub's 120 s, nor its child's 600 s holding the pipes
    child = int(pid_file.read_text())
    assert _wait_gone(child), f"child {child} of the timed-out tool is still running"


def test_a_child_left_behind_after_a_clean_exit_is_killed_too(
    stubs: StubBin, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    stubs.install("trivy", Stub(child_pid_file=pid_file))
    started = time.monotonic()
    run_tool(["trivy"], tool="trivy", timeout=30)
    assert time.monotonic() - started < 10  # the orphan's open pipes do not stall us
    assert _wait_gone(int(pid_file.read_text()))


def test_fifty_megabytes_of_stderr_keep_only_a_bounded_tail(stubs: StubBin) -> None:
    stubs.install("trivy", Stub(stderr="first line\n", stderr_mb=50, exit_code=1))
    tracemalloc.start()
    try:
        with pytest.raises(ScannerError) as caught:
            run_tool(["trivy"], tool="trivy", timeout=120)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    detail = caught.value.detail
    assert str(caught.value) == "trivy exited with code 1"
    assert detail.endswith("the last stderr line\n")
    assert "first line" not in detail
    assert detail.startswith("[… ") and "earlier bytes not shown]" in detail.splitlines()[0]
    assert len(detail.encode()) <= STDERR_TAIL_BYTES + 100
    assert peak < 4 * 1024 * 1024, f"draining stderr peaked at {peak} bytes"


def test_arguments_reach_the_tool_verbatim_without_a_shell(stubs: StubBin, tmp_path: Path) -> None:
    argv_file = tmp_path / "argv.json"
    marker = tmp_path / "pwned"
    stubs.install("tool", Stub(argv_file=argv_file))
    args = ["a b", f"$(touch {marker})", "; rm -rf /", "*"]
    run_tool(["tool", *args], tool="tool", timeout=30)
    assert json.loads(argv_file.read_text()) == args
    assert not marker.exists()


def test_extra_environment_is_layered_over_the_gates_own(
    stubs: StubBin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "env.json"
    monkeypatch.setenv("TRIVY_CACHE_DIR", "/cache/from/the/user")
    stubs.install("tool", Stub(env_file=env_file, env_names=("TRIVY_CACHE_DIR", "GRYPE_X", "PATH")))
    run_tool(["tool"], tool="tool", timeout=30, env={"GRYPE_X": "1"})
    seen = json.loads(env_file.read_text())
    assert seen["TRIVY_CACHE_DIR"] == "/cache/from/the/user"
    assert seen["GRYPE_X"] == "1"
    assert seen["PATH"] == os.environ["PATH"]


def test_a_whole_environment_replaces_the_gates_own(
    stubs: StubBin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "env.json"
    monkeypatch.setenv("TRIVY_SEVERITY", "LOW")
    stubs.install("tool", Stub(env_file=env_file, env_names=("TRIVY_SEVERITY", "GRYPE_X")))
    env = {"PATH": os.environ["PATH"], "GRYPE_X": "1"}
    run_tool(["tool"], tool="tool", timeout=30, env=env, inherit_env=False)
    assert json.loads(env_file.read_text()) == {"TRIVY_SEVERITY": None, "GRYPE_X": "1"}


def test_the_tool_runs_in_the_directory_it_is_given(stubs: StubBin, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    stubs.install("tool", Stub(report="{}"))
    done = run_tool(["tool", "--output", "out.json"], tool="tool", timeout=30, cwd=workdir)
    assert (workdir / "out.json").read_text() == "{}"
    assert os.path.isabs(done.argv[0])


def test_the_executable_is_looked_up_on_the_path_the_tool_will_get(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = StubBin(tmp_path)
    bin_dir.install("tool", Stub(stdout="found\n"))
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    done = run_tool(["tool"], tool="tool", timeout=30, env={"PATH": bin_dir.path_alone()})
    assert done.stdout == "found\n"
