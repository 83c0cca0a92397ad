"""Legacy cosign signatures (``sha256-<hex>.sig``), signed by the tests' own PKI, pushed to
the real loopback registry and verified natively; then each part is altered in turn and must
be refused for its own reason."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support import pki as P
from tests.support import signed
from tests.support.registry import RunningRegistry
from tests.support.signed import PushedImage, reasons


@pytest.fixture(scope="module")
def pki() -> P.TestPKI:
    return P.TestPKI.create()


@pytest.fixture(scope="module")
def trusted_root(pki: P.TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return signed.write_trusted_root(pki, tmp_path_factory)


@pytest.fixture
def image(signature_registry: RunningRegistry, request: pytest.FixtureRequest) -> PushedImage:
    return signed.push_unique_image(signature_registry.host, request, "signed")


verify = partial(signed.verify, formats=("legacy",))


def _signed(
    pki: P.TestPKI, digest: str, key: P.PrivateKey, *, tlog: bool = True, **cert: Any
) -> P.LegacyLayer:
    """A keyless signature by the release workflow (``cert`` changes its certificate)."""
    claims = {**P.GITHUB_CLAIMS, **cert.pop("github", {})}
    certificate = pki.fulcio_certificate(key, github=claims, **cert)
    return P.legacy_signature(pki, digest, key, cert=certificate, tlog=tlog)


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize("kind", ["p256", "p384", "rsa", "ed25519"])
def test_key_based_signature_with_rekor_bundle_is_accepted(
    kind: str, image: PushedImage, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    key = P.new_key(kind)
    image.push_legacy(P.legacy_signature(pki, image.digest, key))

    facts = verify(image, trusted_root, P.key_authority(tmp_path, key))

    assert [(s.format, s.accepted_by) for s in facts.signatures] == [("legacy", "release-key")]
    assert facts.signatures[0].where.endswith(f"{image.digest.replace(':', '-')}.sig layer 0")
    assert facts.looked_in == (f"{image.name}:{image.digest.replace(':', '-')}.sig",)


def test_key_based_signature_without_bundle_passes_when_tlog_is_optional(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    key = P.new_key()
    sig = P.legacy_signature(pki, image.digest, key, tlog=False)
    image.push_legacy(sig)

    optional = verify(image, trusted_root, P.key_authority(tmp_path, key), tlog="optional")
    required = verify(image, trusted_root, P.key_authority(tmp_path, key), tlog="required")

    assert optional.signatures[0].accepted_by == "release-key"
    assert required.signatures[0].accepted_by is None
    assert reasons(required) == ["no tlog entry while one is required"]


@pytest.mark.parametrize(
    ("tlog", "attached", "reason"),
    [
        (False, "junk", "the certificate annotation is not a PEM certificate"),
        (False, "expired", "certificate expired at the current time (no tlog entry"),
        (True, "valid", None),
        (True, "expired", "certificate expired at integratedTime"),
    ],
)
def test_key_based_signature_with_a_certificate_attached_needs_it_valid_as_cosign(
    tlog: bool,
    attached: str,
    reason: str | None,
    image: PushedImage,
    pki: P.TestPKI,
    trusted_root: Path,
    tmp_path: Path,
) -> None:
    """cosign reads the certificate annotation and checks its expiry even when a key verified
    the signature (``verifyInternal``); the test certificates live ten minutes."""
    key = P.new_key()
    sig = P.legacy_signature(pki, image.digest, key, tlog=tlog)
    cert = pki.fulcio_certificate(key, github=P.GITHUB_CLAIMS)
    expired = pki.fulcio_certificate(key, not_before=P.SIGNED_AT - timedelta(days=1))
    pem = {"junk": b"junk", "valid": P.pem(cert), "expired": P.pem(expired)}[attached]
    sig.annotations["dev.sigstore.cosign/certificate"] = pem.decode()
    image.push_legacy(sig)

    facts = verify(image, trusted_root, P.key_authority(tmp_path, key), tlog="optional")

    if reason is None:
        assert facts.signatures[0].accepted_by == "release-key"
    else:
        (refusal,) = reasons(facts)
        assert refusal.startswith(reason)


def test_keyless_signature_from_the_release_workflow_is_accepted(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path
) -> None:
    image.push_legacy(_signed(pki, image.digest, P.new_key()))

    facts = verify(image, trusted_root, P.keyless_authority())

    assert facts.signatures[0].accepted_by == "github-release"
    assert facts.signatures[0].refusals == ()


def test_issuer_falls_back_to_the_v1_extension(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path
) -> None:
    image.push_legacy(_signed(pki, image.digest, P.new_key(), issuer_v1_only=True))

    assert verify(image, trusted_root, P.keyless_authority()).signatures[0].accepted_by


def test_any_authority_accepting_any_signature_is_enough(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    stranger, release = P.new_key(), P.new_key()
    signatures = [
        P.legacy_signature(pki, image.digest, stranger),
        P.legacy_signature(pki, image.digest, release),
    ]
    image.push_legacy(*signatures)

    facts = verify(image, trusted_root, P.keyless_authority(), P.key_authority(tmp_path, release))

    first, second = facts.signatures
    assert first.accepted_by is None
    assert [r.authority for r in first.refusals] == ["github-release", "release-key"]
    assert first.refusals[1].reason.startswith("wrong key")
    assert second.accepted_by == "release-key"
    assert second.refusals[0].reason.startswith("no certificate")


# --------------------------------------------------------------------------- each part altered


Mutation = Callable[[P.TestPKI, str, P.PrivateKey], P.LegacyLayer]


def _payload(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    sig = _signed(pki, digest, key)
    sig.payload = P.simple_signing_payload(digest, reference="evil.test/app")
    return sig


def _digest(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    other = "sha256:" + "0" * 64
    cert = pki.fulcio_certificate(key, github=P.GITHUB_CLAIMS)
    payload = P.simple_signing_payload(other)
    return P.legacy_signature(pki, digest, key, cert=cert, payload=payload)


def _signature(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    sig = _signed(pki, digest, key)
    forged = P.sign(key, b"something else entirely")
    sig.annotations["dev.cosignproject.cosign/signature"] = P.b64(forged)
    P.resign_entry(pki, sig)
    return sig


def _certificate(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    rogue_key = P.new_key("p384")
    rogue = P.ca_certificate("rogue-ca", rogue_key, None, pki.valid_from)
    cert = pki.fulcio_certificate(key, github=P.GITHUB_CLAIMS, ca=(rogue_key, rogue))
    return P.legacy_signature(pki, digest, key, cert=cert, chain=[rogue])


def _san(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    evil = "https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main"
    return _signed(pki, digest, key, subject=evil)


def _issuer(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    return _signed(pki, digest, key, issuer="https://accounts.example.com")


def _set(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    sig = _signed(pki, digest, key)
    bundle = json.loads(sig.annotations["dev.sigstore.cosign/bundle"])
    raw = bytearray(base64.b64decode(bundle["SignedEntryTimestamp"]))
    raw[-1] ^= 0x01
    bundle["SignedEntryTimestamp"] = P.b64(bytes(raw))
    sig.annotations["dev.sigstore.cosign/bundle"] = json.dumps(bundle)
    return sig


def _log_id(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    sig = _signed(pki, digest, key)
    P.resign_entry(pki, sig, log_id_override=bytes(range(32)))
    return sig


def _late(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    sig = _signed(pki, digest, key)
    P.resign_entry(pki, sig, integrated_time=P.SIGNED_AT + timedelta(hours=1))
    return sig


def _early(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    sig = _signed(pki, digest, key)
    P.resign_entry(pki, sig, integrated_time=P.SIGNED_AT - timedelta(minutes=5))
    return sig


def _repository(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    return _signed(pki, digest, key, github={"repository": "acme/fork"})


def _repository_elsewhere(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    return _signed(pki, digest, key, github={"repository": "https://gitlab.com/acme/app"})


def _ref(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    return _signed(pki, digest, key, github={"ref": "refs/heads/feature"})


def _commit(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    return _signed(pki, digest, key, github={"sha": "0" * 40})


def _no_sct(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    return _signed(pki, digest, key, sct=False)


def _foreign_sct(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    return _signed(pki, digest, key, ct_key=P.new_key())


def _no_code_signing(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    return _signed(pki, digest, key, code_signing=False)


def _entry_for_other_cert(pki: P.TestPKI, digest: str, key: P.PrivateKey) -> P.LegacyLayer:
    sig = _signed(pki, digest, key)
    other = pki.fulcio_certificate(key, github=P.GITHUB_CLAIMS)
    bundle_for_other = P.legacy_signature(pki, digest, key, cert=other)
    signature = bundle_for_other.annotations["dev.cosignproject.cosign/signature"]
    sig.annotations["dev.cosignproject.cosign/signature"] = signature
    sig.annotations["dev.sigstore.cosign/bundle"] = bundle_for_other.annotations[
        "dev.sigstore.cosign/bundle"
    ]
    return sig


MUTATIONS: dict[str, tuple[Mutation, str]] = {
    "payload": (_payload, "the tlog entry's hash does not match the payload"),
    "digest": (_digest, "digest mismatch: the payload signs sha256:0000"),
    "signature": (_signature, "the signature does not verify with the certificate's key"),
    "certificate": (_certificate, "certificate does not chain to a trusted Fulcio CA"),
    "san": (_san, "subject 'https://github.com/evil/app/.github/workflows/release.yml@"),
    "issuer": (
        _issuer,
        "issuer mismatch: issuer 'https://accounts.example.com' is not "
        "'https://token.actions.githubusercontent.com'",
    ),
    "set": (_set, "SET invalid: it does not verify under Rekor key https://rekor.test.invalid"),
    "log-id": (_log_id, "unknown Rekor logID 000102030405"),
    "integrated-time-after-expiry": (_late, "certificate expired at integratedTime 2025-03-01T13"),
    "integrated-time-before-issue": (_early, "certificate not yet valid at integratedTime"),
    "github-repository": (_repository, "GitHub repository 'acme/fork' is not 'acme/app'"),
    "github-repository-on-another-host": (
        _repository_elsewhere,
        "GitHub repository 'https://gitlab.com/acme/app' is not 'acme/app'",
    ),
    "github-ref": (_ref, "GitHub ref 'refs/heads/feature' is not 'refs/heads/main'"),
    "git-sha": (_commit, "source commit '0000000000000000000000000000000000000000' is not"),
    "no-sct": (_no_sct, "no SCT: the certificate embeds no signed certificate timestamp"),
    "foreign-sct": (_foreign_sct, "SCT from unknown CT log"),
    "eku": (_no_code_signing, "certificate lacks the code-signing extended key usage"),
    "tlog-entry-certificate": (
        _entry_for_other_cert,
        "the tlog entry's certificate is not this certificate",
    ),
}


def test_every_mutation_has_its_own_reason() -> None:
    expected = [reason for _, reason in MUTATIONS.values()]
    assert len(set(expected)) == len(expected)


@pytest.mark.parametrize("part", sorted(MUTATIONS))
def test_altered_part_is_refused_for_its_own_reason(
    part: str, image: PushedImage, pki: P.TestPKI, trusted_root: Path
) -> None:
    mutate, expected = MUTATIONS[part]
    image.push_legacy(mutate(pki, image.digest, P.new_key()))

    facts = verify(image, trusted_root, P.keyless_authority())

    (signature,) = facts.signatures
    assert signature.accepted_by is None
    (refusal,) = signature.refusals
    assert refusal.authority == "github-release"
    assert refusal.reason.startswith(expected), refusal.reason


def test_exact_subject_mismatch_names_both(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path
) -> None:
    image.push_legacy(_signed(pki, image.digest, P.new_key()))

    wanted = "https://github.com/acme/app/.github/workflows/other.yml@refs/heads/main"
    facts = verify(image, trusted_root, P.keyless_authority(subject_regex=None, subject=wanted))

    assert reasons(facts) == [f"subject {P.WORKFLOW!r} is not {wanted!r}"]


def test_match_git_sha_without_a_known_sha_is_refused(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path
) -> None:
    image.push_legacy(_signed(pki, image.digest, P.new_key()))

    facts = verify(image, trusted_root, P.keyless_authority(), git_sha=None)

    assert reasons(facts) == ["no git SHA is known to compare with the certificate's source commit"]


def test_keyless_without_tlog_is_checked_now_and_has_expired(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path
) -> None:
    image.push_legacy(_signed(pki, image.digest, P.new_key(), tlog=False))

    facts = verify(image, trusted_root, P.keyless_authority(), tlog="optional")

    (reason,) = reasons(facts)
    assert reason.startswith("certificate expired at the current time (no tlog entry")


def test_wrong_key_is_refused(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    image.push_legacy(P.legacy_signature(pki, image.digest, P.new_key()))

    facts = verify(image, trusted_root, P.key_authority(tmp_path, P.new_key()))

    assert reasons(facts) == ["wrong key: the signature does not verify under release-key's key"]


def test_key_based_tlog_entry_for_another_key_is_refused(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    key = P.new_key()
    sig = P.legacy_signature(pki, image.digest, key)
    P.resign_entry(pki, sig, verifier_pem=P.public_pem(P.new_key()))
    image.push_legacy(sig)

    facts = verify(image, trusted_root, P.key_authority(tmp_path, key))

    assert reasons(facts) == ["the tlog entry's key is not this key"]


# --------------------------------------------------------------------------- malformed material


def _with(annotation: str, value: str) -> Callable[[P.LegacyLayer], None]:
    def change(sig: P.LegacyLayer) -> None:
        sig.annotations[annotation] = value

    return change


MALFORMED: dict[str, tuple[Callable[[P.LegacyLayer], None], str]] = {
    "signature-base64": (
        _with("dev.cosignproject.cosign/signature", "%%% not base64 %%%"),
        "the signature annotation is not valid base64",
    ),
    "certificate-pem": (
        _with("dev.sigstore.cosign/certificate", "-----BEGIN CERTIFICATE-----\ngarbage\n"),
        "the certificate annotation is not a PEM certificate",
    ),
    "chain-pem": (
        _with(
            "dev.sigstore.cosign/chain",
            "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n",
        ),
        "the chain annotation is not a PEM certificate chain",
    ),
    "bundle-json": (
        _with("dev.sigstore.cosign/bundle", "{not json"),
        "the Rekor bundle annotation is not valid JSON",
    ),
}


@pytest.mark.parametrize("part", sorted(MALFORMED))
def test_malformed_material_is_refused_not_a_crash(
    part: str, image: PushedImage, pki: P.TestPKI, trusted_root: Path
) -> None:
    change, expected = MALFORMED[part]
    sig = _signed(pki, image.digest, P.new_key())
    change(sig)
    image.push_legacy(sig)

    (reason,) = reasons(verify(image, trusted_root, P.keyless_authority()))

    assert reason.startswith(expected), reason


def test_signed_payload_that_is_not_json_is_refused(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    key = P.new_key()
    image.push_legacy(P.legacy_signature(pki, image.digest, key, payload=b"\x00 not json"))

    facts = verify(image, trusted_root, P.key_authority(tmp_path, key))

    assert reasons(facts) == ["the payload is not a simple-signing JSON document"]


def test_layers_of_other_media_types_are_not_signatures(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    key = P.new_key()
    sig = P.legacy_signature(pki, image.digest, key)
    sig.media_type = "text/plain"
    image.push_legacy(sig)

    facts = verify(image, trusted_root, P.key_authority(tmp_path, key))

    assert facts.signatures == ()


# --------------------------------------------------------------------------- hostile material

ANNOTATIONS = [
    "dev.cosignproject.cosign/signature",
    "dev.sigstore.cosign/certificate",
    "dev.sigstore.cosign/chain",
    "dev.sigstore.cosign/bundle",
]
_garbage = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200).map(P.b64),
    st.binary(max_size=200).map(lambda b: "-----BEGIN CERTIFICATE-----\n" + P.b64(b) + "\n"),
    st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8)).map(json.dumps),
)


@given(
    part=st.sampled_from([*ANNOTATIONS, "payload"]),
    garbage=_garbage,
    keyless=st.booleans(),
)
def test_hostile_material_is_refused_never_accepted_nor_crashing(
    part: str, garbage: str, keyless: bool, pki: P.TestPKI, trusted_root: Path
) -> None:
    from gate.signing.authority import Context, KeyAuthority, KeylessAuthority, Verifier
    from gate.signing.discover import Found
    from gate.signing.identity import IdentityPolicy
    from gate.signing.keys import load_pem_public_key
    from gate.signing.legacy import LegacySignature
    from gate.signing.verify import judge

    digest = "sha256:" + "e" * 64
    key = P.new_key()
    sig = _signed(pki, digest, key) if keyless else P.legacy_signature(pki, digest, key)
    if part == "payload":
        sig.payload = garbage.encode()
    else:
        sig.annotations[part] = garbage
    authorities: list[Verifier] = [
        KeyAuthority("release-key", load_pem_public_key(P.public_pem(key), "key")),
        KeylessAuthority("github-release", IdentityPolicy(P.github_identity(), P.GIT_SHA)),
    ]
    ctx = Context(digest, tlog_required=True, now=P.SIGNED_AT, trusted_root=trusted_root)
    found = Found("legacy", "here", legacy=LegacySignature(sig.payload, sig.annotations))

    evidence = judge(found, authorities, ctx)

    if evidence.accepted_by is not None:
        # Only parts that do not matter may pass: a key authority ignores the certificate and
        # chain, and an empty chain is fine since the trust root holds the intermediate.
        irrelevant = part in ("dev.sigstore.cosign/certificate", "dev.sigstore.cosign/chain")
        assert (irrelevant and not keyless) or (part.endswith("/chain") and not garbage)
    else:
        assert len(evidence.refusals) == 2
        assert all(r.reason for r in evidence.refusals)


@pytest.mark.parametrize(
    ("unset", "reason"),
    [
        ({"issuer": None}, "the authority names no issuer (issuer or issuer_regex)"),
        ({"subject_regex": None}, "the authority names no subject (subject or subject_regex)"),
    ],
)
def test_keyless_authority_without_issuer_or_subject_accepts_nobody(
    unset: dict[str, Any], reason: str, image: PushedImage, pki: P.TestPKI, trusted_root: Path
) -> None:
    image.push_legacy(_signed(pki, image.digest, P.new_key()))

    assert reasons(verify(image, trusted_root, P.keyless_authority(**unset))) == [reason]


@pytest.mark.parametrize(
    "spoil",
    [
        lambda payload: b"\xef\xbb\xbf" + payload,
        lambda payload: payload[:-1] + b',"n":NaN}',
        lambda payload: payload[:-1] + b',"n":1e400}',
        lambda payload: payload.decode().encode("utf-16"),
    ],
    ids=["byte-order-mark", "nan", "beyond-float64", "utf-16"],
)
def test_payload_json_that_go_cannot_read_is_refused(
    spoil: Callable[[bytes], bytes],
    image: PushedImage,
    pki: P.TestPKI,
    trusted_root: Path,
    tmp_path: Path,
) -> None:
    """cosign's claim check is Go's ``json.Unmarshal``, which refuses these; Python's
    ``json.loads`` would read each of them."""
    key = P.new_key()
    payload = spoil(P.simple_signing_payload(image.digest))
    image.push_legacy(P.legacy_signature(pki, image.digest, key, payload=payload, tlog=False))

    facts = verify(image, trusted_root, P.key_authority(tmp_path, key), tlog="optional")

    assert reasons(facts) == ["the payload is not a simple-signing JSON document"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda body: body.pop("apiVersion"), "the tlog entry's apiVersion None is not 0.0.1"),
        (
            lambda body: body.update(apiVersion="0.0.2"),
            "the tlog entry's apiVersion '0.0.2' is not 0.0.1",
        ),
        (
            lambda body: body["spec"]["data"]["hash"].update(
                value=body["spec"]["data"]["hash"]["value"].upper()
            ),
            "the tlog entry's hash does not match the payload",
        ),
    ],
    ids=["no-api-version", "api-version-0.0.2", "upper-case-hash"],
)
def test_tlog_entry_body_is_read_as_cosign_reads_it(
    change: Callable[[dict[str, Any]], object],
    reason: str,
    image: PushedImage,
    pki: P.TestPKI,
    trusted_root: Path,
    tmp_path: Path,
) -> None:
    """Rekor knows hashedrekord at v0.0.1 only (cosign v2.6.5 crashes on a body without an
    apiVersion), and cosign's ``VerifyBundle`` compares the payload hash as written."""
    key = P.new_key()
    sig = P.legacy_signature(pki, image.digest, key, tlog=False)
    signature = base64.b64decode(sig.annotations["dev.cosignproject.cosign/signature"])
    body = json.loads(P.hashedrekord_body(sig.payload, signature, P.public_pem(key)))
    change(body)
    entry = pki.rekor_entry(json.dumps(body).encode())
    sig.annotations["dev.sigstore.cosign/bundle"] = json.dumps(entry)
    image.push_legacy(sig)

    facts = verify(image, trusted_root, P.key_authority(tmp_path, key))

    assert reasons(facts) == [reason]


LEGACY_BUNDLE = {
    "SignedEntryTimestamp": base64.b64encode(b"set").decode(),
    "Payload": {
        "body": base64.b64encode(b"{}").decode(),
        "integratedTime": 1796409522,
        "logIndex": 7,
        "logID": "ab" * 32,
    },
}


@pytest.mark.parametrize("field", ["integratedTime", "logIndex"])
@pytest.mark.parametrize("value", ["1796409522", 1796409522.0, True, 2**63, "١٢"], ids=repr)
def test_a_legacy_bundle_integer_is_a_json_int64_as_go_reads_it(field: str, value: object) -> None:
    """cosign reads the annotation into ``RekorPayload`` with ``encoding/json``: a string,
    a fraction, a boolean or a number past int64 is refused there (found by the differential)."""
    from gate.signing import Refused
    from gate.signing.tlog import parse_legacy_bundle

    assert parse_legacy_bundle(json.dumps(LEGACY_BUNDLE)).integrated_time == 1796409522
    document = json.loads(json.dumps(LEGACY_BUNDLE))
    document["Payload"][field] = value
    with pytest.raises(Refused, match=f"{field} is not an integer"):
        parse_legacy_bundle(json.dumps(document))


@pytest.mark.parametrize(("value", "read"), [("17", 17), (17, 17), ("١٧", None), ("-1", None)])
def test_a_bundle_tlog_integer_may_be_a_protobuf_json_string_of_ascii_digits(
    value: object, read: int | None
) -> None:
    from gate.signing import Refused
    from gate.signing.tlog import parse_bundle_entry

    entry = {
        "canonicalizedBody": base64.b64encode(b"{}").decode(),
        "integratedTime": value,
        "logIndex": "1",
        "logId": {"keyId": base64.b64encode(b"k").decode()},
    }
    if read is None:
        with pytest.raises(Refused, match="integratedTime is not an integer"):
            parse_bundle_entry(entry)
    else:
        assert parse_bundle_entry(entry).integrated_time == read
