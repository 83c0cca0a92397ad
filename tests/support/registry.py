"""A real OCI registry (Debian's ``docker-registry``, distribution 2.8.2) on a loopback port.

Tests talk to a real registry instead of mocking HTTP so that the gate's client code meets the
same quirks production registries have (digest headers, refusal of manifests with missing
blobs, no referrers API).  :class:`RunningRegistry` is a context manager so demo scripts can
reuse it outside pytest::

    with RunningRegistry(workdir) as reg:
        push(reg.host, "app", image, "latest")
"""

from __future__ import annotations

import shutil
import socket
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from tests.support.service import BackgroundService, ServiceUnavailable

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


class RegistryUnavailable(ServiceUnavailable):
    """The registry binary is missing or the server did not come up."""


def free_port() -> int:
    """Ask the kernel for a currently unused loopback TCP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RunningRegistry(BackgroundService):
    """Start ``docker-registry serve`` in *workdir*; stop it and delete its storage on exit."""

    binary = BINARY
    install_hint = "run `make test`, which installs it (Debian package docker-registry)"
    unavailable = RegistryUnavailable
    #: Whether the registry serves ``/v2/<repo>/referrers/<digest>`` (distribution 2.8 does not).
    referrers_api = False

    def __init__(self, workdir: Path, *, startup_timeout: float = 15.0) -> None:
        super().__init__(workdir, startup_timeout=startup_timeout)
        self.port = 0

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the form used in image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """Base URL of the distribution API (plain HTTP)."""
        return f"http://{self.host}"

    def command(self, binary: str) -> list[str]:
        self.port = free_port()
        config = self.workdir / "config.yml"
        config.write_text(
            _CONFIG.format(root=self.workdir / "storage", addr=self.host), encoding="utf-8"
        )
        return [binary, "serve", str(config)]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/v2/", timeout=1) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def __enter__(self: _Registry) -> _Registry:
        binary = self.which()
        # A free port can be taken between probing and binding; retry a few times.
        for _attempt in range(3):
            if self.start(binary):
                return self
        raise RegistryUnavailable(f"{self.binary} did not start: {self.log_tail()}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        shutil.rmtree(self.workdir / "storage", ignore_errors=True)


class ReferrersRegistry(RunningRegistry):
    """go-containerregistry's registry (as ``crane registry serve``, v0.22.1) with its referrers
    API on; in memory, so ``__exit__`` only stops it. ``built`` is tests/oracles/registry's
    ``serve``, built by ``tests.support.gobuild``."""

    binary = "serve"
    referrers_api = True

    def __init__(self, workdir: Path, built: Path, *, startup_timeout: float = 15.0) -> None:
        super().__init__(workdir, startup_timeout=startup_timeout)
        self.built = built

    def which(self) -> str:
        return str(self.built)

    def command(self, binary: str) -> list[str]:
        self.port = free_port()
        return [binary, "-address", self.host]
