"""A tiny read-only OCI registry on loopback, serving exactly the bytes a test gives it.

The real ``docker-registry`` refuses what the conformance fixtures need: a schema-1 manifest
with a bogus ``signatures`` field, manifests whose config blobs were never published, or a
blob that does not match its digest. This server answers the distribution API's read side
(``GET``/``HEAD`` of ``/v2/``, manifests, blobs; 404 for the referrers API, as distribution
2.8 does) from in-memory tables, and records every request so tests can count them.

It also turns a containers/image ``dir:`` signature folder (``manifest.json`` and
``signature-N`` files) into what a registry would hold: the image manifest and a
``sha256-<hex>.sig`` manifest whose layers are the signatures.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.support.httpserver import LoopbackServer
from tests.support.oci import OCI_MANIFEST
from tests.support.oci import sha256_digest as sha256
from tests.support.pki import sig_tag, signature_manifest_for

__all__ = ["OCI_MANIFEST", "StaticRegistry"]

_DIR_SIGNATURE_PREFIX = b"\x00sigstore-json\n"


@dataclass
class _Content:
    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    blobs: dict[tuple[str, str], bytes] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)


class StaticRegistry(LoopbackServer):
    """Use as a context manager; ``host`` is ``127.0.0.1:PORT`` once entered."""

    def __init__(self) -> None:
        super().__init__()
        self._content = _Content()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ content

    def add_manifest(
        self, repo: str, body: bytes, media_type: str, tags: tuple[str, ...] = ()
    ) -> str:
        digest = sha256(body)
        with self._lock:
            for ref in (digest, *tags):
                self._content.manifests[(repo, ref)] = (body, media_type)
        return digest

    def add_blob(self, repo: str, data: bytes, digest: str | None = None) -> str:
        """Serve ``data`` under its digest, or under a wrong ``digest`` to test tampering."""
        digest = digest or sha256(data)
        with self._lock:
            self._content.blobs[(repo, digest)] = data
        return digest

    @property
    def requests(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._content.requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._content.requests.clear()

    # ------------------------------------------------------------------ server

    def request_handler(self) -> type[BaseHTTPRequestHandler]:
        content, lock = self._content, self._lock

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer(head=True)

            def do_GET(self) -> None:
                self._answer(head=False)

            def _answer(self, *, head: bool) -> None:
                path = self.path.split("?", 1)[0]
                with lock:
                    content.requests.append((self.command, path))
                if path in ("/v2", "/v2/"):
                    return self._send(200, b"{}", "application/json", head=head)
                found = self._lookup(path)
                if found is None:
                    body = json.dumps({"errors": [{"code": "NOT_FOUND", "message": path}]})
                    return self._send(404, body.encode(), "application/json", head=head)
                data, media_type = found
                self._send(200, data, media_type, head=head)

            def _lookup(self, path: str) -> tuple[bytes, str] | None:
                for kind in ("/manifests/", "/blobs/"):
                    if path.startswith("/v2/") and kind in path:
                        repo, _, ref = path[len("/v2/") :].rpartition(kind)
                        with lock:
                            if kind == "/manifests/":
                                return content.manifests.get((repo, ref))
                            blob = content.blobs.get((repo, ref))
                        return None if blob is None else (blob, "application/octet-stream")
                return None  # includes /referrers/: no referrers API, as distribution 2.8

            def _send(self, code: int, body: bytes, media_type: str, *, head: bool) -> None:
                self.send_response(code)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(body)))
                if code == 200 and "/manifests/" in self.path:
                    self.send_header("Docker-Content-Digest", sha256(body))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

        return Handler

    # ------------------------------------------------------------------ fixtures

    def add_dir_signatures(self, repo: str, folder: Path, *, tag: str = "latest") -> str | None:
        """Serve a containers/image ``dir:`` folder; return the image digest (None: no manifest).

        The signatures go under ``sha256-<hex>.sig`` of the manifest's actual digest (or, with
        no manifest, of the digest they claim), as ``cosign sign`` would have put them.
        """
        manifest_path = folder / "manifest.json"
        digest: str | None = None
        if manifest_path.exists():
            body = manifest_path.read_bytes()
            media_type = json.loads(body).get("mediaType") or (
                "application/vnd.docker.distribution.manifest.v1+json"
            )
            digest = self.add_manifest(repo, body, media_type, (tag,))
        layers = []
        for path in sorted(folder.glob("signature-*")):
            raw = path.read_bytes()
            assert raw.startswith(_DIR_SIGNATURE_PREFIX), path
            signature = json.loads(raw[len(_DIR_SIGNATURE_PREFIX) :])
            payload = base64.b64decode(signature["payload"])
            layers.append(
                {
                    "mediaType": signature["mimeType"],
                    "size": len(payload),
                    "digest": self.add_blob(repo, payload),
                    "annotations": signature.get("annotations", {}),
                }
            )
            if digest is None and signature["mimeType"].endswith("simplesigning.v1+json"):
                claimed = json.loads(payload)["critical"]["image"]["docker-manifest-digest"]
                digest = claimed
        if layers and digest is not None:
            self.add_signature_manifest(repo, digest, layers)
        return digest if manifest_path.exists() else None

    def add_signature_manifest(self, repo: str, digest: str, layers: list[dict[str, Any]]) -> str:
        manifest, config = signature_manifest_for(layers)
        self.add_blob(repo, config)
        return self.add_manifest(repo, manifest, OCI_MANIFEST, (sig_tag(digest),))
