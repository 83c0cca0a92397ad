"""The registry fixture and the OCI builder agree with a real distribution registry."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import pytest
import requests

from tests.support import oci
from tests.support.registry import ReferrersRegistry, RegistryUnavailable, RunningRegistry


def _image() -> oci.BuiltImage:
    return oci.build_image(
        [oci.layer({"etc/hello": b"hi\n"}), oci.layer({}, whiteouts=["etc/hello"])],
        user="1000",
        annotations={"org.opencontainers.image.revision": "abc"},
    )


def test_registry_answers_the_v2_ping(registry: RunningRegistry) -> None:
    resp = requests.get(f"{registry.url}/v2/", timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert registry.host.startswith("127.0.0.1:")


def test_pushed_image_is_served_back_byte_for_byte(registry: RunningRegistry) -> None:
    image = _image()
    digest = oci.push(registry.host, "support/roundtrip", image, "v1")
    assert digest == image.digest
    for ref in ("v1", digest):
        resp = requests.get(
            f"{registry.url}/v2/support/roundtrip/manifests/{ref}",
            headers={"Accept": oci.OCI_MANIFEST},
            timeout=5,
        )
        assert resp.status_code == 200
        assert resp.content == image.manifest
        assert resp.headers["Docker-Content-Digest"] == digest
    blob = requests.get(
        f"{registry.url}/v2/support/roundtrip/blobs/{image.config_digest}", timeout=5
    )
    assert blob.content == image.config


def test_registry_refuses_a_manifest_whose_blobs_are_missing(registry: RunningRegistry) -> None:
    image = _image()
    with pytest.raises(RuntimeError, match="HTTP 400"):
        oci.push_manifest(registry.host, "support/missing", "v1", image.manifest, image.media_type)


def test_config_diff_ids_are_digests_of_uncompressed_layers() -> None:
    image = _image()
    config = json.loads(image.config)
    assert config["config"]["User"] == "1000"
    assert config["rootfs"]["diff_ids"] == [
        oci.sha256_digest(gzip.decompress(b)) for b in image.layers
    ]
    manifest = json.loads(image.manifest)
    assert manifest["config"]["digest"] == image.config_digest
    assert manifest["annotations"] == {"org.opencontainers.image.revision": "abc"}


def test_layers_are_deterministic_and_carry_whiteouts() -> None:
    blob = oci.layer({"a/b/c": b"x"}, whiteouts=["a/gone"], opaque_dirs=["d"])
    assert blob == oci.layer({"a/b/c": b"x"}, whiteouts=["a/gone"], opaque_dirs=["d"])
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        names = tar.getnames()
        assert {m.mtime for m in tar.getmembers()} == {oci.FIXED_MTIME}
    assert names == ["a", "a/.wh.gone", "a/b", "a/b/c", "d", "d/.wh..wh..opq"]


def test_registry_context_manager_stops_the_server(tmp_path) -> None:
    with RunningRegistry(tmp_path) as reg:
        url = reg.url
        assert requests.get(f"{url}/v2/", timeout=5).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/v2/", timeout=2)
    assert not (tmp_path / "storage").exists()


def test_registry_fails_loudly_without_the_binary(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RegistryUnavailable, match="make test"):
        RunningRegistry(tmp_path).__enter__()


def test_docker_media_types_and_multi_platform_index_are_accepted(
    registry: RunningRegistry,
) -> None:
    amd = oci.build_image([oci.layer({"a": b"1"})], media_type=oci.DOCKER_MANIFEST)
    arm = oci.build_image([oci.layer({"a": b"2"})], architecture="arm64")
    for image in (amd, arm):
        oci.push(registry.host, "support/multi", image)
    index = oci.image_index([(amd, "linux/amd64"), (arm, "linux/arm64")])
    digest = oci.push_manifest(registry.host, "support/multi", "v1", index, oci.OCI_INDEX)
    resp = requests.get(
        f"{registry.url}/v2/support/multi/manifests/v1",
        headers={"Accept": f"{oci.OCI_INDEX}, {oci.DOCKER_MANIFEST}"},
        timeout=5,
    )
    assert resp.headers["Content-Type"] == oci.OCI_INDEX
    assert resp.headers["Docker-Content-Digest"] == digest
    served = requests.get(
        f"{registry.url}/v2/support/multi/manifests/{amd.digest}",
        headers={"Accept": oci.DOCKER_MANIFEST},
        timeout=5,
    )
    assert served.headers["Content-Type"] == oci.DOCKER_MANIFEST
    assert served.content == amd.manifest


def test_only_the_second_registry_lists_referrers(
    signature_registry: RunningRegistry,
) -> None:
    """go-containerregistry's registry answers the referrers API (listing a referrer under
    its config's media type); distribution 2.8 has none (404), so writers use the fallback tag."""
    from tests.support import pki as P

    digest = oci.push(signature_registry.host, "support/referred", _image(), "v1")
    referrer = P.push_bundle(signature_registry.host, "support/referred", digest, b"{}")

    resp = requests.get(
        f"{signature_registry.url}/v2/support/referred/referrers/{digest}", timeout=5
    )

    if signature_registry.referrers_api:
        assert resp.status_code == 200
        (listed,) = resp.json()["manifests"]
        assert (listed["digest"], listed["artifactType"]) == (referrer, P.EMPTY_CONFIG)
    else:
        assert resp.status_code == 404


def test_referrers_registry_stops_with_its_context(
    referrers_registry: ReferrersRegistry, tmp_path
) -> None:
    with ReferrersRegistry(tmp_path, referrers_registry.built) as reg:
        url = reg.url
        assert requests.get(f"{url}/v2/", timeout=5).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/v2/", timeout=2)
