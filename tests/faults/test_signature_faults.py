"""Fault matrix, signatures: every mutation from the signature tests, through the real CLI.

The mutations themselves are the signature tests' own (``tests/unit/signing/test_signing_legacy.py``,
``tests/unit/signing/test_signing_bundle.py``): each alters one part of a valid cosign signature. Here
each is pushed beside a fresh image in the real loopback registry, and ``gate check`` must
fail (exit 1) naming that part's own reason, on the terminal and in the JSON report.
Unreadable material (bad base64, PEM or JSON; a payload blob that does not match its
digest) is refused with a reason too (exit 1). A trust root the gate cannot load, or a
registry failing while signatures are fetched (served by ``tests/support/fakeregistry.py``),
is an error (exit 2).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gate.signing.bundle import BUNDLE_ARTIFACT_TYPE
from tests.faults.harness import Outcome, Row, base_env, check_row, read_report, run_cli
from tests.support import pki as P
from tests.support import signed
from tests.support.fakeregistry import FakeRegistry, Reply, error_reply, manifest_reply
from tests.support.oci import OCI_INDEX, OCI_MANIFEST, build_image, layer
from tests.support.registry import RunningRegistry
from tests.support.signed import PushedImage
from tests.unit.signing.test_signing_bundle import (
    BUNDLE_SHAPES,
    KEYLESS_REFUSALS,
    STATEMENTS,
    keyless_bundle,
)
from tests.unit.signing.test_signing_legacy import MALFORMED, MUTATIONS, _signed

KEYLESS_POLICY = """\
version: 1
signature:
  trusted_root: {root}
  formats: [{format}]
  authorities:
    - name: github-release
      keyless:
        issuer: {issuer}
        subject_regex: '{subject}'
        github: {{repository: acme/app, ref: refs/heads/main, match_git_sha: true}}
"""


@pytest.fixture(scope="module")
def pki() -> P.TestPKI:
    return P.TestPKI.create("faults")


@pytest.fixture(scope="module")
def trusted_root(pki: P.TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return signed.write_trusted_root(pki, tmp_path_factory)


@pytest.fixture
def image(registry: RunningRegistry, request: pytest.FixtureRequest) -> PushedImage:
    """A distinct image per row, so no row sees another row's signatures."""
    return signed.push_unique_image(registry.host, request, "faults")


def gate(image: PushedImage, tmp_path: Path, trusted_root: Path, fmt: str = "legacy") -> Outcome:
    """``gate check`` under the keyless policy; the JSON report goes to ``tmp_path``."""
    policy = tmp_path / "policy.yml"
    policy.write_text(
        KEYLESS_POLICY.format(
            root=trusted_root, format=fmt, issuer=P.GITHUB_ISSUER, subject=P.SUBJECT_REGEX
        )
    )
    args = ("check", image.reference, "--policy", str(policy), "--git-sha", P.GIT_SHA)
    report = ("--report-json", str(tmp_path / "report.json"))
    return run_cli(*args, *report, env=base_env("", tmp_path))


def refusals(tmp_path: Path) -> list[dict[str, Any]]:
    """The refusals the JSON report gives for the one signature found."""
    (check,) = read_report(tmp_path / "report.json")["checks"]
    assert check["id"] == "signature" and check["status"] == "fail", check
    (signature,) = check["evidence"]["signatures"]
    assert signature["accepted_by"] is None, signature
    found: list[dict[str, Any]] = signature["refusals"]
    return found


def check_refused(outcome: Outcome, row: Row, tmp_path: Path) -> None:
    """Exit 1, the reason on the terminal, and the same reason in the JSON report."""
    check_row(outcome, Row(row.fault, row.exit_code, f"github-release: {row.fragment}"))
    assert outcome.stdout.startswith("FAIL")
    (refusal,) = refusals(tmp_path)
    assert refusal["authority"] == "github-release"
    assert refusal["reason"].startswith(row.fragment), refusal


def test_control_a_valid_keyless_signature_passes(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    image.push_legacy(_signed(pki, image.digest, P.new_key()))
    outcome = gate(image, tmp_path, trusted_root)
    assert outcome.code == 0, outcome.output
    assert "accepted by github-release" in outcome.stdout


def test_control_a_valid_keyless_bundle_passes(
    image: PushedImage, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    image.push_bundle(keyless_bundle(pki, image.digest))
    outcome = gate(image, tmp_path, trusted_root, "bundle")
    assert outcome.code == 0, outcome.output


Make = Callable[[P.TestPKI, str], P.LegacyLayer]


def _mutated(mutate: Callable[[P.TestPKI, str, P.PrivateKey], P.LegacyLayer]) -> Make:
    return lambda pki, digest: mutate(pki, digest, P.new_key())


def _malformed(change: Callable[[P.LegacyLayer], None]) -> Make:
    def make(pki: P.TestPKI, digest: str) -> P.LegacyLayer:
        sig = _signed(pki, digest, P.new_key())
        change(sig)
        return sig

    return make


LEGACY: list[tuple[Row, Make]] = [
    *((Row(f"legacy: {p}", 1, why), _mutated(m)) for p, (m, why) in sorted(MUTATIONS.items())),
    *(
        (Row(f"legacy: malformed {p}", 1, why), _malformed(c))
        for p, (c, why) in sorted(MALFORMED.items())
    ),
]


@pytest.mark.parametrize(("row", "make"), LEGACY, ids=[str(r) for r, _ in LEGACY])
def test_legacy_signature_fault(
    row: Row,
    make: Make,
    image: PushedImage,
    pki: P.TestPKI,
    trusted_root: Path,
    tmp_path: Path,
) -> None:
    image.push_legacy(make(pki, image.digest))
    check_refused(gate(image, tmp_path, trusted_root), row, tmp_path)


BUNDLE: list[tuple[Row, Callable[[P.TestPKI, str], Any]]] = (
    [
        (Row(f"bundle: {case}", 1, reason), make)
        for case, (make, reason) in sorted(KEYLESS_REFUSALS.items())
    ]
    + [
        (
            Row("bundle: not JSON", 1, "the bundle is not Sigstore bundle JSON"),
            lambda pki, digest: b"\x89PNG not a bundle",
        )
    ]
    + [
        (
            Row(f"bundle: statement {case}", 1, reason),
            lambda pki, digest, make=make: keyless_bundle(pki, digest, payload=make(digest)),
        )
        for case, (make, reason) in sorted(STATEMENTS.items())
        if reason is not None
    ]
)


@pytest.mark.parametrize(("row", "make"), BUNDLE, ids=[str(r) for r, _ in BUNDLE])
def test_bundle_signature_fault(
    row: Row,
    make: Callable[[P.TestPKI, str], Any],
    image: PushedImage,
    pki: P.TestPKI,
    trusted_root: Path,
    tmp_path: Path,
) -> None:
    image.push_bundle(make(pki, image.digest))
    check_refused(gate(image, tmp_path, trusted_root, "bundle"), row, tmp_path)


KEY_POLICY = """\
version: 1
signature:
  tlog: optional
  formats: [bundle]
  authorities:
    - name: release-key
      key: {key}
"""

KEY_BUNDLE: list[tuple[Row, Callable[[dict[str, Any]], object]]] = [
    (Row(f"key-based bundle: {case}", 1, reason), alter)
    for case, (alter, reason) in sorted(BUNDLE_SHAPES.items())
    if reason is not None
]


@pytest.mark.parametrize(("row", "alter"), KEY_BUNDLE, ids=[str(r) for r, _ in KEY_BUNDLE])
def test_key_based_bundle_fault(
    row: Row,
    alter: Callable[[dict[str, Any]], object],
    image: PushedImage,
    pki: P.TestPKI,
    tmp_path: Path,
) -> None:
    """Bundles sigstore-go would not read (so neither would ``cosign verify``) are refused."""
    key = P.new_key()
    image.push_bundle(alter(P.sigstore_bundle(pki, image.digest, key)))  # type: ignore[arg-type]
    public = tmp_path / "release.pub"
    public.write_bytes(P.public_pem(key))
    policy = tmp_path / "policy.yml"
    policy.write_text(KEY_POLICY.format(key=public))
    report = ("--report-json", str(tmp_path / "report.json"))
    outcome = run_cli(
        "check", image.reference, "--policy", str(policy), *report, env=base_env("", tmp_path)
    )
    check_row(outcome, Row(row.fault, row.exit_code, f"release-key: {row.fragment}"))
    (refusal,) = refusals(tmp_path)
    assert refusal["reason"] == row.fragment, refusal


def test_an_unsigned_image_fails(image: PushedImage, trusted_root: Path, tmp_path: Path) -> None:
    outcome = gate(image, tmp_path, trusted_root)
    check_row(outcome, Row("no signature", 1, "no cosign signature found; looked in"))


def test_a_signature_by_an_untrusted_authority_fails(
    image: PushedImage, trusted_root: Path, tmp_path: Path
) -> None:
    stranger = P.TestPKI.create("stranger")
    image.push_legacy(_signed(stranger, image.digest, P.new_key()))
    outcome = gate(image, tmp_path, trusted_root)
    check_refused(outcome, Row("untrusted PKI", 1, "unknown Rekor logID"), tmp_path)


UNLOADABLE_TRUST_ROOTS = {
    "trust root not JSON": '{"mediaType": "application/vnd.dev.sigstore.trustedroot+json"',
    "trust root nested 100,000 deep": '{"tlogs": ' + "[" * 100_000 + "]" * 100_000 + "}",
}


@pytest.mark.parametrize("fault", sorted(UNLOADABLE_TRUST_ROOTS))
def test_a_trust_root_the_gate_cannot_load_is_an_error(
    fault: str, image: PushedImage, pki: P.TestPKI, tmp_path: Path
) -> None:
    image.push_legacy(_signed(pki, image.digest, P.new_key()))
    broken = tmp_path / "trusted_root.json"
    broken.write_text(UNLOADABLE_TRUST_ROOTS[fault])
    outcome = gate(image, tmp_path, broken)
    check_row(outcome, Row(fault, 2, "trusted_root.json is invalid"))
    assert outcome.stdout.startswith("ERROR")


# ------------------------------------------------ a registry failing while signatures are fetched

SERVED = build_image([layer({"app/id.txt": b"served by the fault-injecting registry"})])
SIG_TAG = f"/v2/app/manifests/{P.sig_tag(SERVED.digest)}"
DENIED = error_reply(403, "DENIED", "requested access to the resource is denied")


def _legacy_served(pki: P.TestPKI, fake: FakeRegistry, *, payload: Reply | None = None) -> None:
    """A valid keyless ``.sig`` manifest; its payload blob answers ``payload`` if given."""
    sig = _signed(pki, SERVED.digest, P.new_key())
    manifest, blobs = P.signature_manifest([sig])
    fake.script(SIG_TAG, manifest_reply(manifest, OCI_MANIFEST))
    for digest, blob in blobs.items():
        served = payload if payload is not None and blob == sig.payload else Reply(200, blob)
        fake.script(f"/v2/app/blobs/{digest}", served)


def _without_payload(pki: P.TestPKI, fake: FakeRegistry) -> None:
    _legacy_served(pki, fake, payload=error_reply(404, "BLOB_UNKNOWN", "blob unknown"))


SIGNATURE_REGISTRY_FAULTS: list[tuple[Row, str, Callable[[P.TestPKI, FakeRegistry], None]]] = [
    (
        Row("legacy .sig tag denied (403)", 2, "access denied to {host}/app:sha256-"),
        "legacy",
        lambda pki, fake: fake.script(SIG_TAG, DENIED),
    ),
    (Row("signature payload blob missing", 2, "blob not found"), "legacy", _without_payload),
    (
        Row("referrers API denied (403)", 2, "access denied to referrers of {host}/app@sha256:"),
        "bundle",
        lambda pki, fake: fake.script(f"/v2/app/referrers/{SERVED.digest}", DENIED),
    ),
    (
        Row("referrers fallback index denied (403)", 2, "access denied to {host}/app:sha256-"),
        "bundle",
        lambda pki, fake: fake.script(
            f"/v2/app/manifests/{SERVED.digest.replace(':', '-')}", DENIED
        ),
    ),
]


@pytest.mark.parametrize(
    ("row", "fmt", "inject"),
    SIGNATURE_REGISTRY_FAULTS,
    ids=[str(r) for r, _, _ in SIGNATURE_REGISTRY_FAULTS],
)
def test_registry_error_while_fetching_signatures(
    row: Row,
    fmt: str,
    inject: Callable[[P.TestPKI, FakeRegistry], None],
    pki: P.TestPKI,
    trusted_root: Path,
    tmp_path: Path,
) -> None:
    with FakeRegistry() as fake:
        fake.serve_image("app", "v1", SERVED.manifest, SERVED.media_type, SERVED.blobs)
        inject(pki, fake)
        outcome = gate(PushedImage(fake.host, "app", SERVED.digest), tmp_path, trusted_root, fmt)
    check_row(outcome, Row(row.fault, row.exit_code, row.fragment.format(host=fake.host)))
    assert outcome.stdout.startswith(f"ERROR  {fake.host}/app@{SERVED.digest}")
    (check,) = read_report(tmp_path / "report.json")["checks"]
    assert check["status"] == "error"


def test_signature_blob_not_matching_its_digest_is_refused_with_a_reason(
    pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    """Tampered material is that signature's refusal (exit 1), not a registry error."""
    with FakeRegistry() as fake:
        fake.serve_image("app", "v1", SERVED.manifest, SERVED.media_type, SERVED.blobs)
        _legacy_served(pki, fake, payload=Reply(200, b'{"critical": "tampered"}'))
        outcome = gate(PushedImage(fake.host, "app", SERVED.digest), tmp_path, trusted_root)
    row = Row("payload blob not matching its digest", 1, "unreadable signature: the blob does")
    check_refused(outcome, row, tmp_path)


def test_a_sig_manifest_that_is_not_json_is_refused_with_a_reason(
    trusted_root: Path, tmp_path: Path
) -> None:
    """Content the registry served but that fails its checks refuses the signature (exit 1)."""
    with FakeRegistry() as fake:
        fake.serve_image("app", "v1", SERVED.manifest, SERVED.media_type, SERVED.blobs)
        fake.script(SIG_TAG, manifest_reply(b"<html>", OCI_MANIFEST))
        outcome = gate(PushedImage(fake.host, "app", SERVED.digest), tmp_path, trusted_root)
    row = Row(".sig manifest that is not JSON", 1, "unreadable signature: the manifest for")
    check_refused(outcome, row, tmp_path)


def test_a_junk_referrer_does_not_hide_a_valid_legacy_signature(
    pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    junk = b"<html>not a manifest</html>"
    junk_digest = "sha256:" + hashlib.sha256(junk).hexdigest()
    referrers = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": junk_digest,
                "size": len(junk),
                "artifactType": BUNDLE_ARTIFACT_TYPE,
            }
        ],
    }
    with FakeRegistry() as fake:
        fake.serve_image("app", "v1", SERVED.manifest, SERVED.media_type, SERVED.blobs)
        _legacy_served(pki, fake)
        index = json.dumps(referrers).encode()
        fake.script(f"/v2/app/referrers/{SERVED.digest}", manifest_reply(index, OCI_INDEX))
        fake.script(f"/v2/app/manifests/{junk_digest}", manifest_reply(junk, OCI_MANIFEST))
        image = PushedImage(fake.host, "app", SERVED.digest)
        outcome = gate(image, tmp_path, trusted_root, "bundle, legacy")
    assert outcome.code == 0, outcome.output
    assert "Traceback" not in outcome.output


def test_control_the_served_signature_passes(
    pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    with FakeRegistry() as fake:
        fake.serve_image("app", "v1", SERVED.manifest, SERVED.media_type, SERVED.blobs)
        _legacy_served(pki, fake)
        outcome = gate(PushedImage(fake.host, "app", SERVED.digest), tmp_path, trusted_root)
    assert outcome.code == 0, outcome.output
