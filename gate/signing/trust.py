"""The Sigstore trust root: Fulcio CAs, CT log keys and Rekor keys, from ``trusted_root.json``.

Without ``signature.trusted_root`` in the policy, the gate uses the public-good
``trusted_root.json`` embedded in the installed sigstore package, read offline: a CI gate must
not depend on the TUF CDN being up, and a pinned root is reviewable.

The file is parsed here by hand for the legacy path (sigstore-python's key rings are internal
API), and handed to sigstore-python's public ``TrustedRoot.from_file`` for keyless bundles.
Time windows (``validFor``) are kept, because a log key or CA only vouches for what happened
while it was valid, as sigstore-go's ``TrustedMaterial`` enforces.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from gate import rfc3339
from gate.errors import SignatureError
from gate.signing import Refused
from gate.signing.keys import PublicKey, b64decode, load_der_public_key

if TYPE_CHECKING:
    from sigstore.models import TrustedRoot

PUBLIC_GOOD = "the public-good Sigstore root shipped with sigstore"
_EMBEDDED = ("_store", "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev", "trusted_root.json")


def parse_time(text: str) -> datetime:
    """An RFC 3339 time (``gate.rfc3339``) in UTC; anything else is a ValueError."""
    stamp = rfc3339.parse(text)
    if stamp is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    return stamp.astimezone(timezone.utc)


@dataclass(frozen=True)
class Validity:
    start: datetime | None = None
    end: datetime | None = None

    def covers(self, when: datetime) -> bool:
        return (self.start is None or self.start <= when) and (self.end is None or when <= self.end)

    @classmethod
    def parse(cls, raw: object) -> Validity:
        if not isinstance(raw, Mapping):
            return cls()
        start, end = raw.get("start"), raw.get("end")
        return cls(
            parse_time(start) if isinstance(start, str) else None,
            parse_time(end) if isinstance(end, str) else None,
        )


@dataclass(frozen=True)
class LogKey:
    """A Rekor or CT log: its key ID (SHA-256 of the DER key), key and validity window."""

    name: str
    key_id: bytes
    key: PublicKey | None
    validity: Validity
    problem: str = ""


@dataclass(frozen=True)
class CertificateAuthority:
    name: str
    certificates: tuple[x509.Certificate, ...]
    validity: Validity


@dataclass(frozen=True)
class TrustRoot:
    description: str
    tlogs: tuple[LogKey, ...]
    ctlogs: tuple[LogKey, ...]
    authorities: tuple[CertificateAuthority, ...]
    path: Path | None = field(default=None, compare=False)

    def tlog(self, key_id: bytes) -> LogKey | None:
        return next((log for log in self.tlogs if log.key_id == key_id), None)

    def ctlog(self, key_id: bytes) -> LogKey | None:
        return next((log for log in self.ctlogs if log.key_id == key_id), None)

    def fulcio_certificates(self, when: datetime) -> list[x509.Certificate]:
        """Every CA certificate of every authority whose window covers ``when``."""
        return [c for a in self.authorities if a.validity.covers(when) for c in a.certificates]

    @cached_property
    def sigstore(self) -> TrustedRoot:
        """The same root as sigstore-python's ``TrustedRoot``, for keyless bundles."""
        from sigstore.models import TrustedRoot

        with _opened(self.path) as path:
            try:
                return TrustedRoot.from_file(str(path))
            except Exception as exc:  # sigstore raises pydantic/protobuf errors on bad input
                raise SignatureError(
                    f"trusted root {self.description} is not usable by sigstore: {exc}"
                ) from None


@contextmanager
def _opened(path: Path | None) -> Iterator[Path]:
    if path is not None:
        yield path
        return
    resource = resources.files("sigstore")
    for part in _EMBEDDED:
        resource = resource.joinpath(part)
    with resources.as_file(resource) as embedded:
        yield embedded


def _log_keys(entries: object) -> tuple[LogKey, ...]:
    keys = []
    for entry in entries if isinstance(entries, list) else []:
        public = entry.get("publicKey", {})
        name = str(entry.get("baseUrl", "?"))
        key_id = b64decode(entry.get("logId", {}).get("keyId"), f"logId of {name}")
        key: PublicKey | None = None
        problem = ""
        try:
            key = load_der_public_key(b64decode(public.get("rawBytes"), "rawBytes"), name)
        except Refused as exc:
            problem = str(exc)
        keys.append(LogKey(name, key_id, key, Validity.parse(public.get("validFor")), problem))
    return tuple(keys)


def _authorities(entries: object) -> tuple[CertificateAuthority, ...]:
    authorities = []
    for entry in entries if isinstance(entries, list) else []:
        chain = entry.get("certChain", {}).get("certificates", [])
        certificates = tuple(
            x509.load_der_x509_certificate(b64decode(c.get("rawBytes"), "rawBytes")) for c in chain
        )
        name = str(entry.get("uri") or entry.get("subject", {}).get("commonName", "?"))
        authorities.append(
            CertificateAuthority(name, certificates, Validity.parse(entry.get("validFor")))
        )
    return tuple(authorities)


def parse_trust_root(data: bytes, description: str, path: Path | None = None) -> TrustRoot:
    """Build a ``TrustRoot`` from ``trusted_root.json`` bytes; a bad file is a gate error."""
    try:
        document: Any = json.loads(data)
        if not isinstance(document, dict) or "trustedroot" not in str(document.get("mediaType")):
            raise ValueError("mediaType is not a Sigstore trusted root")
        return TrustRoot(
            description=description,
            tlogs=_log_keys(document.get("tlogs")),
            ctlogs=_log_keys(document.get("ctlogs")),
            authorities=_authorities(document.get("certificateAuthorities")),
            path=path,
        )
    except (ValueError, AttributeError, TypeError, RecursionError, Refused) as exc:
        raise SignatureError(f"trusted root {description} is invalid: {exc}") from None


def load_trust_root(path: Path | None) -> TrustRoot:
    """Load the policy's ``trusted_root`` file, or the public-good root when ``path`` is None."""
    if path is None:
        with _opened(None) as embedded:
            return parse_trust_root(embedded.read_bytes(), PUBLIC_GOOD)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SignatureError(f"cannot read trusted root {path}: {exc.strerror}") from None
    return parse_trust_root(data, str(path), path)
