"""Build the tests' small Go programs on first use, and cache them by their source.

The differential oracles under ``tests/oracles/`` call the reference implementations (moby/sys/user,
containerd/platforms, BuildKit's Dockerfile parser, …) as libraries. Each is a ``main`` package
in the one module ``tests/oracles/go.mod``; its binary is cached under
``$XDG_CACHE_HOME/container-gate/oracles/<hash>/`` keyed by the module's go.mod, go.sum and the
package's sources, so a warm run only hashes a few files.

Without a Go toolchain the tests that need an oracle skip with that reason, unless
``CONTAINER_GATE_REQUIRE_GO=1`` (set by ``.ci/run``): there a missing toolchain fails the test,
so CI can never pass by skipping the proof.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ORACLES = Path(__file__).resolve().parent.parent / "oracles"
_LOCK = threading.Lock()


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "container-gate"


def go_required() -> bool:
    return os.environ.get("CONTAINER_GATE_REQUIRE_GO", "") not in ("", "0", "false")


def go_or_skip() -> str:
    """The ``go`` executable, or skip (fail when Go is required) with the reason."""
    go = shutil.which("go")
    if go is None:
        reason = "no Go toolchain on PATH: the differential oracles cannot be built"
        if go_required():
            pytest.fail(reason + " (CONTAINER_GATE_REQUIRE_GO is set)", pytrace=False)
        pytest.skip(reason)
    return go


def _fingerprint(module: Path, package: str) -> str:
    digest = hashlib.sha256()
    files = [module / "go.mod", module / "go.sum", *sorted((module / package).rglob("*.go"))]
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(module)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def build(package: str, *, module: Path = ORACLES, timeout: float = 900) -> Path:
    """The binary of ``module/package`` (e.g. ``"user"``), built once per source change."""
    go = go_or_skip()
    target = cache_root() / module.name / _fingerprint(module, package) / package
    with _LOCK:
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        done = subprocess.run(
            [go, "build", "-trimpath", "-o", str(partial), f"./{package}"],
            cwd=module,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"go build ./{package} failed:\n{done.stderr[-4000:]}", pytrace=False)
        partial.replace(target)
        return target


class Oracle:
    """A long-running oracle process answering one JSON object per line.

    Differential tests ask thousands of generated questions; one process per question would
    spend the run in fork and exec. The oracle reads a JSON line from stdin and writes exactly
    one JSON line back, so ``ask`` is a round trip over a pipe.
    """

    def __init__(self, binary: Path) -> None:
        self._proc = subprocess.Popen(
            [str(binary)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def ask(self, question: object) -> Any:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(question) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"oracle exited with {self._proc.wait()} on {question!r}")
        return json.loads(line)

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


@contextlib.contextmanager
def oracle(package: str) -> Iterator[Oracle]:
    """Build (once) and run the oracle ``tests/oracles/<package>`` for the ``with`` block."""
    running = Oracle(build(package))
    try:
        yield running
    finally:
        running.close()
