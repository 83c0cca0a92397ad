"""A real server process for the tests: started in a work directory, awaited, stopped.

:class:`BackgroundService` holds what the registry and the container engine fixtures share:
find the binary (or fail loudly with how to install it), start it with its output in a log
file, poll until it answers, and on leaving terminate it (then kill it) and show the log's
tail when it never came up. Subclasses give the command line and the readiness probe.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import TypeVar

_Service = TypeVar("_Service", bound="BackgroundService")


class ServiceUnavailable(RuntimeError):
    """The server's binary is missing or the server did not come up."""


class BackgroundService:
    """A server process in *workdir*; subclasses define :meth:`command` and :meth:`ready`."""

    #: The executable looked up on PATH.
    binary = ""
    #: How to get the binary, for the error when it is missing.
    install_hint = "run `make test`"
    unavailable: type[ServiceUnavailable] = ServiceUnavailable

    def __init__(self, workdir: Path, *, startup_timeout: float = 15.0) -> None:
        self.workdir = Path(workdir)
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path = self.workdir / f"{self.binary}.log"

    def command(self, binary: str) -> list[str]:
        """The argument list that starts the server (called once per start attempt)."""
        raise NotImplementedError

    def ready(self) -> bool:
        """Whether the server answers yet."""
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        """The server's whole environment; None (the default) inherits the tests' own."""
        return None

    def which(self) -> str:
        binary = shutil.which(self.binary)
        if binary is None:
            raise self.unavailable(f"{self.binary!r} is not on PATH; {self.install_hint}")
        return binary

    def start(self, binary: str) -> bool:
        """Start one attempt; True once :meth:`ready`, False (and stopped) if it never is."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self._log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                self.command(binary),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment(),
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if self.ready():
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def __enter__(self: _Service) -> _Service:
        if not self.start(self.which()):
            raise self.unavailable(f"{self.binary} did not start: {self.log_tail()}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def log_tail(self) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-2000:].strip()
        except OSError:
            return "(no log)"
