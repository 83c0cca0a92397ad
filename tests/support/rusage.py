"""Measure a command's own wall time and peak memory, as the child of a small interpreter.

Linux carries a process's RSS high-water mark across ``exec``: a command forked straight
from pytest or the benchmark would report at least their size as its ``ru_maxrss`` (a
child of a 300 MiB process "peaks" at 300 MiB running ``python -c pass``). So the command
is forked and exec'd by a bare ``python -S`` (about 10 MiB), which reaps it with
``os.wait4`` and writes its peak RSS, its own wall time (fork to exit, without the
helper's start-up) and its CPU time (with its reaped descendants') to a file. The helper exits with the command's exit code.

    argv = measured([sys.executable, "-m", "gate", "--version"], report)
    subprocess.run(argv)
    seconds, max_rss_mib = read_measurement(report)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

_HELPER = """\
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - started
with open(sys.argv[1], "w") as out:
    out.write(f"{elapsed!r} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime!r}")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def measured(argv: Sequence[str], report: Path) -> list[str]:
    """``argv`` (looked up on ``PATH`` if not a path) run under the measuring helper."""
    return [sys.executable, "-S", "-c", _HELPER, str(report), *argv]


def read_measurement(report: Path) -> tuple[float, float]:
    """``(seconds, peak RSS in MiB)`` the helper wrote for the command it ran."""
    seconds, kib, _ = report.read_text().split()
    return float(seconds), int(kib) / 1024


def read_cpu_seconds(report: Path) -> float:
    """CPU time (user + system) of the command and every descendant it waited for.

    On a loaded machine wall time measures the neighbours too; CPU time is the work.
    """
    return float(report.read_text().split()[2])
