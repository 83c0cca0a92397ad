"""OpenVEX attestations attached to the image by ``cosign attest --type openvex``.

Where cosign v2 stores them (``ociremote.AttestationTag``): the manifest tagged
``sha256-<hex>.att``, one ``application/vnd.dsse.envelope.v1+json`` layer per attestation;
each blob is a DSSE envelope whose payload is an in-toto statement with ``predicateType``
``https://openvex.dev/ns`` (cosign's ``attestation.OpenVexNamespace``) and the OpenVEX
document as its predicate.

An attestation is applied only when, as ``cosign verify-attestation --key`` checks it: its
DSSE signature over PAE(payloadType, payload) (``gate.signing.bundle.pae``) verifies under
one of ``signature.authorities`` (key authorities), and a statement subject is the judged
digest. A Rekor entry is required by ``signature.tlog: required``; the gate does not verify
``intoto`` entries, so such a policy refuses every VEX attestation, saying so, rather
than accept one it could not check. Refused attestations are reported and apply nothing.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from gate.model import Subject, VexStatement
from gate.oci import mediatypes
from gate.policy.model import SignaturePolicy
from gate.signing import Refused
from gate.signing.authority import Context, KeyAuthority, Verifier, load_authority
from gate.signing.bundle import IN_TOTO, pae
from gate.signing.discover import SignatureRegistry, fetch_blob, manifest_or_none
from gate.signing.keys import b64decode, verifies
from gate.signing.legacy import BUNDLE
from gate.signing.verify import signature_location
from gate.vex import CONTEXT_PREFIX, VexError, parse_openvex

DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
MAX_ATTESTATION_BYTES = 4 << 20


@dataclass(frozen=True)
class Attested:
    statements: tuple[VexStatement, ...]
    refused: tuple[str, ...]
    looked_in: tuple[str, ...]


def _envelope(raw: bytes) -> tuple[str, bytes, list[bytes]]:
    try:
        envelope = json.loads(raw)
    except (ValueError, RecursionError):
        raise Refused("the attestation is not a DSSE envelope (not JSON)") from None
    if not isinstance(envelope, dict):
        raise Refused("the attestation is not a DSSE envelope")
    payload_type = envelope.get("payloadType")
    signatures = envelope.get("signatures")
    if not isinstance(payload_type, str) or not isinstance(signatures, list) or not signatures:
        raise Refused("the DSSE envelope needs a payloadType and signatures")
    payload = b64decode(envelope.get("payload"), "the DSSE payload")
    sigs = [
        b64decode(s.get("sig") if isinstance(s, dict) else None, "a DSSE signature")
        for s in signatures
    ]
    return payload_type, payload, sigs


def verify_vex_attestation(
    raw: bytes, annotations: dict[str, Any], authority: Verifier, ctx: Context
) -> dict[str, Any]:
    """The OpenVEX predicate of an attestation ``authority`` signed for ``ctx.digest``."""
    if not isinstance(authority, KeyAuthority):
        raise Refused("keyless VEX attestations are not supported; use a key authority")
    payload_type, payload, signatures = _envelope(raw)
    message = pae(payload_type, payload)
    if not any(verifies(authority.key, sig, message) for sig in signatures):
        raise Refused(f"wrong key: the DSSE signature does not verify under {authority.name}'s key")
    if ctx.tlog_required:
        why = "it has none" if not annotations.get(BUNDLE) else "intoto entries are not verified"
        raise Refused(f"signature.tlog is required, and {why}; set signature.tlog: optional")
    if payload_type != IN_TOTO:
        raise Refused(f"the DSSE payload type is {payload_type!r}, not {IN_TOTO!r}")
    try:
        statement = json.loads(payload)
        predicate_type = statement["predicateType"]
        predicate = statement["predicate"]
        digests = [
            f"sha256:{s['digest']['sha256']}"
            for s in statement["subject"]
            if "sha256" in s["digest"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise Refused("the DSSE payload is not an in-toto statement") from None
    if not isinstance(predicate_type, str) or not predicate_type.startswith(CONTEXT_PREFIX):
        raise Refused(f"predicateType {predicate_type!r} is not OpenVEX ({CONTEXT_PREFIX})")
    if ctx.digest not in digests:
        raise Refused(f"digest mismatch: the statement's subjects are {digests}, not {ctx.digest}")
    if not isinstance(predicate, dict):
        raise Refused("the OpenVEX predicate is not a mapping")
    return predicate


def _judge(
    raw: bytes,
    annotations: dict[str, Any],
    where: str,
    authorities: Sequence[Verifier],
    ctx: Context,
    first_order: int,
) -> tuple[list[VexStatement], str]:
    reasons = []
    for authority in authorities:
        try:
            predicate = verify_vex_attestation(raw, annotations, authority, ctx)
        except Refused as refusal:
            reasons.append(f"{authority.name}: {refusal}")
            continue
        source = f"attestation {where} (signed by {authority.name})"
        try:
            statements = parse_openvex(
                json.dumps(predicate).encode(), source, first_order=first_order
            )
        except VexError as error:
            return [], f"{where}: {error.message}"
        return statements, ""
    return [], f"{where}: " + "; ".join(reasons)


def gather_vex_attestations(
    subject: Subject,
    policy: SignaturePolicy,
    *,
    insecure_hosts: Collection[str] = (),
    first_order: int = 0,
    client: SignatureRegistry | None = None,
) -> Attested:
    """Find the ``.att`` attestations of the judged digest and keep the verified OpenVEX ones."""
    from datetime import datetime, timezone

    from gate.errors import SignatureError

    if not subject.digest:
        raise SignatureError(f"cannot look up attestations of {subject.reference}: no digest")
    authorities = [load_authority(a, None) for a in policy.authorities]
    host, name, repo = signature_location(subject, policy)
    if client is None:
        from gate.image.registry import connect

        client = connect(host, insecure_hosts=insecure_hosts)
    tag = subject.digest.replace(":", "-") + ".att"
    where = f"{name}:{tag}"
    manifest = manifest_or_none(client, repo, tag, sorted(mediatypes.IMAGE_MANIFESTS))
    if manifest is None:
        return Attested((), (), (where,))
    if isinstance(manifest, str):
        return Attested((), (f"{where}: {manifest}",), (where,))
    layers = manifest.document.get("layers")
    ctx = Context.for_policy(policy, subject.digest, datetime.now(timezone.utc))
    statements: list[VexStatement] = []
    refused: list[str] = []
    for number, layer in enumerate(layers if isinstance(layers, list) else []):
        if not isinstance(layer, dict) or layer.get("mediaType") != DSSE_ENVELOPE:
            continue
        annotations = layer.get("annotations")
        annotations = annotations if isinstance(annotations, dict) else {}
        if annotations.get("predicateType", CONTEXT_PREFIX) != CONTEXT_PREFIX:
            continue  # another kind of attestation (SBOM, provenance): not ours to judge
        at = f"{where} layer {number}"
        raw, problem = fetch_blob(client, repo, layer, MAX_ATTESTATION_BYTES)
        if raw is None:
            refused.append(f"{at}: {problem}")
            continue
        found, why = _judge(raw, annotations, at, authorities, ctx, first_order + len(statements))
        statements += found
        if why:
            refused.append(why)
    return Attested(tuple(statements), tuple(refused), (where,))
