"""Opening an image once: registry reference, OCI layout, docker archive."""

from __future__ import annotations

import gzip
import json
import tarfile
from pathlib import Path

import pytest

from gate.errors import ImageSourceError, RegistryError
from gate.image.sources import open_image
from gate.model import ScanTarget
from tests.support import oci
from tests.support.registry import RunningRegistry
from tests.support.rootfs import APP_PASSWD
from tests.support.users import lookup_user


def _image(user: str = "app", marker: bytes = b"1", arch: str = "amd64") -> oci.BuiltImage:
    return oci.build_image(
        [oci.layer({"etc/passwd": APP_PASSWD.encode()}), oci.layer({"srv/marker": marker})],
        user=user,
        annotations={"org.opencontainers.image.revision": "abc123"},
        labels={"team": "core"},
        architecture=arch,
    )


# --------------------------------------------------------------------------- registry


def test_a_registry_tag_is_resolved_to_its_digest_once(registry: RunningRegistry) -> None:
    image = _image()
    oci.push(registry.host, "src/app", image, "3f2a9c1")
    source = open_image(f"{registry.host}/src/app:3f2a9c1", environ={})
    subject = source.subject
    assert (subject.digest, subject.tag) == (image.digest, "3f2a9c1")
    assert subject.repository == f"{registry.host}/src/app"
    assert subject.pinned == f"{registry.host}/src/app@{image.digest}"
    assert source.scan_target == ScanTarget(
        "registry", f"{registry.host}/src/app@{image.digest}", insecure=True
    )


def test_registry_config_manifest_and_layers(registry: RunningRegistry) -> None:
    image = _image()
    oci.push(registry.host, "src/parts", image, "v1")
    source = open_image(f"{registry.host}/src/parts:v1", environ={})
    config = source.config()
    assert (config.user, config.created) == ("app", "2026-11-01T00:00:00Z")
    assert source.raw_config()["architecture"] == "amd64"
    facts = source.manifest_facts()
    assert facts.layer_sizes == tuple(len(b) for b in image.layers)
    assert facts.annotations == {"org.opencontainers.image.revision": "abc123"}
    assert facts.media_type == oci.OCI_MANIFEST
    assert [layer.digest for layer in source.layers()] == [
        oci.sha256_digest(b) for b in image.layers
    ]
    assert lookup_user("app", source.layers()).uid == 1000


def test_a_tag_that_moves_after_resolution_does_not_change_what_is_judged(
    registry: RunningRegistry,
) -> None:
    first, second = _image(user="app"), _image(user="root", marker=b"2")
    oci.push(registry.host, "src/moving", first, "main")
    source = open_image(f"{registry.host}/src/moving:main", environ={})
    oci.push(registry.host, "src/moving", second, "main")
    assert source.subject.digest == first.digest
    assert source.config().user == "app"


def test_a_digest_reference_keeps_its_tag_for_the_tag_check(registry: RunningRegistry) -> None:
    image = _image()
    oci.push(registry.host, "src/pinned", image, None)
    source = open_image(f"{registry.host}/src/pinned:release@{image.digest}", environ={})
    assert (source.subject.digest, source.subject.tag) == (image.digest, "release")


def test_a_multi_platform_index_is_signed_by_its_digest_and_scanned_by_its_child(
    registry: RunningRegistry,
) -> None:
    amd, arm = _image(user="amd"), _image(user="arm", arch="arm64")
    for image in (amd, arm):
        oci.push(registry.host, "src/multi", image, None)
    index = oci.image_index([(amd, "linux/amd64"), (arm, "linux/arm64")])
    index_digest = oci.push_manifest(registry.host, "src/multi", "v1", index, oci.OCI_INDEX)
    source = open_image(f"{registry.host}/src/multi:v1", environ={})
    assert source.subject.digest == index_digest
    assert source.subject.manifest_digest == amd.digest
    assert source.scan_target == ScanTarget(
        "registry", f"{registry.host}/src/multi@{amd.digest}", insecure=True, platform="linux/amd64"
    )
    assert source.config().user == "amd"
    assert source.config_digest() == amd.config_digest
    assert source.manifest_facts().platform == "linux/amd64"
    assert source.manifest_facts().media_type == oci.OCI_INDEX
    other = open_image(f"{registry.host}/src/multi:v1", platform="linux/aarch64", environ={})
    assert other.config().user == "arm"
    assert other.scan_target.location == f"{registry.host}/src/multi@{arm.digest}"
    with pytest.raises(
        RegistryError, match=r"has no linux/s390x image \(available: linux/amd64, linux/arm64\)"
    ):
        open_image(f"{registry.host}/src/multi:v1", platform="linux/s390x", environ={})


def test_a_docker_v2_image_is_read(registry: RunningRegistry) -> None:
    image = oci.build_image(
        [oci.layer({"etc/passwd": APP_PASSWD.encode()})], user="app", media_type=oci.DOCKER_MANIFEST
    )
    oci.push(registry.host, "src/docker", image, "v1")
    source = open_image(f"{registry.host}/src/docker:v1", environ={})
    assert source.subject.digest == image.digest
    assert source.config().user == "app"
    assert lookup_user("app", source.layers()).uid == 1000


def test_a_missing_image_is_a_registry_error(registry: RunningRegistry) -> None:
    with pytest.raises(RegistryError, match=f"image not found: {registry.host}/src/none:v1"):
        open_image(f"{registry.host}/src/none:v1", environ={})


# --------------------------------------------------------------------------- OCI layout


def test_an_oci_layout_is_judged_by_its_manifest_digest(tmp_path: Path) -> None:
    image = _image()
    layout = oci.write_oci_layout(tmp_path / "layout", image, tag="v1")
    for text in (f"oci:{layout}", f"oci:{layout}:v1", f"oci:{layout}@{image.digest}"):
        source = open_image(text)
        assert source.subject.digest == image.digest
        assert source.subject.repository is None
        assert source.scan_target == ScanTarget("oci", f"{layout.resolve()}@{image.digest}")
    source = open_image(f"oci:{layout}:v1")
    assert source.subject.tag == "v1"
    assert source.config().user == "app"
    assert source.manifest_facts().layer_sizes == tuple(len(b) for b in image.layers)
    assert lookup_user("app", source.layers()).uid == 1000


def _two_image_layout(root: Path) -> tuple[oci.BuiltImage, oci.BuiltImage]:
    first, second = _image(user="first"), _image(user="second", marker=b"2")
    oci.write_oci_layout(root, first, tag="one")
    other = oci.write_oci_layout(root.parent / "other", second, tag="two")
    for blob in (other / "blobs" / "sha256").iterdir():
        (root / "blobs" / "sha256" / blob.name).write_bytes(blob.read_bytes())
    index = json.loads((root / "index.json").read_text())
    index["manifests"] += json.loads((other / "index.json").read_text())["manifests"]
    (root / "index.json").write_text(json.dumps(index))
    return first, second


def test_a_tag_selects_within_a_layout_and_no_tag_is_refused_when_ambiguous(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    _first, second = _two_image_layout(root)
    assert open_image(f"oci:{root}:two").config().user == "second"
    assert open_image(f"oci:{root}@{second.digest}").subject.digest == second.digest
    with pytest.raises(ImageSourceError, match=r"lists 2 images; name one .*tags: one, two"):
        open_image(f"oci:{root}")
    with pytest.raises(ImageSourceError, match="no entry for tag three"):
        open_image(f"oci:{root}:three")


def test_a_multi_platform_layout_reads_the_platform_manifest(tmp_path: Path) -> None:
    amd, arm = _image(user="amd"), _image(user="arm", arch="arm64")
    root = oci.write_oci_layout(tmp_path / "multi", amd)
    (root / "blobs" / "sha256" / arm.digest.split(":")[1]).write_bytes(arm.manifest)
    for digest, blob in arm.blobs.items():
        (root / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(blob)
    index = oci.image_index([(amd, "linux/amd64"), (arm, "linux/arm64")])
    (root / "blobs" / "sha256" / oci.sha256_digest(index).split(":")[1]).write_bytes(index)
    descriptor = {
        "mediaType": oci.OCI_INDEX,
        "digest": oci.sha256_digest(index),
        "size": len(index),
    }
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [descriptor]}))
    source = open_image(f"oci:{root}", platform="linux/arm64")
    assert source.subject.digest == oci.sha256_digest(index)
    assert source.subject.manifest_digest == arm.digest
    assert source.config().user == "arm"
    # Neither scanner can be pointed at a manifest inside a layout's index: they get a
    # layout that lists only the chosen one.
    view, _, digest = source.scan_target.location.rpartition("@")
    assert digest == arm.digest and source.scan_target.platform == "linux/arm64"
    listed = json.loads((Path(view) / "index.json").read_text())["manifests"]
    assert [m["digest"] for m in listed] == [arm.digest]
    assert (Path(view) / "blobs" / "sha256" / arm.digest.split(":")[1]).read_bytes() == arm.manifest


def test_a_tampered_layout_blob_is_refused(tmp_path: Path) -> None:
    image = _image()
    layout = oci.write_oci_layout(tmp_path / "layout", image)
    config_path = layout / "blobs" / "sha256" / image.config_digest.split(":")[1]
    config_path.write_bytes(image.config.replace(b'"app"', b'"0"  '))
    source = open_image(f"oci:{layout}")
    with pytest.raises(
        ImageSourceError, match=f"digest mismatch for image config {image.config_digest}"
    ):
        source.config()


def test_a_tampered_layout_layer_is_refused(tmp_path: Path) -> None:
    image = _image()
    layout = oci.write_oci_layout(tmp_path / "layout", image)
    top = oci.sha256_digest(image.layers[-1])
    forged = oci.layer({"etc/passwd": b"app:x:0:0::/:/bin/sh\n"})
    (layout / "blobs" / "sha256" / top.split(":")[1]).write_bytes(forged)
    with pytest.raises(
        ImageSourceError, match=rf"layer {top} (is larger|has \d+ bytes)|digest mismatch"
    ):
        lookup_user("app", open_image(f"oci:{layout}").layers())


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        (lambda p: None, "OCI layout not found"),
        (lambda p: p.mkdir(), "no oci-layout file"),
    ],
)
def test_a_missing_or_foreign_layout_is_an_error(tmp_path: Path, setup, fragment: str) -> None:
    setup(tmp_path / "x")
    with pytest.raises(ImageSourceError, match=fragment):
        open_image(f"oci:{tmp_path / 'x'}")


# --------------------------------------------------------------------------- docker archive


def test_a_docker_archive_is_judged_by_its_config_digest(tmp_path: Path) -> None:
    image = _image()
    archive = oci.write_docker_archive(tmp_path / "img.tar", image, "acme/app:3f2a9c1")
    source = open_image(f"docker-archive:{archive}")
    assert source.subject.digest == image.config_digest
    assert (source.subject.tag, source.subject.repository) == ("3f2a9c1", None)
    assert source.scan_target == ScanTarget("docker-archive", str(archive.resolve()))
    assert source.config().user == "app"
    facts = source.manifest_facts()
    assert facts.platform == "linux/amd64"
    assert facts.layer_sizes == tuple(len(gzip.decompress(b)) for b in image.layers)
    result = lookup_user("app", source.layers())
    assert result.uid == 1000
    assert result.layer == oci.sha256_digest(gzip.decompress(image.layers[0]))


def test_a_tampered_docker_archive_layer_is_refused(tmp_path: Path) -> None:
    image = _image()
    archive = oci.write_docker_archive(tmp_path / "img.tar", image, "acme/app:1")
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("layer.tar") and m.size > 2048)
    data = bytearray(archive.read_bytes())
    data[member.offset_data + 600] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(ImageSourceError, match="digest mismatch for layer"):
        lookup_user("nobody", open_image(f"docker-archive:{archive}").layers())


def test_a_multi_image_docker_archive_is_refused(tmp_path: Path) -> None:
    archive = oci.write_docker_archive(tmp_path / "img.tar", _image(), "acme/app:1")
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    manifest = json.loads(members["manifest.json"])
    members["manifest.json"] = json.dumps(manifest * 2).encode()
    with tarfile.open(archive, "w") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, __import__("io").BytesIO(body))
    with pytest.raises(ImageSourceError, match="holds 2 images"):
        open_image(f"docker-archive:{archive}")


def test_missing_and_compressed_docker_archives_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageSourceError, match="docker archive not found"):
        open_image(f"docker-archive:{tmp_path / 'none.tar'}")
    archive = oci.write_docker_archive(tmp_path / "img.tar", _image(), "acme/app:1")
    packed = tmp_path / "img.tar.gz"
    packed.write_bytes(gzip.compress(archive.read_bytes()))
    with pytest.raises(ImageSourceError, match="is compressed"):
        open_image(f"docker-archive:{packed}")
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ImageSourceError, match="not a readable tar archive"):
        open_image(f"docker-archive:{tmp_path / 'junk.tar'}")
