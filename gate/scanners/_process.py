"""Run a scanner as a subprocess, and fail closed on everything that can go wrong.

Shared by every scanner edge (Trivy, Grype) so that they fail the same way:

- an argument list, never a shell;
- the tool runs in a **new session** (its own process group), and on timeout the whole
  group is killed with SIGKILL, so a scanner's helpers cannot outlive the gate as
  orphans (as ``timeout --kill-after`` does for a foreground group);
- stdout and stderr are drained by reader threads into **bounded** tails, so a tool that
  writes 50 MB of logs costs a few KiB of memory, and a full pipe never stalls it;
- a missing executable, a non-zero exit or a timeout raises ``ScannerError`` whose
  one-line message names the tool and the cause, with the stderr tail as ``detail``.

Scanners judge from the report file they were told to write, never from stdout or the
exit code alone, so only the tails are kept.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from gate.errors import ScannerError
from gate.masking import untrusted

_log = logging.getLogger(__name__)

STDERR_TAIL_BYTES = 8 * 1024
"""How much of a tool's stderr is kept for the error detail: the end, where the cause is."""

STDOUT_TAIL_BYTES = 64 * 1024
"""How much of stdout is kept (enough for a ``--version`` banner, bounded for floods)."""

_READ_CHUNK = 64 * 1024
_READER_JOIN_SECONDS = 5.0
"""How long to wait for the pipes to close after the tool is gone. Only a grandchild
that escaped the process group (its own ``setsid``) can hold them open longer; the
gate then stops waiting rather than hang."""


@dataclass(frozen=True)
class Completed:
    """A tool run that exited with status 0.

    ``stdout`` and ``stderr`` are *tails* (decoded, undecodable bytes replaced), at most
    ``STDOUT_TAIL_BYTES`` and ``STDERR_TAIL_BYTES`` long.
    """

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float


_Report = TypeVar("_Report")


def read_output(
    done: Completed, path: Path, *, tool: str, parse: Callable[[Path], _Report]
) -> _Report:
    """Parse the report file a successful run wrote, keeping the run's stderr tail.

    A missing file or an unusable report is the tool's failure as much as a crash is, so
    its error carries what the tool said on stderr (the cause is usually there).
    """
    if not path.is_file():
        raise ScannerError(f"{tool} exited 0 but wrote no report file", detail=done.stderr)
    try:
        return parse(path)
    except ScannerError as error:
        detail = "\n".join(part for part in (error.detail, done.stderr) if part)
        raise ScannerError(error.message, detail=detail) from None


SCRUB_MARGIN = 16 * 1024
"""Bytes kept beyond a tail so it is scrubbed of credentials whole, *then* cut: a secret
that straddles the cut is masked before the cut can leave a piece of it that no longer
matches. The piece of a line at the front of what was kept is dropped unscrubbed."""


class _Tail:
    """Drain a pipe on a thread, remembering only its last ``limit`` bytes.

    With ``scrub`` (stderr, which errors show), a margin more is kept, and the tail is
    scrubbed of credentials before it is cut to ``limit``.
    """

    def __init__(self, stream: IO[bytes], limit: int, *, scrub: bool = False) -> None:
        self._stream = stream
        self._limit = limit
        self._scrub = scrub
        self._keep = limit + (SCRUB_MARGIN if scrub else 0)
        self._buffer = bytearray()
        self._dropped = 0
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            while chunk := self._stream.read1(_READ_CHUNK):  # type: ignore[attr-defined]
                self._buffer += chunk
                excess = len(self._buffer) - self._keep
                if excess > 0:
                    del self._buffer[:excess]
                    self._dropped += excess
        except (OSError, ValueError):
            pass  # the pipe was closed under us; keep what we have

    def text(self) -> str:
        """The tail (scrubbed first, with ``scrub``), cut at a line start, noting how much.

        Scrubbed before the cut (``gate.masking.untrusted``): the tool may echo a credential.
        """
        self._thread.join(_READER_JOIN_SECONDS)
        data = bytes(self._buffer)
        dropped = self._dropped
        if dropped and self._scrub:  # the first line is a piece, maybe of a secret's: drop it
            newline = data.find(b"\n")
            start = newline + 1 if newline >= 0 else min(len(data), SCRUB_MARGIN)
            dropped, data = dropped + start, data[start:]
        if self._scrub:
            data = untrusted(data.decode("utf-8", "replace")).encode()
        cut = len(data) > self._limit
        if cut:
            dropped += len(data) - self._limit
            data = data[-self._limit :]
        if cut or (dropped and not self._scrub):  # start at a whole line
            newline = data.find(b"\n")
            if 0 <= newline < len(data) - 1:
                dropped += newline + 1
                data = data[newline + 1 :]
        body = data.decode("utf-8", "replace")
        return f"[… {dropped} earlier bytes not shown]\n{body}" if dropped else body

    def close(self) -> None:
        self._thread.join(_READER_JOIN_SECONDS)
        if not self._thread.is_alive():
            self._stream.close()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # nothing left
        os.killpg(pgid, signal.SIGKILL)


def _wait_exited(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait until the leader exits, *without reaping it*, or until ``timeout``.

    While the leader is an unreaped zombie its pid (= the group id) cannot be reused, so
    the ``killpg`` that follows cannot hit an unrelated group. Uses a pidfd where the
    kernel has one (Linux ≥ 5.3), else falls back to ``Popen.wait``.
    """
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None:
        try:
            fd = pidfd_open(proc.pid)
        except OSError:
            fd = None
        if fd is not None:
            try:
                ready, _, _ = select.select([fd], [], [], max(timeout, 0.0))
                return bool(ready)
            finally:
                os.close(fd)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def _environment(env: Mapping[str, str] | None, *, inherit: bool) -> dict[str, str]:
    merged = dict(os.environ) if inherit else {}
    if env:
        merged.update(env)
    return merged


def run_tool(
    argv: Sequence[str],
    *,
    tool: str,
    timeout: float,
    env: Mapping[str, str] | None = None,
    inherit_env: bool = True,
    cwd: Path | None = None,
) -> Completed:
    """Run ``argv`` to completion and return its output tails, or raise ``ScannerError``.

    ``tool`` is the name used in messages (``trivy``, ``grype``). ``env`` holds variables
    *layered over* the gate's own environment, or with ``inherit_env=False`` the child's
    whole environment (scanners: see ``gate.scanners.isolation``). ``cwd`` is the child's
    working directory; the executable is found on the child's ``PATH`` first, from here.

    Raises ``ScannerError`` when the executable is not on PATH, when the tool exits
    non-zero or is killed by a signal, or when it runs longer than ``timeout`` seconds;
    then the tool's whole process group is killed first. In every case ``detail`` is the
    tail of its stderr. Whatever else is left in the group after a normal exit is killed
    too, so the gate never leaves a scanner's helpers behind.
    """
    if not argv:
        raise ValueError("run_tool needs a command")
    full_env = _environment(env, inherit=inherit_env)
    executable = shutil.which(argv[0], path=full_env.get("PATH", os.defpath))
    if executable is None:
        raise ScannerError(f"{tool} not found on PATH; install it or pass --{tool}-report FILE")

    command = (os.path.abspath(executable), *argv[1:])  # found from here, run from ``cwd``
    # The argument list only: the environment carries registry credentials.
    _log.debug(
        "%s: running %s (in %s, timeout %gs)", tool, shlex.join(command), cwd or ".", timeout
    )
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:  # vanished or not executable between which() and exec
        raise ScannerError(f"{tool} could not be started: {exc.strerror or exc}") from None

    assert proc.stdout is not None and proc.stderr is not None
    out = _Tail(proc.stdout, STDOUT_TAIL_BYTES)
    err = _Tail(proc.stderr, STDERR_TAIL_BYTES, scrub=True)
    timed_out = False
    try:
        timed_out = not _wait_exited(proc, timeout)
    finally:
        # Kill whatever is left of the group: all of it on timeout (or on an interrupt
        # while waiting), stray children after a normal exit. The leader is not reaped
        # yet, so the group id still belongs to this run.
        _kill_group(proc.pid)
        returncode = proc.wait()
        out.close()
        err.close()
    duration = time.monotonic() - started
    _log.debug("%s: exited %d after %.2f s", tool, returncode, duration)

    if timed_out:
        raise ScannerError(
            f"{tool} timed out after {timeout:g}s; its process group was killed",
            detail=err.text(),
        )
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        raise ScannerError(f"{tool} was killed by {name}", detail=err.text())
    if returncode != 0:
        raise ScannerError(f"{tool} exited with code {returncode}", detail=err.text())
    return Completed(
        argv=tuple(command),
        returncode=returncode,
        stdout=out.text(),
        stderr=err.text(),
        duration=duration,
    )
