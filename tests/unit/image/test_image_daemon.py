"""``docker-daemon:NAME[:TAG]``: the image read through a real Engine API (Podman's), once.

The engine is asked for NAME's id, then exports that id; the export is a docker archive in
a private temporary file, and that file is the image from then on. Faults Podman cannot
produce come from the scripted fake engine (tests/support/fakeengine.py).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tempfile
from pathlib import Path

import pytest

from gate.errors import EngineError, UsageError
from gate.image.engine import DEFAULT_HOST, engine_address
from gate.image.sources import open_image
from gate.image.sources.daemon import DaemonSource
from gate.oci.reference import DaemonSpec, parse_image
from gate.scanners.grype import source_for
from tests.support.fakeengine import docker_archive_bytes, fake_engine, serve_image, with_members
from tests.support.fakeregistry import FakeRegistry
from tests.support.oci import build_image, layer, layer_tar, write_docker_archive
from tests.support.podman import RunningPodman
from tests.support.rootfs import APP_PASSWD
from tests.support.users import lookup_user

HEX = "ab" * 32
APP = build_image([layer({"etc/passwd": APP_PASSWD.encode()})], user="app")


# --------------------------------------------------------------------------- IMAGE forms


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("docker-daemon:localhost/app:1", DaemonSpec("localhost/app:1", tag="1")),
        ("docker-daemon:app", DaemonSpec("app", tag="latest")),
        (f"docker-daemon:app@sha256:{HEX}", DaemonSpec(f"app@sha256:{HEX}")),
        (f"docker-daemon:sha256:{HEX}", DaemonSpec(f"sha256:{HEX}", image_id=f"sha256:{HEX}")),
    ],
)
def test_daemon_forms_keep_the_name_as_written_for_the_engine(text, spec):
    assert parse_image(text) == spec


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("docker-daemon:", "docker-daemon:NAME"),
        ("docker-daemon:sha256:abcd", "full sha256"),
        ("docker-daemon:App:1", "lowercase"),
        ("docker-daemon:app:1 x", "whitespace"),
    ],
)
def test_malformed_daemon_names_are_refused_before_any_request(text, why):
    with pytest.raises(UsageError, match=why):
        parse_image(text)


# --------------------------------------------------------------------------- DOCKER_HOST


def test_the_default_engine_is_docker_s_socket(tmp_path):
    environ = {"DOCKER_CONFIG": str(tmp_path)}
    assert engine_address(environ).url == DEFAULT_HOST
    assert engine_address(environ).socket_path == "/var/run/docker.sock"


@pytest.mark.parametrize("url", ["tcp://127.0.0.1:2375", "tcp://localhost:2375", "tcp://[::1]:1"])
def test_a_loopback_tcp_engine_is_spoken_to_in_plain_http(url):
    address = engine_address({"DOCKER_HOST": url})
    assert address.socket_path is None and address.port is not None


@pytest.mark.parametrize(
    ("environ", "why"),
    [
        ({"DOCKER_HOST": "tcp://10.0.0.5:2375"}, "loopback engine only"),
        ({"DOCKER_HOST": "tcp://build.example:2376"}, "loopback engine only"),
        ({"DOCKER_HOST": "tcp://127.0.0.1:2376", "DOCKER_TLS_VERIFY": "1"}, "TLS"),
        ({"DOCKER_HOST": "tcp://127.0.0.1:2376", "DOCKER_CERT_PATH": "/c"}, "TLS"),
        ({"DOCKER_HOST": "tcp://127.0.0.1"}, "tcp://127.0.0.1:PORT"),
        ({"DOCKER_HOST": "tcp://me@127.0.0.1:2375"}, "tcp://127.0.0.1:PORT"),
        ({"DOCKER_HOST": "tcp://127.0.0.1:2376", "DOCKER_TLS": "1"}, "TLS"),
        ({"DOCKER_HOST": "ssh://me@build"}, "only unix"),
        ({"DOCKER_HOST": "npipe:////./pipe/docker_engine"}, "only unix"),
        ({"DOCKER_HOST": "unix://relative.sock"}, "absolute"),
        ({"DOCKER_CONTEXT": "remote"}, r"context 'remote' is selected \(DOCKER_CONTEXT\)"),
    ],
)
def test_engines_the_gate_cannot_reach_safely_are_refused(environ, why, tmp_path):
    with pytest.raises(UsageError, match=why):
        engine_address(environ | {"DOCKER_CONFIG": str(tmp_path)})


def test_a_context_selected_in_config_json_is_refused_as_docker_would_use_it(tmp_path):
    (tmp_path / "config.json").write_text('{"currentContext": "build-farm"}')
    with pytest.raises(UsageError, match=r"'build-farm' is selected \(currentContext in "):
        engine_address({"DOCKER_CONFIG": str(tmp_path)})
    # DOCKER_HOST wins over any context, as in docker/cli.
    assert engine_address({"DOCKER_CONFIG": str(tmp_path), "DOCKER_HOST": "unix:///s"}).url


def test_the_default_context_is_the_default_socket(tmp_path):
    (tmp_path / "config.json").write_text('{"currentContext": "default"}')
    assert engine_address({"DOCKER_CONFIG": str(tmp_path)}).url == DEFAULT_HOST
    assert engine_address({"DOCKER_CONTEXT": "default"} | {"DOCKER_CONFIG": "/nowhere"}).url


# --------------------------------------------------------------------------- real engine


@pytest.fixture(scope="module")
def app_in_podman(podman: RunningPodman, tmp_path_factory) -> str:
    archive = tmp_path_factory.mktemp("daemon") / "app.tar"
    podman.load(write_docker_archive(archive, APP, "localhost/daemon/app:1"))
    return "localhost/daemon/app:1"


def test_the_judged_digest_is_the_image_id_and_scanners_get_the_export(
    podman, app_in_podman, tmp_path, monkeypatch
):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    source = open_image(
        f"docker-daemon:{app_in_podman}", environ={"DOCKER_HOST": podman.docker_host}
    )
    assert isinstance(source, DaemonSource)
    assert source.subject.digest == APP.config_digest == source.image_id
    assert source.subject.tag == "1" and source.subject.repository is None
    assert source.scan_target.kind == "docker-archive"
    export = Path(source.scan_target.location)
    assert export.is_file() and export.is_relative_to(tmp_path)
    assert source_for(source.scan_target) == f"docker-archive:{export}"
    assert source.config().user == "app"
    assert lookup_user("app", source.layers()).uid == 1000
    source.close()
    assert not export.exists() and list(tmp_path.iterdir()) == []


def test_the_image_id_form_reads_the_same_image(podman, app_in_podman):
    environ = {"DOCKER_HOST": podman.docker_host}
    source = open_image(f"docker-daemon:{APP.config_digest}", environ=environ)
    assert source.subject.digest == APP.config_digest and source.subject.tag is None


def test_an_image_podman_built_itself_is_judged_by_its_id(podman, tmp_path):
    """``podman import --change USER``: the config is Podman's, and its digest is the id."""
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(layer_tar({"etc/passwd": APP_PASSWD.encode(), "app/run": b"#!/bin/sh\n"}))
    image_id = podman.import_rootfs(rootfs, "localhost/daemon/imported:1", "USER 1000")
    environ = {"DOCKER_HOST": podman.docker_host}
    source = open_image("docker-daemon:localhost/daemon/imported:1", environ=environ)
    assert source.subject.digest == image_id
    assert source.config().user == "1000"


def test_a_repo_digest_name_is_resolved_by_the_engine(podman, app_in_podman):
    repo_digest = podman.podman(
        "image", "inspect", "--format", "{{index .RepoDigests 0}}", app_in_podman
    ).strip()
    environ = {"DOCKER_HOST": podman.docker_host}
    source = open_image(f"docker-daemon:{repo_digest}", environ=environ)
    assert source.subject.digest == APP.config_digest and source.subject.tag is None


def test_an_unknown_name_is_an_error_naming_it(podman):
    with pytest.raises(EngineError, match=r"'localhost/daemon/nope:1' not found .*DOCKER_HOST"):
        open_image(
            "docker-daemon:localhost/daemon/nope:1", environ={"DOCKER_HOST": podman.docker_host}
        )


def test_an_absent_engine_is_an_error_naming_docker_host(tmp_path):
    environ = {"DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    with pytest.raises(EngineError, match=r"cannot reach .*DOCKER_HOST=unix://.*none\.sock"):
        open_image("docker-daemon:app:1", environ=environ)


# --------------------------------------------------------------------------- scripted engine


def test_the_export_is_asked_for_by_image_id_never_by_name_again():
    archive = docker_archive_bytes(APP, "app:1")
    with fake_engine() as fake:
        serve_image(fake, "app:1", archive, image_id=APP.config_digest)
        environ = {"DOCKER_HOST": f"unix://{fake.unix_path}"}
        open_image("docker-daemon:app:1", environ=environ).close()  # type: ignore[attr-defined]
    assert [s.path for s in fake.seen] == ["/images/app:1/json", f"/images/{APP.config_digest}/get"]


def _containerd_export(manifest_digest: str) -> bytes:
    """A containerd-store ``docker save``: an OCI layout inside, the image id = its manifest."""
    return with_members(
        docker_archive_bytes(APP, "app:1"),
        {"blobs/" + manifest_digest.replace(":", "/"): APP.manifest},
    )


def test_an_id_that_is_the_manifest_of_the_exported_config_is_accepted():
    """Docker's containerd image store names an image by manifest (or index) digest."""
    with fake_engine() as fake:
        serve_image(fake, "app:1", _containerd_export(APP.digest), image_id=APP.digest)
        source = open_image(
            "docker-daemon:app:1", environ={"DOCKER_HOST": f"unix://{fake.unix_path}"}
        )
    assert source.subject.digest == APP.config_digest


def test_an_index_leading_to_the_exported_config_is_accepted():
    index = json.dumps(
        {"schemaVersion": 2, "manifests": [{"digest": APP.digest, "size": len(APP.manifest)}]}
    ).encode()
    index_digest = "sha256:" + hashlib.sha256(index).hexdigest()
    archive = with_members(
        _containerd_export(APP.digest), {f"blobs/sha256/{index_digest[7:]}": index}
    )
    with fake_engine() as fake:
        serve_image(fake, "app:1", archive, image_id=index_digest)
        source = open_image(
            "docker-daemon:app:1", environ={"DOCKER_HOST": f"unix://{fake.unix_path}"}
        )
    assert source.subject.digest == APP.config_digest


def test_a_manifest_blob_that_does_not_hash_to_its_name_is_not_trusted():
    other = build_image([layer({"x": b"y"})])
    forged = with_members(
        docker_archive_bytes(APP, "app:1"),
        {"blobs/" + other.digest.replace(":", "/"): APP.manifest},
    )
    with fake_engine() as fake, pytest.raises(EngineError, match="exported another image"):
        serve_image(fake, "app:1", forged, image_id=other.digest)
        open_image("docker-daemon:app:1", environ={"DOCKER_HOST": f"unix://{fake.unix_path}"})


def test_an_export_of_another_image_is_refused_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    other = build_image([layer({"etc/passwd": b"root:x:0:0::/:/bin/sh\n"})])
    with fake_engine() as fake, pytest.raises(EngineError, match="exported another image"):
        serve_image(fake, "app:1", docker_archive_bytes(other, "app:1"), image_id=APP.config_digest)
        open_image("docker-daemon:app:1", environ={"DOCKER_HOST": f"unix://{fake.unix_path}"})
    assert list(tmp_path.glob("container-gate-*")) == []


def test_layers_are_verified_against_the_exported_config():
    """The export is a docker archive like any other: its layers must match the diff_ids."""
    tampered = docker_archive_bytes(APP, "app:1").replace(b"app:x:1000", b"app:x:0000")
    assert gzip.decompress(APP.layers[0]) not in tampered
    with fake_engine() as fake:
        serve_image(fake, "app:1", tampered, image_id=APP.config_digest)
        source = open_image(
            "docker-daemon:app:1", environ={"DOCKER_HOST": f"unix://{fake.unix_path}"}
        )
        with pytest.raises(Exception, match="digest mismatch"):
            lookup_user("app", source.layers())


def test_a_loopback_tcp_engine_is_read_like_a_socket_one():
    with FakeRegistry() as fake:  # the scripted engine on 127.0.0.1:<port>
        serve_image(fake, "app:1", docker_archive_bytes(APP, "app:1"), image_id=APP.config_digest)
        source = open_image("docker-daemon:app:1", environ={"DOCKER_HOST": f"tcp://{fake.host}"})
    assert source.subject.digest == APP.config_digest
    assert fake.seen[0].headers["Host"] == "docker"
