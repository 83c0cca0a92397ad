"""Real OCI registries on a loopback port: Debian's ``docker-registry`` (distribution 2.8.2),
and go-containerregistry's registry with the OCI 1.1 referrers API (tests/oracles/registry).

Tests talk to a real registry instead of mocking HTTP so that the gate's client code meets the
same quirks production registries have (digest headers, refusal of manifests with missing
blobs, a referrers API or none).  :class:`RunningRegistry` is a context manager so demo
scripts can reuse it outside pytest::

    with RunningRegistry(workdir) as reg:
        push(reg.host, "app", image, "latest")
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import TypeVar

BINARY = "docker-registry"

_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {addr}
  secret: container-gate-test-secret
"""


_Registry = TypeVar("_Registry", bound="RunningRegistry")


class RegistryUnavailable(RuntimeError):
    """The registry binary is missing or the server did not come up."""


def free_port() -> int:
    """Ask the kernel for a currently unused loopback TCP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RunningRegistry:
    """Start ``docker-registry serve`` in *workdir*; stop it and delete its storage on exit."""

    #: Whether the registry serves ``/v2/<repo>/referrers/<digest>`` (distribution 2.8 does not).
    referrers_api = False

    def __init__(self, workdir: Path, *, startup_timeout: float = 15.0) -> None:
        self.workdir = Path(workdir)
        self.startup_timeout = startup_timeout
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path = self.workdir / "registry.log"

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the form used in image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """Base URL of the distribution API (plain HTTP)."""
        return f"http://{self.host}"

    def _command(self) -> list[str]:
        """The command serving on ``self.host``."""
        binary = shutil.which(BINARY)
        if binary is None:
            raise RegistryUnavailable(
                f"{BINARY!r} (distribution 2.8.2) is not on PATH; run `make test`, "
                "which installs it (Debian package docker-registry)"
            )
        config = self.workdir / "config.yml"
        config.write_text(
            _CONFIG.format(root=self.workdir / "storage", addr=self.host), encoding="utf-8"
        )
        return [binary, "serve", str(config)]

    def __enter__(self: _Registry) -> _Registry:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # A free port can be taken between probing and binding; retry a few times.
        for _attempt in range(3):
            self.port = free_port()
            command = self._command()
            with self._log_path.open("wb") as log:
                self._proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            if self._wait_ready():
                return self
            self._stop()
        raise RegistryUnavailable(f"{Path(command[0]).name} did not start: {self._log_tail()}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()
        shutil.rmtree(self.workdir / "storage", ignore_errors=True)

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/v2/", timeout=1) as resp:
                    if resp.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        return False

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def _log_tail(self) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-2000:].strip()
        except OSError:
            return "(no log)"


class ReferrersRegistry(RunningRegistry):
    """go-containerregistry's registry (as ``crane registry serve``, v0.22.1) with its referrers
    API on; in memory, so ``__exit__`` only stops it. ``binary`` is tests/oracles/registry's
    ``serve``, built by ``tests.support.gobuild``."""

    referrers_api = True

    def __init__(self, workdir: Path, binary: Path, *, startup_timeout: float = 15.0) -> None:
        super().__init__(workdir, startup_timeout=startup_timeout)
        self.binary = binary

    def _command(self) -> list[str]:
        return [str(self.binary), "-address", self.host]
