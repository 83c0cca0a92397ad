"""Build OCI images in pure Python and publish them the ways the gate consumes them.

Images are byte-for-byte deterministic (sorted tar entries, fixed mtimes, gzip mtime 0), so a
digest computed in one test is stable across runs. The three outputs mirror the inputs the
scanners accept without a Docker daemon:

* :func:`push` - the OCI distribution API (``POST`` upload, monolithic ``PUT ?digest=``,
  ``PUT`` manifest), as ``crane``/``oras`` do;
* :func:`write_oci_layout` - an OCI image layout directory (``oci-layout``, ``index.json``
  with ``org.opencontainers.image.ref.name``, ``blobs/sha256/``);
* :func:`write_docker_archive` - the classic ``docker save`` tarball (``manifest.json`` with
  ``Config``/``RepoTags``/``Layers``, uncompressed ``<id>/layer.tar``).

Note that ``rootfs.diff_ids`` are digests of the *uncompressed* layer tars, while the
manifest references the gzip'd blobs; getting this wrong is what makes real tools reject an
image, so :func:`build_image` derives both.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

#: mtime of every tar entry (2026-01-01T00:00:00Z); any constant keeps digests stable.
FIXED_MTIME = 1767225600
_TIMEOUT = 30


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of *data*, the content address used everywhere in OCI."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar_info(name: str, *, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.size = size
    if directory:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.mode = 0o755 if "/bin/" in f"/{name}" else 0o644
    return info


def _whiteout_path(path: str) -> str:
    parent, _, name = path.strip("/").rpartition("/")
    return f"{parent}/.wh.{name}" if parent else f".wh.{name}"


def layer_tar(
    files: Mapping[str, bytes],
    *,
    whiteouts: Iterable[str] = (),
    opaque_dirs: Iterable[str] = (),
) -> bytes:
    """Uncompressed tar of *files*, plus whiteout markers; parent directories are added."""
    entries: dict[str, bytes | None] = {}
    for path, content in files.items():
        entries[path.strip("/")] = content
    for path in whiteouts:
        entries[_whiteout_path(path)] = b""
    for path in opaque_dirs:
        entries[f"{path.strip('/')}/.wh..wh..opq"] = b""
    for path in list(entries):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            entries.setdefault("/".join(parts[:i]), None)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            body = entries[name]
            if body is None:
                tar.addfile(_tar_info(name, directory=True))
            else:
                tar.addfile(_tar_info(name, size=len(body)), io.BytesIO(body))
    return buf.getvalue()


def layer(
    files: Mapping[str, bytes],
    *,
    whiteouts: Iterable[str] = (),
    opaque_dirs: Iterable[str] = (),
) -> bytes:
    """A gzip'd layer blob: ``whiteouts`` delete paths, ``opaque_dirs`` hide lower contents."""
    tar = layer_tar(files, whiteouts=whiteouts, opaque_dirs=opaque_dirs)
    return gzip.compress(tar, mtime=0)


@dataclass(frozen=True)
class BuiltImage:
    """A single-platform image: manifest bytes, config bytes and every blob by digest."""

    manifest: bytes
    config: bytes
    blobs: dict[str, bytes]
    media_type: str = OCI_MANIFEST

    @property
    def digest(self) -> str:
        """Manifest digest: sha256 of the exact manifest bytes, as the registry computes it."""
        return sha256_digest(self.manifest)

    @property
    def config_digest(self) -> str:
        """Digest of the config blob (Trivy's ``ImageID``)."""
        return sha256_digest(self.config)

    @property
    def layers(self) -> list[bytes]:
        """Compressed layer blobs in manifest order."""
        manifest = json.loads(self.manifest)
        return [self.blobs[d["digest"]] for d in manifest["layers"]]


def build_image(
    layers: list[bytes],
    *,
    user: str | None = None,
    created: str = "2026-11-01T00:00:00Z",
    annotations: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    env: list[str] | None = None,
    architecture: str = "amd64",
    media_type: str = OCI_MANIFEST,
) -> BuiltImage:
    """Assemble config and manifest for gzip'd *layers* (``media_type`` may be Docker v2)."""
    docker = media_type == DOCKER_MANIFEST
    container_config: dict[str, Any] = {
        "Env": env
        if env is not None
        else ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"]
    }
    if user is not None:
        container_config["User"] = user
    if labels:
        container_config["Labels"] = dict(labels)
    config_doc = {
        "created": created,
        "architecture": architecture,
        "os": "linux",
        "config": container_config,
        "rootfs": {
            "type": "layers",
            "diff_ids": [sha256_digest(gzip.decompress(blob)) for blob in layers],
        },
        "history": [{"created": created, "created_by": f"layer {i}"} for i in range(len(layers))],
    }
    config = json.dumps(config_doc, sort_keys=True, separators=(",", ":")).encode()
    manifest_doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
            "digest": sha256_digest(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP,
                "digest": sha256_digest(blob),
                "size": len(blob),
            }
            for blob in layers
        ],
    }
    if annotations:
        manifest_doc["annotations"] = dict(annotations)
    manifest = json.dumps(manifest_doc, indent=2, sort_keys=True).encode()
    blobs = {sha256_digest(config): config}
    blobs.update({sha256_digest(blob): blob for blob in layers})
    return BuiltImage(manifest=manifest, config=config, blobs=blobs, media_type=media_type)


def image_index(images: list[tuple[BuiltImage, str]], *, media_type: str = OCI_INDEX) -> bytes:
    """Body of a multi-platform index; each entry is ``(image, "os/arch")``."""
    manifests = []
    for image, platform in images:
        os_name, _, arch = platform.partition("/")
        manifests.append(
            {
                "mediaType": image.media_type,
                "digest": image.digest,
                "size": len(image.manifest),
                "platform": {"os": os_name, "architecture": arch},
            }
        )
    doc = {"schemaVersion": 2, "mediaType": media_type, "manifests": manifests}
    return json.dumps(doc, indent=2).encode()


def _check(resp: requests.Response, what: str) -> None:
    if resp.status_code >= 300:
        raise RuntimeError(f"{what}: HTTP {resp.status_code}: {resp.text[:500]}")


def push_blob(registry_host: str, repo: str, data: bytes) -> str:
    """Upload *data* monolithically (``POST`` then ``PUT <Location>&digest=``); return digest."""
    digest = sha256_digest(data)
    base = f"http://{registry_host}"
    resp = requests.post(f"{base}/v2/{repo}/blobs/uploads/", timeout=_TIMEOUT)
    _check(resp, f"start upload to {repo}")
    location = resp.headers["Location"]
    if location.startswith("/"):
        location = base + location
    sep = "&" if "?" in location else "?"
    resp = requests.put(
        f"{location}{sep}digest={digest}",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        timeout=_TIMEOUT,
    )
    _check(resp, f"upload blob {digest} to {repo}")
    return digest


def push_manifest(registry_host: str, repo: str, ref: str, body: bytes, media_type: str) -> str:
    """``PUT`` a manifest or index under *ref* (tag or digest); return its digest."""
    resp = requests.put(
        f"http://{registry_host}/v2/{repo}/manifests/{ref}",
        data=body,
        headers={"Content-Type": media_type},
        timeout=_TIMEOUT,
    )
    _check(resp, f"put manifest {repo}:{ref}")
    digest = sha256_digest(body)
    returned = resp.headers.get("Docker-Content-Digest")
    if returned is not None and returned != digest:
        raise RuntimeError(f"registry returned digest {returned}, expected {digest}")
    return digest


def push(registry_host: str, repo: str, image: BuiltImage, tag: str | None = None) -> str:
    """Upload every blob then the manifest (by *tag*, or by digest when ``None``)."""
    for data in image.blobs.values():
        push_blob(registry_host, repo, data)
    return push_manifest(registry_host, repo, tag or image.digest, image.manifest, image.media_type)


def _write_blob(blobs_dir: Path, data: bytes) -> None:
    (blobs_dir / sha256_digest(data).removeprefix("sha256:")).write_bytes(data)


def write_oci_layout(dir: Path, image: BuiltImage, tag: str | None = None) -> Path:
    """Write an OCI image layout directory (``trivy image --input DIR``, ``oci-dir:``)."""
    blobs_dir = dir / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)
    (dir / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}', encoding="utf-8")
    for data in [*image.blobs.values(), image.manifest]:
        _write_blob(blobs_dir, data)
    descriptor: dict[str, Any] = {
        "mediaType": image.media_type,
        "digest": image.digest,
        "size": len(image.manifest),
    }
    if tag is not None:
        descriptor["annotations"] = {"org.opencontainers.image.ref.name": tag}
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]}
    (dir / "index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
    return dir


def write_docker_archive(path: Path, image: BuiltImage, repo_tag: str) -> Path:
    """Write a ``docker save``-style tarball (``docker-archive:``, ``trivy --input F.tar``)."""
    config_name = image.config_digest.removeprefix("sha256:") + ".json"
    members: dict[str, bytes] = {config_name: image.config}
    layer_names = []
    for blob in image.layers:
        tar = gzip.decompress(blob)
        name = f"{hashlib.sha256(tar).hexdigest()}/layer.tar"
        members[name] = tar
        layer_names.append(name)
    manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]
    members["manifest.json"] = json.dumps(manifest).encode()
    repo, _, tag = repo_tag.rpartition(":")
    top = layer_names[-1].split("/")[0] if layer_names else ""
    members["repositories"] = json.dumps({repo: {tag: top}}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(members):
            data = members[name]
            archive.addfile(_tar_info(name, size=len(data)), io.BytesIO(data))
    return path
