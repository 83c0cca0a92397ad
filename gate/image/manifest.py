"""Read OCI/Docker v2 manifests, indexes and image configs into the gate's facts.

Pure functions over parsed JSON; the caller passes the error class so a bad document is a
``RegistryError`` when a registry sent it and an ``ImageSourceError`` when a file holds it.
Platform selection mirrors containerd's ``platforms.Only`` for the common cases: os and
architecture must match, the variant too when one is asked for; attestation entries
(``unknown/unknown``) never match.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gate.errors import GateError
from gate.image import mediatypes
from gate.image.digests import is_digest
from gate.model import ImageConfig, ManifestFacts

#: Largest manifest, index or token response read (containerd's limit is 4 MiB too).
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
#: Largest image config read (configs carry history; 16 MiB is far beyond real ones).
MAX_CONFIG_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: str | None = None


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
    return Descriptor(
        media_type=media_type if isinstance(media_type, str) else "",
        digest=digest,
        size=size,
        annotations=_string_map(raw.get("annotations")),
        platform=platform_string(raw.get("platform")),
    )


def index_entries(doc: Mapping[str, Any], *, what: str, error: type[GateError]) -> list[Descriptor]:
    manifests = doc.get("manifests")
    if not isinstance(manifests, list):
        raise error(f"{what}: the index has no manifests list")
    return [descriptor(m, what=what, error=error) for m in manifests]


def select_platform(
    doc: Mapping[str, Any], platform: str, *, what: str, error: type[GateError]
) -> Descriptor:
    """The index entry for *platform* (``os/arch[/variant]``), or an error naming what exists."""
    wanted = platform.split("/")
    if len(wanted) not in (2, 3) or not all(wanted):
        raise error(f"invalid platform {platform!r}: expected os/architecture[/variant]")
    entries = index_entries(doc, what=what, error=error)
    for entry in entries:
        have = (entry.platform or "").split("/")
        if have[:2] == wanted[:2] and (len(wanted) == 2 or have[2:] == wanted[2:]):
            if entry.media_type in mediatypes.INDEXES:
                raise error(f"{what}: nested indexes are not supported")
            return entry
    available = sorted(
        {e.platform for e in entries if e.platform and e.platform != "unknown/unknown"}
    )
    raise error(
        f"{what} has no {platform} image (available: {', '.join(available) or 'none'}); "
        "choose one with --platform"
    )


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
        labels=_string_map(inner.get("Labels")),
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
