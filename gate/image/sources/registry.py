"""An image in a registry, resolved once to a digest.

The reference resolves once, to ``Subject.digest``: for a multi-platform index that is
the *index* digest (what the tag points to, and what ``cosign sign IMAGE:TAG`` signs, so
signatures are looked up on it). The image judged is the entry containerd would run for
``--platform`` (``gate.oci.manifest.select_platform``), chosen when the source opens:
its digest is ``Subject.manifest_digest`` and the scanners get ``repo@<that digest>``, so
no scanner picks a child by its own rules. After the first manifest request every request
names a digest, so a tag that moves mid-run changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from gate.errors import RegistryError
from gate.image.registry import Fetched, RegistryClient
from gate.image.sources.interface import Layer
from gate.model import ImageConfig, ManifestFacts, ScanTarget, Subject
from gate.oci import mediatypes
from gate.oci.manifest import (
    MAX_CONFIG_BYTES,
    Descriptor,
    ImageManifest,
    image_config,
    manifest_facts,
    parse_config,
    parse_manifest,
    select_platform,
)
from gate.oci.platforms import for_scanners
from gate.oci.reference import Reference


class RegistrySource:
    """Open with :func:`gate.image.sources.open_image`; costs exactly one manifest request."""

    def __init__(
        self, text: str, reference: Reference, client: RegistryClient, platform: str
    ) -> None:
        self.reference = reference
        self.client = client
        self.platform = platform
        self.top: Fetched = client.get_manifest(reference.repository, reference.identifier)
        self.entry: Descriptor | None = None
        if self.top.is_index:
            self.entry = select_platform(
                self.top.document, platform, what=self._what, error=RegistryError
            )
        judged = self.entry.digest if self.entry else self.top.digest
        self.subject = Subject(
            reference=text,
            digest=self.top.digest,
            repository=reference.name,
            tag=reference.tag,
            manifest_digest=judged,
        )
        self.scan_target = ScanTarget(
            "registry",
            reference.pinned(judged),
            insecure=client.plain_http,
            platform=for_scanners(self.entry.platform)
            if self.entry and self.entry.platform
            else None,
        )
        self._lock = threading.Lock()
        self._image: tuple[ImageManifest, str | None] | None = None
        self._raw_config: dict[str, Any] | None = None

    @property
    def _what(self) -> str:
        return f"{self.reference.name}@{self.top.digest}"

    def _manifest(self) -> tuple[ImageManifest, str | None]:
        with self._lock:
            if self._image is None:
                fetched, platform = self.top, None
                if self.entry is not None:
                    fetched = self.client.get_manifest(
                        self.reference.repository,
                        self.entry.digest,
                        accept=sorted(mediatypes.IMAGE_MANIFESTS),
                    )
                    platform = self.entry.platform.format() if self.entry.platform else None
                what = f"{self.reference.name}@{fetched.digest}"
                self._image = (
                    parse_manifest(fetched.document, what=what, error=RegistryError),
                    platform,
                )
            return self._image

    def manifest_facts(self) -> ManifestFacts:
        manifest, platform = self._manifest()
        index_annotations = self.top.document.get("annotations") if self.top.is_index else None
        return manifest_facts(
            manifest,
            media_type=self.top.media_type,
            platform=platform,
            index_annotations=index_annotations,
        )

    def raw_config(self) -> Mapping[str, Any]:
        manifest, _ = self._manifest()
        with self._lock:
            if self._raw_config is None:
                descriptor = manifest.config
                if descriptor.size > MAX_CONFIG_BYTES:
                    raise RegistryError(
                        f"the image config of {self._what} is too large ({descriptor.size} bytes)"
                    )
                body = self.client.get_blob(
                    self.reference.repository, descriptor.digest, descriptor.size
                )
                if len(body) != descriptor.size:
                    raise RegistryError(
                        f"the image config of {self._what} has {len(body)} bytes, "
                        f"its descriptor says {descriptor.size}"
                    )
                self._raw_config = parse_config(body, what=self._what, error=RegistryError)
            return self._raw_config

    def config_digest(self) -> str:
        manifest, _ = self._manifest()
        return manifest.config.digest

    def config(self) -> ImageConfig:
        return image_config(self.raw_config())

    def layers(self) -> Sequence[Layer]:
        manifest, _ = self._manifest()
        repo, client = self.reference.repository, self.client
        return [
            Layer(
                digest=d.digest,
                size=d.size,
                media_type=d.media_type,
                opener=partial(client.open_blob, repo, d.digest, size=d.size),
            )
            for d in manifest.layers
        ]
