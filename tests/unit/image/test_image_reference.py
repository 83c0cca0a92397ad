"""IMAGE parsing: registry references (distribution's grammar), oci: and docker-archive: forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.errors import UsageError
from gate.oci.digests import is_digest
from gate.oci.reference import (
    DockerArchiveSpec,
    OciLayoutSpec,
    Reference,
    normalise_repository,
    parse_image,
    parse_reference,
    tag_of,
)

DIGEST = "sha256:" + "ab" * 32


def test_registry_reference_with_tag() -> None:
    ref = parse_reference("ghcr.io/acme/app:3f2a9c1")
    assert ref == Reference("ghcr.io", "acme/app", tag="3f2a9c1")
    assert ref.registry == "ghcr.io"
    assert ref.identifier == "3f2a9c1"
    assert ref.pinned(DIGEST) == f"ghcr.io/acme/app@{DIGEST}"


def test_loopback_registry_with_port_and_digest() -> None:
    ref = parse_reference(f"127.0.0.1:5000/app@{DIGEST}")
    assert (ref.domain, ref.repository, ref.tag, ref.digest) == (
        "127.0.0.1:5000",
        "app",
        None,
        DIGEST,
    )
    assert ref.identifier == DIGEST


def test_tag_and_digest_together_keep_both_and_fetch_by_digest() -> None:
    ref = parse_reference(f"app:tag@{DIGEST}")
    assert ref.tag == "tag"
    assert ref.digest == DIGEST
    assert ref.identifier == DIGEST
    assert ref.name == "docker.io/library/app"


@pytest.mark.parametrize(
    ("text", "name", "registry"),
    [
        ("debian", "docker.io/library/debian", "registry-1.docker.io"),
        ("docker.io/debian", "docker.io/library/debian", "registry-1.docker.io"),
        ("index.docker.io/library/debian", "docker.io/library/debian", "registry-1.docker.io"),
        ("bitnami/redis", "docker.io/bitnami/redis", "registry-1.docker.io"),
        ("localhost/app", "localhost/app", "localhost"),
        ("localhost:5000/team/app", "localhost:5000/team/app", "localhost:5000"),
        ("[::1]:5000/app", "[::1]:5000/app", "[::1]:5000"),
        ("Registry.Example.com/app", "registry.example.com/app", "registry.example.com"),
    ],
)
def test_docker_hub_normalisation_and_registry_hosts(text: str, name: str, registry: str) -> None:
    ref = parse_reference(text)
    assert ref.name == name
    assert ref.registry == registry


def test_no_tag_and_no_digest_means_latest() -> None:
    ref = parse_reference("debian")
    assert ref.tag == "latest"
    assert str(ref) == "docker.io/library/debian:latest"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("app name", "whitespace"),
        ("https://ghcr.io/acme/app", "scheme"),
        ("ghcr.io/Acme/app", "lowercase"),
        ("ghcr.io/acme/app:-bad", "invalid tag"),
        ("ghcr.io/acme/app@sha256:abc", "invalid digest"),
        ("ghcr.io/acme/app@md5:" + "a" * 32, "invalid digest"),
        ("ghcr.io/acme/a..b", "invalid repository"),
        ("ghcr.io/", "no repository"),
        ("[1::2::3]:5000/app", "IPv6"),
        ("[::zz]:5000/app", "registry host"),
        ("reg.example.com:99999/app", "port"),
        ("-bad.example.com/app", "registry host"),
    ],
)
def test_invalid_references_are_usage_errors_that_say_why(text: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        parse_reference(text)


def test_overlong_names_are_rejected() -> None:
    with pytest.raises(UsageError, match="longer than 255"):
        parse_reference("ghcr.io/" + "/".join(["abcdefghij"] * 30))


@pytest.mark.parametrize(
    ("text", "repository"),
    [
        ("nginx:1.27", "docker.io/library/nginx"),
        ("ghcr.io/x/y", "ghcr.io/x/y"),
        (f"ghcr.io/x/y:1@{DIGEST}", "ghcr.io/x/y"),
        ("127.0.0.1:5000/base", "127.0.0.1:5000/base"),
    ],
)
def test_normalise_repository_drops_tag_and_digest(text: str, repository: str) -> None:
    assert normalise_repository(text) == repository


def test_tag_of_is_lenient_with_non_references() -> None:
    assert tag_of("ghcr.io/acme/app:3f2a9c1") == "3f2a9c1"
    assert tag_of(f"ghcr.io/acme/app@{DIGEST}") is None
    assert tag_of("/tmp/some dir/layout") is None


def test_oci_layout_forms(tmp_path: Path) -> None:
    assert parse_image(f"oci:{tmp_path}") == OciLayoutSpec(tmp_path)
    assert parse_image(f"oci:{tmp_path}:v1") == OciLayoutSpec(tmp_path, tag="v1")
    assert parse_image(f"oci:{tmp_path}@{DIGEST}") == OciLayoutSpec(tmp_path, digest=DIGEST)


def test_oci_layout_whose_directory_name_has_a_colon_is_not_split(tmp_path: Path) -> None:
    layout = tmp_path / "out:v2"
    layout.mkdir()
    assert parse_image(f"oci:{layout}") == OciLayoutSpec(layout)


def test_docker_archive_form(tmp_path: Path) -> None:
    assert parse_image(f"docker-archive:{tmp_path}/img.tar") == DockerArchiveSpec(
        tmp_path / "img.tar"
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("oci:", "oci:DIR"),
        ("docker-archive:", "docker-archive:FILE"),
        ("oci-archive:x.tar", "extract"),
    ],
)
def test_incomplete_local_forms_are_usage_errors(text: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        parse_image(text)


def test_parse_image_passes_registry_references_through() -> None:
    assert parse_image("ghcr.io/acme/app:1") == Reference("ghcr.io", "acme/app", tag="1")


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("sha256:" + "a" * 64, True),
        ("sha512:" + "b" * 128, True),
        ("sha256:" + "a" * 64 + "\n", False),  # `$` alone would accept the newline
        ("sha256:" + "A" * 64, False),
        ("sha256:" + "a" * 63, False),
        ("md5:" + "a" * 32, False),
    ],
)
def test_a_digest_is_the_whole_text_in_a_registered_algorithm(text: str, valid: bool) -> None:
    assert is_digest(text) is valid
