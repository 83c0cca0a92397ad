"""Legacy cosign signatures: one ``simplesigning`` layer of the ``sha256-<hex>.sig`` manifest.

sigstore-python cannot verify these (it requires an inclusion proof; they carry only a SET),
so this is the by-hand mirror of cosign's ``VerifyImageSignatures`` → ``verifyInternal``
(pkg/cosign/verify.go):

* the signature annotation (``dev.cosignproject.cosign/signature``) verifies over the exact
  payload bytes, with the policy's key or with the leaf certificate
  (``dev.sigstore.cosign/certificate``, intermediates in ``dev.sigstore.cosign/chain``);
* a Rekor bundle (``dev.sigstore.cosign/bundle``), when present, must verify (``VerifySET``)
  and agree with the payload hash, the signature and the key or certificate
  (``compareSigs`` / ``comparePublicKey`` in ``VerifyBundle``); with ``tlog: required`` one
  must be present;
* keyless: the certificate is checked at the Rekor integratedTime (``gate.signing.fulcio``)
  and against the authority's identity (``gate.signing.identity``);
* the payload's ``critical.type`` is ``cosign container image signature`` and its
  ``critical.image.docker-manifest-digest`` is the judged digest (``SimpleClaimVerifier``).

Each failure raises ``Refused`` with its own reason; nothing here raises anything else.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gate.signing import Refused
from gate.signing.authority import Context, KeyAuthority, KeylessAuthority, Verifier
from gate.signing.fulcio import check_validity, load_certificate, load_chain, verify_fulcio
from gate.signing.keys import PublicKey, as_public_key, b64decode, spki_der, verifies
from gate.signing.tlog import RekorEntry, hashedrekord, parse_legacy_bundle, verify_set

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE = "dev.cosignproject.cosign/signature"
CERTIFICATE = "dev.sigstore.cosign/certificate"
CHAIN = "dev.sigstore.cosign/chain"
BUNDLE = "dev.sigstore.cosign/bundle"
COSIGN_TYPE = "cosign container image signature"
_NOW = "the current time (no tlog entry dates the signature)"


@dataclass(frozen=True)
class LegacySignature:
    """A layer of the ``.sig`` manifest: its blob (the payload) and its annotations."""

    payload: bytes
    annotations: Mapping[str, str]


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError("number out of range")
    return number


def _integer(text: str) -> int:
    _finite(text)  # Go decodes a JSON number into float64, or fails
    return int(text)


def _no_constant(text: str) -> object:
    raise ValueError(f"{text} is not JSON")


def loads_as_go(payload: bytes, **hooks: Any) -> Any:
    """JSON as Go reads it (encoding/json, protojson) where Python's ``json`` is laxer: UTF-8
    only, no byte-order mark, no ``NaN``/``Infinity``, no number beyond float64. Invalid UTF-8,
    which Go replaces and reads on, is refused: stricter, never laxer."""
    return json.loads(
        payload.decode("utf-8"),
        parse_constant=_no_constant,
        parse_float=_finite,
        parse_int=_integer,
        **hooks,
    )


def check_payload(payload: bytes, digest: str) -> None:
    """cosign's simple-signing claim checks: the type, then the manifest digest."""
    try:
        document = loads_as_go(payload)
        critical = document["critical"]
        kind = critical.get("type")
        claimed = critical.get("image", {}).get("docker-manifest-digest")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise Refused("the payload is not a simple-signing JSON document") from None
    if kind != COSIGN_TYPE:
        raise Refused(f"the payload type is {kind!r}, not {COSIGN_TYPE!r}")
    if claimed != digest:
        raise Refused(f"digest mismatch: the payload signs {claimed}, not {digest}")


def _tlog_entry(sig: LegacySignature, ctx: Context) -> RekorEntry | None:
    text = sig.annotations.get(BUNDLE)
    if not text:
        if ctx.tlog_required:
            raise Refused("no tlog entry while one is required")
        return None
    return parse_legacy_bundle(text)


def _check_entry_matches(
    entry: RekorEntry, sig: LegacySignature, signature: bytes, signer: x509.Certificate | PublicKey
) -> None:
    """The hashedrekord body must record this payload, signature and key (``VerifyBundle``)."""
    record = hashedrekord(entry)
    if (
        record.hash_algorithm != "sha256"
        or record.hash_hex != hashlib.sha256(sig.payload).hexdigest()
    ):
        raise Refused("the tlog entry's hash does not match the payload")
    if record.signature != signature:
        raise Refused("the tlog entry's signature is not this signature")
    if isinstance(signer, x509.Certificate):
        expected = signer.public_bytes(serialization.Encoding.DER)
        try:
            recorded = x509.load_pem_x509_certificate(record.verifier_pem).public_bytes(
                serialization.Encoding.DER
            )
        except ValueError:
            raise Refused("the tlog entry's certificate is not this certificate") from None
    else:
        expected = spki_der(signer)
        try:
            loaded = serialization.load_pem_public_key(record.verifier_pem)
            recorded = spki_der(as_public_key(loaded, "the tlog entry's key"))
        except (ValueError, TypeError, Refused):
            raise Refused("the tlog entry's key is not this authority's key") from None
    if recorded != expected:
        what = "certificate" if isinstance(signer, x509.Certificate) else "key"
        raise Refused(f"the tlog entry's {what} is not this {what}")


def _verify_key(
    sig: LegacySignature, signature: bytes, authority: KeyAuthority, ctx: Context
) -> None:
    if not verifies(authority.key, signature, sig.payload):
        raise Refused(f"wrong key: the signature does not verify under {authority.name}'s key")
    entry = _tlog_entry(sig, ctx)
    when, label = ctx.now, _NOW
    if entry is not None:
        when, label = verify_set(entry, ctx.trust), "integratedTime"
        _check_entry_matches(entry, sig, signature, authority.key)
    attached = sig.annotations.get(CERTIFICATE)
    if attached:
        # cosign's verifyInternal reads ``sig.Cert()`` and runs ``CheckExpiry`` on it even
        # when a key verified the signature: a certificate that does not parse, or was not
        # valid at the signature's time, refuses it there too.
        check_validity(load_certificate(attached, "the certificate annotation"), when, label)


def _verify_keyless(
    sig: LegacySignature, signature: bytes, authority: KeylessAuthority, ctx: Context
) -> None:
    pem = sig.annotations.get(CERTIFICATE)
    if not pem:
        raise Refused("no certificate: the signature was made with a key, not keyless")
    cert = load_certificate(pem, "the certificate annotation")
    chain = load_chain(sig.annotations.get(CHAIN), "the chain annotation")
    entry = _tlog_entry(sig, ctx)
    when: datetime = ctx.now
    label = _NOW
    if entry is not None:
        when, label = verify_set(entry, ctx.trust), "integratedTime"
        _check_entry_matches(entry, sig, signature, cert)
    verify_fulcio(cert, chain, ctx.trust, when, label)
    authority.identity.verify(cert)
    key = as_public_key(cert.public_key(), "the certificate's key")
    if not verifies(key, signature, sig.payload):
        raise Refused("the signature does not verify with the certificate's key")


def verify_legacy(sig: LegacySignature, authority: Verifier, ctx: Context) -> None:
    """Accept ``sig`` for ``authority`` or raise ``Refused`` with the precise reason."""
    signature = b64decode(sig.annotations.get(SIGNATURE), "the signature annotation")
    if isinstance(authority, KeyAuthority):
        _verify_key(sig, signature, authority, ctx)
    else:
        _verify_keyless(sig, signature, authority, ctx)
    check_payload(sig.payload, ctx.digest)
