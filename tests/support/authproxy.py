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
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

import requests

from tests.support.httpserver import LoopbackServer

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    user: str | None  # who logged in; None: no or wrong credentials
    agent: str


class BasicAuthProxy(LoopbackServer):
    """Forward reads to ``upstream`` (``host:port``) for clients that log in as one of *users*."""

    address = "127.0.0.2"
    quiet_errors = True

    def __init__(self, upstream: str, users: Mapping[str, str]) -> None:
        super().__init__()
        self.upstream = upstream
        self._users = {
            "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode(): user
            for user, password in users.items()
        }
        self._lock = threading.Lock()
        self._seen: list[Seen] = []

    def seen(self) -> list[Seen]:
        """Every request so far, in order."""
        with self._lock:
            return list(self._seen)

    def _answer(self, request: BaseHTTPRequestHandler, method: str) -> None:
        user = self._users.get(request.headers.get("Authorization", ""))
        agent = request.headers.get("User-Agent", "")
        with self._lock:
            self._seen.append(Seen(method, request.path, user, agent))
        if user is None:
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
