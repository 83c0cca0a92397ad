"""What every image source offers: one resolved subject and lazy access to its parts.

A source is opened once, which resolves the image to its digest; afterwards it only reads
content addressed by digest, so what is judged cannot change under the gate. Manifest,
config and layers are fetched on first use only: a policy that needs none of them costs
one manifest request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gate.model import ImageConfig, ManifestFacts, ScanTarget, Subject
from gate.oci.digests import VerifyingReader


@dataclass(frozen=True)
class Layer:
    """One layer, bottom first in a sequence; :meth:`open` streams it, verifying at EOF."""

    digest: str
    size: int | None
    media_type: str
    opener: Callable[[], VerifyingReader]

    def open(self) -> VerifyingReader:
        return self.opener()


class ImageSource(Protocol):
    """An opened image: registry, OCI layout or docker archive."""

    @property
    def subject(self) -> Subject:
        """The judged image, with the digest resolved at open."""
        ...

    @property
    def scan_target(self) -> ScanTarget:
        """Where scanners read exactly that digest."""
        ...

    def manifest_facts(self) -> ManifestFacts: ...

    def raw_config(self) -> Mapping[str, Any]:
        """The image config JSON, verified against its digest."""
        ...

    def config_digest(self) -> str:
        """The digest of the judged image's config: what scanners call its image ID."""
        ...

    def config(self) -> ImageConfig: ...

    def layers(self) -> Sequence[Layer]:
        """The filesystem layers in order, bottom first."""
        ...
