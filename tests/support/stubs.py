"""Stub scanner executables: real processes on PATH that misbehave on cue.

The gate's scanner edges are tested against real subprocesses, not mocks of
``subprocess``: each stub is a small Python script (shebang = this interpreter) in a
temporary ``bin`` directory that tests put first on ``PATH``. A ``Stub`` says what the
fake tool does, in this order:

1. record its argv (and chosen environment variables) as JSON, when asked;
2. start a child (in the tool's own process group) that sleeps for minutes, writing its
   pid to a file: it is orphaned unless the gate kills the whole group;
3. write ``stderr`` text, then ``stderr_mb`` MiB of log lines;
4. write ``report`` (bytes as given: valid, garbage or truncated JSON) to the path after
   ``--output``/``--file`` (``--output=PATH`` too), unless ``report`` is None;
5. sleep ``sleep`` seconds; 6. die by ``signal``, or exit with ``exit_code``.

``trivy version …`` (what the gate asks after a scan, for the DB's age) is not a scan: the
stub answers it with ``version`` (the text printed) and exits 0, recording nothing.

Example::

    bin_dir = StubBin(tmp_path)
    bin_dir.install("trivy", Stub(report=json.dumps(doc), exit_code=0))
    monkeypatch.setenv("PATH", bin_dir.path_with_system())
"""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

GO_PANIC = (
    "panic: runtime error: invalid memory address or nil pointer dereference\n"
    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x1c6c5f2]\n\n"
    "goroutine 1 [running]:\n"
    "github.com/aquasecurity/trivy/pkg/scanner.(*Scanner).ScanArtifact(...)\n"
)
"""What a Go panic looks like on stderr (exit code 2)."""


@dataclass(frozen=True)
class Stub:
    """What a fake scanner does when run. See the module docstring for the order."""

    report: bytes | str | None = None
    exit_code: int = 0
    stderr: str = ""
    stderr_mb: int = 0
    stdout: str = ""
    sleep: float = 0.0
    signal: int | None = None
    child_pid_file: Path | None = None
    argv_file: Path | None = None
    env_file: Path | None = None
    env_names: tuple[str, ...] = field(default_factory=tuple)
    version: str = ""


_SCRIPT = """#!{python}
import base64, json, os, subprocess, sys, time
spec = json.loads({spec!r})
args = sys.argv[1:]
if args[:1] == ["version"]:
    sys.stdout.write(spec["version"])
    sys.exit(0)
if spec["argv_file"]:
    with open(spec["argv_file"], "w") as handle:
        json.dump(args, handle)
if spec["env_file"]:
    with open(spec["env_file"], "w") as handle:
        json.dump({{n: os.environ.get(n) for n in spec["env_names"]}}, handle)
if spec["child_pid_file"]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(spec["child_pid_file"], "w") as handle:
        handle.write(str(child.pid))
if spec["stderr"]:
    sys.stderr.write(spec["stderr"])
    sys.stderr.flush()
if spec["stderr_mb"]:
    line = b"2026-11-01T00:00:00Z\\tDEBUG\\tfiller log line to flood the pipe ........\\n"
    block = line * (1024 * 1024 // len(line) + 1)
    out = sys.stderr.buffer
    for _ in range(spec["stderr_mb"]):
        out.write(block[: 1024 * 1024])
    out.write(b"the last stderr line\\n")
    out.flush()
if spec["stdout"]:
    sys.stdout.write(spec["stdout"])
    sys.stdout.flush()
if spec["report"] is not None:
    target = None
    for index, arg in enumerate(args):
        if arg in ("--output", "--file") and index + 1 < len(args):
            target = args[index + 1]
        elif arg.startswith(("--output=", "--file=")):
            target = arg.split("=", 1)[1]
    if target is None:
        sys.stderr.write("stub: no --output/--file argument\\n")
        sys.exit(97)
    with open(target, "wb") as handle:
        handle.write(base64.b64decode(spec["report"]))
if spec["sleep"]:
    time.sleep(spec["sleep"])
if spec["signal"]:
    os.kill(os.getpid(), spec["signal"])
    time.sleep(5)
sys.exit(spec["exit_code"])
"""


class StubBin:
    """A directory of stub executables, to put first on ``PATH``."""

    def __init__(self, root: Path) -> None:
        self.path = root / "stub-bin"
        self.path.mkdir(parents=True, exist_ok=True)

    def install(self, name: str, stub: Stub) -> Path:
        """Write (or replace) the executable ``name`` behaving as ``stub``."""
        report = stub.report.encode() if isinstance(stub.report, str) else stub.report
        spec = {
            "report": None if report is None else base64.b64encode(report).decode(),
            "exit_code": stub.exit_code,
            "stderr": stub.stderr,
            "stderr_mb": stub.stderr_mb,
            "stdout": stub.stdout,
            "sleep": stub.sleep,
            "signal": stub.signal,
            "child_pid_file": str(stub.child_pid_file) if stub.child_pid_file else None,
            "argv_file": str(stub.argv_file) if stub.argv_file else None,
            "env_file": str(stub.env_file) if stub.env_file else None,
            "env_names": list(stub.env_names),
            "version": stub.version,
        }
        script = self.path / name
        script.write_text(_SCRIPT.format(python=sys.executable, spec=json.dumps(spec)))
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return script

    def path_with_system(self) -> str:
        """``PATH`` with this directory first and the current ``PATH`` after it."""
        return f"{self.path}{os.pathsep}{os.environ.get('PATH', '')}"

    def path_alone(self) -> str:
        """``PATH`` holding only this directory: every real tool is "not installed"."""
        return str(self.path)


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs. A zombie (dead, not yet reaped by init) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")
