"""Sigstore bundles (cosign v3): signed by the tests' PKI, pushed as OCI artifacts to each real
registry (found through the referrers API, or the fallback index where there is none),
verified natively."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.support import pki as P
from tests.support import signed
from tests.support.oci import OCI_MANIFEST, push_blob, sha256_digest
from tests.support.registry import RunningRegistry
from tests.support.signed import PushedImage, reasons


@pytest.fixture(scope="module")
def pki() -> P.TestPKI:
    return P.TestPKI.create("bundle")


@pytest.fixture(scope="module")
def trusted_root(pki: P.TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return signed.write_trusted_root(pki, tmp_path_factory)


@pytest.fixture
def image(signature_registry: RunningRegistry, request: pytest.FixtureRequest) -> PushedImage:
    return signed.push_unique_image(
        signature_registry.host,
        request,
        "bundled",
        referrers_api=signature_registry.referrers_api,
    )


verify = partial(signed.verify, formats=("bundle",))


def keyless_bundle(
    pki: P.TestPKI, digest: str, cert_options: dict[str, Any] | None = None, **options: Any
) -> dict[str, Any]:
    key = P.new_key()
    github = {**P.GITHUB_CLAIMS, **options.pop("github", {})}
    cert = pki.fulcio_certificate(key, github=github, **(cert_options or {}))
    return P.sigstore_bundle(pki, digest, key, cert=cert, **options)


# --------------------------------------------------------------------------- accepted


def test_keyless_bundle_found_through_the_referrers_api_or_its_fallback_index(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path
) -> None:
    manifest_digest = image.push_bundle(keyless_bundle(pki, image.digest))

    facts = verify(image, trusted_root, P.keyless_authority())

    assert facts.looked_in == (image.bundles_looked_in,)
    (signature,) = facts.signatures
    assert (signature.format, signature.accepted_by) == ("bundle", "github-release")
    assert signature.where == f"{image.name}@{manifest_digest}"


@pytest.mark.parametrize("kind", ["p256", "p384", "rsa", "ed25519"])
def test_key_based_bundle_with_tlog_is_accepted(
    kind: str, image: PushedImage, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    key = P.new_key(kind)
    image.push_bundle(P.sigstore_bundle(pki, image.digest, key))

    facts = verify(image, trusted_root, P.key_authority(tmp_path, key))

    assert [s.accepted_by for s in facts.signatures] == ["release-key"]


def test_key_based_bundle_without_tlog_entry(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    key = P.new_key()
    bundle = P.sigstore_bundle(pki, image.digest, key, tlog=False)
    image.push_bundle(bundle)

    optional = verify(image, trusted_root, P.key_authority(tmp_path, key), tlog="optional")
    required = verify(image, trusted_root, P.key_authority(tmp_path, key))

    assert optional.signatures[0].accepted_by == "release-key"
    assert reasons(required) == ["no tlog entry while one is required"]


def test_both_formats_are_reported_bundles_first(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    key = P.new_key()
    image.push_bundle(P.sigstore_bundle(pki, image.digest, key))
    image.push_legacy(P.legacy_signature(pki, image.digest, key))

    facts = verify(
        image, trusted_root, P.key_authority(tmp_path, key), formats=("bundle", "legacy")
    )

    assert [(s.format, s.accepted_by) for s in facts.signatures] == [
        ("bundle", "release-key"),
        ("legacy", "release-key"),
    ]
    assert len(facts.looked_in) == 2


# --------------------------------------------------------------------------- refused


def _keyless(pki: P.TestPKI, digest: str, **options: Any) -> dict[str, Any]:
    return keyless_bundle(pki, digest, **options)


def _tamper_signature(pki: P.TestPKI, digest: str) -> dict[str, Any]:
    bundle = keyless_bundle(pki, digest)
    sig = bytearray(base64.b64decode(bundle["dsseEnvelope"]["signatures"][0]["sig"]))
    sig[-1] ^= 0x01
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = P.b64(bytes(sig))
    return bundle


EVIL_WORKFLOW = "https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main"

KEYLESS_REFUSALS: dict[str, tuple[Any, str]] = {
    "predicate-type": (
        lambda pki, d: _keyless(pki, d, predicate_type="https://slsa.dev/provenance/v1"),
        "predicateType 'https://slsa.dev/provenance/v1' is not 'https://sigstore.dev/cosign/sign/v1'",
    ),
    "subject-digest": (
        lambda pki, d: _keyless(pki, d, payload=P.statement("sha256:" + "1" * 64)),
        "digest mismatch: the statement's subjects are ['sha256:1111",
    ),
    "github-ref": (
        lambda pki, d: _keyless(pki, d, github={"ref": "refs/heads/dev"}),
        "GitHub ref 'refs/heads/dev' is not 'refs/heads/main'",
    ),
    "certificate-subject": (
        lambda pki, d: _keyless(pki, d, cert_options={"subject": EVIL_WORKFLOW}),
        f"subject '{EVIL_WORKFLOW}' does not match",
    ),
    "certificate-issuer": (
        lambda pki, d: _keyless(pki, d, cert_options={"issuer": "https://accounts.example.com"}),
        "issuer mismatch: issuer 'https://accounts.example.com' is not "
        "'https://token.actions.githubusercontent.com'",
    ),
    "github-repository": (
        lambda pki, d: _keyless(pki, d, github={"repository": "acme/fork"}),
        "GitHub repository 'acme/fork' is not 'acme/app'",
    ),
    "github-repository-on-another-host": (
        lambda pki, d: _keyless(pki, d, github={"repository": "https://gitlab.com/acme/app"}),
        "GitHub repository 'https://gitlab.com/acme/app' is not 'acme/app'",
    ),
    "git-sha": (
        lambda pki, d: _keyless(pki, d, github={"sha": "0" * 40}),
        f"source commit '{'0' * 40}' is not",
    ),
    "dsse-signature": (_tamper_signature, "the bundle does not verify: DSSE: invalid signature"),
    "integrated-time-after-expiry": (
        lambda pki, d: _keyless(pki, d, integrated_time=P.SIGNED_AT + timedelta(days=1)),
        "certificate expired at integratedTime 2025-03-02T12:00:00Z",
    ),
    "integrated-time-before-issue": (
        lambda pki, d: _keyless(pki, d, integrated_time=P.SIGNED_AT - timedelta(minutes=5)),
        "certificate not yet valid at integratedTime",
    ),
}


@pytest.mark.parametrize("case", sorted(KEYLESS_REFUSALS))
def test_keyless_bundle_is_refused_for_its_reason(
    case: str, image: PushedImage, pki: P.TestPKI, trusted_root: Path
) -> None:
    make, expected = KEYLESS_REFUSALS[case]
    image.push_bundle(make(pki, image.digest))

    (reason,) = reasons(verify(image, trusted_root, P.keyless_authority()))

    assert reason.startswith(expected), reason


def test_key_based_bundle_under_the_wrong_key(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    bundle = P.sigstore_bundle(pki, image.digest, P.new_key())
    image.push_bundle(bundle)

    facts = verify(image, trusted_root, P.key_authority(tmp_path, P.new_key()))

    assert reasons(facts) == [
        "wrong key: the DSSE signature does not verify under release-key's key"
    ]


def test_key_based_bundle_with_a_forged_set(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    key = P.new_key()
    bundle = P.sigstore_bundle(pki, image.digest, key)
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    impostor = P.TestPKI.create("impostor")
    promise = impostor.rekor_entry(base64.b64decode(entry["canonicalizedBody"]), log_index=7)
    entry["inclusionPromise"]["signedEntryTimestamp"] = promise["SignedEntryTimestamp"]
    image.push_bundle(bundle)

    (reason,) = reasons(verify(image, trusted_root, P.key_authority(tmp_path, key)))

    assert reason.startswith("SET invalid")


def test_key_authority_does_not_accept_a_keyless_bundle(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    image.push_bundle(keyless_bundle(pki, image.digest))

    facts = verify(image, trusted_root, P.key_authority(tmp_path, P.new_key()))

    assert reasons(facts) == ["the bundle is keyless (a Fulcio certificate), not signed with a key"]


def test_bundle_that_is_not_json_is_refused(image: PushedImage, trusted_root: Path) -> None:
    image.push_bundle(b"\x89PNG not a bundle")

    assert reasons(verify(image, trusted_root, P.keyless_authority())) == [
        "the bundle is not Sigstore bundle JSON"
    ]


def test_referrer_without_bundle_layer_is_refused(image: PushedImage, trusted_root: Path) -> None:
    empty = b"{}"
    push_blob(image.host, image.repo, empty)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": P.BUNDLE_MEDIA_TYPE,
        "config": {"mediaType": P.EMPTY_CONFIG, "size": 2, "digest": sha256_digest(empty)},
        "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "size": 0, "digest": image.digest},
    }
    P.push_referrer(image.host, image.repo, image.digest, manifest)

    assert reasons(verify(image, trusted_root, P.keyless_authority())) == [
        "unreadable signature: the referrer has no bundle layer"
    ]


# --------------------------------------------------------------------------- as sigstore-go reads it


def _statement_text(digest: str, **changes: Any) -> str:
    hex_part = digest.partition(":")[2]
    fields = {
        "_type": '"https://in-toto.io/Statement/v1"',
        "subject": f'[{{"digest":{{"sha256":"{hex_part}"}}}}]',
        "predicateType": f'"{P.COSIGN_SIGN}"',
        "predicate": "{}",
    }
    fields.update(changes)
    return "{" + ",".join(f'"{k}":{v}' for k, v in fields.items() if v is not None) + "}"


STATEMENTS: dict[str, tuple[Callable[[str], bytes], str | None]] = {
    # protojson.Unmarshal into in_toto.Statement (sigstore-go's Envelope.Statement)
    "unknown-field": (
        lambda d: _statement_text(d, extra='"x"').encode(),
        "the DSSE payload is not an in-toto statement: unexpected or repeated field 'extra'",
    ),
    "duplicate-field": (
        lambda d: _statement_text(d).replace("{", '{"predicateType":"x",', 1).encode(),
        "the DSSE payload is not an in-toto statement",
    ),
    "byte-order-mark": (
        lambda d: b"\xef\xbb\xbf" + _statement_text(d).encode(),
        "the DSSE payload is not an in-toto statement",
    ),
    "subject-field-unknown": (
        lambda d: _statement_text(
            d, subject=f'[{{"digest":{{"sha256":"{d[7:]}"}},"size":1}}]'
        ).encode(),
        "the DSSE payload is not an in-toto statement: unexpected or repeated field 'size'",
    ),
    "proto-field-names": (
        lambda d: (
            _statement_text(d, predicateType=None, predicate_type=f'"{P.COSIGN_SIGN}"')
            .replace('"_type"', '"type"')
            .encode()
        ),
        None,
    ),
    # verifyEnvelopeWithArtifactDigests: digests compared as bytes, every one must be hex
    "upper-case-hex": (
        lambda d: _statement_text(
            d, subject=f'[{{"digest":{{"sha256":"{d[7:].upper()}"}}}}]'
        ).encode(),
        None,
    ),
    "non-hex-digest-beside-the-right-one": (
        lambda d: _statement_text(
            d, subject=f'[{{"digest":{{"sha256":"{d[7:]}","sha512":"zz"}}}}]'
        ).encode(),
        "a subject's sha512 digest 'zz' is not hex",
    ),
}


@pytest.mark.parametrize("case", sorted(STATEMENTS))
def test_statement_is_read_as_sigstore_go_reads_it(
    case: str, image: PushedImage, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    make, reason = STATEMENTS[case]
    key = P.new_key()
    image.push_bundle(P.sigstore_bundle(pki, image.digest, key, payload=make(image.digest)))

    facts = verify(image, trusted_root, P.key_authority(tmp_path, key))

    if reason is None:
        assert [s.accepted_by for s in facts.signatures] == ["release-key"]
    else:
        assert reasons(facts) == [reason]


@pytest.mark.parametrize(
    ("spelling", "accepted"),
    [
        (lambda text: text.rstrip("="), True),
        (lambda text: text.replace("+", "-").replace("/", "_"), True),
        (lambda text: text[:8] + "\n" + text[8:], False),  # length no longer a multiple of 4
        (lambda text: text[:8] + " " + text[8:], False),
    ],
    ids=["unpadded", "url-safe", "padded-with-a-line-break", "space"],
)
def test_bundle_base64_is_read_as_protojson_reads_bytes(
    spelling: Callable[[str], str],
    accepted: bool,
    image: PushedImage,
    pki: P.TestPKI,
    trusted_root: Path,
    tmp_path: Path,
) -> None:
    key = P.new_key()
    # A payload whose base64 has padding, and '+' or '/', so each spelling changes it.
    payload = P.statement(image.digest, name="registry.test/app?>>>")
    bundle = P.sigstore_bundle(pki, image.digest, key, payload=payload, tlog=False)
    envelope = bundle["dsseEnvelope"]
    assert envelope["payload"].endswith("=") and set("+/") & set(envelope["payload"])
    envelope["payload"] = spelling(envelope["payload"])
    image.push_bundle(bundle)

    facts = verify(image, trusted_root, P.key_authority(tmp_path, key), tlog="optional")

    assert (facts.signatures[0].accepted_by == "release-key") is accepted, reasons(facts)


def _renamed(bundle: dict[str, Any]) -> dict[str, Any]:
    """The same bundle under protobuf's field names, which protojson reads as well."""
    envelope = bundle.pop("dsseEnvelope")
    envelope["payload_type"] = envelope.pop("payloadType")
    bundle["dsse_envelope"] = envelope
    bundle["verification_material"] = bundle.pop("verificationMaterial")
    return bundle


BUNDLE_SHAPES: dict[str, tuple[Callable[[dict[str, Any]], object], str | None]] = {
    "proto-field-names": (_renamed, None),
    "two-contents": (
        lambda b: (
            b | {"messageSignature": {"signature": b["dsseEnvelope"]["signatures"][0]["sig"]}}
        ),
        "the bundle's JSON sets more than one of dsseEnvelope, messageSignature",
    ),
    "unknown-field": (
        lambda b: b | {"extra": 1},
        "the bundle's JSON has an unexpected or repeated field 'extra'",
    ),
    "duplicate-field": (
        lambda b: json.dumps(b).replace("{", '{"mediaType": "x", ', 1).encode(),
        "the bundle is not Sigstore bundle JSON",
    ),
    "version-0.2": (
        lambda b: b | {"mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.2"},
        "the bundle's media type 'application/vnd.dev.sigstore.bundle+json;version=0.2' is not v0.3",
    ),
    "no-key": (
        lambda b: b | {"verificationMaterial": {"tlogEntries": []}},
        "the bundle has no verification material (key or certificate)",
    ),
    "empty-keyid": (
        lambda b: b["dsseEnvelope"]["signatures"][0].update(keyid="") or b,
        None,
    ),
    "keyid": (
        lambda b: b["dsseEnvelope"]["signatures"][0].update(keyid="x") or b,
        "the DSSE signature names a keyid; a public-key verifier has none",
    ),
    "entry-without-inclusion-proof": (
        lambda b: b["verificationMaterial"]["tlogEntries"][0].pop("inclusionProof") and b,
        "a tlog entry has no inclusion proof (required in a v0.3 bundle)",
    ),
}


@pytest.mark.parametrize("case", sorted(BUNDLE_SHAPES))
def test_key_based_bundle_is_read_as_sigstore_go_reads_it(
    case: str, image: PushedImage, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    """protojson (no unknown, repeated or doubly-set fields), then sigstore-go's ``validate``."""
    alter, reason = BUNDLE_SHAPES[case]
    key = P.new_key()
    altered = alter(P.sigstore_bundle(pki, image.digest, key))
    image.push_bundle(altered)  # type: ignore[arg-type]

    facts = verify(image, trusted_root, P.key_authority(tmp_path, key))

    if reason is None:
        assert [s.accepted_by for s in facts.signatures] == ["release-key"]
    else:
        assert reasons(facts) == [reason]
