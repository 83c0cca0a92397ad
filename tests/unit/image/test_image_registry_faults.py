"""Registry faults, served by a real fault-injecting HTTP server on loopback.

Each fault must end in a precise ``RegistryError`` (or, for transient ones, a retried
success), and no message may carry a credential.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from gate.errors import RegistryError
from gate.image.auth import Credentials
from gate.image.registry import RegistryClient
from gate.image.sources import open_image
from gate.oci import mediatypes
from tests.support import oci
from tests.support.fakeregistry import FakeRegistry, Reply, Seen, error_reply, manifest_reply
from tests.support.registry import free_port

MANIFEST = oci.build_image([oci.layer({"etc/hello": b"hi\n"})])
PATH = "/v2/app/manifests/v1"
USER, PASSWORD = "ci-bot", "pa55-W0rd-never-shown"
GOOD = Credentials(USER, PASSWORD, source="REGISTRY_USERNAME/REGISTRY_PASSWORD")
BAD = Credentials(USER, "wrong-" + PASSWORD, source="REGISTRY_USERNAME/REGISTRY_PASSWORD")


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as server:
        yield server


def _client(
    fake: FakeRegistry, creds: Credentials | None = None, **kwargs: float
) -> RegistryClient:
    options = {"timeout": 2.0, "retries": 2, "backoff": 0.01, **kwargs}
    return RegistryClient(fake.host, credentials=creds, **options)  # type: ignore[arg-type]


def _ok() -> Reply:
    return manifest_reply(MANIFEST.manifest, oci.OCI_MANIFEST)


def _assert_no_secret(error: RegistryError) -> None:
    text = f"{error}\n{error.detail}"
    for secret in (PASSWORD, GOOD.basic_header().split()[1], BAD.basic_header().split()[1], USER):
        assert secret not in text


def _token_service(fake: FakeRegistry, *, require: Credentials | None) -> None:
    """A distribution token service at /token: anonymous, or demanding *require*."""

    def token(seen: Seen) -> Reply:
        if require is not None and seen.headers.get("Authorization") != require.basic_header():
            return error_reply(
                401, "UNAUTHORIZED", f"bad credentials {seen.headers.get('Authorization')}"
            )
        return Reply(200, json.dumps({"token": "tok-123", "expires_in": 300}).encode())

    fake.handle("/token", token)

    def manifest(seen: Seen) -> Reply:
        if seen.headers.get("Authorization") == "Bearer tok-123":
            return _ok()
        realm = f'Bearer realm="{fake.url}/token",service="fake",scope="repository:app:pull"'
        return error_reply(
            401, "UNAUTHORIZED", "authentication required", **{"WWW-Authenticate": realm}
        )

    fake.handle(PATH, manifest)


def test_anonymous_bearer_challenge_fetches_a_token_once(fake: FakeRegistry) -> None:
    _token_service(fake, require=None)
    client = _client(fake)
    assert client.get_manifest("app", "v1").digest == MANIFEST.digest
    assert client.get_manifest("app", "v1").digest == MANIFEST.digest
    tokens = [s for s in fake.seen if s.path == "/token"]
    assert len(tokens) == 1
    assert parse_qs(tokens[0].query) == {"scope": ["repository:app:pull"], "service": ["fake"]}
    assert "Authorization" not in tokens[0].headers


def test_bearer_token_is_fetched_with_basic_credentials(fake: FakeRegistry) -> None:
    _token_service(fake, require=GOOD)
    assert _client(fake, GOOD).get_manifest("app", "v1").digest == MANIFEST.digest


def test_401_without_credentials_says_how_to_authenticate(fake: FakeRegistry) -> None:
    _token_service(fake, require=GOOD)
    with pytest.raises(RegistryError) as caught:
        _client(fake).get_manifest("app", "v1")
    assert str(caught.value) == (
        f"authentication required for {fake.host}/app:v1: "
        "set REGISTRY_USERNAME/REGISTRY_PASSWORD or docker login"
    )


def test_401_with_wrong_credentials_says_they_were_rejected_without_showing_them(
    fake: FakeRegistry,
) -> None:
    _token_service(fake, require=GOOD)
    with pytest.raises(RegistryError) as caught:
        _client(fake, BAD).get_manifest("app", "v1")
    assert str(caught.value).startswith(f"credentials were rejected by {fake.host}")
    assert "REGISTRY_USERNAME/REGISTRY_PASSWORD" in str(caught.value)
    _assert_no_secret(caught.value)


def test_basic_challenge_uses_credentials_from_a_docker_config(
    fake: FakeRegistry, tmp_path: Path
) -> None:
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {fake.host: {"auth": auth}}}))

    def manifest(seen: Seen) -> Reply:
        if seen.headers.get("Authorization") == GOOD.basic_header():
            return _ok()
        return error_reply(401, "UNAUTHORIZED", "no", **{"WWW-Authenticate": 'Basic realm="fake"'})

    fake.handle(PATH, manifest)
    source = open_image(f"{fake.host}/app:v1", environ={"DOCKER_CONFIG": str(tmp_path)})
    assert source.subject.digest == MANIFEST.digest


def test_basic_challenge_with_rejected_credentials(fake: FakeRegistry) -> None:
    fake.script(
        PATH, error_reply(401, "UNAUTHORIZED", "no", **{"WWW-Authenticate": 'Basic realm="x"'})
    )
    with pytest.raises(RegistryError, match="credentials were rejected") as caught:
        _client(fake, BAD).get_manifest("app", "v1")
    _assert_no_secret(caught.value)
    assert fake.count(PATH) == 2


def test_an_unsupported_auth_scheme_is_named(fake: FakeRegistry) -> None:
    fake.script(PATH, Reply(401, b"", {"WWW-Authenticate": 'Negotiate realm="x"'}))
    with pytest.raises(RegistryError, match=r"unsupported scheme \(negotiate\)"):
        _client(fake).get_manifest("app", "v1")


def test_403_is_access_denied_and_server_echoes_of_credentials_are_masked(
    fake: FakeRegistry,
) -> None:
    def denied(seen: Seen) -> Reply:
        return error_reply(403, "DENIED", f"no pull for {seen.headers.get('Authorization')}")

    fake.handle(PATH, denied)
    fake.handle(
        "/v2/app/manifests/v2",
        lambda _s: error_reply(401, "X", "x", **{"WWW-Authenticate": 'Basic realm="x"'}),
    )
    client = _client(fake, GOOD)
    with pytest.raises(RegistryError):  # authenticate first, so the 403 request carries credentials
        client.get_manifest("app", "v2")
    with pytest.raises(RegistryError) as caught:
        client.get_manifest("app", "v1")
    assert str(caught.value).startswith(f"access denied to {fake.host}/app:v1 (HTTP 403)")
    assert "DENIED" in caught.value.detail
    _assert_no_secret(caught.value)


def test_404_is_image_not_found(fake: FakeRegistry) -> None:
    with pytest.raises(RegistryError, match=rf"^image not found: {fake.host}/app:v1$"):
        _client(fake).get_manifest("app", "v1")


def test_500_then_success_is_retried(fake: FakeRegistry) -> None:
    fake.script(PATH, error_reply(500, "UNKNOWN", "boom"), _ok())
    assert _client(fake).get_manifest("app", "v1").digest == MANIFEST.digest
    assert fake.count(PATH) == 2


def test_persistent_5xx_fails_after_a_bounded_number_of_attempts(fake: FakeRegistry) -> None:
    fake.script(PATH, error_reply(503, "UNAVAILABLE", "maintenance"))
    with pytest.raises(RegistryError, match="answered HTTP 503 after 3 attempts") as caught:
        _client(fake).get_manifest("app", "v1")
    assert "UNAVAILABLE: maintenance" in caught.value.detail
    assert fake.count(PATH) == 3


def test_429_honours_retry_after(fake: FakeRegistry) -> None:
    fake.script(
        PATH, error_reply(429, "TOOMANYREQUESTS", "slow down", **{"Retry-After": "1"}), _ok()
    )
    start = time.monotonic()
    assert _client(fake).get_manifest("app", "v1").digest == MANIFEST.digest
    assert time.monotonic() - start >= 0.9
    assert fake.count(PATH) == 2


def test_429_retry_after_is_capped(fake: FakeRegistry) -> None:
    fake.script(PATH, Reply(429, b"", {"Retry-After": "3600"}), _ok())
    start = time.monotonic()
    _client(fake, max_delay=0.2).get_manifest("app", "v1")
    assert time.monotonic() - start < 5


def test_persistent_429_says_rate_limited(fake: FakeRegistry) -> None:
    fake.script(PATH, Reply(429, b"", {"Retry-After": "0"}))
    with pytest.raises(RegistryError, match=r"HTTP 429 \(rate limited\) after 3 attempts"):
        _client(fake).get_manifest("app", "v1")


def test_connection_refused_is_named() -> None:
    client = RegistryClient(f"127.0.0.1:{free_port()}", timeout=2, retries=1, backoff=0.01)
    with pytest.raises(
        RegistryError, match=r"cannot connect to 127\.0\.0\.1:\d+: connection refused"
    ):
        client.get_manifest("app", "v1")


def test_a_stalled_registry_times_out(fake: FakeRegistry) -> None:
    fake.script(PATH, Reply(200, b"{}", stall=20))
    start = time.monotonic()
    with pytest.raises(RegistryError, match=r"timed out after 0\.3s talking to .* \(2 attempts\)"):
        _client(fake, timeout=0.3, retries=1).get_manifest("app", "v1")
    assert time.monotonic() - start < 5


def test_a_manifest_that_does_not_match_the_requested_digest_is_refused(fake: FakeRegistry) -> None:
    other = oci.build_image([oci.layer({"evil": b"1"})])
    fake.script(
        f"/v2/app/manifests/{MANIFEST.digest}", manifest_reply(other.manifest, oci.OCI_MANIFEST)
    )
    with pytest.raises(
        RegistryError, match=f"digest mismatch for manifest .*expected {MANIFEST.digest}"
    ):
        _client(fake).get_manifest("app", MANIFEST.digest)


def test_a_manifest_that_does_not_match_docker_content_digest_is_refused(
    fake: FakeRegistry,
) -> None:
    fake.script(
        PATH, manifest_reply(MANIFEST.manifest, oci.OCI_MANIFEST, digest="sha256:" + "1" * 64)
    )
    with pytest.raises(RegistryError, match="Docker-Content-Digest"):
        _client(fake).get_manifest("app", "v1")


def test_a_manifest_that_is_not_json_is_refused(fake: FakeRegistry) -> None:
    fake.script(PATH, manifest_reply(b"<html>oops</html>", oci.OCI_MANIFEST))
    with pytest.raises(
        RegistryError, match=rf"the manifest for {fake.host}/app:v1 is not a JSON object"
    ):
        _client(fake).get_manifest("app", "v1")


def test_a_schema1_manifest_is_refused(fake: FakeRegistry) -> None:
    body = json.dumps({"schemaVersion": 1, "name": "app", "fsLayers": []}).encode()
    fake.script(
        PATH, manifest_reply(body, "application/vnd.docker.distribution.manifest.v1+prettyjws")
    )
    with pytest.raises(
        RegistryError, match=r"has media type application/vnd\.docker\.distribution\.manifest\.v1"
    ):
        _client(fake).get_manifest("app", "v1")


def test_content_type_and_declared_media_type_must_agree(fake: FakeRegistry) -> None:
    fake.script(PATH, manifest_reply(MANIFEST.manifest, mediatypes.DOCKER_MANIFEST))
    with pytest.raises(RegistryError, match="declares mediaType"):
        _client(fake).get_manifest("app", "v1")


def test_a_blob_that_does_not_match_its_digest_is_refused_whole_or_streamed(
    fake: FakeRegistry,
) -> None:
    digest = MANIFEST.config_digest
    fake.script(f"/v2/app/blobs/{digest}", Reply(200, MANIFEST.config + b" "))
    client = _client(fake)
    with pytest.raises(RegistryError, match=f"digest mismatch for blob .*{digest}"):
        client.get_blob("app", digest, 1 << 20)
    with (
        client.open_blob("app", digest) as stream,
        pytest.raises(RegistryError, match="digest mismatch"),
    ):
        stream.read()


def test_a_streamed_blob_longer_than_its_descriptor_is_refused(fake: FakeRegistry) -> None:
    digest = MANIFEST.config_digest
    fake.script(f"/v2/app/blobs/{digest}", Reply(200, MANIFEST.config))
    with (
        _client(fake).open_blob("app", digest, size=10) as stream,
        pytest.raises(RegistryError, match="larger than its descriptor's 10 bytes"),
    ):
        stream.read()


def test_referrers_are_filtered_by_artifact_type_when_the_registry_did_not(
    fake: FakeRegistry,
) -> None:
    bundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
    index = {
        "schemaVersion": 2,
        "mediaType": oci.OCI_INDEX,
        "manifests": [
            {
                "mediaType": oci.OCI_MANIFEST,
                "digest": "sha256:" + "a" * 64,
                "size": 1,
                "artifactType": bundle,
            },
            {
                "mediaType": oci.OCI_MANIFEST,
                "digest": "sha256:" + "b" * 64,
                "size": 1,
                "artifactType": "x/sbom",
            },
        ],
    }
    path = f"/v2/app/referrers/{MANIFEST.digest}"
    fake.script(path, Reply(200, json.dumps(index).encode(), {"Content-Type": oci.OCI_INDEX}))
    found = _client(fake).get_referrers("app", MANIFEST.digest, artifact_type=bundle)
    assert found is not None and [m["digest"] for m in found] == ["sha256:" + "a" * 64]
    assert parse_qs(fake.seen[-1].query) == {"artifactType": [bundle]}


def test_referrers_that_are_not_an_index_are_an_error(fake: FakeRegistry) -> None:
    fake.script(f"/v2/app/referrers/{MANIFEST.digest}", Reply(200, b'{"manifests": 3}'))
    with pytest.raises(RegistryError, match="are not an OCI index"):
        _client(fake).get_referrers("app", MANIFEST.digest)


def test_after_resolving_the_tag_only_digests_are_requested(fake: FakeRegistry) -> None:
    image = oci.build_image(
        [oci.layer({"etc/passwd": b"app:x:1000:1000::/:/bin/sh\n"})], user="app"
    )
    fake.script(PATH, manifest_reply(image.manifest, oci.OCI_MANIFEST))
    for digest, blob in image.blobs.items():
        fake.script(f"/v2/app/blobs/{digest}", Reply(200, blob))
    fake.script(
        f"/v2/app/manifests/{image.digest}", manifest_reply(image.manifest, oci.OCI_MANIFEST)
    )
    source = open_image(f"{fake.host}/app:v1", environ={})
    assert source.config().user == "app"
    assert source.manifest_facts().layer_sizes == (len(image.layers[0]),)
    from tests.support.users import lookup_user

    assert lookup_user("app", source.layers()).uid == 1000
    assert fake.count(PATH) == 1
    assert all("sha256:" in s.path for s in fake.seen if s.path != PATH)


def test_environment_credentials_reach_the_token_service(fake: FakeRegistry) -> None:
    _token_service(fake, require=GOOD)
    env = {"REGISTRY_USERNAME": USER, "REGISTRY_PASSWORD": PASSWORD}
    assert open_image(f"{fake.host}/app:v1", environ=env).subject.digest == MANIFEST.digest
    with pytest.raises(RegistryError, match="credentials were rejected") as caught:
        open_image(f"{fake.host}/app:v1", environ={**env, "REGISTRY_PASSWORD": "nope"})
    _assert_no_secret(caught.value)
