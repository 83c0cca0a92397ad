"""Read OCI/Docker v2 manifests, indexes and image configs into the gate's facts.

Pure functions over parsed JSON; the caller passes the error class so a bad document is a
``RegistryError`` when a registry sent it and an ``ImageSourceError`` when a file holds it.
Which entry of an index is judged is containerd's choice (``gate.oci.platforms``); the
gate refuses where that choice is not one certain image, a nested index, and BuildKit's
attestation manifests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gate.errors import GateError
from gate.model import ImageConfig, ManifestFacts
from gate.oci import mediatypes
from gate.oci.digests import is_digest
from gate.oci.platforms import (
    Ambiguous,
    Candidate,
    InvalidPlatform,
    Platform,
    choose,
    parse,
    parse_descriptor_platform,
)

#: Largest manifest, index or token response read (containerd's limit is 4 MiB too).
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
#: BuildKit marks its provenance/SBOM manifests in an index with this annotation.
REFERENCE_TYPE = "vnd.docker.reference.type"
ATTESTATION = "attestation-manifest"
#: Largest image config read (configs carry history; 16 MiB is far beyond real ones).
MAX_CONFIG_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: Platform | None = None


@dataclass(frozen=True)
class ImageManifest:
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)


def _string_map(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def platform_string(value: object) -> str | None:
    """``os/architecture[/variant]`` from a descriptor's ``platform`` or an image config."""
    if not isinstance(value, Mapping):
        return None
    os_name, arch = value.get("os"), value.get("architecture")
    if not isinstance(os_name, str) or not isinstance(arch, str):
        return None
    variant = value.get("variant")
    return f"{os_name}/{arch}" + (f"/{variant}" if isinstance(variant, str) and variant else "")


def descriptor(raw: object, *, what: str, error: type[GateError]) -> Descriptor:
    if not isinstance(raw, Mapping):
        raise error(f"{what}: a descriptor is not an object")
    digest, size, media_type = raw.get("digest"), raw.get("size"), raw.get("mediaType")
    if not isinstance(digest, str) or not is_digest(digest):
        raise error(f"{what}: a descriptor has an invalid digest {str(digest)[:80]!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise error(f"{what}: the descriptor of {digest} has an invalid size")
    try:
        platform = parse_descriptor_platform(raw.get("platform"))
    except InvalidPlatform as invalid:
        raise error(f"{what}: the descriptor of {digest}: {invalid}") from None
    return Descriptor(
        media_type=media_type if isinstance(media_type, str) else "",
        digest=digest,
        size=size,
        annotations=_string_map(raw.get("annotations")),
        platform=platform,
    )


def index_entries(doc: Mapping[str, Any], *, what: str, error: type[GateError]) -> list[Descriptor]:
    manifests = doc.get("manifests")
    if not isinstance(manifests, list):
        raise error(f"{what}: the index has no manifests list")
    return [descriptor(m, what=what, error=error) for m in manifests]


def wanted_platform(text: str, *, error: type[GateError]) -> Platform:
    """``--platform`` read as containerd reads it (``gate.oci.platforms.parse``)."""
    try:
        return parse(text)
    except (InvalidPlatform, Ambiguous) as invalid:
        raise error(str(invalid)) from None


def select_platform(
    doc: Mapping[str, Any], platform: str, *, what: str, error: type[GateError]
) -> Descriptor:
    """The index entry containerd would run on a *platform* host, or an error.

    The choice is ``gate.oci.platforms.choose``; on top of it the gate refuses a chosen
    entry that is itself an index (containerd would descend into it; the gate judges one
    manifest) or one BuildKit marks as an attestation (it describes an image, it never runs).
    """
    wanted = wanted_platform(platform, error=error)
    entries = index_entries(doc, what=what, error=error)
    try:
        chosen = choose(wanted, [Candidate(e.digest, e.platform) for e in entries])
    except Ambiguous as ambiguous:
        raise error(f"{what}: refusing an ambiguous index: {ambiguous}") from None
    if chosen is None:
        available = sorted(
            {
                e.platform.format()
                for e in entries
                if e.platform is not None and e.annotations.get(REFERENCE_TYPE) != ATTESTATION
            }
            - {"unknown/unknown"}
        )
        raise error(
            f"{what} has no {wanted.format()} image (available: {', '.join(available) or 'none'}); "
            "choose one with --platform"
        )
    entry = entries[chosen]
    if entry.media_type in mediatypes.INDEXES:
        raise error(
            f"{what}: the {wanted.format()} entry is a nested index, which is not supported"
        )
    if entry.media_type not in mediatypes.IMAGE_MANIFESTS:
        # containerd's walk errors on any other type ("unexpected media type")
        raise error(
            f"{what}: the {wanted.format()} entry {entry.digest} has media type "
            f"{entry.media_type or '(none)'!r}, not an image manifest"
        )
    if entry.annotations.get(REFERENCE_TYPE) == ATTESTATION:
        raise error(
            f"{what}: the {wanted.format()} entry {entry.digest} is an attestation manifest, "
            "not an image"
        )
    return entry


def parse_manifest(doc: Mapping[str, Any], *, what: str, error: type[GateError]) -> ImageManifest:
    """Config and layer descriptors of a single-platform image manifest."""
    if doc.get("schemaVersion") != 2:
        raise error(f"{what}: unsupported manifest schemaVersion {doc.get('schemaVersion')!r}")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise error(f"{what}: the manifest has no layers list")
    return ImageManifest(
        config=descriptor(doc.get("config"), what=what, error=error),
        layers=tuple(descriptor(layer, what=what, error=error) for layer in layers),
        annotations=_string_map(doc.get("annotations")),
    )


def json_object(body: bytes) -> dict[str, Any] | None:
    """``body`` as a JSON object, or None for anything else (including nesting too deep)."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def parse_config(body: bytes, *, what: str, error: type[GateError]) -> dict[str, Any]:
    doc = json_object(body)
    if doc is None:
        raise error(f"{what}: the image config is not a JSON object")
    return doc


def image_config(raw: Mapping[str, Any]) -> ImageConfig:
    """The hygiene-relevant parts of an image config (``config.User`` absent or empty = root)."""
    inner = raw.get("config")
    inner = inner if isinstance(inner, Mapping) else {}
    user, created = inner.get("User"), raw.get("created")
    return ImageConfig(
        user=user if isinstance(user, str) and user else None,
        created=created if isinstance(created, str) else None,
    )


def manifest_facts(
    manifest: ImageManifest,
    *,
    media_type: str,
    platform: str | None = None,
    index_annotations: object = None,
) -> ManifestFacts:
    """Sizes and annotations; an index's annotations are defaults the manifest's override.

    ``index_annotations`` is the raw ``annotations`` value of the index, if any; entries that
    are not strings are ignored.
    """
    annotations = {**_string_map(index_annotations), **manifest.annotations}
    return ManifestFacts(
        layer_sizes=tuple(layer.size for layer in manifest.layers),
        annotations=annotations,
        platform=platform,
        media_type=media_type,
    )
