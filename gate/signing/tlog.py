"""Rekor (v1) transparency-log promises: the Signed Entry Timestamp and the body it covers.

A legacy cosign signature carries ``dev.sigstore.cosign/bundle`` =
``{"SignedEntryTimestamp", "Payload": {"body", "integratedTime", "logIndex", "logID"}}``.
As cosign's ``VerifySET`` (pkg/cosign/tlog.go), the SET is an ECDSA signature over the RFC 8785
canonical JSON of the four payload fields, by the Rekor key whose SHA-256 DER digest is
``logID``; and as cosign's ``VerifyBundle``, the entry ``body`` (a ``hashedrekord`` or ``dsse``
entry) must agree with the signature being verified, so a SET for one signature cannot vouch
for another.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric import ec

from gate.signing import Refused
from gate.signing.keys import b64decode, b64decode_protojson, verifies
from gate.signing.trust import TrustRoot


def utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RekorEntry:
    """One Rekor v1 entry as a SET promises it. ``body`` is the decoded canonical body."""

    body: bytes
    integrated_time: int
    log_index: int
    log_id: bytes
    signed_entry_timestamp: bytes | None

    @property
    def time(self) -> datetime:
        return utc(self.integrated_time)

    def canonical(self) -> bytes:
        """The bytes the SET signs (cosign ``bundle.RekorPayload``, RFC 8785)."""
        payload: dict[str, str | int] = {
            "body": base64.b64encode(self.body).decode(),
            "integratedTime": self.integrated_time,
            "logID": self.log_id.hex(),
            "logIndex": self.log_index,
        }
        result: bytes = rfc8785.dumps(payload)
        return result


_INT64 = range(-(2**63), 2**63)


def _integer(value: object, what: str, *, strings: bool) -> int:
    """An int64 Rekor field. The legacy annotation is read by Go's ``encoding/json`` into
    ``int64`` (cosign's ``RekorPayload``): a JSON integer only, as cosign refuses a string or
    a fraction. A Sigstore bundle is protobuf JSON, where an int64 is also written as a
    decimal string (``strings``); only ASCII digits are read, as Go's ``strconv`` does."""
    if isinstance(value, int) and not isinstance(value, bool) and value in _INT64:
        return value
    if strings and isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
        if number in _INT64:
            return number
    raise Refused(f"{what} is not an integer")


def parse_legacy_bundle(text: str) -> RekorEntry:
    """Parse the ``dev.sigstore.cosign/bundle`` annotation; malformed input is a refusal."""
    try:
        document = json.loads(text)
        payload = document["Payload"]
        log_id_hex = payload["logID"]
        log_id = bytes.fromhex(log_id_hex) if isinstance(log_id_hex, str) else b""
    except (ValueError, KeyError, TypeError, RecursionError):
        raise Refused("the Rekor bundle annotation is not valid JSON of the cosign shape") from None
    if not log_id:
        raise Refused("the Rekor bundle's logID is not hex")
    return RekorEntry(
        body=b64decode(payload.get("body"), "the Rekor bundle's body"),
        integrated_time=_integer(payload.get("integratedTime"), "integratedTime", strings=False),
        log_index=_integer(payload.get("logIndex"), "logIndex", strings=False),
        log_id=log_id,
        signed_entry_timestamp=b64decode(document.get("SignedEntryTimestamp"), "the SET"),
    )


def parse_bundle_entry(entry: dict[str, Any]) -> RekorEntry:
    """A protobuf-JSON ``tlogEntries[]`` item of a Sigstore bundle, for the key-based path."""
    try:
        promise = entry.get("inclusionPromise") or {}
        set_b64 = promise.get("signedEntryTimestamp")
        return RekorEntry(
            body=b64decode_protojson(entry.get("canonicalizedBody"), "canonicalizedBody"),
            integrated_time=_integer(entry.get("integratedTime"), "integratedTime", strings=True),
            log_index=_integer(entry.get("logIndex"), "logIndex", strings=True),
            log_id=b64decode_protojson(entry.get("logId", {}).get("keyId"), "logId"),
            signed_entry_timestamp=b64decode_protojson(set_b64, "the SET") if set_b64 else None,
        )
    except AttributeError:
        raise Refused("the bundle's tlog entry is not of the Sigstore shape") from None


def verify_set(entry: RekorEntry, trust: TrustRoot) -> datetime:
    """Verify the SET under the Rekor key chosen by logID; return the integrated time."""
    log = trust.tlog(entry.log_id)
    if log is None:
        raise Refused(f"unknown Rekor logID {entry.log_id.hex()}: not in {trust.description}")
    if entry.signed_entry_timestamp is None:
        raise Refused("the tlog entry has no SET (inclusion promise)")
    if not isinstance(log.key, ec.EllipticCurvePublicKey):
        raise Refused(f"Rekor key {log.name} is not ECDSA, so it cannot sign a SET")
    if not log.validity.covers(entry.time):
        raise Refused(f"Rekor key {log.name} was not valid at integratedTime {iso(entry.time)}")
    if not verifies(log.key, entry.signed_entry_timestamp, entry.canonical()):
        raise Refused(f"SET invalid: it does not verify under Rekor key {log.name}")
    return entry.time


@dataclass(frozen=True)
class HashedRekord:
    """``hashedrekord`` v0.0.1: what Rekor recorded about a signature over a blob."""

    hash_algorithm: str
    hash_hex: str
    signature: bytes
    verifier_pem: bytes


def _body(entry: RekorEntry) -> dict[str, Any]:
    try:
        body = json.loads(entry.body)
    except (ValueError, RecursionError):
        raise Refused("the tlog entry body is not JSON") from None
    if not isinstance(body, dict):
        raise Refused("the tlog entry body is not a JSON object")
    return body


def _check_version(body: dict[str, Any]) -> None:
    """Rekor defines hashedrekord and dsse at v0.0.1 only; cosign unmarshals the body by kind
    and version (and v2.6.5 crashes on a body without ``apiVersion``)."""
    if body.get("apiVersion") != "0.0.1":
        raise Refused(f"the tlog entry's apiVersion {body.get('apiVersion')!r} is not 0.0.1")


def hashedrekord(entry: RekorEntry) -> HashedRekord:
    body = _body(entry)
    if body.get("kind") != "hashedrekord":
        raise Refused(f"the tlog entry is a {body.get('kind')!r} entry, not hashedrekord")
    _check_version(body)
    try:
        spec = body["spec"]
        data_hash = spec["data"]["hash"]
        signature = spec["signature"]
        return HashedRekord(
            hash_algorithm=str(data_hash["algorithm"]),
            hash_hex=str(data_hash["value"]),  # compared as written, as cosign's VerifyBundle
            signature=b64decode(signature["content"], "the tlog entry's signature"),
            verifier_pem=b64decode(signature["publicKey"]["content"], "the tlog entry's key"),
        )
    except (KeyError, TypeError):
        raise Refused("the hashedrekord tlog entry is incomplete") from None


@dataclass(frozen=True)
class DsseRecord:
    """``dsse`` v0.0.1: the payload hash and (signature, verifier) pairs Rekor recorded."""

    payload_hash_hex: str
    signatures: tuple[tuple[bytes, bytes], ...]


def dsse_record(entry: RekorEntry) -> DsseRecord:
    body = _body(entry)
    if body.get("kind") != "dsse":
        raise Refused(f"the tlog entry is a {body.get('kind')!r} entry, not dsse")
    _check_version(body)
    try:
        spec = body["spec"]
        if spec["payloadHash"]["algorithm"] != "sha256":
            raise Refused("the dsse tlog entry's payload hash is not SHA-256")
        signatures = tuple(
            (
                b64decode(s["signature"], "the tlog entry's signature"),
                b64decode(s["verifier"], "the tlog entry's verifier"),
            )
            for s in spec["signatures"]
        )
        return DsseRecord(str(spec["payloadHash"]["value"]).lower(), signatures)
    except (KeyError, TypeError):
        raise Refused("the dsse tlog entry is incomplete") from None
