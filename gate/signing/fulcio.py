"""Is this a Fulcio code-signing certificate the trust root vouches for, at a given time?

Mirrors cosign's ``ValidateAndUnpackCert`` + ``VerifyEmbeddedSCT`` (pkg/cosign/verify.go) and
sigstore-python's ``Verifier._verify_common_signing_cert``, which cannot be reused for legacy
signatures (it insists on a bundle with an inclusion proof):

1. the certificate is valid at the signing time. That is the Rekor ``integratedTime``, never
   now, since Fulcio certificates live ten minutes;
2. it chains to a Fulcio CA of the trust root whose ``validFor`` window covers that time;
3. it has the code-signing extended key usage;
4. it embeds an SCT (RFC 6962 precertificate entry) that verifies under a CT log of the root.

The identity (SAN, issuer, GitHub claims) is ``gate.signing.identity``'s concern.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.certificate_transparency import LogEntryType, SignedCertificateTimestamp
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from gate.signing import Refused
from gate.signing.keys import as_public_key, spki_der, verifies
from gate.signing.tlog import iso
from gate.signing.trust import TrustRoot


def load_certificate(pem: str, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise Refused(f"{what} is not a PEM certificate ({exc})") from None


def load_chain(pem: str | None, what: str) -> list[x509.Certificate]:
    if not pem:
        return []
    try:
        return x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise Refused(f"{what} is not a PEM certificate chain ({exc})") from None


def check_validity(cert: x509.Certificate, when: datetime, when_label: str) -> None:
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    window = f"valid {iso(start)} to {iso(end)}"
    if when > end:
        raise Refused(f"certificate expired at {when_label} {iso(when)} ({window})")
    if when < start:
        raise Refused(f"certificate not yet valid at {when_label} {iso(when)} ({window})")


def verify_chain(
    cert: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    trust: TrustRoot,
    when: datetime,
) -> list[x509.Certificate]:
    """Build the path to a trusted Fulcio CA at ``when``; return it without the leaf.

    As sigstore-python, every CA certificate of the root is a trust anchor, and the EKU
    validators are relaxed (Fulcio uses code-signing, not the client-auth EKU WebPKI expects).
    """
    anchors = trust.fulcio_certificates(when)
    if not anchors:
        raise Refused(f"no Fulcio CA in {trust.description} is valid at {iso(when)}")
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    verifier = (
        PolicyBuilder()
        .store(Store(anchors))
        .time(when)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        return list(verifier.verify(cert, list(intermediates)).chain[1:])
    except (VerificationError, x509.UnsupportedGeneralNameType) as exc:
        raise Refused(
            f"certificate does not chain to a trusted Fulcio CA in {trust.description}: {exc}"
        ) from None


def check_code_signing(cert: x509.Certificate) -> None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usage = x509.ExtendedKeyUsage([])
    if ExtendedKeyUsageOID.CODE_SIGNING not in usage:
        raise Refused("certificate lacks the code-signing extended key usage")


def _signed_data(
    sct: SignedCertificateTimestamp, cert: x509.Certificate, issuer_hash: bytes
) -> bytes:
    """The RFC 6962 §3.2 ``digitally-signed`` struct the CT log signed."""
    if sct.entry_type == LogEntryType.PRE_CERTIFICATE:
        tbs = cert.tbs_precertificate_bytes
        entry = issuer_hash + len(tbs).to_bytes(3, "big") + tbs
    else:
        der = cert.public_bytes(serialization.Encoding.DER)
        entry = len(der).to_bytes(3, "big") + der
    millis = int(sct.timestamp.replace(tzinfo=timezone.utc).timestamp() * 1000)
    head = struct.pack("!BBQH", sct.version.value, 0, millis, sct.entry_type.value)
    tail = struct.pack("!H", len(sct.extension_bytes)) + sct.extension_bytes
    return head + entry + tail


def _issuer(chain: Sequence[x509.Certificate]) -> x509.Certificate:
    """The precertificate's issuer: skip a CT pre-issuer (RFC 6962 §3.1), as sigstore does."""
    first = chain[0]
    try:
        usage = first.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CERTIFICATE_TRANSPARENCY in usage and len(chain) > 1:
            return chain[1]
    except x509.ExtensionNotFound:
        pass
    return first


def verify_embedded_sct(
    cert: x509.Certificate, chain: Sequence[x509.Certificate], trust: TrustRoot
) -> None:
    try:
        scts = cert.extensions.get_extension_for_class(
            x509.PrecertificateSignedCertificateTimestamps
        ).value
    except x509.ExtensionNotFound:
        raise Refused("no SCT: the certificate embeds no signed certificate timestamp") from None
    issuer_hash = hashlib.sha256(spki_der(as_public_key(_issuer(chain).public_key(), "issuer")))
    problems = []
    for sct in scts:
        log = trust.ctlog(sct.log_id)
        if log is None or log.key is None:
            problems.append(f"SCT from unknown CT log {sct.log_id.hex()}")
            continue
        if not isinstance(sct.signature_hash_algorithm, hashes.SHA256):
            problems.append("SCT is not signed with SHA-256")
            continue
        stamp = sct.timestamp.replace(tzinfo=timezone.utc)
        if not log.validity.covers(stamp):
            problems.append(f"SCT's CT log {log.name} was not valid at {iso(stamp)}")
            continue
        if verifies(log.key, sct.signature, _signed_data(sct, cert, issuer_hash.digest())):
            return
        problems.append(f"SCT invalid: it does not verify under CT log {log.name}")
    raise Refused("; ".join(problems) or "no SCT: the SCT list is empty")


def verify_fulcio(
    cert: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    trust: TrustRoot,
    when: datetime,
    when_label: str,
) -> None:
    """All four checks of the module docstring, in cosign's order; raise ``Refused``."""
    check_validity(cert, when, when_label)
    chain = verify_chain(cert, intermediates, trust, when)
    check_code_signing(cert)
    verify_embedded_sct(cert, chain, trust)
