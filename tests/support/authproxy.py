"""A private registry: the real ``registry`` behind HTTP basic auth, on ``127.0.0.2``.

Two things a plain loopback registry cannot show about a scanner, this can:

- **credentials:** every request without ``Authorization: Basic <user:password>`` gets a 401
  with ``WWW-Authenticate: Basic realm=…`` (as distribution's htpasswd backend answers), so a
  scan only succeeds when the credentials reached the scanner;
- **plain HTTP:** go-containerregistry (inside Grype and Trivy) speaks plain HTTP unasked
  only to ``localhost``, ``*.localhost``, ``127.0.0.1``, ``::1`` and private (RFC 1918)
  addresses (``name.Registry.Scheme``). ``127.0.0.2`` is loopback to the gate but none of
  those to the scanner, which then needs the gate's "insecure" setting, as a remote
  plain-HTTP registry would.

Reads only (GET, HEAD): push to the upstream registry directly.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler

import requests

from tests.support.httpserver import LoopbackServer

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class BasicAuthProxy(LoopbackServer):
    """Forward reads to ``upstream`` (``host:port``) for clients that log in as *username*."""

    address = "127.0.0.2"
    quiet_errors = True

    def __init__(self, upstream: str, username: str, password: str) -> None:
        super().__init__()
        self.upstream = upstream
        self._expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self._lock = threading.Lock()
        #: (method, path, authorised) of every request, in order.
        self.seen: list[tuple[str, str, bool]] = []

    def authorised_reads(self) -> int:
        with self._lock:
            return sum(1 for _, _, ok in self.seen if ok)

    def _answer(self, request: BaseHTTPRequestHandler, method: str) -> None:
        ok = request.headers.get("Authorization") == self._expected
        with self._lock:
            self.seen.append((method, request.path, ok))
        if not ok:
            body = json.dumps(
                {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
            ).encode()
            request.send_response(401)
            request.send_header("WWW-Authenticate", 'Basic realm="container-gate tests"')
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            if method != "HEAD":
                request.wfile.write(body)
            return
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("accept", "range")}
        upstream = requests.request(
            method,
            f"http://{self.upstream}{request.path}",
            headers=headers,
            allow_redirects=False,
            timeout=30,
        )
        request.send_response(upstream.status_code)
        for name, value in upstream.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                request.send_header(name, value)
        body = upstream.content
        length = upstream.headers.get("Content-Length") if method == "HEAD" else None
        request.send_header("Content-Length", length or str(len(body)))
        request.end_headers()
        if method != "HEAD":
            request.wfile.write(body)

    def request_handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy._answer(self, "GET")

            def do_HEAD(self) -> None:
                proxy._answer(self, "HEAD")

            def log_message(self, format: str, *args: object) -> None:
                pass

        return _Handler
