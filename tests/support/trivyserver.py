"""A real ``trivy server`` on a loopback port, for the tests (as ``registry`` for distribution).

It reads the tests' offline DB (the ``trivy_env`` environment: ``TRIVY_CACHE_DIR``,
``TRIVY_SKIP_DB_UPDATE``) and requires a random token, which it reads from
``TRIVY_TOKEN`` as the gate's own local server does. :meth:`kill` stops it at once, to
make a server that dies under its clients.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

from gate.scanners.trivy_server import ServerEndpoint, healthy
from tests.support.registry import free_port
from tests.support.service import BackgroundService, ServiceUnavailable


class TrivyServerUnavailable(ServiceUnavailable):
    """The trivy binary is missing or ``trivy server`` did not come up."""


class RunningTrivyServer(BackgroundService):
    """``trivy server --listen 127.0.0.1:PORT`` in *workdir*, with ``env`` (a whole environment)."""

    binary = "trivy"
    install_hint = "run `make test`, which installs it"
    unavailable = TrivyServerUnavailable

    def __init__(self, workdir: Path, env: Mapping[str, str]) -> None:
        super().__init__(workdir, startup_timeout=60.0)
        self.port = 0
        self.token = secrets.token_urlsafe(24)
        self._env = {**env, "TRIVY_TOKEN": self.token}
        self._env.pop("TRIVY_CACHE_BACKEND", None)  # the server's fs cache, in the test's dir

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> ServerEndpoint:
        return ServerEndpoint(self.url, self.token)

    def which(self) -> str:
        import shutil

        binary = shutil.which(self.binary, path=self._env.get("PATH"))
        if binary is None:
            raise self.unavailable(f"trivy is not on PATH; {self.install_hint}")
        return binary

    def command(self, binary: str) -> list[str]:
        self.port = free_port()
        return [binary, "server", "--listen", f"127.0.0.1:{self.port}", "--config="]

    def environment(self) -> dict[str, str]:
        return dict(self._env)

    def ready(self) -> bool:
        return healthy(self.url, timeout=0.5)

    def kill(self) -> None:
        """Stop the server now (SIGKILL): its clients see the connection refused."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
