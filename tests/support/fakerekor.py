"""A stand-in Rekor v1 log on loopback that signs entries with the test PKI's Rekor key.

A real Rekor needs Trillian and a database; what cosign needs from it when signing is one
call, ``POST /api/v1/log/entries``, answered with the entry and its SET (the inclusion
promise). This server answers that call the way Rekor does: it canonicalizes the proposed
entry (RFC 8785), stamps it with the current time and the next log index, and signs the SET
with ``TestPKI.rekor_key`` (``TestPKI.rekor_entry``), so that both ``cosign verify`` and the
gate can check it against the test PKI's ``trusted_root.json``. It keeps no tree: it serves no
inclusion proofs, so it cannot back ``--new-bundle-format`` signing (v0.3 bundles need them).
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any

import rfc8785

from tests.support.httpserver import LoopbackServer
from tests.support.pki import TestPKI

#: Where this log's indexes start. Not 0: cosign reads a missing ``logIndex`` as 0 (Go's zero
#: value), so a SET over index 0 would still verify without one, where the gate refuses.
FIRST_INDEX = 4242


class FakeRekor(LoopbackServer):
    """Use as a context manager; ``url`` is what ``cosign sign --rekor-url`` takes."""

    def __init__(self, pki: TestPKI) -> None:
        super().__init__()
        self.pki = pki
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def _log(self, proposed: Any) -> tuple[str, dict[str, Any]]:
        body = rfc8785.dumps(proposed)
        with self._lock:
            index = FIRST_INDEX + len(self.entries)
            promise = self.pki.rekor_entry(
                body, integrated_time=datetime.now(timezone.utc), log_index=index
            )
            entry = {
                **promise["Payload"],
                "verification": {"signedEntryTimestamp": promise["SignedEntryTimestamp"]},
            }
            self.entries.append(entry)
        return hashlib.sha256(b"\x00" + body).hexdigest(), entry

    def request_handler(self) -> type[BaseHTTPRequestHandler]:
        rekor = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                if self.path != "/api/v1/log/entries":
                    self._send(404, {"code": 404, "message": "not found"})
                    return
                length = int(self.headers.get("Content-Length", "0"))
                uuid, entry = rekor._log(json.loads(self.rfile.read(length)))
                self._send(201, {uuid: entry}, location=f"/api/v1/log/entries/{uuid}")

            def _send(self, code: int, document: object, location: str = "") -> None:
                body = json.dumps(document).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if location:
                    self.send_header("Location", location)
                self.end_headers()
                self.wfile.write(body)

        return Handler
