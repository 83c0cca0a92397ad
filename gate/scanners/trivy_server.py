"""Trivy in client/server mode: one layer analysis shared by every scan, in this run and the next.

Why a server: Trivy's ``fs`` scan cache is a bolt database that one process locks
exclusively (giving up after 5 s), so parallel ``trivy image`` runs cannot share it, and
with ``--cache-backend memory`` every image re-analyses every layer it shares with the
others. A ``trivy server`` owns the cache alone; its clients (``trivy image --server``)
ask it which layers it lacks, analyse only those, store them there and have it detect.
So six images on one base analyse the base once, and the next run analyses nothing.

How the gate runs one (``LocalServer``), by the rules every scanner run follows
(``gate.scanners.isolation``): a private empty working directory, only
``TRIVY_ENV_ALLOWED`` of Trivy's variables (so the user's ``TRIVY_CACHE_DIR``,
``TRIVY_SKIP_DB_UPDATE``, mirrors… apply, and nothing else), no config file, no WASM
module (a server-side module could rewrite results). It listens on ``127.0.0.1`` only,
on a free port, and requires a random token (``secrets.token_urlsafe``) that is handed to
server and clients in ``TRIVY_TOKEN``, never on a command line (``/proc/PID/cmdline`` is
world-readable, a process's environment is not). Readiness is ``GET /healthz``; the
server runs in its own process group, which is killed when the run ends (also on errors,
Ctrl-C, and, on Linux, when the gate itself dies: ``PR_SET_PDEATHSIG``).

An organisation's server (``--trivy-server URL``, policy ``trivy.server``) is reached the
same way. Only ``https://`` is accepted for a host that is not loopback: the server
returns the findings, so whoever sits between the gate and a plain-HTTP server could
forge the verdict.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from gate.errors import ScannerError, UsageError
from gate.scanners.isolation import Workspace, scanner_environment

TOKEN_VARIABLE = "TRIVY_TOKEN"  # noqa: S105 (a variable name, not a secret)
"""Where Trivy (server and client) reads the token from: the ``--token`` flag's variable."""

STARTUP_TIMEOUT = 60.0
"""How long a local server may take to answer ``/healthz`` (it opens the DB first)."""

CACHE_LOCKED = "cache may be in use by another process"
"""What Trivy says when the fs cache's bolt lock is held by another process (5 s timeout)."""

_LOG_TAIL = 4096
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ServerEndpoint:
    """Where Trivy clients send their scans, and the token they show (never printed)."""

    url: str
    token: str | None = field(default=None, repr=False)
    local: bool = False
    ready: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    """Called before each scan: waits for a server still starting (``LocalServer.launch``)."""

    def scrub(self, text: str) -> str:
        """``text`` with the token replaced: it must not reach a log or a report."""
        return text.replace(self.token, "***") if self.token else text


def server_url(url: str) -> str:
    """The ``--trivy-server`` URL, checked: ``https://HOST[:PORT]``, or ``http://`` to loopback.

    A Trivy server decides the findings, so a plain-HTTP path to it is a path to forge
    the verdict; on loopback there is no network in between.
    """
    from gate.image.registry import is_loopback

    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(f"Trivy server {url!r}: expected https://HOST[:PORT]")
    if parsed.username or parsed.password or parsed.query or parsed.fragment:
        raise UsageError(
            f"Trivy server {parsed.scheme}://{parsed.hostname}: no credentials, query or "
            "fragment in the URL; the token comes from an environment variable"
        )
    try:
        _ = parsed.port  # raises on a malformed port
    except ValueError:
        raise UsageError(f"Trivy server {url!r}: the port is not a number") from None
    if parsed.scheme == "http" and not is_loopback(parsed.netloc):
        raise UsageError(
            f"Trivy server {url!r}: plain HTTP is accepted for a loopback server only; a "
            "server decides the findings, so use https:// for any other host"
        )
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, parsed.path.rstrip("/"), "", ""))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def healthy(url: str, *, timeout: float = 1.0) -> bool:
    """Whether a Trivy server answers ``GET /healthz`` with 200 (its readiness probe)."""
    import urllib.error
    import urllib.request  # here: 50 ms of imports a run without a server never pays

    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=timeout) as response:  # noqa: S310
            return int(response.status) == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _die_with_parent() -> None:  # pragma: no cover: runs in the child between fork and exec
    """Linux: the server gets SIGKILL when the gate's main thread dies, even by SIGKILL."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class LocalServer:
    """A ``trivy server`` on loopback for one gate run; a context manager that yields its endpoint.

    ``server_argv`` and ``server_env`` are pure, so tests can check exactly what runs.
    """

    def __init__(
        self,
        *,
        executable: str = "trivy",
        environ: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self._executable = executable
        self._environ = dict(os.environ if environ is None else environ)
        self._cwd = cwd or Path.cwd()
        self._startup_timeout = startup_timeout
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._release: threading.Event | None = None
        self.endpoint: ServerEndpoint | None = None
        self.on_note: Callable[[str], None] = lambda note: None
        self._lock = threading.Lock()
        self._ready = False
        self._failure: ScannerError | None = None
        self._token = ""
        self._port = 0

    def server_argv(self, port: int, workspace: Workspace) -> list[str]:
        """``trivy server`` on ``127.0.0.1:port``: no config file, no WASM module."""
        return [
            self._executable,
            "server",
            "--listen",
            f"127.0.0.1:{port}",
            "--config=",
            "--module-dir",
            str(workspace.empty_dir),
            "--enable-modules=",
            "--no-progress",
        ]

    def server_env(self, token: str) -> dict[str, str]:
        """The server's whole environment: the scanners' allowlist, plus the token."""
        from gate.scanners.trivy import _ENV_PATHS, ENV_PREFIX, TRIVY_ENV_ALLOWED

        env = scanner_environment(
            self._environ,
            prefix=ENV_PREFIX,
            allowed=TRIVY_ENV_ALLOWED,
            paths=_ENV_PATHS,
            cwd=self._cwd,
        )
        env[TOKEN_VARIABLE] = token
        return env

    def launch(self) -> ServerEndpoint:
        """The endpoint the scans will use; the server itself starts when the first scan
        calls the endpoint's ``ready``, so a run whose reports are all reused
        (``gate.scanners.trivy_cache``) starts none."""
        import secrets

        self._token = secrets.token_urlsafe(32)
        self._port = _free_port()
        self.endpoint = ServerEndpoint(
            f"http://127.0.0.1:{self._port}", self._token, local=True, ready=self.ready
        )
        return self.endpoint

    def start(self) -> ServerEndpoint:
        """Start the server and wait for ``/healthz``; ``ScannerError`` if it never answers."""
        endpoint = self.launch()
        self.ready()
        return endpoint

    def ready(self) -> None:
        """Wait until the server answers (once; every scan thread may call it), or raise.

        When another Trivy holds the cache directory's lock (a second gate on the same
        machine), the server is started again, on the same port with the same token, with
        an in-memory cache: the scans are the same, only nothing is kept for the next run
        (``on_note`` is told).
        """
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._ready:
                return
            try:
                if self._proc is None:
                    self._spawn(memory=False)
                self._wait()
            except ScannerError as error:
                if CACHE_LOCKED not in error.detail:
                    self._failure = error
                    raise
                self.on_note(
                    "trivy: the scan cache is in use by another Trivy process; this run's "
                    "layer analyses are shared between its images but not kept"
                )
                try:
                    self._spawn(memory=True)
                    self._wait()
                except ScannerError as again:
                    self._failure = again
                    raise
            self._ready = True

    def _spawn(self, *, memory: bool) -> None:
        """Start the server from a thread that lives until ``stop``: Linux sends the
        ``PR_SET_PDEATHSIG`` signal when the *thread* that started the child ends (prctl(2)),
        and the scan threads that first need the server end with their image."""
        started = threading.Event()
        release = self._release = threading.Event()

        def parent() -> None:
            try:
                self._start_process(memory=memory)
            finally:
                started.set()
            release.wait()

        threading.Thread(target=parent, name="trivy-server-parent", daemon=True).start()
        started.wait()

    def _start_process(self, *, memory: bool) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="gate-trivy-server-")
        workspace = Workspace.create(Path(self._tmp.name))
        argv = self.server_argv(self._port, workspace)
        if memory:
            argv += ["--cache-backend", "memory"]
        env = self.server_env(self._token)
        executable = shutil.which(argv[0], path=env.get("PATH", os.defpath))
        if executable is None:
            self._failure = ScannerError(
                "trivy not found on PATH; install it or pass --trivy-report FILE"
            )
            return
        with (workspace.root / "server.log").open("wb") as sink:
            try:
                self._proc = subprocess.Popen(
                    [os.path.abspath(executable), *argv[1:]],
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=workspace.cwd,
                    start_new_session=True,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )
            except OSError as exc:
                self._failure = ScannerError(f"trivy server could not be started: {exc}")

    def _wait(self) -> None:
        from gate.scanners._process import _kill_group, _wait_exited

        if self._failure is not None:
            raise self._failure
        proc = self._proc
        assert proc is not None and self.endpoint is not None
        deadline = time.monotonic() + self._startup_timeout
        exited = False
        while not exited and time.monotonic() < deadline:
            if healthy(self.endpoint.url, timeout=0.5):
                return
            exited = _wait_exited(proc, 0.02)  # without reaping: the group id stays ours
        if not exited:
            _kill_group(proc.pid)
        code = proc.wait()
        detail = self._log_tail()
        self.stop()
        cause = (
            f"exited with code {code}"
            if exited
            else f"did not answer within {self._startup_timeout:g}s"
        )
        raise ScannerError(f"the local trivy server {cause}", detail=detail)

    def _log_tail(self) -> str:
        if self._tmp is None:
            return ""
        try:
            with (Path(self._tmp.name) / "server.log").open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - _LOG_TAIL))
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Kill the server's whole process group and remove its directory (idempotent)."""
        from gate.scanners._process import _kill_group, _wait_exited

        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.returncode is None:  # not reaped yet, so its group id is still its own
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGTERM)  # lets it close the cache cleanly
                _wait_exited(proc, 5.0)
                _kill_group(proc.pid)
            proc.wait()
        if self._release is not None:
            self._release.set()  # after the child is gone: its end would SIGKILL it
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            tmp.cleanup()

    def __enter__(self) -> ServerEndpoint:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
