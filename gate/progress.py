"""Progress on stderr for the long steps: what runs, for which image, and for how long.

A DB download, an image export or a scan can take minutes; without a word the job looks
hung. The edges (facts gathering, the scanners, the Action's DB preparation) announce each
long step here; the pure core never does. Progress goes to **stderr only**: stdout carries
the verdict (and, in Actions, workflow commands), and the JSON report is a file.

Terminal-aware: on an interactive terminal outside CI, "still running" rewrites one status
line (``\\r``); when stderr is a pipe or a log, or ``CI``/``GITHUB_ACTIONS`` is set, every
message is a plain line, so logs never fill with carriage returns or spinner frames.

``CONTAINER_GATE_PROGRESS_INTERVAL`` sets the seconds between "still running" lines
(default 10); ``0`` turns progress off.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO

from gate.masking import live_stderr

DEFAULT_INTERVAL = 10.0
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, 0x85)} | {
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def _one_line(message: str) -> str:
    """*message* on one line, control characters shown escaped: an image name is the
    user's text, and a line break in it must not start a line of its own (in Actions, a
    line of stderr that starts with ``::`` is a workflow command)."""
    return message.translate(_CONTROLS)


PREFIX = "container-gate: "


class Progress:
    """Writes progress lines to one stream; safe to use from several threads at once."""

    def __init__(self, stream: TextIO | None, *, interval: float, rewrite: bool) -> None:
        self._stream = stream
        self._interval = interval
        self._rewrite = rewrite
        self._lock = threading.Lock()
        self._status_shown = False

    @classmethod
    def from_environment(
        cls, stream: TextIO | None = None, env: Mapping[str, str] | None = None
    ) -> Progress:
        """The reporter for this process: stderr, rewriting only on a terminal outside CI."""
        environ = os.environ if env is None else env
        out = live_stderr() if stream is None else stream
        raw = environ.get("CONTAINER_GATE_PROGRESS_INTERVAL", "").strip()
        try:
            interval = float(raw) if raw else DEFAULT_INTERVAL
        except ValueError:
            interval = DEFAULT_INTERVAL
        if interval <= 0:
            return silent()
        in_ci = bool(environ.get("CI")) or environ.get("GITHUB_ACTIONS") == "true"
        try:
            tty = out.isatty()
        except (AttributeError, ValueError):
            tty = False
        return cls(out, interval=interval, rewrite=tty and not in_ci)

    def say(self, message: str) -> None:
        """One line of progress."""
        self._write(message, status=False)

    def _write(self, message: str, *, status: bool) -> None:
        if self._stream is None:
            return
        with self._lock:
            text = PREFIX + _one_line(message)
            if self._rewrite:
                # Clear any status line first; a status line itself stays unterminated.
                clear = "\r\x1b[K" if self._status_shown else ""
                self._stream.write(clear + text + ("" if status else "\n"))
                self._status_shown = status
            else:
                self._stream.write(text + "\n")
            self._stream.flush()

    @contextmanager
    def step(self, what: str, image: str | None = None) -> Iterator[None]:
        """Announce ``what`` (for ``image``), report "still running" every interval, and
        say how long it took when it took longer than one interval."""
        if self._stream is None:
            yield
            return
        about = f" ({image})" if image else ""
        self.say(f"{what}{about}")
        started = time.monotonic()
        done = threading.Event()

        def tick() -> None:
            while not done.wait(self._interval):
                elapsed = time.monotonic() - started
                self._write(
                    f"{what}: still running after {elapsed:.0f} s{about}", status=self._rewrite
                )

        ticker = threading.Thread(target=tick, name="progress", daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()
            elapsed = time.monotonic() - started
            if elapsed >= self._interval:
                self.say(f"{what}: finished after {elapsed:.0f} s{about}")


def silent() -> Progress:
    """A reporter that says nothing (library use, tests, interval 0)."""
    return Progress(None, interval=DEFAULT_INTERVAL, rewrite=False)
