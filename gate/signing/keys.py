"""Public keys and raw signature checks, as cosign's ``signature.LoadVerifier`` does them.

* ECDSA: an ASN.1 (DER) signature over the message's SHA-256 digest. cosign v3 (and the
  Sigstore algorithm registry) hashes P-384 with SHA-384 and P-521 with SHA-512, while cosign
  v2 used SHA-256 for every curve, so both the curve's own hash and SHA-256 are accepted.
* RSA: PKCS #1 v1.5 over SHA-256 (cosign's default for RSA keys and certificates).
* Ed25519: the message itself (pure Ed25519).

Anything else is refused: a gate must not silently accept a key type it cannot verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import string
from typing import TypeAlias

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from gate.signing import Refused

PublicKey: TypeAlias = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

_CURVE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}


def as_public_key(key: object, what: str) -> PublicKey:
    """Narrow a loaded key to the types cosign verifies with, or refuse."""
    if isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        return key
    raise Refused(f"{what} is a {type(key).__name__}, not ECDSA, RSA or Ed25519")


def load_pem_public_key(pem: bytes, what: str) -> PublicKey:
    """Parse a PEM ``PUBLIC KEY``; malformed input is a refusal, never a crash."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise Refused(f"{what} is not a PEM public key ({exc})") from None
    return as_public_key(key, what)


def load_der_public_key(der: bytes, what: str) -> PublicKey:
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise Refused(f"{what} is not a DER public key ({exc})") from None
    return as_public_key(key, what)


def spki_der(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: PublicKey) -> bytes:
    """SHA-256 of the DER SubjectPublicKeyInfo: Rekor's logID and a CT log's log ID (RFC 6962)."""
    return hashlib.sha256(spki_der(key)).digest()


def verifies(key: PublicKey, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is a valid signature of ``message`` under ``key``."""
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
            return True
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            return True
    except InvalidSignature:
        return False
    own: type[hashes.HashAlgorithm] = _CURVE_HASHES.get(key.curve.name, hashes.SHA256)
    candidates: list[type[hashes.HashAlgorithm]] = [own]
    if own is not hashes.SHA256:
        candidates.append(hashes.SHA256)
    for algorithm in candidates:
        try:
            key.verify(signature, message, ec.ECDSA(algorithm()))
            return True
        except InvalidSignature:
            continue
    return False


def b64decode(text: object, what: str) -> bytes:
    """Strict standard base64, ignoring line breaks as Go's ``base64.StdEncoding`` does.

    Real fixtures (containers/image) wrap base64 signatures at 76 columns.
    """
    if not isinstance(text, str):
        raise Refused(f"{what} is missing or not a string")
    cleaned = text.replace("\r", "").replace("\n", "")
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"{what} is not valid base64") from None


_STANDARD = frozenset(string.ascii_letters + string.digits + "+/")
_URL_SAFE = frozenset(string.ascii_letters + string.digits + "-_")


def b64decode_protojson(text: object, what: str) -> bytes:
    """A ``bytes`` field of protobuf JSON (a Sigstore bundle), read as protojson's
    ``unmarshalBytes`` does: the URL-safe alphabet if ``-`` or ``_`` occurs, else the standard
    one; padded if the text's length is a multiple of 4, else unpadded; line breaks ignored
    (Go's base64). A real bundle is padded standard base64; the rest is what cosign accepts.
    """
    if not isinstance(text, str):
        raise Refused(f"{what} is missing or not a string")
    url_safe = "-" in text or "_" in text
    padded = len(text) % 4 == 0
    cleaned = text.replace("\r", "").replace("\n", "")
    body = cleaned.rstrip("=") if padded else cleaned
    if (
        not set(body) <= (_URL_SAFE if url_safe else _STANDARD)
        or len(cleaned) % 4 == 1
        or (padded and (len(cleaned) % 4 or len(cleaned) - len(body) > 2))
    ):
        raise Refused(f"{what} is not valid base64")
    if url_safe:
        body = body.translate(str.maketrans("-_", "+/"))
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"{what} is not valid base64") from None
