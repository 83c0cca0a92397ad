"""Run one row of the fault matrix through the real CLI and hold it to the matrix's rules.

Every row is ``python -m gate …`` in a child process (``tests/support/cli.py``), as a
user or CI runs it. A row names the fault, the exit code it must end in and a fragment of
the message that must say why. Whatever the fault, the gate must end in 1 (violation) or 2
(error), never 0, and never print a traceback (that would be a bug, even though the CLI
still exits 2).

Rows that must be refused "in small memory" run under ``tests/support/rusage.py``, which
measures the gate's own peak RSS (a child forked from pytest would inherit pytest's).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.cli import run_gate
from tests.support.rusage import measured, read_measurement


@dataclass(frozen=True)
class Row:
    """One fault: what is injected, the exit code it must end in, and why it must say so."""

    fault: str
    exit_code: int
    fragment: str

    def __str__(self) -> str:
        return self.fault


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mib: float | None = None
    """The gate's peak RSS, when run by :func:`run_measured`."""

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str, env: Mapping[str, str], timeout: float = 120) -> Outcome:
    """``python -m gate *args``: its exit code, output and wall time."""
    started = time.perf_counter()
    done = run_gate(*args, env=env, timeout=timeout)
    return Outcome(done.returncode, done.stdout, done.stderr, time.perf_counter() - started)


def run_measured(*args: str, env: Mapping[str, str], timeout: float = 120) -> Outcome:
    """As :func:`run_cli`, with the gate's own wall time and peak RSS."""
    with tempfile.TemporaryDirectory(prefix="gate-fault-") as tmp:
        report = Path(tmp) / "measurement"
        done = subprocess.run(
            measured([sys.executable, "-m", "gate", *args], report),
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        seconds, max_rss_mib = read_measurement(report)
    return Outcome(done.returncode, done.stdout, done.stderr, seconds, max_rss_mib)


def check_row(outcome: Outcome, row: Row) -> None:
    """The matrix's rules: the expected code (1 or 2), the fragment, no traceback."""
    shown = f"{row.fault}: exit {outcome.code}\n{outcome.output[-4000:]}"
    assert row.exit_code in (1, 2), "a fault row must never expect a pass"
    assert outcome.code == row.exit_code, shown
    assert row.fragment in outcome.output, shown
    assert "Traceback" not in outcome.output, shown
    assert "internal error" not in outcome.output, shown


def base_env(path: str, home: Path) -> dict[str, str]:
    """The test's environment with ``PATH`` as given, and no CI variables or credentials.

    ``DOCKER_CONFIG`` points at an empty directory under ``home``, so the user's
    ``~/.docker/config.json`` cannot lend credentials to a row.
    """
    drop = ("GITHUB_ACTIONS", "GITHUB_SHA", "REGISTRY_USERNAME", "REGISTRY_PASSWORD")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("TRIVY_")}
    docker_config = home / "docker-config"
    docker_config.mkdir(parents=True, exist_ok=True)
    env["DOCKER_CONFIG"] = str(docker_config)
    env["PATH"] = path
    return env


def write_policy(directory: Path, body: str | bytes, name: str = "policy.yml") -> str:
    """Write a policy file: bytes as given, text after a ``version: 1`` line."""
    path = directory / name
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text("version: 1\n" + body)
    return str(path)


def read_report(path: Path) -> dict[str, Any]:
    """The ``--report-json`` document the gate wrote."""
    document: dict[str, Any] = json.loads(path.read_text())
    return document
