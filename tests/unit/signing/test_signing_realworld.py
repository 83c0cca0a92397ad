"""Conformance with signatures made by real cosign releases (../shared/realworld/cosign).

Each containers/image ``dir:`` fixture is served by a small read-only registry exactly as a
registry would hold it; the README's table says which must verify and which must fail. The
keyless fixtures expired in 2023, so they only verify because the gate checks certificates
at the Rekor integratedTime. Skipped when ../shared is absent.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gate.checks.signature import SignatureCheck
from gate.errors import RegistryError
from gate.image.registry import RegistryClient
from gate.model import Facts, SignatureFacts, Status, Subject
from gate.policy.model import Authority, KeylessIdentity, Policy, SignaturePolicy
from gate.signing.verify import gather_signatures
from tests.support.oci import OCI_INDEX, OCI_MANIFEST
from tests.support.paths import REPO_ROOT
from tests.support.staticregistry import StaticRegistry

REALWORLD = REPO_ROOT.parent / "shared" / "realworld" / "cosign"
FIXTURES = REALWORLD / "containers-image"
PUBLIC_GOOD = REALWORLD / "trusted_root_public_good.json"
BUNDLE = REALWORLD / "sigstore-bundle"

pytestmark = [
    pytest.mark.realworld,
    pytest.mark.skipif(not REALWORLD.is_dir(), reason="../shared/realworld is absent"),
]

COSIGN = Authority("cosign.pub", key=FIXTURES / "cosign.pub")
COSIGN2 = Authority("cosign2.pub", key=FIXTURES / "cosign2.pub")
MITR = Authority(
    "mitr",
    keyless=KeylessIdentity(issuer="https://github.com/login/oauth", subject="mitr@redhat.com"),
)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[StaticRegistry, dict[str, str | None]]]:
    """Every fixture folder in its own repository; maps folder → image digest (or None)."""
    with StaticRegistry() as registry:
        digests = {
            folder.name: registry.add_dir_signatures(folder.name, folder)
            for folder in sorted(FIXTURES.glob("dir-img-*"))
        }
        yield registry, digests


def verify(
    served: tuple[StaticRegistry, dict[str, str | None]],
    folder: str,
    *authorities: Authority,
    tlog: str = "optional",
    trusted_root: Path | None = PUBLIC_GOOD,
) -> SignatureFacts:
    registry, digests = served
    digest = digests[folder]
    assert digest is not None
    name = f"{registry.host}/{folder}"
    policy = SignaturePolicy(
        authorities=authorities,
        tlog=tlog,  # type: ignore[arg-type]
        trusted_root=trusted_root,
    )
    return gather_signatures(Subject(f"{name}:latest", digest, repository=name), policy)


def outcomes(facts: SignatureFacts) -> list[Any]:
    return [s.accepted_by or [r.reason for r in s.refusals] for s in facts.signatures]


def judged(facts: SignatureFacts, authorities: tuple[Authority, ...]) -> Status:
    policy = Policy(source="test", signature=SignaturePolicy(authorities=authorities))
    subject = Subject("fixture", "sha256:" + "0" * 64)
    result = SignatureCheck().evaluate(policy, Facts(subject, now=None, signatures=facts))  # type: ignore[arg-type]
    return result.status


@pytest.mark.parametrize("folder", ["dir-img-cosign-valid", "dir-img-cosign-valid-with-tag"])
def test_key_based_fixture_verifies_with_cosign_pub_only(folder: str, served: Any) -> None:
    assert outcomes(verify(served, folder, COSIGN)) == ["cosign.pub"]
    (refusal,) = outcomes(verify(served, folder, COSIGN2))
    assert refusal == ["wrong key: the signature does not verify under cosign2.pub's key"]


def test_key_based_fixture_without_rekor_bundle_fails_when_tlog_is_required(served: Any) -> None:
    facts = verify(served, "dir-img-cosign-valid", COSIGN, tlog="required")
    assert outcomes(facts) == [["no tlog entry while one is required"]]
    assert judged(facts, (COSIGN,)) is Status.FAIL


def test_two_valid_signatures_both_verify(served: Any) -> None:
    assert outcomes(verify(served, "dir-img-cosign-valid-2", COSIGN)) == ["cosign.pub"] * 2


def test_one_good_signature_among_unknown_ones_passes(served: Any) -> None:
    facts = verify(served, "dir-img-cosign-mixed", COSIGN)
    assert outcomes(facts) == [
        ["wrong key: the signature does not verify under cosign.pub's key"],
        "cosign.pub",
    ]
    assert judged(facts, (COSIGN,)) is Status.PASS


@pytest.mark.parametrize("trusted_root", [PUBLIC_GOOD, None], ids=["file", "shipped-default"])
@pytest.mark.parametrize(
    ("folder", "authority"),
    [
        ("dir-img-cosign-key-rekor-valid", COSIGN2),
        # The certificate expired in 2023: it verifies at the Rekor integratedTime.
        ("dir-img-cosign-fulcio-rekor-valid", MITR),
    ],
    ids=["key-with-rekor-set", "expired-keyless-at-its-integrated-time"],
)
def test_rekor_backed_fixture_verifies_under_the_public_good_root(
    folder: str, authority: Authority, trusted_root: Path | None, served: Any
) -> None:
    facts = verify(served, folder, authority, tlog="required", trusted_root=trusted_root)
    assert outcomes(facts) == [authority.name]


@pytest.mark.parametrize(
    ("identity", "reason"),
    [
        (
            KeylessIdentity(issuer="https://github.com/login/oauth", subject="someone@example.com"),
            "subject 'mitr@redhat.com' is not 'someone@example.com'",
        ),
        (
            KeylessIdentity(issuer="https://accounts.google.com", subject="mitr@redhat.com"),
            "issuer mismatch: issuer 'https://github.com/login/oauth' is not "
            "'https://accounts.google.com'",
        ),
        (
            KeylessIdentity(issuer_regex="^https://github\\.com/", subject_regex="@example\\.com$"),
            "subject 'mitr@redhat.com' does not match /@example\\.com$/",
        ),
    ],
)
def test_keyless_fixture_fails_for_any_other_identity(
    identity: KeylessIdentity, reason: str, served: Any
) -> None:
    facts = verify(
        served, "dir-img-cosign-fulcio-rekor-valid", Authority("other", keyless=identity)
    )
    assert outcomes(facts) == [[reason]]


def test_private_pki_certificate_is_refused_by_the_public_good_root(served: Any) -> None:
    (outcome,) = outcomes(verify(served, "dir-img-cosign-pki-valid", MITR))
    assert outcome[0].startswith("certificate does not chain to a trusted Fulcio CA")


def test_private_pki_certificate_chains_to_its_own_root_but_is_not_for_code_signing(
    served: Any, tmp_path: Path
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    chain = [
        x509.load_pem_x509_certificate((FIXTURES / name).read_bytes())
        for name in ("pki_intermediate_crts.pem", "pki_root_crts.pem")
    ]
    root = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "certificateAuthorities": [
            {
                "uri": "https://linuxera.example",
                "certChain": {
                    "certificates": [
                        {"rawBytes": base64.b64encode(c.public_bytes(Encoding.DER)).decode()}
                        for c in chain
                    ]
                },
                "validFor": {"start": "2024-01-01T00:00:00Z"},
            }
        ],
        "tlogs": [],
        "ctlogs": [],
    }
    path = tmp_path / "private_root.json"
    path.write_text(json.dumps(root))
    qiwan = Authority(
        "qiwan", keyless=KeylessIdentity(issuer_regex=".", subject="qiwan@redhat.com")
    )

    facts = verify(served, "dir-img-cosign-pki-valid", qiwan, trusted_root=path)

    # The chain to the private root verifies; cosign then requires the code-signing EKU
    # (and an SCT) of any certificate, and this one is a plain e-mail/TLS certificate.
    assert outcomes(facts) == [["certificate lacks the code-signing extended key usage"]]


@pytest.mark.parametrize(
    "folder", ["dir-img-cosign-modified-manifest", "dir-img-cosign-manifest-digest-error"]
)
def test_valid_signature_for_another_digest_is_a_digest_mismatch(folder: str, served: Any) -> None:
    (outcome,) = outcomes(verify(served, folder, COSIGN))
    claimed = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"
    assert outcome == [f"digest mismatch: the payload signs {claimed}, not {served[1][folder]}"]


def test_schema1_manifest_with_bogus_signatures_cannot_be_resolved(served: Any) -> None:
    registry, _ = served
    with pytest.raises(RegistryError, match="media type"):
        RegistryClient(registry.host).get_manifest("dir-img-cosign-manifest-digest-error", "latest")


def test_other_attachment_is_not_a_cosign_signature(served: Any) -> None:
    facts = verify(served, "dir-img-cosign-other-attachment", COSIGN)
    assert facts.signatures == ()
    assert judged(facts, (COSIGN,)) is Status.FAIL


def test_image_without_manifest_is_a_registry_error(served: Any) -> None:
    registry, digests = served
    assert digests["dir-img-cosign-no-manifest"] is None
    with pytest.raises(RegistryError, match="image not found"):
        RegistryClient(registry.host).get_manifest("dir-img-cosign-no-manifest", "latest")


def test_attestation_bundle_is_valid_but_refused_for_its_predicate_type(tmp_path: Path) -> None:
    bundle = (BUNDLE / "oci-attestation.sigstore.json").read_bytes()
    digest = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
    artifact = "application/vnd.dev.sigstore.bundle.v0.3+json"
    with StaticRegistry() as registry:
        empty = registry.add_blob("repo", b"{}")
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "size": 2,
                "digest": empty,
            },
            "layers": [
                {
                    "mediaType": artifact,
                    "size": len(bundle),
                    "digest": registry.add_blob("repo", bundle),
                }
            ],
            "subject": {
                "mediaType": OCI_MANIFEST,
                "size": 1,
                "digest": digest,
            },
        }
        body = json.dumps(manifest).encode()
        manifest_digest = registry.add_manifest("repo", body, OCI_MANIFEST)
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "size": len(body),
                    "digest": manifest_digest,
                    "artifactType": artifact,
                }
            ],
        }
        registry.add_manifest(
            "repo", json.dumps(index).encode(), OCI_INDEX, (digest.replace(":", "-"),)
        )
        cody = Authority(
            "cody",
            keyless=KeylessIdentity(
                issuer="https://github.com/login/oauth", subject="cody@soyland.com"
            ),
        )
        policy = SignaturePolicy(
            authorities=(cody,), trusted_root=BUNDLE / "trusted_root_pgi.json", formats=("bundle",)
        )
        name = f"{registry.host}/repo"
        facts = gather_signatures(Subject(name, digest, repository=name), policy)

    assert outcomes(facts) == [
        [
            "predicateType 'https://cosign.sigstore.dev/attestation/v1' is not "
            "'https://sigstore.dev/cosign/sign/v1'"
        ]
    ]
