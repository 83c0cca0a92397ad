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
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from gate.signing import Refused
from gate.signing.authority import Context, KeyAuthority, KeylessAuthority, Verifier
from gate.signing.fulcio import check_validity
from gate.signing.keys import b64decode_protojson, load_pem_public_key, spki_der, verifies
from gate.signing.legacy import loads_as_go
from gate.signing.tlog import dsse_record, parse_bundle_entry, verify_set

BUNDLE_ARTIFACT_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
IN_TOTO = "application/vnd.in-toto+json"
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the envelope's signature actually signs."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


#: in-toto ``Statement`` and ``ResourceDescriptor`` fields, by protojson's names (JSON name or
#: proto field name, either accepted); any other key is an error there.
_STATEMENT_FIELDS = {
    "_type": "type",
    "type": "type",
    "subject": "subject",
    "predicateType": "predicate_type",
    "predicate_type": "predicate_type",
    "predicate": "predicate",
}
_DESCRIPTOR_FIELDS = {
    "name": "name",
    "uri": "uri",
    "digest": "digest",
    "content": "content",
    "downloadLocation": "download_location",
    "download_location": "download_location",
    "mediaType": "media_type",
    "media_type": "media_type",
    "annotations": "annotations",
}
#: sigstore-go's ``limitSubjects``.
MAX_SUBJECTS = 1024
MAX_SUBJECT_DIGESTS = 32
_NOT_A_STATEMENT = "the DSSE payload is not an in-toto statement"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)


def _fields(document: object, allowed: Mapping[str, str]) -> dict[str, Any]:
    """An object's fields by proto name; unknown or repeated fields refuse, as protojson."""
    if not isinstance(document, dict):
        raise Refused(_NOT_A_STATEMENT)
    fields: dict[str, Any] = {}
    for key, value in document.items():
        name = allowed.get(key)
        if name is None or name in fields:
            raise Refused(f"{_NOT_A_STATEMENT}: unexpected or repeated field {key!r}")
        fields[name] = value
    return fields


def _typed(value: object, kind: type | tuple[type, ...]) -> bool:
    return value is None or isinstance(value, kind)


def parse_statement(payload: bytes) -> tuple[object, list[dict[str, str]]]:
    """``(predicateType, [subject digests])`` of an in-toto v1 statement, read as sigstore-go's
    ``Envelope.Statement`` does (``protojson.Unmarshal`` into ``in_toto.Statement``): UTF-8
    without a BOM, no duplicate or unknown fields, each field of its type (null is unset)."""
    try:
        document = loads_as_go(payload, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):  # UnicodeDecodeError, a BOM, bad JSON, duplicates
        raise Refused(_NOT_A_STATEMENT) from None
    statement = _fields(document, _STATEMENT_FIELDS)
    if not (
        _typed(statement.get("type"), str)
        and _typed(statement.get("predicate_type"), str)
        and _typed(statement.get("predicate"), dict)
        and _typed(statement.get("subject"), list)
    ):
        raise Refused(_NOT_A_STATEMENT)
    subjects = []
    for item in statement.get("subject") or []:
        subject = _fields(item, _DESCRIPTOR_FIELDS)
        digests = subject.get("digest") or {}
        if not (
            all(_typed(subject.get(k), str) for k in ("name", "uri", "download_location"))
            and _typed(subject.get("media_type"), str)
            and _typed(subject.get("content"), str)
            and _typed(subject.get("annotations"), dict)
            and isinstance(digests, dict)
            and all(isinstance(v, str) for v in digests.values())
        ):
            raise Refused(_NOT_A_STATEMENT)
        if subject.get("content") is not None:
            b64decode_protojson(subject["content"], "a subject's content")
        subjects.append(digests)
    return statement.get("predicate_type") or "", subjects


def check_statement(payload_type: str, payload: bytes, digest: str) -> None:
    """The statement must be cosign's image signature, and name ``digest`` among its subjects.

    The subject match is sigstore-go's ``verifyEnvelopeWithArtifactDigests``, which cosign
    uses: every subject digest must be hex (or the statement is refused), and the judged
    digest's bytes must equal one listed under its algorithm's exact name.
    """
    if payload_type != IN_TOTO:
        raise Refused(f"the DSSE payload type is {payload_type!r}, not {IN_TOTO!r}")
    predicate_type, subjects = parse_statement(payload)
    if predicate_type != COSIGN_SIGN_PREDICATE:
        raise Refused(f"predicateType {predicate_type!r} is not {COSIGN_SIGN_PREDICATE!r}")
    if len(subjects) > MAX_SUBJECTS or any(len(s) > MAX_SUBJECT_DIGESTS for s in subjects):
        raise Refused("the statement has too many subjects or subject digests")
    algorithm, hex_digest = digest.split(":", 1)
    listed = []
    for subject in subjects:
        for name, value in subject.items():
            if not _HEX.fullmatch(value):  # Go's hex.DecodeString: even length, either case
                raise Refused(f"a subject's {name} digest {value!r} is not hex")
            if name == algorithm:
                listed.append(bytes.fromhex(value))
    if bytes.fromhex(hex_digest) not in listed:
        shown = [f"{algorithm}:{d.hex()}" for d in listed]
        raise Refused(f"digest mismatch: the statement's subjects are {shown}, not {digest}")


#: The bundle media types cosign v2 reads (sigstore-go's ``getBundleVersion``, then cosign's
#: ``MinVersion("v0.3")``, and v0.4 and later unsupported); ``….v0.3.1+json`` and such semver
#: spellings of 0.3 are refused here: stricter.
BUNDLE_MEDIA_TYPES = frozenset(
    {BUNDLE_ARTIFACT_TYPE, "application/vnd.dev.sigstore.bundle+json;version=0.3"}
)

# The protobuf messages of a key-based bundle, as protojson reads them: each accepted key
# (JSON name or proto field name) -> (JSON name, kind). A kind is "string", "bytes", "object"
# (a message not read here, only its type checked), a nested schema, or [kind] for a list.
_Kind = Any
_SIGNATURE_FIELDS: dict[str, tuple[str, _Kind]] = {
    "sig": ("sig", "bytes"),
    "keyid": ("keyid", "string"),
}
_ENVELOPE_FIELDS: dict[str, tuple[str, _Kind]] = {
    "payload": ("payload", "bytes"),
    "payloadType": ("payloadType", "string"),
    "payload_type": ("payloadType", "string"),
    "signatures": ("signatures", [_SIGNATURE_FIELDS]),
}
_MATERIAL_FIELDS: dict[str, tuple[str, _Kind]] = {
    "publicKey": ("publicKey", {"hint": ("hint", "string")}),
    "public_key": ("publicKey", {"hint": ("hint", "string")}),
    "certificate": ("certificate", "object"),
    "x509CertificateChain": ("x509CertificateChain", "object"),
    "x509_certificate_chain": ("x509CertificateChain", "object"),
    "tlogEntries": ("tlogEntries", ["object"]),
    "tlog_entries": ("tlogEntries", ["object"]),
    "timestampVerificationData": ("timestampVerificationData", "object"),
    "timestamp_verification_data": ("timestampVerificationData", "object"),
}
_BUNDLE_FIELDS: dict[str, tuple[str, _Kind]] = {
    "mediaType": ("mediaType", "string"),
    "media_type": ("mediaType", "string"),
    "verificationMaterial": ("verificationMaterial", _MATERIAL_FIELDS),
    "verification_material": ("verificationMaterial", _MATERIAL_FIELDS),
    "dsseEnvelope": ("dsseEnvelope", _ENVELOPE_FIELDS),
    "dsse_envelope": ("dsseEnvelope", _ENVELOPE_FIELDS),
    "messageSignature": ("messageSignature", "object"),
    "message_signature": ("messageSignature", "object"),
}
#: protojson refuses a message that sets two members of one ``oneof``.
_ONE_OF = (
    ("dsseEnvelope", "messageSignature"),
    ("publicKey", "certificate", "x509CertificateChain"),
)


def _shaped(value: object, kind: _Kind, where: str) -> object:
    """``value`` checked against ``kind``; messages come back keyed by JSON names."""
    if value is None:  # protojson: null leaves a field unset
        return None
    if isinstance(kind, list):
        if not isinstance(value, list):
            raise Refused(f"the bundle's {where} is not a list")
        if any(item is None for item in value):
            raise Refused(f"the bundle's {where} holds a null")
        return [_shaped(item, kind[0], where) for item in value]
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            raise Refused(f"the bundle's {where} is not an object")
        fields: dict[str, object] = {}
        for key, item in value.items():
            if key not in kind or kind[key][0] in fields:
                raise Refused(f"the bundle's {where} has an unexpected or repeated field {key!r}")
            name, inner = kind[key]
            fields[name] = _shaped(item, inner, f"{where}.{name}")
        for group in _ONE_OF:
            if sum(fields.get(name) is not None for name in group) > 1:
                raise Refused(f"the bundle's {where} sets more than one of {', '.join(group)}")
        return fields
    if not isinstance(value, dict if kind == "object" else str):
        raise Refused(f"the bundle's {where} is not a {kind}")
    if kind == "bytes":
        b64decode_protojson(value, f"the bundle's {where}")
    return value


def read_key_bundle(document: object) -> dict[str, Any]:
    """A key-based bundle as sigstore-go's ``Bundle.UnmarshalJSON`` takes it (protojson, then
    ``validate``): known fields of the right types, one content, one verification material,
    a v0.3 media type, and an inclusion proof beside each tlog entry (required since v0.2)."""
    bundle: dict[str, Any] = _shaped(document, _BUNDLE_FIELDS, "JSON")  # type: ignore[assignment]
    if bundle.get("mediaType") not in BUNDLE_MEDIA_TYPES:
        raise Refused(f"the bundle's media type {bundle.get('mediaType')!r} is not v0.3")
    material = bundle.get("verificationMaterial") or {}
    if not any(material.get(name) is not None for name in _ONE_OF[1]):
        raise Refused("the bundle has no verification material (key or certificate)")
    if bundle.get("dsseEnvelope") is None and bundle.get("messageSignature") is None:
        raise Refused("the bundle has no content (DSSE envelope or message signature)")
    if any("inclusionProof" not in entry for entry in material.get("tlogEntries") or []):
        raise Refused("a tlog entry has no inclusion proof (required in a v0.3 bundle)")
    return bundle


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
    payload = b64decode_protojson(envelope.get("payload"), "the DSSE payload")
    payload_type = envelope.get("payloadType")
    signatures = envelope.get("signatures")
    if (
        not isinstance(payload_type, str)
        or not isinstance(signatures, list)
        or len(signatures) != 1
        or not isinstance(signatures[0], dict)
    ):
        raise Refused("the DSSE envelope must have a payloadType and exactly one signature")
    if signatures[0].get("keyid"):
        # go-securesystemslib's EnvelopeVerifier skips a signature whose keyid differs from
        # the verifier's, and the key verifiers cosign and sigstore-go hand it have keyid "".
        raise Refused("the DSSE signature names a keyid; a public-key verifier has none")
    signature = b64decode_protojson(signatures[0].get("sig"), "the DSSE signature")
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
        document = loads_as_go(raw, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):
        raise Refused("the bundle is not Sigstore bundle JSON") from None
    if isinstance(authority, KeylessAuthority):
        material = document.get("verificationMaterial") if isinstance(document, dict) else None
        if not isinstance(material, dict):
            raise Refused("the bundle is not Sigstore bundle JSON")
        if "certificate" not in material and "x509CertificateChain" not in material:
            raise Refused("the bundle was signed with a key, not keyless")
        payload_type, payload = _verify_keyless(raw, material, authority, ctx)
    else:
        bundle = read_key_bundle(document)
        material = bundle["verificationMaterial"]
        if material.get("certificate") is not None or material.get("x509CertificateChain"):
            raise Refused("the bundle is keyless (a Fulcio certificate), not signed with a key")
        payload_type, payload = _verify_key(bundle, authority, ctx)
    check_statement(payload_type, payload, ctx.digest)
