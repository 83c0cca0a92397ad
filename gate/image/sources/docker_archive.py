"""A ``docker save`` tarball (``docker-archive:FILE.tar``), read in place.

The archive's ``manifest.json`` must describe exactly one image. Its subject digest is the
sha256 of the config JSON, i.e. Docker's image ID: a docker archive carries no registry
manifest, so no manifest digest exists to judge. Layers are streamed straight out of the
archive (never extracted) and verified against their ``rootfs.diff_ids`` (or their
``blobs/sha256/…`` name in Docker ≥ 25 archives). Layer sizes are the uncompressed tar
sizes: larger than what a registry would store, so a size limit errs on the strict side.
"""

from __future__ import annotations

import json
import posixpath
import tarfile
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from gate.errors import ImageSourceError
from gate.image.sources.interface import Layer
from gate.image.sources.local import open_verified
from gate.model import ImageConfig, ManifestFacts, ScanTarget, Subject
from gate.oci.digests import compute, is_digest
from gate.oci.manifest import (
    MAX_CONFIG_BYTES,
    image_config,
    parse_config,
    platform_string,
)
from gate.oci.reference import DockerArchiveSpec, tag_of

MEDIA_TYPE = "application/vnd.docker.archive"
_MAX_MANIFEST_JSON = 4 * 1024 * 1024
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd")


def _name(member: tarfile.TarInfo) -> str:
    return member.name.removeprefix("./").lstrip("/")


class DockerArchiveSource:
    def __init__(self, text: str, spec: DockerArchiveSpec) -> None:
        self.path = spec.path
        if not self.path.is_file():
            raise ImageSourceError(f"docker archive not found: {self.path}")
        members = self._members()
        entry = self._entry(members)
        config_name = entry.get("Config")
        layer_names = entry.get("Layers")
        if not isinstance(config_name, str) or not isinstance(layer_names, list):
            raise ImageSourceError(f"{self.path}: manifest.json lacks Config or Layers")
        config_bytes = self._read(members, config_name, MAX_CONFIG_BYTES)
        self._raw_config = parse_config(config_bytes, what=str(self.path), error=ImageSourceError)
        rootfs = self._raw_config.get("rootfs")
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if not isinstance(diff_ids, list) or len(diff_ids) != len(layer_names):
            raise ImageSourceError(
                f"{self.path}: the config's rootfs.diff_ids do not match the archive's layers"
            )
        self._layers: list[tuple[str, tarfile.TarInfo]] = []
        for name, diff_id in zip(layer_names, diff_ids, strict=True):
            member = members.get(str(name).removeprefix("./"))
            if member is None:
                raise ImageSourceError(f"{self.path}: layer {name} is missing from the archive")
            expected = self._layer_digest(str(name), diff_id)
            self._layers.append((expected, member))
        repo_tags = entry.get("RepoTags")
        tag = (
            tag_of(repo_tags[0])
            if isinstance(repo_tags, list) and repo_tags and isinstance(repo_tags[0], str)
            else None
        )
        self.subject = Subject(
            reference=text, digest=compute(config_bytes), repository=None, tag=tag
        )
        self.scan_target = ScanTarget("docker-archive", str(self.path.resolve()))

    def _members(self) -> dict[str, tarfile.TarInfo]:
        try:
            with self.path.open("rb") as handle:
                magic = handle.read(6)
            if magic.startswith(_COMPRESSED_MAGIC):
                raise ImageSourceError(
                    f"{self.path} is compressed; decompress it to a plain docker-archive tar first"
                )
            with tarfile.open(self.path, mode="r:") as archive:
                entries = archive.getmembers()
        except (tarfile.TarError, OSError) as error:
            raise ImageSourceError(f"{self.path} is not a readable tar archive: {error}") from None
        files = {_name(m): m for m in entries if m.isfile()}
        # `docker save` writes a repeated layer once and symlinks the others to it.
        for member in entries:
            if member.issym():
                target = posixpath.normpath(
                    posixpath.join(posixpath.dirname(_name(member)), member.linkname)
                )
                if target in files:
                    files[_name(member)] = files[target]
        return files

    def _read(self, members: Mapping[str, tarfile.TarInfo], name: str, limit: int) -> bytes:
        member = members.get(name.removeprefix("./"))
        if member is None:
            raise ImageSourceError(f"{self.path} has no {name}")
        if member.size > limit:
            raise ImageSourceError(f"{self.path}: {name} is larger than {limit} bytes")
        with self.path.open("rb") as handle:
            handle.seek(member.offset_data)
            return handle.read(member.size)

    def _entry(self, members: Mapping[str, tarfile.TarInfo]) -> Mapping[str, Any]:
        try:
            doc = json.loads(self._read(members, "manifest.json", _MAX_MANIFEST_JSON))
        except (ValueError, RecursionError):
            raise ImageSourceError(f"{self.path}: manifest.json is not JSON") from None
        if not isinstance(doc, list) or not all(isinstance(e, dict) for e in doc):
            raise ImageSourceError(f"{self.path}: manifest.json is not a list of images")
        if len(doc) != 1:
            raise ImageSourceError(
                f"{self.path} holds {len(doc)} images; only single-image archives are supported"
            )
        entry: Mapping[str, Any] = doc[0]
        return entry

    def _layer_digest(self, name: str, diff_id: object) -> str:
        parts = name.removeprefix("./").split("/")
        if len(parts) == 3 and parts[0] == "blobs" and is_digest(f"{parts[1]}:{parts[2]}"):
            return f"{parts[1]}:{parts[2]}"
        if not isinstance(diff_id, str) or not is_digest(diff_id):
            raise ImageSourceError(f"{self.path}: invalid diff_id for layer {name}")
        return diff_id

    def manifest_facts(self) -> ManifestFacts:
        return ManifestFacts(
            layer_sizes=tuple(member.size for _, member in self._layers),
            annotations={},
            platform=platform_string(self._raw_config),
            media_type=MEDIA_TYPE,
        )

    def raw_config(self) -> Mapping[str, Any]:
        return self._raw_config

    def config_digest(self) -> str:
        """Docker's image ID, which is also the subject digest of an archive."""
        assert self.subject.digest is not None
        return self.subject.digest

    def config(self) -> ImageConfig:
        return image_config(self._raw_config)

    def layers(self) -> Sequence[Layer]:
        path = self.path
        return [
            Layer(
                digest=digest,
                size=member.size,
                media_type="application/vnd.docker.image.rootfs.diff.tar",
                opener=partial(
                    open_verified,
                    path,
                    digest,
                    what=f"layer {digest} in {path}",
                    offset=member.offset_data,
                    length=member.size,
                ),
            )
            for digest, member in self._layers
        ]


__all__ = ["DockerArchiveSource"]
