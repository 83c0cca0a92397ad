"""The registry client against a real distribution registry on loopback."""

from __future__ import annotations

import pytest

from gate.errors import RegistryError
from gate.image.registry import RegistryClient, is_loopback, uses_plain_http
from gate.oci import mediatypes
from tests.support import oci
from tests.support.registry import RunningRegistry


@pytest.fixture(scope="module")
def pushed(registry: RunningRegistry) -> oci.BuiltImage:
    image = oci.build_image([oci.layer({"etc/hello": b"hi\n"}), oci.layer({"srv/x": b"x" * 5000})])
    oci.push(registry.host, "client/app", image, "v1")
    return image


@pytest.fixture
def client(registry: RunningRegistry) -> RegistryClient:
    return RegistryClient(registry.host, timeout=10, retries=1, backoff=0.01)


def test_loopback_registries_are_spoken_to_over_plain_http(client: RegistryClient) -> None:
    assert client.plain_http
    assert client.base.startswith("http://127.0.0.1:")


def test_manifest_by_tag_yields_the_digest_of_the_bytes_served(
    client: RegistryClient, pushed: oci.BuiltImage
) -> None:
    fetched = client.get_manifest("client/app", "v1")
    assert fetched.digest == pushed.digest
    assert fetched.body == pushed.manifest
    assert fetched.media_type == mediatypes.OCI_MANIFEST
    assert fetched.document["config"]["digest"] == pushed.config_digest
    assert not fetched.is_index


def test_manifest_by_digest_is_verified_and_equal(
    client: RegistryClient, pushed: oci.BuiltImage
) -> None:
    assert client.get_manifest("client/app", pushed.digest).body == pushed.manifest


def test_resolve_returns_the_tags_digest(client: RegistryClient, pushed: oci.BuiltImage) -> None:
    assert client.resolve("client/app", "v1") == pushed.digest


def test_blobs_come_back_verified_whole_or_streamed(
    client: RegistryClient, pushed: oci.BuiltImage
) -> None:
    assert client.get_blob("client/app", pushed.config_digest, 1 << 20) == pushed.config
    big = pushed.layers[1]
    with client.open_blob("client/app", oci.sha256_digest(big), size=len(big)) as stream:
        assert stream.read() == big


def test_a_blob_larger_than_allowed_is_refused(
    client: RegistryClient, pushed: oci.BuiltImage
) -> None:
    with pytest.raises(RegistryError, match="larger than 10 bytes"):
        client.get_blob("client/app", pushed.config_digest, 10)


def test_a_docker_v2_manifest_is_read_with_its_media_type(
    registry: RunningRegistry, client: RegistryClient
) -> None:
    image = oci.build_image([oci.layer({"a": b"a"})], media_type=oci.DOCKER_MANIFEST)
    oci.push(registry.host, "client/docker", image, "v2")
    fetched = client.get_manifest("client/docker", "v2")
    assert (fetched.media_type, fetched.digest) == (mediatypes.DOCKER_MANIFEST, image.digest)


def test_an_unknown_tag_is_image_not_found(client: RegistryClient, pushed: oci.BuiltImage) -> None:
    with pytest.raises(RegistryError) as caught:
        client.get_manifest("client/app", "nope")
    assert str(caught.value) == f"image not found: {client.host}/client/app:nope"
    assert "MANIFEST_UNKNOWN" in caught.value.detail


def test_an_unknown_repository_is_image_not_found(client: RegistryClient) -> None:
    with pytest.raises(RegistryError, match=r"image not found: .*/client/missing:v1"):
        client.resolve("client/missing", "v1")


def test_an_unknown_blob_is_blob_not_found(client: RegistryClient, pushed: oci.BuiltImage) -> None:
    with pytest.raises(RegistryError, match="blob not found"):
        client.get_blob("client/app", "sha256:" + "0" * 64, 100)


def test_a_registry_without_the_referrers_api_gives_none(
    client: RegistryClient, pushed: oci.BuiltImage
) -> None:
    assert client.get_referrers("client/app", pushed.digest) is None


@pytest.mark.parametrize(
    ("host", "insecure", "plain"),
    [
        ("localhost:5000", (), True),
        ("127.0.0.1:5000", (), True),
        ("127.0.0.2", (), True),
        ("[::1]:5000", (), True),
        ("registry.internal:5000", (), False),
        ("registry.internal:5000", ("registry.internal",), True),
        ("registry.internal:5000", ("registry.internal:5000",), True),
        ("registry.internal:5000", ("registry.internal:6000",), False),
        ("ghcr.io", ("registry.internal",), False),
    ],
)
def test_plain_http_only_for_loopback_and_declared_insecure_hosts(
    host: str, insecure: tuple[str, ...], plain: bool
) -> None:
    assert uses_plain_http(host, insecure) is plain


def test_other_hosts_use_https() -> None:
    client = RegistryClient("ghcr.io")
    assert client.base == "https://ghcr.io"
    assert not is_loopback("ghcr.io")
