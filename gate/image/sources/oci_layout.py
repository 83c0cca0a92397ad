"""An OCI image layout directory (``oci:DIR[:TAG]``, ``oci:DIR@sha256:…``).

The image is the ``index.json`` entry named by the tag (its
``org.opencontainers.image.ref.name`` annotation) or digest; with neither, the layout must
hold exactly one entry, because guessing would judge an image the user did not name. The
subject digest is that entry's digest (an index's, for a multi-platform entry); the image
judged is, for an index, the entry containerd would run for ``--platform``
(``gate.oci.manifest.select_platform``). Every blob read is verified against its digest.

Scanners get ``/abs/DIR@sha256:…``: Trivy's ``--input`` selects that entry of the layout
(it splits at ``@``, so the directory path itself must not contain ``@`` or ``:``). Neither
scanner can be pointed at a manifest *inside* an index of a layout (Trivy 0.76 takes the
index's first child, Grype's ``oci-dir:`` wants one image), so for an index the scanners get
a view: a temporary layout whose ``index.json`` lists only the chosen manifest and whose
``blobs`` links to the original's.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import weakref
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from gate.errors import ImageSourceError
from gate.image.sources.interface import Layer
from gate.image.sources.local import open_verified, read_verified
from gate.model import ImageConfig, ManifestFacts, ScanTarget, Subject
from gate.oci import mediatypes
from gate.oci.manifest import (
    MAX_CONFIG_BYTES,
    MAX_MANIFEST_BYTES,
    Descriptor,
    ImageManifest,
    image_config,
    index_entries,
    json_object,
    manifest_facts,
    parse_config,
    parse_manifest,
    select_platform,
)
from gate.oci.platforms import for_scanners
from gate.oci.reference import OciLayoutSpec

REF_NAME = "org.opencontainers.image.ref.name"


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    doc = json_object(data)
    if doc is None:
        raise ImageSourceError(f"{what} is not a JSON object")
    return doc


class OciLayoutSource:
    def __init__(self, text: str, spec: OciLayoutSpec, platform: str) -> None:
        self.root = spec.path
        self.platform = platform
        if not self.root.is_dir():
            raise ImageSourceError(f"OCI layout not found: {self.root} is not a directory")
        if not (self.root / "oci-layout").is_file():
            raise ImageSourceError(f"{self.root} is not an OCI image layout (no oci-layout file)")
        index_path = self.root / "index.json"
        try:
            index = _json_object(index_path.read_bytes()[:MAX_MANIFEST_BYTES], f"{index_path}")
        except OSError as error:
            raise ImageSourceError(f"cannot read {index_path}: {error.strerror}") from None
        self.entry = self._select(
            index_entries(index, what=str(index_path), error=ImageSourceError), spec
        )
        self.top = self._read_json(self.entry, f"manifest {self.entry.digest}")
        self.child: Descriptor | None = None
        location = f"{self.root.resolve()}@{self.entry.digest}"
        if self._is_index():
            what = f"{self.root}@{self.entry.digest}"
            self.child = select_platform(self.top, platform, what=what, error=ImageSourceError)
            location = f"{self._view(self.child)}@{self.child.digest}"
        judged = self.child or self.entry
        self.subject = Subject(
            reference=text,
            digest=self.entry.digest,
            repository=None,
            tag=spec.tag,
            manifest_digest=judged.digest,
        )
        platform_text = (
            for_scanners(self.child.platform) if self.child and self.child.platform else None
        )
        self.scan_target = ScanTarget("oci", location, platform=platform_text)
        self._lock = threading.Lock()
        self._image: tuple[ImageManifest, str | None] | None = None

    def _select(self, entries: list[Descriptor], spec: OciLayoutSpec) -> Descriptor:
        if spec.digest is not None:
            chosen = [e for e in entries if e.digest == spec.digest]
            wanted = spec.digest
        elif spec.tag is not None:
            chosen = [e for e in entries if e.annotations.get(REF_NAME) == spec.tag]
            wanted = f"tag {spec.tag}"
        else:
            if len(entries) == 1:
                return entries[0]
            tags = sorted({e.annotations.get(REF_NAME, "") for e in entries} - {""})
            raise ImageSourceError(
                f"{self.root}/index.json lists {len(entries)} images; name one with "
                f"oci:DIR:TAG (tags: {', '.join(tags) or 'none'}) or oci:DIR@sha256:…"
            )
        if not chosen:
            raise ImageSourceError(f"{self.root}/index.json has no entry for {wanted}")
        if len({e.digest for e in chosen}) > 1:
            raise ImageSourceError(f"{self.root}/index.json names several images {wanted}")
        return chosen[0]

    def _view(self, child: Descriptor) -> Path:
        """A layout holding only *child*, sharing the original's blobs (removed at exit)."""
        view = Path(tempfile.mkdtemp(prefix="gate-oci-view-")).resolve()
        weakref.finalize(self, shutil.rmtree, view, ignore_errors=True)
        (view / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}', encoding="utf-8")
        (view / "blobs").symlink_to((self.root / "blobs").resolve(), target_is_directory=True)
        entry: dict[str, Any] = {
            "mediaType": child.media_type or mediatypes.OCI_MANIFEST,
            "digest": child.digest,
            "size": child.size,
        }
        index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": [entry]}
        (view / "index.json").write_text(json.dumps(index), encoding="utf-8")
        return view

    def _blob(self, digest: str) -> Path:
        algorithm, _, hex_digest = digest.partition(":")
        return self.root / "blobs" / algorithm / hex_digest

    def _read_json(self, entry: Descriptor, what: str) -> dict[str, Any]:
        if entry.size > MAX_MANIFEST_BYTES:
            raise ImageSourceError(f"{what} is larger than {MAX_MANIFEST_BYTES} bytes")
        data = read_verified(self._blob(entry.digest), entry.digest, limit=entry.size, what=what)
        if len(data) != entry.size:
            raise ImageSourceError(
                f"{what} has {len(data)} bytes, its descriptor says {entry.size}"
            )
        return _json_object(data, what)

    def _is_index(self) -> bool:
        declared = self.top.get("mediaType")
        return (
            self.entry.media_type in mediatypes.INDEXES
            or declared in mediatypes.INDEXES
            or (not self.entry.media_type and "manifests" in self.top)
        )

    def _manifest(self) -> tuple[ImageManifest, str | None]:
        with self._lock:
            if self._image is None:
                doc, platform, what = self.top, None, f"{self.root}@{self.entry.digest}"
                if self.child is not None:
                    entry = self.child
                    doc = self._read_json(entry, f"manifest {entry.digest}")
                    platform = entry.platform.format() if entry.platform else None
                    what = f"{self.root}@{entry.digest}"
                self._image = (parse_manifest(doc, what=what, error=ImageSourceError), platform)
            return self._image

    def manifest_facts(self) -> ManifestFacts:
        manifest, platform = self._manifest()
        index_annotations = self.top.get("annotations") if self._is_index() else None
        return manifest_facts(
            manifest,
            media_type=self.entry.media_type or str(self.top.get("mediaType", "")),
            platform=platform,
            index_annotations=index_annotations,
        )

    def raw_config(self) -> Mapping[str, Any]:
        manifest, _ = self._manifest()
        config = manifest.config
        if config.size > MAX_CONFIG_BYTES:
            raise ImageSourceError(f"the image config {config.digest} is too large")
        data = read_verified(
            self._blob(config.digest),
            config.digest,
            limit=config.size,
            what=f"image config {config.digest}",
        )
        return parse_config(data, what=str(self.root), error=ImageSourceError)

    def config_digest(self) -> str:
        manifest, _ = self._manifest()
        return manifest.config.digest

    def config(self) -> ImageConfig:
        return image_config(self.raw_config())

    def layers(self) -> Sequence[Layer]:
        manifest, _ = self._manifest()
        return [
            Layer(
                digest=d.digest,
                size=d.size,
                media_type=d.media_type,
                opener=partial(
                    open_verified,
                    self._blob(d.digest),
                    d.digest,
                    what=f"layer {d.digest}",
                    size=d.size,
                ),
            )
            for d in manifest.layers
        ]
