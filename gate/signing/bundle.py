"""Sigstore bundles (cosign v3's default): a DSSE envelope around an in-toto statement.

* Keyless bundles go through sigstore-python's public API, as its own CLI does:
  ``Bundle.from_json`` and ``Verifier(trusted_root=…).verify_dsse(bundle, policy)``. That
  checks the chain at the tlog/TSA time, the SCT, the inclusion proof, checkpoint and SET, the
  DSSE signature and the entry's consistency; ``policy`` is our ``IdentityPolicy``.
* Key-based bundles (``verificationMaterial.publicKey``) are not supported by sigstore-python,
  so the DSSE signature over PAE(payloadType, payload) (DSSE v1 spec) is checked by hand, and
  the Rekor ``dsse`` entry by its SET and body, as cosign's ``VerifyBundle`` would.
* Either way, as a strict gate should and ``cosign verify`` does not: the statement's
  ``predicateType`` must be cosign's image signature, and a subject must be the judged digest.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from gate.signing import Refused
from gate.signing.authority import Context, KeyAuthority, KeylessAuthority, Verifier
from gate.signing.fulcio import check_validity
from gate.signing.keys import b64decode, load_pem_public_key, spki_der, verifies
from gate.signing.tlog import dsse_record, parse_bundle_entry, verify_set

BUNDLE_ARTIFACT_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
IN_TOTO = "application/vnd.in-toto+json"
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the envelope's signature actually signs."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def check_statement(payload_type: str, payload: bytes, digest: str) -> None:
    if payload_type != IN_TOTO:
        raise Refused(f"the DSSE payload type is {payload_type!r}, not {IN_TOTO!r}")
    try:
        statement = json.loads(payload)
        predicate_type = statement.get("predicateType")
        subjects = statement.get("subject") or []
        digests = [f"sha256:{s['digest']['sha256']}" for s in subjects if "sha256" in s["digest"]]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise Refused("the DSSE payload is not an in-toto statement") from None
    if predicate_type != COSIGN_SIGN_PREDICATE:
        raise Refused(f"predicateType {predicate_type!r} is not {COSIGN_SIGN_PREDICATE!r}")
    if digest not in digests:
        raise Refused(f"digest mismatch: the statement's subjects are {digests}, not {digest}")


def _integrated_at(material: dict[str, Any]) -> datetime | None:
    """The first tlog entry's ``integratedTime`` as written (not yet verified), if any."""
    entries = material.get("tlogEntries")
    entry = entries[0] if isinstance(entries, list) and entries else None
    when = entry.get("integratedTime") if isinstance(entry, dict) else None
    try:
        return datetime.fromtimestamp(int(when), tz=timezone.utc) if when is not None else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None  # malformed: sigstore refuses it below, with its reason


def _verify_keyless(
    raw: bytes, material: dict[str, Any], authority: KeylessAuthority, ctx: Context
) -> tuple[str, bytes]:
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle
    from sigstore.verify import Verifier as SigstoreVerifier

    try:
        bundle = Bundle.from_json(raw)
    except Exception as exc:  # InvalidBundle, pydantic/protobuf parse errors, bad base64
        raise Refused(f"the bundle is malformed: {_one_line(exc)}") from None
    when = _integrated_at(material)
    if when is not None:
        # The same reason a legacy signature gets (as cosign's CheckExpiry), before sigstore's
        # "cert is not valid at validation time". Only a refusal rests on this unverified
        # time; acceptance still needs sigstore to verify the entry.
        check_validity(bundle.signing_certificate, when, "integratedTime")
    try:
        verifier = SigstoreVerifier(trusted_root=ctx.trust.sigstore)
        return verifier.verify_dsse(bundle, authority.identity)
    except Refused:
        raise
    except SigstoreError as exc:
        raise Refused(f"the bundle does not verify: {_one_line(exc)}") from None
    except Exception as exc:  # sigstore surfaces odd inputs as ValueError & co: refuse them
        raise Refused(f"the bundle does not verify: {_one_line(exc)}") from None


def _verify_key(
    document: dict[str, Any], authority: KeyAuthority, ctx: Context
) -> tuple[str, bytes]:
    envelope = document.get("dsseEnvelope")
    if not isinstance(envelope, dict):
        raise Refused("the bundle has no DSSE envelope")
    payload = b64decode(envelope.get("payload"), "the DSSE payload")
    payload_type = envelope.get("payloadType")
    signatures = envelope.get("signatures")
    if (
        not isinstance(payload_type, str)
        or not isinstance(signatures, list)
        or len(signatures) != 1
        or not isinstance(signatures[0], dict)
    ):
        raise Refused("the DSSE envelope must have a payloadType and exactly one signature")
    signature = b64decode(signatures[0].get("sig"), "the DSSE signature")
    if not verifies(authority.key, signature, pae(payload_type, payload)):
        raise Refused(f"wrong key: the DSSE signature does not verify under {authority.name}'s key")
    entries = document["verificationMaterial"].get("tlogEntries") or []
    if not entries:
        if ctx.tlog_required:
            raise Refused("no tlog entry while one is required")
        return payload_type, payload
    entry = parse_bundle_entry(entries[0])
    verify_set(entry, ctx.trust)
    record = dsse_record(entry)
    if record.payload_hash_hex != hashlib.sha256(payload).hexdigest():
        raise Refused("the tlog entry's hash does not match the DSSE payload")
    for recorded_sig, verifier_pem in record.signatures:
        if recorded_sig != signature:
            continue
        try:
            recorded_key = load_pem_public_key(verifier_pem, "the tlog entry's verifier")
        except Refused:
            continue
        if spki_der(recorded_key) == spki_der(authority.key):
            return payload_type, payload
    raise Refused("the tlog entry does not record this signature and key")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def verify_bundle(raw: bytes, authority: Verifier, ctx: Context) -> None:
    """Accept the bundle for ``authority`` or raise ``Refused`` with the precise reason."""
    try:
        document = json.loads(raw)
        material = document["verificationMaterial"]
        if not isinstance(material, dict):
            raise TypeError("verificationMaterial is not an object")
        keyless = "certificate" in material or "x509CertificateChain" in material
    except (ValueError, KeyError, TypeError, RecursionError):
        raise Refused("the bundle is not Sigstore bundle JSON") from None
    if isinstance(authority, KeylessAuthority):
        if not keyless:
            raise Refused("the bundle was signed with a key, not keyless")
        payload_type, payload = _verify_keyless(raw, material, authority, ctx)
    else:
        if keyless:
            raise Refused("the bundle is keyless (a Fulcio certificate), not signed with a key")
        payload_type, payload = _verify_key(document, authority, ctx)
    check_statement(payload_type, payload, ctx.digest)
