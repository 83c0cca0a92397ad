"""A fault-injecting registry: a real HTTP server on loopback that answers scripted replies.

The real ``docker-registry`` cannot be made to misbehave, so registry faults (401/403, 429
with ``Retry-After``, 500 then success, a stall past the client's timeout, a body that does
not match its digest, a manifest that is not JSON) are served by this small
``http.server`` instead. It is a real server on a real socket: the client under test goes
through its whole HTTP stack. Every request is recorded in :attr:`FakeRegistry.seen`.

    with FakeRegistry() as fake:
        fake.script("/v2/app/manifests/v1", Reply(500), Reply(200, body, {...}))
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.httpserver import LoopbackServer

#: Upper bound on any stall, so a forgotten fake can never hang the test run.
MAX_STALL = 30.0


@dataclass(frozen=True)
class Reply:
    """One scripted answer; ``stall`` seconds pass before anything is sent.

    ``cut``: send only that many bytes of the body, then hang up (its full length declared).
    """

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    stall: float = 0.0
    cut: int | None = None


@dataclass(frozen=True)
class Seen:
    """One request as the server received it (``path`` without the query)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]


Handler = Callable[[Seen], Reply]


def manifest_reply(
    body: bytes, media_type: str, *, digest: str | None = None, status: int = 200
) -> Reply:
    """A manifest answer with ``Content-Type`` and ``Docker-Content-Digest`` (real by default)."""
    digest = digest or "sha256:" + hashlib.sha256(body).hexdigest()
    return Reply(status, body, {"Content-Type": media_type, "Docker-Content-Digest": digest})


def error_reply(status: int, code: str, message: str, **headers: str) -> Reply:
    """A distribution-style error body (``{"errors": [{"code", "message"}]}``)."""
    body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
    return Reply(status, body, {"Content-Type": "application/json", **headers})


class FakeRegistry(LoopbackServer):
    """Serve scripted replies on ``127.0.0.1:<free port>``; unknown paths answer 404."""

    quiet_errors = True  # a client that gave up on a stalled reply is expected, not an error

    def __init__(self, *, unix_path: Path | None = None) -> None:
        super().__init__(unix_path=unix_path)
        self._routes: dict[tuple[str, str], Handler] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.seen: list[Seen] = []

    def handle(self, path: str, handler: Handler, *, method: str = "GET") -> None:
        """Answer *method* requests to *path* with ``handler(seen)``."""
        self._routes[(method, path)] = handler

    def script(self, path: str, *replies: Reply, method: str = "GET") -> None:
        """Answer successive requests with *replies* in order; the last one repeats."""
        queue = list(replies)

        def next_reply(_seen: Seen) -> Reply:
            with self._lock:
                return queue.pop(0) if len(queue) > 1 else queue[0]

        self.handle(path, next_reply, method=method)

    def serve_image(
        self,
        repo: str,
        tag: str,
        manifest: bytes,
        media_type: str,
        blobs: Mapping[str, bytes],
        *,
        first: tuple[Reply, ...] = (),
    ) -> None:
        """Serve a whole image: its manifest by tag and by digest, and every blob.

        ``first`` are replies the tag answers before the real manifest (``Reply(500)``,
        a 429 with ``Retry-After``), so a transient fault can be followed by a verdict.
        """
        reply = manifest_reply(manifest, media_type)
        self.script(f"/v2/{repo}/manifests/{tag}", *first, reply)
        self.script(f"/v2/{repo}/manifests/{reply.headers['Docker-Content-Digest']}", reply)
        for digest, blob in blobs.items():
            self.script(f"/v2/{repo}/blobs/{digest}", Reply(200, blob))

    def count(self, path: str, method: str | None = None) -> int:
        return sum(1 for s in self.seen if s.path == path and method in (None, s.method))

    def _answer(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        seen = Seen(method, parts.path, parts.query, dict(request.headers.items()))
        with self._lock:
            self.seen.append(seen)
        handler = self._routes.get((method, parts.path))
        if handler is None and method == "HEAD":
            handler = self._routes.get(("GET", parts.path))
        reply = handler(seen) if handler else error_reply(404, "NAME_UNKNOWN", "not scripted")
        if reply.stall and self._stop.wait(min(reply.stall, MAX_STALL)):
            return
        request.send_response(reply.status)
        for name, value in reply.headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(reply.body)))
        request.end_headers()
        if method != "HEAD":
            request.wfile.write(reply.body[: reply.cut])
        if reply.cut is not None:
            request.close_connection = True

    def request_handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake._answer(self, "GET")

            def do_HEAD(self) -> None:
                fake._answer(self, "HEAD")

            def log_message(self, format: str, *args: object) -> None:
                pass

        return _Handler

    def stopping(self) -> None:
        self._stop.set()  # stalled replies give up at once
