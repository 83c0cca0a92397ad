"""Fault matrix, container engine: ``docker-daemon:NAME`` with an engine that fails ends in 2.

The engine is ``tests/support/fakeengine.py``: the scripted fake registry's server on a unix
socket, answering ``/images/NAME/json`` and ``/images/<id>/get`` as an engine does, with one
fault injected per row (Podman, the real engine of the end-to-end tests, cannot be made to
answer 500, cut an export short or export another image than the id it reported). The
controls show that the same scripted engine, unfaulted, reaches real verdicts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.harness import Outcome, Row, base_env, check_row, run_cli, write_policy
from tests.support import oci
from tests.support.fakeengine import docker_archive_bytes, fake_engine, serve_image
from tests.support.fakeregistry import FakeRegistry, Reply
from tests.support.rootfs import APP_PASSWD, ROOT_PASSWD

APP_IMAGE = oci.build_image([oci.layer({"etc/passwd": APP_PASSWD.encode()})], user="app")
ROOT_IMAGE = oci.build_image([oci.layer({"etc/passwd": ROOT_PASSWD.encode()})])
ARCHIVE = docker_archive_bytes(APP_IMAGE, "app:1")
ID = APP_IMAGE.config_digest
INSPECT = "/images/app:1/json"
EXPORT = f"/images/{ID}/get"
POLICY = "image:\n  non_root: true\n"


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with fake_engine() as server:
        yield server


def gate(fake: FakeRegistry, tmp_path: Path, **env: str) -> Outcome:
    """Judge ``docker-daemon:app:1`` on the fake engine under the non-root policy."""
    environment = base_env("", tmp_path) | {"DOCKER_HOST": f"unix://{fake.unix_path}"} | env
    policy = write_policy(tmp_path, POLICY)
    return run_cli("check", "docker-daemon:app:1", "--policy", policy, env=environment)


def engine_error(status: int, message: str) -> Reply:
    """An Engine API error body, as Docker and Podman write them."""
    body = json.dumps({"cause": message, "message": message, "response": status}).encode()
    return Reply(status, body, {"Content-Type": "application/json"})


def _inspect_500(fake: FakeRegistry) -> dict[str, str]:
    serve_image(fake, "app:1", ARCHIVE, image_id=ID, inspect=engine_error(500, "store is locked"))
    return {}


def _export_500(fake: FakeRegistry) -> dict[str, str]:
    serve_image(fake, "app:1", ARCHIVE, image_id=ID, export=engine_error(500, "layer unreadable"))
    return {}


def _not_found(fake: FakeRegistry) -> dict[str, str]:
    fake.script(INSPECT, engine_error(404, "failed to find image app:1: No such image"))
    return {}


def _inspect_not_json(fake: FakeRegistry) -> dict[str, str]:
    serve_image(fake, "app:1", ARCHIVE, image_id=ID, inspect=Reply(200, b"<html>proxy</html>"))
    return {}


def _inspect_deep(fake: FakeRegistry) -> dict[str, str]:
    deep = Reply(200, b'{"Id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    serve_image(fake, "app:1", ARCHIVE, image_id=ID, inspect=deep)
    return {}


def _inspect_cut(fake: FakeRegistry) -> dict[str, str]:
    record = json.dumps({"Id": ID}).encode()
    serve_image(fake, "app:1", ARCHIVE, image_id=ID, inspect=Reply(200, record, cut=10))
    return {}


def _id_not_a_digest(fake: FakeRegistry) -> dict[str, str]:
    serve_image(fake, "app:1", ARCHIVE, image_id="0123456789ab")
    return {}


def _another_image(fake: FakeRegistry) -> dict[str, str]:
    other = docker_archive_bytes(ROOT_IMAGE, "app:1")
    serve_image(fake, "app:1", ARCHIVE, image_id=ID, export=Reply(200, other))
    return {}


def _cut_mid_stream(fake: FakeRegistry) -> dict[str, str]:
    serve_image(fake, "app:1", ARCHIVE, image_id=ID, export=Reply(200, ARCHIVE, cut=3000))
    return {}


def _truncated_archive(fake: FakeRegistry) -> dict[str, str]:
    half = ARCHIVE[: len(ARCHIVE) // 2]
    serve_image(fake, "app:1", ARCHIVE, image_id=ID, export=Reply(200, half))
    return {}


def _over_the_cap(fake: FakeRegistry) -> dict[str, str]:
    serve_image(fake, "app:1", ARCHIVE, image_id=ID)
    return {"CONTAINER_GATE_ENGINE_MAX_BYTES": "4096"}


def _stall(fake: FakeRegistry) -> dict[str, str]:
    serve_image(fake, "app:1", ARCHIVE, image_id=ID, export=Reply(200, ARCHIVE, stall=20))
    return {"CONTAINER_GATE_ENGINE_TIMEOUT": "0.3"}


def _bad_timeout_setting(fake: FakeRegistry) -> dict[str, str]:
    serve_image(fake, "app:1", ARCHIVE, image_id=ID)
    return {"CONTAINER_GATE_ENGINE_TIMEOUT": "soon"}


def _no_engine(fake: FakeRegistry) -> dict[str, str]:
    return {"DOCKER_HOST": f"unix://{fake.unix_path}.absent"}


def _remote_plain_http(fake: FakeRegistry) -> dict[str, str]:
    return {"DOCKER_HOST": "tcp://192.0.2.10:2375"}


def _remote_tls(fake: FakeRegistry) -> dict[str, str]:
    return {"DOCKER_HOST": "tcp://127.0.0.1:2376", "DOCKER_TLS_VERIFY": "1"}


def _context_selected(fake: FakeRegistry) -> dict[str, str]:
    return {"DOCKER_HOST": "", "DOCKER_CONTEXT": "build-farm"}


FAULTS: list[tuple[Row, Callable[[FakeRegistry], dict[str, str]]]] = [
    (Row("engine answers 500 to inspect", 2, "answered HTTP 500 to GET " + INSPECT), _inspect_500),
    (Row("engine answers 500 to export", 2, "HTTP 500 to GET " + EXPORT), _export_500),
    (Row("image not in the engine", 2, "image 'app:1' not found in the engine"), _not_found),
    (Row("inspect answer not JSON", 2, f"GET {INSPECT} is not a JSON object"), _inspect_not_json),
    (Row("inspect answer nested 100,000 deep", 2, "is not a JSON object"), _inspect_deep),
    (Row("inspect answer cut off", 2, f"the answer to GET {INSPECT} was cut off"), _inspect_cut),
    (Row("image Id not a digest", 2, "image 'app:1' has no valid Id"), _id_not_a_digest),
    (Row("export of another image than the Id", 2, "exported another image"), _another_image),
    (Row("export cut off mid-stream", 2, "failed while exporting"), _cut_mid_stream),
    (Row("truncated archive", 2, "'app:1' as an unusable docker archive"), _truncated_archive),
    (Row("export over the size cap", 2, "larger than 4096 bytes"), _over_the_cap),
    (Row("engine stalls", 2, f"failed to answer GET {EXPORT}: timed out"), _stall),
    (
        Row("unusable CONTAINER_GATE_ENGINE_TIMEOUT", 2, "CONTAINER_GATE_ENGINE_TIMEOUT='soon'"),
        _bad_timeout_setting,
    ),
    (Row("no engine at DOCKER_HOST", 2, "cannot reach the engine at DOCKER_HOST="), _no_engine),
    (Row("remote engine, plain HTTP", 2, "loopback engine only"), _remote_plain_http),
    (Row("remote engine, TLS", 2, "TLS to the engine is not supported"), _remote_tls),
    (
        Row(
            "docker context selected, no DOCKER_HOST", 2, "docker context 'build-farm' is selected"
        ),
        _context_selected,
    ),
]


@pytest.mark.parametrize(
    ("image", "code", "verdict"), [(APP_IMAGE, 0, "PASS"), (ROOT_IMAGE, 1, "FAIL")]
)
def test_control_the_scripted_engine_reaches_a_verdict(
    image: oci.BuiltImage, code: int, verdict: str, fake: FakeRegistry, tmp_path: Path
) -> None:
    serve_image(fake, "app:1", docker_archive_bytes(image, "app:1"), image_id=image.config_digest)
    outcome = gate(fake, tmp_path)
    assert outcome.code == code, outcome.output
    assert outcome.stdout.startswith(f"{verdict}  docker-daemon:app:1")


@pytest.mark.parametrize(("row", "inject"), FAULTS, ids=[str(r) for r, _ in FAULTS])
def test_engine_fault(
    row: Row, inject: Callable[[FakeRegistry], dict[str, str]], fake: FakeRegistry, tmp_path: Path
) -> None:
    outcome = gate(fake, tmp_path, **inject(fake))
    check_row(outcome, row)
    assert not outcome.stdout.startswith("PASS")
    assert outcome.seconds < 15
