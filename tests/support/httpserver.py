"""A test HTTP server on ``127.0.0.1:<free port>``, served from a daemon thread.

The in-process registries (:mod:`tests.support.fakeregistry`,
:mod:`tests.support.staticregistry`) subclass :class:`LoopbackServer`: they supply the request
handler class, and entering binds port 0 and serves it in a thread; leaving shuts the server
down, closes its socket and joins the thread::

    class Hello(LoopbackServer):
        def request_handler(self) -> type[BaseHTTPRequestHandler]:
            ...

    with Hello() as server:
        urllib.request.urlopen(server.url + "/")

Given ``unix_path``, the same handler is served on a unix socket instead (a container
engine's API is spoken there); ``host`` and ``url`` then have no meaning.
"""

from __future__ import annotations

import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

_Server = TypeVar("_Server", bound="LoopbackServer")


class _QuietHTTPServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass


class _QuietUnixServer(socketserver.ThreadingUnixStreamServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass


class LoopbackServer:
    """Serve :meth:`request_handler` on loopback while entered; ``host`` is ``127.0.0.1:PORT``."""

    #: Seconds between ``serve_forever``'s checks for a shutdown: small, so leaving is quick.
    poll_interval = 0.02
    #: True: a request that fails (a client that hung up mid-reply) prints no traceback.
    quiet_errors = False
    #: The loopback address to listen on (any of 127.0.0.0/8 on Linux).
    address = "127.0.0.1"

    def __init__(self, *, unix_path: Path | None = None) -> None:
        self.unix_path = unix_path
        self._server: socketserver.BaseServer | None = None
        self._thread: threading.Thread | None = None

    def request_handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class to serve (built per server, so it can close over it)."""
        raise NotImplementedError

    def stopping(self) -> None:
        """Called first on leaving, before the shutdown waits for handlers: wake stalled ones."""

    @property
    def host(self) -> str:
        assert isinstance(self._server, ThreadingHTTPServer), "a loopback server, entered"
        return f"{self.address}:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def __enter__(self: _Server) -> _Server:
        if self.unix_path is not None:
            self._server = _QuietUnixServer(str(self.unix_path), self.request_handler())
        else:
            server_class = _QuietHTTPServer if self.quiet_errors else ThreadingHTTPServer
            self._server = server_class((self.address, 0), self.request_handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": self.poll_interval},
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.unix_path is not None:
            self.unix_path.unlink(missing_ok=True)
