"""The project's own Sigstore PKI, generated in the tests: no network, no real identities.

A test "Fulcio" (root + intermediate CA), a CT log key and a Rekor key are written as a
Sigstore ``trusted_root.json``. On top of it this module signs the two ways cosign does:

* legacy ``.sig`` layers: simple-signing payload, signature annotation, certificate and chain
  annotations, and a ``dev.sigstore.cosign/bundle`` whose SET is an ECDSA signature over the
  RFC 8785 canonical JSON of ``{body, integratedTime, logID, logIndex}``;
* Sigstore bundles v0.3: a DSSE envelope around an in-toto statement, with a Rekor ``dsse``
  entry carrying a SET, a one-leaf inclusion proof and a signed checkpoint, which is what
  sigstore-python requires of keyless bundles.

Fulcio certificates embed an SCT the way a CT log issues one for a precertificate (RFC 6962
§3.2): the log signs the TBSCertificate without the SCT extension, and the final certificate
adds the SCT list as extension 1.3.6.1.4.1.11129.2.4.2 with otherwise identical fields, so
``tbs_precertificate_bytes`` of the final certificate is exactly what was signed.

Everything is returned as plain data; tests mutate it to make each check fail on its own.
The encodings (SCT, PAE, SET payload) are written here independently of ``gate.signing`` on
purpose: a test oracle that reused the gate's code could not catch a shared mistake.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.oci import OCI_INDEX, OCI_MANIFEST, push_blob, push_manifest, sha256_digest

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

#: When the test signatures were "made": long past, as the real-world fixtures are.
SIGNED_AT = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
CERT_LIFETIME = timedelta(minutes=10)
INTEGRATED_AT = SIGNED_AT + timedelta(seconds=30)

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
GIT_SHA = "3f2a9c1d5e6b7a8f9012345678901234567890ab"

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
IN_TOTO = "application/vnd.in-toto+json"
COSIGN_SIGN = "https://sigstore.dev/cosign/sign/v1"

_SCT_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
_FULCIO = "1.3.6.1.4.1.57264.1."


# --------------------------------------------------------------------------- keys and encodings


def new_key(kind: str = "p256") -> PrivateKey:
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


def sign(key: PrivateKey, data: bytes) -> bytes:
    """Sign as cosign v3 does: the curve's hash for ECDSA, PKCS#1 v1.5 SHA-256 for RSA."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = hashes.SHA384() if key.curve.name == "secp384r1" else hashes.SHA256()
        return key.sign(data, ec.ECDSA(algorithm))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data)


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def spki(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def log_id(key: PrivateKey) -> bytes:
    return hashlib.sha256(spki(key)).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def der_utf8(text: str) -> bytes:
    body = text.encode()
    assert len(body) < 128
    return bytes([0x0C, len(body)]) + body


def _der_octets(body: bytes) -> bytes:
    if len(body) < 128:
        return bytes([0x04, len(body)]) + body
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([0x04, 0x80 | len(size)]) + size + body


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- the PKI


@dataclass
class TestPKI:
    """Root and intermediate CA, CT log and Rekor keys, and their ``trusted_root.json``."""

    root_key: PrivateKey
    root: x509.Certificate
    intermediate_key: PrivateKey
    intermediate: x509.Certificate
    ct_key: PrivateKey
    rekor_key: PrivateKey
    valid_from: datetime = datetime(2020, 1, 1, tzinfo=timezone.utc)

    __test__ = False  # not a pytest class

    @classmethod
    def create(cls, name: str = "test") -> TestPKI:
        root_key, inter_key = new_key("p384"), new_key("p384")
        start = datetime(2020, 1, 1, tzinfo=timezone.utc)
        root = ca_certificate(f"{name}-fulcio-root", root_key, None, start)
        intermediate = ca_certificate(
            f"{name}-fulcio-intermediate", inter_key, (root_key, root), start
        )
        return cls(root_key, root, inter_key, intermediate, new_key("p256"), new_key("p256"))

    def trusted_root(self) -> dict[str, Any]:
        """A Sigstore trusted root, shaped as sigstore's own ``trusted_root.json``."""

        def log(url: str, key: PrivateKey) -> dict[str, Any]:
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(spki(key)),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": _stamp(self.valid_from)},
                },
                "logId": {"keyId": b64(log_id(key))},
            }

        chain = [self.intermediate, self.root]
        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log("https://rekor.test.invalid", self.rekor_key)],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "container-gate tests", "commonName": "fulcio"},
                    "uri": "https://fulcio.test.invalid",
                    "certChain": {
                        "certificates": [
                            {"rawBytes": b64(c.public_bytes(serialization.Encoding.DER))}
                            for c in chain
                        ]
                    },
                    "validFor": {"start": _stamp(self.valid_from)},
                }
            ],
            "ctlogs": [log("https://ctfe.test.invalid", self.ct_key)],
            "timestampAuthorities": [],
        }

    def write_trusted_root(self, path: Path) -> Path:
        path.write_text(json.dumps(self.trusted_root(), indent=2))
        return path

    # ------------------------------------------------------------------ Fulcio

    def fulcio_certificate(
        self,
        key: PrivateKey,
        *,
        subject: str = WORKFLOW,
        issuer: str | None = GITHUB_ISSUER,
        issuer_v1_only: bool = False,
        github: Mapping[str, str] | None = None,
        not_before: datetime = SIGNED_AT,
        lifetime: timedelta = CERT_LIFETIME,
        sct: bool = True,
        code_signing: bool = True,
        ca: tuple[PrivateKey, x509.Certificate] | None = None,
        ct_key: PrivateKey | None = None,
    ) -> x509.Certificate:
        """A Fulcio-shaped leaf for ``key``: empty subject, critical SAN, OIDC claims, SCT.

        ``github`` maps claim names (``repository``, ``ref``, ``sha``) to values written as
        Fulcio v2 extensions (source repository URI / ref / digest).
        """
        ca_key, ca_cert = ca or (self.intermediate_key, self.intermediate)
        san: x509.GeneralName = (
            x509.UniformResourceIdentifier(subject)
            if "://" in subject
            else x509.RFC822Name(subject)
        )
        extensions: list[tuple[x509.ExtensionType, bool]] = [
            (x509.KeyUsage(True, False, False, False, False, False, False, False, False), True),
            (
                x509.ExtendedKeyUsage(
                    [
                        ExtendedKeyUsageOID.CODE_SIGNING
                        if code_signing
                        else ExtendedKeyUsageOID.SERVER_AUTH
                    ]
                ),
                False,
            ),
            (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
            (
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                False,
            ),
            (x509.SubjectAlternativeName([san]), True),
        ]
        if issuer is not None:
            extensions.append((_ext("1", issuer.encode()), False))
            if not issuer_v1_only:
                extensions.append((_ext("8", der_utf8(issuer)), False))
        claims = {"repository": "12", "ref": "14", "sha": "13"}
        for name, value in (github or {}).items():
            if name == "repository" and "://" not in value:
                value = f"https://github.com/{value}"
            extensions.append((_ext(claims[name], der_utf8(value)), False))

        serial = x509.random_serial_number()

        def builder() -> x509.CertificateBuilder:
            b = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([]))
                .issuer_name(ca_cert.subject)
                .serial_number(serial)
                .not_valid_before(not_before)
                .not_valid_after(not_before + lifetime)
                .public_key(key.public_key())
            )
            for ext, critical in extensions:
                b = b.add_extension(ext, critical)
            return b

        precert = builder().sign(ca_key, _ca_hash(ca_key))  # type: ignore[arg-type]
        if not sct:
            return precert
        scts = _sct_list(precert.tbs_certificate_bytes, ca_key, ct_key or self.ct_key, not_before)
        final = builder().add_extension(x509.UnrecognizedExtension(_SCT_OID, scts), False)
        return final.sign(ca_key, _ca_hash(ca_key))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ Rekor

    def rekor_entry(
        self,
        body: bytes,
        *,
        integrated_time: datetime = INTEGRATED_AT,
        log_index: int = 4242,
        key: PrivateKey | None = None,
        log_id_override: bytes | None = None,
    ) -> dict[str, Any]:
        """The SET-carrying entry, as cosign's ``dev.sigstore.cosign/bundle`` annotation."""
        signer = key or self.rekor_key
        entry_log_id = log_id_override or log_id(self.rekor_key)
        payload: dict[str, Any] = {
            "body": b64(body),
            "integratedTime": int(integrated_time.timestamp()),
            "logID": entry_log_id.hex(),
            "logIndex": log_index,
        }
        signed_entry_timestamp = sign(signer, rfc8785.dumps(payload))
        return {"SignedEntryTimestamp": b64(signed_entry_timestamp), "Payload": payload}

    def checkpoint(self, root_hash: bytes, size: int) -> str:
        """A signed note over the one-leaf tree, as Rekor v1 returns it."""
        origin = "rekor.test.invalid - 1234567890"
        note = f"{origin}\n{size}\n{b64(root_hash)}\n"
        signature = log_id(self.rekor_key)[:4] + sign(self.rekor_key, note.encode())
        return f"{note}\n\u2014 rekor.test.invalid {b64(signature)}\n"


def _ext(suffix: str, value: bytes) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(_FULCIO + suffix), value)


def _ca_hash(key: PrivateKey) -> hashes.HashAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
        return hashes.SHA384()
    return hashes.SHA256()


def ca_certificate(
    name: str,
    key: PrivateKey,
    issuer: tuple[PrivateKey, x509.Certificate] | None,
    start: datetime,
) -> x509.Certificate:
    """A CA certificate satisfying WebPKI path validation (as cryptography enforces)."""
    signer_key, signer_name = (key, None) if issuer is None else (issuer[0], issuer[1].subject)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signer_name or subject)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365 * 20))
        .public_key(key.public_key())
        .add_extension(
            x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), True
        )
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()),
            False,
        )
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False
        )
    return builder.sign(signer_key, _ca_hash(signer_key))  # type: ignore[arg-type]


def _sct_list(tbs: bytes, issuer_key: PrivateKey, ct_key: PrivateKey, when: datetime) -> bytes:
    """An RFC 6962 SignedCertificateTimestampList with one precertificate SCT, DER-wrapped."""
    issuer_hash = hashlib.sha256(spki(issuer_key)).digest()
    millis = int(when.timestamp() * 1000)
    signed = (
        struct.pack("!BBQH", 0, 0, millis, 1)
        + issuer_hash
        + len(tbs).to_bytes(3, "big")
        + tbs
        + struct.pack("!H", 0)
    )
    signature = sign(ct_key, signed)
    sct = (
        bytes([0])
        + log_id(ct_key)
        + struct.pack("!QH", millis, 0)
        + bytes([4, 3])  # sha256, ecdsa
        + struct.pack("!H", len(signature))
        + signature
    )
    serialized = struct.pack("!H", len(sct)) + sct
    return _der_octets(struct.pack("!H", len(serialized)) + serialized)


# --------------------------------------------------------------------------- legacy signatures


def simple_signing_payload(digest: str, reference: str = "registry.test/app") -> bytes:
    document = {
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def hashedrekord_body(payload: bytes, signature: bytes, verifier_pem: bytes) -> bytes:
    body: dict[str, Any] = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}},
            "signature": {"content": b64(signature), "publicKey": {"content": b64(verifier_pem)}},
        },
    }
    result: bytes = rfc8785.dumps(body)
    return result


@dataclass
class LegacyLayer:
    """One layer of a ``.sig`` manifest: the payload blob and its annotations."""

    payload: bytes
    annotations: dict[str, str] = field(default_factory=dict)
    media_type: str = SIMPLE_SIGNING


def legacy_signature(
    pki: TestPKI | None,
    digest: str,
    key: PrivateKey,
    *,
    cert: x509.Certificate | None = None,
    chain: list[x509.Certificate] | None = None,
    tlog: bool = True,
    payload: bytes | None = None,
    integrated_time: datetime = INTEGRATED_AT,
) -> LegacyLayer:
    """Sign ``digest`` as ``cosign sign`` (v2) does: key-based, or keyless with ``cert``."""
    payload = payload if payload is not None else simple_signing_payload(digest)
    signature = sign(key, payload)
    annotations = {"dev.cosignproject.cosign/signature": b64(signature)}
    if cert is not None:
        annotations["dev.sigstore.cosign/certificate"] = pem(cert).decode()
        chain = chain if chain is not None else ([pki.intermediate, pki.root] if pki else [])
        annotations["dev.sigstore.cosign/chain"] = b"".join(pem(c) for c in chain).decode()
    if tlog:
        assert pki is not None
        verifier = pem(cert) if cert is not None else public_pem(key)
        body = hashedrekord_body(payload, signature, verifier)
        entry = pki.rekor_entry(body, integrated_time=integrated_time)
        annotations["dev.sigstore.cosign/bundle"] = json.dumps(entry)
    return LegacyLayer(payload, annotations)


def resign_entry(pki: TestPKI, layer: LegacyLayer, **changes: Any) -> None:
    """Rebuild the Rekor bundle so it matches the layer's current signature, with changes.

    Lets a test alter one part (signature, certificate, integratedTime, logID) while the SET
    still verifies, so the failure is that part's own.
    """
    signature = base64.b64decode(layer.annotations["dev.cosignproject.cosign/signature"])
    cert_pem = layer.annotations.get("dev.sigstore.cosign/certificate")
    verifier = cert_pem.encode() if cert_pem else changes.pop("verifier_pem")
    body = hashedrekord_body(changes.pop("payload", layer.payload), signature, verifier)
    layer.annotations["dev.sigstore.cosign/bundle"] = json.dumps(pki.rekor_entry(body, **changes))


def signature_manifest(layers: list[LegacyLayer]) -> tuple[bytes, dict[str, bytes]]:
    """The ``sha256-<hex>.sig`` manifest (OCI, one layer per signature) and its blobs."""
    descriptors = [
        {
            "mediaType": layer.media_type,
            "size": len(layer.payload),
            "digest": sha256_digest(layer.payload),
            "annotations": layer.annotations,
        }
        for layer in layers
    ]
    manifest, config = signature_manifest_for(descriptors)
    blobs = {sha256_digest(config): config}
    blobs.update((sha256_digest(layer.payload), layer.payload) for layer in layers)
    return manifest, blobs


def signature_manifest_for(descriptors: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    """A signature manifest over layer *descriptors* and its ``{}`` config blob, as cosign's."""
    config = b"{}"
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": len(config),
            "digest": sha256_digest(config),
        },
        "layers": descriptors,
    }
    return json.dumps(manifest).encode(), config


def sig_tag(digest: str) -> str:
    return digest.replace(":", "-") + ".sig"


def push_legacy(host: str, repo: str, digest: str, layers: list[LegacyLayer]) -> str:
    """Push the signature manifest under ``sha256-<hex>.sig`` as cosign does."""
    manifest, blobs = signature_manifest(layers)
    for blob in blobs.values():
        push_blob(host, repo, blob)
    return push_manifest(host, repo, sig_tag(digest), manifest, OCI_MANIFEST)


# --------------------------------------------------------------------------- Sigstore bundles


def statement(
    digest: str, predicate_type: str = COSIGN_SIGN, name: str = "registry.test/app"
) -> bytes:
    document = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": digest.partition(":")[2]}}],
        "predicateType": predicate_type,
        "predicate": {},
    }
    return json.dumps(document, separators=(",", ":")).encode()


def pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def dsse_entry_body(
    payload: bytes, envelope: bytes, signature: bytes, verifier_pem: bytes
) -> bytes:
    body: dict[str, Any] = {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hashlib.sha256(envelope).hexdigest()},
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": [{"signature": b64(signature), "verifier": b64(verifier_pem)}],
        },
    }
    result: bytes = rfc8785.dumps(body)
    return result


def sigstore_bundle(
    pki: TestPKI,
    digest: str,
    key: PrivateKey,
    *,
    cert: x509.Certificate | None = None,
    payload: bytes | None = None,
    predicate_type: str = COSIGN_SIGN,
    tlog: bool = True,
    integrated_time: datetime = INTEGRATED_AT,
) -> dict[str, Any]:
    """A v0.3 bundle as cosign v3 writes it: keyless with ``cert``, else key-based."""
    payload = payload if payload is not None else statement(digest, predicate_type)
    signature = sign(key, pae(IN_TOTO, payload))
    envelope = {
        "payload": b64(payload),
        "payloadType": IN_TOTO,
        "signatures": [{"sig": b64(signature), "keyid": ""}],
    }
    material: dict[str, Any]
    if cert is not None:
        material = {"certificate": {"rawBytes": b64(cert.public_bytes(serialization.Encoding.DER))}}
        verifier = pem(cert)
    else:
        material = {"publicKey": {"hint": b64(log_id(key))}}
        verifier = public_pem(key)
    if tlog:
        body = dsse_entry_body(payload, json.dumps(envelope).encode(), signature, verifier)
        promise = pki.rekor_entry(body, integrated_time=integrated_time, log_index=7)
        leaf = hashlib.sha256(b"\x00" + body).digest()
        material["tlogEntries"] = [
            {
                "logIndex": "7",
                "logId": {"keyId": b64(log_id(pki.rekor_key))},
                "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                "integratedTime": str(promise["Payload"]["integratedTime"]),
                "inclusionPromise": {"signedEntryTimestamp": promise["SignedEntryTimestamp"]},
                "inclusionProof": {
                    "logIndex": "0",
                    "rootHash": b64(leaf),
                    "treeSize": "1",
                    "hashes": [],
                    "checkpoint": {"envelope": pki.checkpoint(leaf, 1)},
                },
                "canonicalizedBody": b64(body),
            }
        ]
    else:
        material["tlogEntries"] = []
    return {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": material,
        "dsseEnvelope": envelope,
    }


def push_bundle(
    host: str,
    repo: str,
    digest: str,
    bundle: Mapping[str, Any] | bytes,
    *,
    subject_media_type: str = OCI_MANIFEST,
    subject_size: int = 0,
) -> str:
    """Push a bundle as cosign v3 does, and, on a registry without the referrers API, add it
    to the referrers fallback index.

    As the OCI distribution spec's fallback requires of writers (and go-containerregistry's
    writer decides, by asking the referrers API), the index tagged ``sha256-<hex>`` lists
    every referrer when the registry cannot.
    """
    data = bundle if isinstance(bundle, bytes) else json.dumps(bundle).encode()
    empty = b"{}"
    push_blob(host, repo, empty)
    push_blob(host, repo, data)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_MEDIA_TYPE,
        "config": {"mediaType": EMPTY_CONFIG, "size": 2, "digest": sha256_digest(empty)},
        "layers": [
            {"mediaType": BUNDLE_MEDIA_TYPE, "size": len(data), "digest": sha256_digest(data)}
        ],
        "subject": {"mediaType": subject_media_type, "size": subject_size, "digest": digest},
        "annotations": {"dev.sigstore.bundle.predicateType": COSIGN_SIGN},
    }
    return push_referrer(host, repo, digest, manifest)


def push_referrer(host: str, repo: str, digest: str, manifest: Mapping[str, Any]) -> str:
    """Push ``manifest`` (whose ``subject`` is ``digest``) and, where the registry has no
    referrers API, list it in the fallback index tagged ``sha256-<hex>``."""
    body = json.dumps(manifest).encode()
    manifest_digest = push_manifest(host, repo, sha256_digest(body), body, OCI_MANIFEST)
    if _has_referrers_api(host, repo, digest):
        return manifest_digest
    fallback_tag = digest.replace(":", "-")
    existing = _fallback_index(host, repo, fallback_tag)
    existing.append(
        {
            "mediaType": OCI_MANIFEST,
            "size": len(body),
            "digest": manifest_digest,
            "artifactType": manifest.get("artifactType"),
            "annotations": manifest.get("annotations", {}),
        }
    )
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": existing}
    push_manifest(host, repo, fallback_tag, json.dumps(index).encode(), OCI_INDEX)
    return manifest_digest


def _has_referrers_api(host: str, repo: str, digest: str) -> bool:
    import requests

    resp = requests.get(
        f"http://{host}/v2/{repo}/referrers/{digest}", headers={"Accept": OCI_INDEX}, timeout=10
    )
    return resp.status_code == 200


def _fallback_index(host: str, repo: str, tag: str) -> list[dict[str, Any]]:
    import requests

    resp = requests.get(
        f"http://{host}/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_INDEX}, timeout=10
    )
    if resp.status_code == 404:
        return []
    resp.raise_for_status()
    manifests: list[dict[str, Any]] = resp.json().get("manifests", [])
    return manifests


# --------------------------------------------------------------------------- policy helpers

#: The identity the test "release workflow" signs with (GitHub Actions, Fulcio v2 claims).
GITHUB_CLAIMS = {"repository": "acme/app", "ref": "refs/heads/main", "sha": GIT_SHA}
SUBJECT_REGEX = (
    r"^https://github\.com/acme/app/\.github/workflows/release\.yml@refs/(heads/main|tags/v.*)$"
)


def github_identity(**changes: Any) -> Any:
    """The policy's keyless identity for the release workflow (gate.policy.model)."""
    from gate.policy.model import GitHubClaims, KeylessIdentity

    identity = KeylessIdentity(
        issuer=GITHUB_ISSUER,
        subject_regex=SUBJECT_REGEX,
        github=GitHubClaims(repository="acme/app", ref="refs/heads/main", match_git_sha=True),
    )
    return replace(identity, **changes)


def keyless_authority(name: str = "github-release", **changes: Any) -> Any:
    from gate.policy.model import Authority

    return Authority(name=name, keyless=github_identity(**changes))


def key_authority(directory: Path, key: PrivateKey, name: str = "release-key") -> Any:
    """An authority whose ``key:`` is ``key``'s public half, written as PEM in ``directory``."""
    from gate.policy.model import Authority

    path = directory / f"{name}.pub"
    path.write_bytes(public_pem(key))
    return Authority(name=name, key=path)
