"""A real container engine API for the tests: Podman's Docker-compatible service.

``podman system service`` serves the Docker Engine API (``/images/NAME/json``,
``/images/NAME/get``) on a unix socket. It runs as its own store (``--root``/``--runroot``
in the work directory, the ``vfs`` driver, which needs no kernel overlay support), so it
sees exactly the images the tests load into that store with :meth:`RunningPodman.podman`,
and nothing of the machine's::

    with RunningPodman(workdir) as engine:
        engine.load(archive)                       # a docker archive from tests.support.oci
        env = {"DOCKER_HOST": engine.docker_host}
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from tests.support.service import BackgroundService

_SOCKET_PATH_MAX = 100
"""``sun_path`` holds 108 bytes; a deeper work directory gets a short socket directory."""


class RunningPodman(BackgroundService):
    """``podman system service`` on ``<workdir>/podman.sock`` over a private vfs store."""

    binary = "podman"
    install_hint = "run `make test` (scripts/setup.sh installs Debian's podman package)"

    def __init__(self, workdir: Path, *, startup_timeout: float = 30.0) -> None:
        super().__init__(workdir, startup_timeout=startup_timeout)
        socket_path = self.workdir / "podman.sock"
        if len(str(socket_path)) > _SOCKET_PATH_MAX:
            socket_path = Path(tempfile.mkdtemp(prefix="podman-")) / "podman.sock"
        self.socket_path = socket_path

    @property
    def docker_host(self) -> str:
        """The ``DOCKER_HOST`` value that reaches this engine."""
        return f"unix://{self.socket_path}"

    def store_flags(self) -> list[str]:
        """The global flags that select this engine's private store."""
        return [
            "--storage-driver",
            "vfs",
            "--root",
            str(self.workdir / "root"),
            "--runroot",
            str(self.workdir / "run"),
        ]

    def command(self, binary: str) -> list[str]:
        return [binary, *self.store_flags(), "system", "service", "--time", "0", self.docker_host]

    def ready(self) -> bool:
        """``GET /_ping`` answers 200."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1)
                sock.connect(str(self.socket_path))
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
                return sock.recv(64).split(b" ", 2)[1:2] == [b"200"]
        except OSError:
            return False

    def podman(self, *args: str, timeout: float = 120) -> str:
        """Run the podman CLI on this engine's store; its stdout, or RuntimeError with stderr."""
        done = subprocess.run(
            [self.which(), *self.store_flags(), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)}: rc {done.returncode}: {done.stderr}")
        return done.stdout

    def load(self, archive: Path) -> None:
        """``podman load`` a docker archive: the image id is the archive's config digest."""
        self.podman("load", "--quiet", "--input", str(archive))

    def import_rootfs(self, rootfs_tar: Path, name: str, *changes: str) -> str:
        """``podman import`` a rootfs tar as *name* with Dockerfile *changes* (``USER 1000``):
        an image whose config Podman wrote itself. Returns its image id (``sha256:…``)."""
        flags = [f"--change={change}" for change in changes]
        self.podman("import", "--quiet", *flags, str(rootfs_tar), name)
        return self.image_id(name)

    def image_id(self, name: str) -> str:
        """The engine's id for *name*, as ``sha256:<hex>``."""
        return "sha256:" + self.podman("image", "inspect", "--format", "{{.Id}}", name).strip()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        shutil.rmtree(self.workdir / "root", ignore_errors=True)
        self.socket_path.unlink(missing_ok=True)
        if self.socket_path.parent != self.workdir:
            shutil.rmtree(self.socket_path.parent, ignore_errors=True)
