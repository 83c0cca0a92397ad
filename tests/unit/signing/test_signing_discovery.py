"""Finding signatures: where the gate looks, what it fetches (and no more), and how registry
trouble and tampered blobs end, served by a loopback registry that records every request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gate.errors import RegistryError, SignatureError
from gate.image.registry import RegistryClient
from gate.model import SignatureFacts, Subject
from gate.policy.model import Authority, SignaturePolicy
from gate.signing.verify import gather_signatures
from tests.support import pki as P
from tests.support import signed
from tests.support.oci import OCI_INDEX, build_image, layer, sha256_digest
from tests.support.registry import free_port
from tests.support.staticregistry import OCI_MANIFEST, StaticRegistry

DIGEST = "sha256:" + "d" * 64
SIG_TAG = "sha256-" + "d" * 64 + ".sig"


@pytest.fixture(scope="module")
def pki() -> P.TestPKI:
    return P.TestPKI.create("discovery")


@pytest.fixture(scope="module")
def trusted_root(pki: P.TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return signed.write_trusted_root(pki, tmp_path_factory)


@pytest.fixture
def registry() -> Iterator[StaticRegistry]:
    with StaticRegistry() as served:
        yield served


def serve_legacy_for(
    registry: StaticRegistry, repo: str, digest: str, layers: list[P.LegacyLayer]
) -> None:
    manifest, blobs = P.signature_manifest(layers)
    for blob in blobs.values():
        registry.add_blob(repo, blob)
    registry.add_manifest(repo, manifest, OCI_MANIFEST, (P.sig_tag(digest),))


def serve_legacy(registry: StaticRegistry, repo: str, layers: list[P.LegacyLayer]) -> None:
    serve_legacy_for(registry, repo, DIGEST, layers)


def gather(
    registry: StaticRegistry,
    trusted_root: Path,
    *authorities: Authority,
    repo: str = "app",
    **policy: object,
) -> SignatureFacts:
    name = f"{registry.host}/{repo}"
    signature_policy = SignaturePolicy(
        authorities=authorities,
        trusted_root=trusted_root,
        **policy,  # type: ignore[arg-type]
    )
    return gather_signatures(Subject(f"{name}:v1", DIGEST, repository=name), signature_policy)


def test_legacy_costs_one_manifest_and_one_blob_per_signature_layer(
    registry: StaticRegistry, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    key = P.new_key()
    layers = [
        P.legacy_signature(pki, DIGEST, key, payload=P.simple_signing_payload(DIGEST, r))
        for r in ("a.test/app", "b.test/app", "c.test/app")
    ]
    serve_legacy(registry, "app", layers)

    facts = gather(registry, trusted_root, P.key_authority(tmp_path, key), formats=("legacy",))

    assert [s.accepted_by for s in facts.signatures] == ["release-key"] * 3
    requested = registry.requests
    manifests = [path for method, path in requested if "/manifests/" in path]
    blobs = [path for method, path in requested if "/blobs/" in path]
    assert manifests == [f"/v2/app/manifests/{SIG_TAG}"]
    assert sorted(blobs) == sorted(f"/v2/app/blobs/{sha256_digest(s.payload)}" for s in layers)
    assert len(requested) == 4  # nothing else: no config blob, no image layers, no ping


def test_bundle_lookup_uses_the_fallback_index_when_referrers_are_missing(
    registry: StaticRegistry, trusted_root: Path
) -> None:
    facts = gather(registry, trusted_root, P.keyless_authority(), formats=("bundle",))

    assert facts.signatures == ()
    assert facts.looked_in == (f"{registry.host}/app:sha256-{'d' * 64} (referrers fallback index)",)
    assert [path for _, path in registry.requests] == [
        f"/v2/app/referrers/{DIGEST}",
        f"/v2/app/manifests/sha256-{'d' * 64}",
    ]


def serve_referrers(registry: StaticRegistry, listed: list[tuple[dict[str, object], str]]) -> None:
    """Serve each (manifest, listed artifactType) as a referrer of ``DIGEST`` in the fallback
    index, listed under that type, as the writer that made the index recorded it."""
    index = []
    for manifest, artifact_type in listed:
        for item in manifest["layers"]:  # type: ignore[attr-defined]
            registry.add_blob("app", item.pop("data"))
        body = json.dumps(manifest).encode()
        digest = registry.add_manifest("app", body, OCI_MANIFEST)
        index.append(
            {"mediaType": OCI_MANIFEST, "size": len(body), "digest": digest}
            | ({"artifactType": artifact_type} if artifact_type else {})
        )
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index}).encode()
    registry.add_manifest("app", body, OCI_INDEX, (f"sha256-{'d' * 64}",))


def referrer(layer_type: str, data: bytes, artifact_type: str | None) -> dict[str, object]:
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": P.EMPTY_CONFIG, "size": 2, "digest": sha256_digest(b"{}")},
        "layers": [
            {
                "mediaType": layer_type,
                "size": len(data),
                "digest": sha256_digest(data),
                "data": data,
            }
        ],
        "subject": {"mediaType": OCI_MANIFEST, "size": 0, "digest": DIGEST},
    } | ({"artifactType": artifact_type} if artifact_type else {})


@pytest.mark.parametrize(
    "listed_as", [P.EMPTY_CONFIG, "application/vnd.oci.image.config.v1+json", ""]
)
def test_bundle_listed_under_its_config_media_type_is_found(
    registry: StaticRegistry, pki: P.TestPKI, trusted_root: Path, tmp_path: Path, listed_as: str
) -> None:
    """cosign v2 pushes bundles with go-containerregistry, whose fallback-tag writer (and whose
    registry's referrers API) lists a referrer under its config's media type."""
    key = P.new_key()
    bundle = json.dumps(P.sigstore_bundle(pki, DIGEST, key)).encode()
    serve_referrers(
        registry, [(referrer(P.BUNDLE_MEDIA_TYPE, bundle, P.BUNDLE_MEDIA_TYPE), listed_as)]
    )

    facts = gather(registry, trusted_root, P.key_authority(tmp_path, key), formats=("bundle",))

    assert [s.accepted_by for s in facts.signatures] == ["release-key"]


def test_untyped_referrer_that_is_not_a_bundle_is_not_a_signature(
    registry: StaticRegistry, trusted_root: Path
) -> None:
    sbom = referrer("application/spdx+json", b'{"spdxVersion": "SPDX-2.3"}', None)
    serve_referrers(registry, [(sbom, P.EMPTY_CONFIG)])

    facts = gather(registry, trusted_root, P.keyless_authority(), formats=("bundle",))

    assert facts.signatures == ()


def test_referrer_listed_with_another_type_is_not_fetched(
    registry: StaticRegistry, trusted_root: Path
) -> None:
    sbom = referrer("application/spdx+json", b"{}", "application/spdx+json")
    serve_referrers(registry, [(sbom, "application/spdx+json")])

    facts = gather(registry, trusted_root, P.keyless_authority(), formats=("bundle",))

    assert facts.signatures == ()
    assert [path for _, path in registry.requests] == [
        f"/v2/app/referrers/{DIGEST}",
        f"/v2/app/manifests/sha256-{'d' * 64}",
    ]


def test_nothing_found_names_every_place_looked(
    registry: StaticRegistry, trusted_root: Path
) -> None:
    facts = gather(registry, trusted_root, P.keyless_authority())

    assert facts.signatures == ()
    assert facts.looked_in == (
        f"{registry.host}/app:sha256-{'d' * 64} (referrers fallback index)",
        f"{registry.host}/app:{SIG_TAG}",
    )


def test_signatures_stored_in_another_repository_are_found_there(
    registry: StaticRegistry, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    key = P.new_key()
    serve_legacy(registry, "acme/signatures", [P.legacy_signature(pki, DIGEST, key)])

    facts = gather(
        registry,
        trusted_root,
        P.key_authority(tmp_path, key),
        repository=f"{registry.host}/acme/signatures",
        formats=("legacy",),
    )

    assert facts.looked_in == (f"{registry.host}/acme/signatures:{SIG_TAG}",)
    assert facts.signatures[0].accepted_by == "release-key"


def test_payload_blob_not_matching_its_digest_is_refused(
    registry: StaticRegistry, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    key = P.new_key()
    sig = P.legacy_signature(pki, DIGEST, key)
    manifest, _ = P.signature_manifest([sig])
    registry.add_blob("app", b'{"critical": "swapped"}', digest=sha256_digest(sig.payload))
    registry.add_manifest("app", manifest, OCI_MANIFEST, (SIG_TAG,))

    facts = gather(registry, trusted_root, P.key_authority(tmp_path, key), formats=("legacy",))

    (signature,) = facts.signatures
    assert signature.accepted_by is None
    assert [r.reason for r in signature.refusals] == [
        f"unreadable signature: the blob does not match its digest {sha256_digest(sig.payload)}"
    ]


def test_signature_manifest_that_is_not_json_is_refused_with_a_reason(
    registry: StaticRegistry, trusted_root: Path
) -> None:
    registry.add_manifest("app", b"<html>oops</html>", OCI_MANIFEST, (SIG_TAG,))

    facts = gather(registry, trusted_root, P.keyless_authority(), formats=("legacy",))

    (signature,) = facts.signatures
    assert signature.accepted_by is None
    (refusal,) = signature.refusals
    assert refusal.reason.startswith("unreadable signature: the manifest for")
    assert refusal.reason.endswith(f"{SIG_TAG} is not a JSON object")


def test_unreachable_registry_is_an_error_not_a_missing_signature(trusted_root: Path) -> None:
    name = f"127.0.0.1:{free_port()}/app"
    policy = SignaturePolicy(authorities=(P.keyless_authority(),), trusted_root=trusted_root)

    with pytest.raises(RegistryError, match="cannot connect"):
        gather_signatures(
            Subject(name, DIGEST, repository=name),
            policy,
            connect=lambda host: RegistryClient(host, retries=0, timeout=5),
        )


def test_image_outside_a_registry_needs_a_signature_repository(trusted_root: Path) -> None:
    policy = SignaturePolicy(authorities=(P.keyless_authority(),), trusted_root=trusted_root)

    with pytest.raises(SignatureError, match=r"set signature\.repository"):
        gather_signatures(Subject("oci:./layout", DIGEST), policy)


def test_unreadable_key_file_is_an_error(tmp_path: Path, trusted_root: Path) -> None:
    missing = Authority("release-key", key=tmp_path / "absent.pub")
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    subject = Subject("r/app", DIGEST, repository="127.0.0.1:1/app")

    with pytest.raises(SignatureError, match="cannot read key"):
        gather_signatures(subject, SignaturePolicy(authorities=(missing,)))
    with pytest.raises(SignatureError, match="is not a PEM public key"):
        gather_signatures(subject, SignaturePolicy(authorities=(Authority("k", key=garbage),)))


def test_bad_trusted_root_is_an_error(
    registry: StaticRegistry, pki: P.TestPKI, tmp_path: Path
) -> None:
    key = P.new_key()
    cert = pki.fulcio_certificate(key, github=P.GITHUB_CLAIMS)
    serve_legacy(registry, "app", [P.legacy_signature(pki, DIGEST, key, cert=cert)])
    bad = tmp_path / "trusted_root.json"
    bad.write_text(json.dumps({"mediaType": "something else"}))

    with pytest.raises(
        SignatureError, match="is invalid: mediaType is not a Sigstore trusted root"
    ):
        gather(registry, bad, P.keyless_authority(), formats=("legacy",))


def test_signature_only_policy_end_to_end_pulls_no_image_config_or_layers(
    registry: StaticRegistry, pki: P.TestPKI, trusted_root: Path, tmp_path: Path
) -> None:
    from gate.checks.signature import SignatureCheck
    from gate.core import evaluate, required_facts
    from gate.facts import GatherOptions, Timer, gather
    from gate.policy.model import Policy

    image = build_image([layer({"srv/app": b"binary"})])
    for blob in image.blobs.values():
        registry.add_blob("app", blob)
    registry.add_manifest("app", image.manifest, image.media_type, ("v1",))
    key = P.new_key()
    serve_legacy_for(registry, "app", image.digest, [P.legacy_signature(pki, image.digest, key)])
    policy = Policy(
        source="test",
        signature=SignaturePolicy(
            authorities=(P.key_authority(tmp_path, key),), trusted_root=trusted_root
        ),
    )
    checks = [SignatureCheck()]

    facts, _ = gather(
        policy, required_facts(policy, checks), f"{registry.host}/app:v1", GatherOptions(), Timer()
    )
    verdict = evaluate(policy, facts, checks=checks)

    assert verdict.status == "pass"
    fetched_blobs = [path for _, path in registry.requests if "/blobs/" in path]
    assert fetched_blobs == [
        f"/v2/app/blobs/{sha256_digest(P.simple_signing_payload(image.digest))}"
    ]
