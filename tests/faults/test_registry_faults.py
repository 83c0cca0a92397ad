"""Fault matrix, registry: a registry that refuses, stalls, lies or breaks ends in exit 2.

The registry is ``tests/support/fakeregistry.py``: a real HTTP server on loopback that
answers scripted replies, so each row injects one fault into an otherwise complete image.
A transient fault (500, 429) is retried and the gate then reaches its real verdict: the
image runs as root and the policy demands non-root, so even that verdict is a failure
(exit 1), and a row can never end in a pass.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.harness import Outcome, Row, base_env, check_row, run_cli, write_policy
from tests.support import oci
from tests.support.fakeregistry import FakeRegistry, Reply, Seen, error_reply, manifest_reply
from tests.support.registry import free_port

ROOT_IMAGE = oci.build_image([oci.layer({"app/server.py": b"print('hi')\n"})])
APP_IMAGE = oci.build_image(
    [oci.layer({"etc/passwd": b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n"})],
    user="app",
)
TAG_PATH = "/v2/app/manifests/v1"
USER, PASSWORD = "ci-bot", "s3cret-never-printed"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
TOKEN = "tok-123"
POLICY = "image:\n  non_root: true\n"
FAST = "0.3"
"""``CONTAINER_GATE_REGISTRY_TIMEOUT`` for the row that waits on a stalled registry."""


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as server:
        yield server


def gate(host: str, tmp_path: Path, **env: str) -> Outcome:
    """Judge ``HOST/app:v1`` under the non-root policy, with no ambient credentials."""
    environment = base_env("", tmp_path) | env
    policy = write_policy(tmp_path, POLICY)
    return run_cli("check", f"{host}/app:v1", "--policy", policy, env=environment)


def serve(fake: FakeRegistry, image: oci.BuiltImage = ROOT_IMAGE, *first: Reply) -> None:
    """The whole image, its tag answering ``first`` before the manifest."""
    fake.serve_image("app", "v1", image.manifest, image.media_type, image.blobs, first=first)


def token_service(fake: FakeRegistry, authorized: Reply | None = None) -> None:
    """A bearer challenge whose token service hands a token only for ``USER:PASSWORD``.

    With the token, the tag answers *authorized* (default: the root image's manifest).
    """

    def token(seen: Seen) -> Reply:
        if seen.headers.get("Authorization") != BASIC:
            return error_reply(401, "UNAUTHORIZED", "bad credentials")
        return Reply(200, json.dumps({"token": TOKEN}).encode())

    def manifest(seen: Seen) -> Reply:
        if seen.headers.get("Authorization") == f"Bearer {TOKEN}":
            return authorized or manifest_reply(ROOT_IMAGE.manifest, ROOT_IMAGE.media_type)
        realm = f'Bearer realm="{fake.url}/token",service="fake",scope="repository:app:pull"'
        return error_reply(401, "UNAUTHORIZED", "auth", **{"WWW-Authenticate": realm})

    fake.handle("/token", token)
    fake.handle(TAG_PATH, manifest)


def _no_credentials(fake: FakeRegistry) -> dict[str, str]:
    token_service(fake)
    return {}


def _wrong_credentials(fake: FakeRegistry) -> dict[str, str]:
    token_service(fake)
    return {"REGISTRY_USERNAME": USER, "REGISTRY_PASSWORD": "wrong-" + PASSWORD}


def _forbidden(fake: FakeRegistry) -> dict[str, str]:
    fake.script(TAG_PATH, error_reply(403, "DENIED", "requested access to the resource is denied"))
    return {}


def _not_found(fake: FakeRegistry) -> dict[str, str]:
    return {}  # nothing scripted: the fake answers 404 MANIFEST_UNKNOWN-style


def _always_503(fake: FakeRegistry) -> dict[str, str]:
    fake.script(TAG_PATH, error_reply(503, "UNAVAILABLE", "maintenance", **{"Retry-After": "0"}))
    return {}


def _always_429(fake: FakeRegistry) -> dict[str, str]:
    fake.script(TAG_PATH, error_reply(429, "TOOMANYREQUESTS", "slow down", **{"Retry-After": "0"}))
    return {}


def _config_mismatch(fake: FakeRegistry) -> dict[str, str]:
    serve(fake)
    fake.script(
        f"/v2/app/blobs/{ROOT_IMAGE.config_digest}", Reply(200, ROOT_IMAGE.config.swapcase())
    )
    return {}


def _layer_mismatch(fake: FakeRegistry) -> dict[str, str]:
    serve(fake, APP_IMAGE)
    layer_digest = oci.sha256_digest(APP_IMAGE.layers[0])
    tampered = oci.layer({"etc/passwd": b"app:x:0:0::/app:/bin/sh\n"})
    fake.script(f"/v2/app/blobs/{layer_digest}", Reply(200, tampered))
    return {}


def _not_json(fake: FakeRegistry) -> dict[str, str]:
    fake.script(TAG_PATH, manifest_reply(b"<html>502 Bad Gateway</html>", oci.OCI_MANIFEST))
    return {}


def _wrong_digest_header(fake: FakeRegistry) -> dict[str, str]:
    reply = manifest_reply(ROOT_IMAGE.manifest, oci.OCI_MANIFEST, digest="sha256:" + "1" * 64)
    fake.script(TAG_PATH, reply)
    return {}


def _schema1(fake: FakeRegistry) -> dict[str, str]:
    body = json.dumps({"schemaVersion": 1, "name": "app", "fsLayers": []}).encode()
    media_type = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    fake.script(TAG_PATH, manifest_reply(body, media_type))
    return {}


DEEP = b"[" * 100_000 + b"]" * 100_000
"""JSON nested 100,000 deep: past Python's recursion limit in ``json.loads``."""


def _deep_manifest(fake: FakeRegistry) -> dict[str, str]:
    body = b'{"schemaVersion": 2, "layers": ' + DEEP + b"}"
    fake.script(TAG_PATH, manifest_reply(body, oci.OCI_MANIFEST))
    return {}


def _deep_config(fake: FakeRegistry) -> dict[str, str]:
    config = b'{"architecture": "amd64", "os": "linux", "config": ' + DEEP + b"}"
    manifest = json.loads(ROOT_IMAGE.manifest)
    manifest["config"] |= {"digest": oci.sha256_digest(config), "size": len(config)}
    body = json.dumps(manifest).encode()
    blobs = {**ROOT_IMAGE.blobs, oci.sha256_digest(config): config}
    fake.serve_image("app", "v1", body, ROOT_IMAGE.media_type, blobs)
    return {}


def _redirect_loop(fake: FakeRegistry) -> dict[str, str]:
    fake.script(TAG_PATH, Reply(307, b"", {"Location": TAG_PATH}))
    return {}


def _redirect_elsewhere(fake: FakeRegistry) -> dict[str, str]:
    fake.script(TAG_PATH, Reply(302, b"", {"Location": "ftp://127.0.0.1/app/manifest"}))
    return {}


ECHO_PAD = "x" * 470
"""Puts what the registry echoes across the 500-character cut of an error detail."""


def _echoes_basic_credentials(fake: FakeRegistry) -> dict[str, str]:
    """A 403 whose body quotes the request's Authorization header, cut short by the gate."""

    def manifest(seen: Seen) -> Reply:
        sent = seen.headers.get("Authorization")
        if sent != BASIC:
            return error_reply(401, "UNAUTHORIZED", "auth", **{"WWW-Authenticate": 'Basic x="y"'})
        return error_reply(403, "DENIED", f"{ECHO_PAD}{sent[6:]} {PASSWORD} for {sent}")

    fake.handle(TAG_PATH, manifest)
    return {"REGISTRY_USERNAME": USER, "REGISTRY_PASSWORD": PASSWORD}


def _echoes_bearer_token(fake: FakeRegistry) -> dict[str, str]:
    """A 404 whose body quotes the bearer token the token service handed out."""
    token_service(fake, error_reply(404, "MANIFEST_UNKNOWN", f"no manifest for Bearer {TOKEN}"))
    return {"REGISTRY_USERNAME": USER, "REGISTRY_PASSWORD": PASSWORD}


def _bad_timeout_setting(fake: FakeRegistry) -> dict[str, str]:
    serve(fake)
    return {"CONTAINER_GATE_REGISTRY_TIMEOUT": "soon"}


FAULTS: list[tuple[Row, Callable[[FakeRegistry], dict[str, str]]]] = [
    (
        Row(
            "401 without credentials",
            2,
            "authentication required for {host}/app:v1: "
            "set REGISTRY_USERNAME/REGISTRY_PASSWORD or docker login",
        ),
        _no_credentials,
    ),
    (
        Row(
            "401 with wrong credentials",
            2,
            "credentials were rejected by {host} for {host}/app:v1 "
            "(from REGISTRY_USERNAME/REGISTRY_PASSWORD)",
        ),
        _wrong_credentials,
    ),
    (Row("403", 2, "access denied to {host}/app:v1 (HTTP 403) for anonymous access"), _forbidden),
    (Row("404", 2, "image not found: {host}/app:v1"), _not_found),
    (Row("persistent 503", 2, "{host} answered HTTP 503 after 4 attempts"), _always_503),
    (Row("persistent 429", 2, "HTTP 429 (rate limited) after 4 attempts"), _always_429),
    (Row("config blob not matching its digest", 2, "digest mismatch for blob"), _config_mismatch),
    (Row("layer blob not matching its digest", 2, "digest mismatch for blob"), _layer_mismatch),
    (
        Row("manifest that is not JSON", 2, "the manifest for {host}/app:v1 is not a JSON object"),
        _not_json,
    ),
    (
        Row("manifest not matching Docker-Content-Digest", 2, "(Docker-Content-Digest)"),
        _wrong_digest_header,
    ),
    (
        Row(
            "schema-1 manifest", 2, "has media type application/vnd.docker.distribution.manifest.v1"
        ),
        _schema1,
    ),
    (
        Row("manifest nested 100,000 deep", 2, "the manifest for {host}/app:v1 is not a JSON"),
        _deep_manifest,
    ),
    (Row("config nested 100,000 deep", 2, "the image config is not a JSON object"), _deep_config),
    (Row("redirect loop", 2, "request to {host} failed: TooManyRedirects"), _redirect_loop),
    (
        Row("redirect to a non-HTTP URL", 2, "request to {host} failed: InvalidSchema"),
        _redirect_elsewhere,
    ),
    (
        Row(
            "unusable CONTAINER_GATE_REGISTRY_TIMEOUT", 2, "CONTAINER_GATE_REGISTRY_TIMEOUT='soon'"
        ),
        _bad_timeout_setting,
    ),
    (
        Row(
            "403 whose body echoes the credentials",
            2,
            "access denied to {host}/app:v1 (HTTP 403) for the credentials from REGISTRY_USERNAME",
        ),
        _echoes_basic_credentials,
    ),
    (Row("404 whose body echoes the bearer token", 2, "image not found"), _echoes_bearer_token),
]


def test_control_the_served_image_reaches_a_verdict(fake: FakeRegistry, tmp_path: Path) -> None:
    serve(fake, APP_IMAGE)
    outcome = gate(fake.host, tmp_path)
    assert outcome.code == 0, outcome.output
    assert outcome.stdout.startswith(f"PASS  {fake.host}/app@{APP_IMAGE.digest}")


@pytest.mark.parametrize(("row", "inject"), FAULTS, ids=[str(r) for r, _ in FAULTS])
def test_registry_fault(
    row: Row, inject: Callable[[FakeRegistry], dict[str, str]], fake: FakeRegistry, tmp_path: Path
) -> None:
    outcome = gate(fake.host, tmp_path, **inject(fake))
    check_row(outcome, Row(row.fault, row.exit_code, row.fragment.format(host=fake.host)))
    assert PASSWORD not in outcome.output and TOKEN not in outcome.output
    for start in range(len(BASIC) - 6 - 8 + 1):  # no 8 characters of the base64 either
        assert BASIC[6 + start : 6 + start + 8] not in outcome.output
    assert not outcome.stdout.startswith("PASS")


def test_stalled_registry_gives_up_after_bounded_attempts(
    fake: FakeRegistry, tmp_path: Path
) -> None:
    fake.script(TAG_PATH, Reply(200, ROOT_IMAGE.manifest, stall=20))
    outcome = gate(fake.host, tmp_path, CONTAINER_GATE_REGISTRY_TIMEOUT=FAST)
    check_row(outcome, Row("stall", 2, "(4 attempts)"))
    assert fake.count(TAG_PATH) == 4
    assert outcome.seconds < 12  # 4 × 0.3 s plus the backoff between attempts


def test_500_then_success_is_retried_and_judged(fake: FakeRegistry, tmp_path: Path) -> None:
    serve(fake, ROOT_IMAGE, error_reply(500, "UNKNOWN", "boom"))
    outcome = gate(fake.host, tmp_path)
    check_row(outcome, Row("500 then success", 1, "the container runs as root"))
    assert outcome.stdout.startswith(f"FAIL  {fake.host}/app@{ROOT_IMAGE.digest}")
    assert fake.count(TAG_PATH) == 2


def test_429_with_retry_after_is_waited_out_and_judged(fake: FakeRegistry, tmp_path: Path) -> None:
    limited = error_reply(429, "TOOMANYREQUESTS", "slow down", **{"Retry-After": "1"})
    serve(fake, ROOT_IMAGE, limited)
    started = time.monotonic()
    outcome = gate(fake.host, tmp_path)
    check_row(outcome, Row("429 with Retry-After", 1, "the container runs as root"))
    assert time.monotonic() - started >= 1.0
    assert fake.count(TAG_PATH) == 2


def test_right_credentials_get_through_the_token_service(
    fake: FakeRegistry, tmp_path: Path
) -> None:
    """The control for the 401 rows: the same registry with the right credentials."""
    token_service(fake)
    for digest, blob in ROOT_IMAGE.blobs.items():
        fake.script(f"/v2/app/blobs/{digest}", Reply(200, blob))
    outcome = gate(fake.host, tmp_path, REGISTRY_USERNAME=USER, REGISTRY_PASSWORD=PASSWORD)
    check_row(outcome, Row("authenticated, root image", 1, "the container runs as root"))
    assert PASSWORD not in outcome.output


def test_connection_refused(tmp_path: Path) -> None:
    host = f"127.0.0.1:{free_port()}"
    outcome = gate(host, tmp_path)
    check_row(
        outcome, Row("connection refused", 2, f"cannot connect to {host}: connection refused")
    )
