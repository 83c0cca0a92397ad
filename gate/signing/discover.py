"""Find the cosign signatures stored for one image digest, fetching only what is needed.

Where cosign puts them (and where ``cosign verify`` v3 looks, bundles first):

* Sigstore bundles: manifests whose ``subject`` is the image and whose ``artifactType`` is
  ``application/vnd.dev.sigstore.bundle.v0.3+json``, listed by the OCI referrers API, or, on a
  registry without it, by the fallback index tagged ``sha256-<hex>`` (OCI distribution spec,
  "Referrers Tag Schema"); each holds the bundle JSON as its layer. The listing's
  ``artifactType`` is often not the manifest's: go-containerregistry's registry and its
  fallback-tag writer (which cosign v2 pushes with) put the config's media type there. So, as
  ``cosign verify`` reads every referrer (``cosign.GetBundles``), a referrer listed with a
  config media type or none is fetched too, and is a bundle if it holds a bundle layer;
* legacy: the manifest tagged ``sha256-<hex>.sig``, one ``simplesigning`` layer per signature
  (cosign's ``ociremote.SignatureTag``); other layer types are not signatures and are skipped.

Cost: legacy is one manifest request plus one blob request per signature layer; bundles are
one referrers (or fallback index) request plus a manifest and a blob per bundle, and a
manifest per referrer listed without a type of its own.

A missing tag means "no signatures there". A registry that cannot be reached or refuses is a
``RegistryError`` (exit 2): the gate cannot know what it would have found. Material the
registry did serve but that fails its checks (``RegistryContentError``: a digest mismatch, a
manifest that is not JSON or has the wrong media type, a blob over its cap) or that is
malformed (a bad descriptor, an index without a manifest list) becomes a ``Found`` with a
``problem``: that signature is refused with the reason, and the others are still judged, so
one junk referrer cannot hide a valid signature, nor crash the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from gate.errors import RegistryContentError, RegistryError
from gate.oci import mediatypes
from gate.oci.digests import is_digest
from gate.signing.bundle import BUNDLE_ARTIFACT_TYPE
from gate.signing.legacy import SIMPLE_SIGNING, LegacySignature

#: What a listing shows for a referrer when it took the config's media type instead of the
#: manifest's ``artifactType`` (or had neither): not a type, so the manifest must tell.
UNTYPED_REFERRER = frozenset(
    {"", "application/vnd.oci.empty.v1+json", "application/vnd.oci.image.config.v1+json"}
)

#: Payloads are a few hundred bytes and bundles a few KiB; anything huge is not cosign's.
MAX_PAYLOAD_BYTES = 1 << 20
MAX_BUNDLE_BYTES = 4 << 20


class Fetched(Protocol):
    @property
    def digest(self) -> str: ...

    @property
    def document(self) -> Mapping[str, Any]: ...


class SignatureRegistry(Protocol):
    """The slice of ``gate.image.registry.RegistryClient`` that discovery uses."""

    def get_manifest(self, repo: str, reference: str, accept: Sequence[str]) -> Fetched: ...

    def get_blob(self, repo: str, digest: str, max_bytes: int) -> bytes: ...

    def get_referrers(
        self, repo: str, digest: str, artifact_type: str | None = None
    ) -> list[dict[str, Any]] | None: ...


@dataclass(frozen=True)
class Found:
    """One signature for the digest, ready to verify, or with the problem that refuses it."""

    format: Literal["legacy", "bundle"]
    where: str
    legacy: LegacySignature | None = None
    bundle: bytes | None = None
    problem: str = ""


@dataclass(frozen=True)
class Discovery:
    looked_in: tuple[str, ...]
    found: tuple[Found, ...]


def _is_missing(error: RegistryError) -> bool:
    """A 404 for a tag: the client reports it as "image not found"."""
    return error.message.startswith("image not found")


def manifest_or_none(
    client: SignatureRegistry, repo: str, reference: str, accept: Sequence[str]
) -> Fetched | str | None:
    """The manifest, None when the tag is missing, or the reason its content was refused."""
    try:
        return client.get_manifest(repo, reference, accept)
    except RegistryContentError as error:
        return error.message
    except RegistryError as error:
        if _is_missing(error):
            return None
        raise


def fetch_blob(
    client: SignatureRegistry, repo: str, descriptor: object, limit: int
) -> tuple[bytes | None, str]:
    """Fetch a descriptor's blob; a bad descriptor or a digest mismatch is a problem text."""
    digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
    if not isinstance(digest, str) or not is_digest(digest):
        return None, "its descriptor has no valid digest"
    try:
        return client.get_blob(repo, digest, limit), ""
    except RegistryContentError as error:
        if error.message.startswith("digest mismatch"):
            return None, f"the blob does not match its digest {digest}"
        return None, error.message


def find_legacy(
    client: SignatureRegistry, name: str, repo: str, digest: str
) -> tuple[str, list[Found]]:
    tag = digest.replace(":", "-") + ".sig"
    where = f"{name}:{tag}"
    manifest = manifest_or_none(client, repo, tag, sorted(mediatypes.IMAGE_MANIFESTS))
    if manifest is None:
        return where, []
    if isinstance(manifest, str):
        return where, [Found("legacy", where, problem=manifest)]
    layers = manifest.document.get("layers")
    if not isinstance(layers, list):
        return where, [Found("legacy", where, problem="the signature manifest has no layers")]
    found = []
    for number, layer in enumerate(layers):
        if not isinstance(layer, dict) or layer.get("mediaType") != SIMPLE_SIGNING:
            continue
        at = f"{where} layer {number}"
        annotations = layer.get("annotations") or {}
        if not isinstance(annotations, dict) or not all(
            isinstance(v, str) for v in annotations.values()
        ):
            found.append(Found("legacy", at, problem="its annotations are not strings"))
            continue
        payload, problem = fetch_blob(client, repo, layer, MAX_PAYLOAD_BYTES)
        if payload is None:
            found.append(Found("legacy", at, problem=problem))
        else:
            found.append(Found("legacy", at, legacy=LegacySignature(payload, annotations)))
    return where, found


def _bundle_descriptors(
    client: SignatureRegistry, name: str, repo: str, digest: str
) -> tuple[str, list[dict[str, Any]] | str]:
    """Where bundles were looked for, and the descriptors that may be bundles (listed as one,
    or untyped) or why the list was refused.

    No ``artifactType`` filter is asked of the registry: one that filters by the config's type
    would hide cosign v2's bundles.
    """
    referrers = client.get_referrers(repo, digest)
    if referrers is not None:
        where = f"{name} referrers API for {digest}"
        manifests: list[Any] = referrers
    else:
        tag = digest.replace(":", "-")
        where = f"{name}:{tag} (referrers fallback index)"
        index = manifest_or_none(client, repo, tag, [mediatypes.OCI_INDEX])
        if isinstance(index, str):
            return where, index
        listed = index.document.get("manifests") if index is not None else []
        if not isinstance(listed, list):
            return where, f"the referrers fallback index {name}:{tag} has no manifests list"
        manifests = listed
    wanted = [
        m
        for m in manifests
        if isinstance(m, dict) and (m.get("artifactType") == BUNDLE_ARTIFACT_TYPE or _untyped(m))
    ]
    return where, wanted


def _untyped(descriptor: Mapping[str, Any]) -> bool:
    listed = descriptor.get("artifactType")
    return listed is None or (isinstance(listed, str) and listed in UNTYPED_REFERRER)


def find_bundles(
    client: SignatureRegistry, name: str, repo: str, digest: str
) -> tuple[str, list[Found]]:
    where, descriptors = _bundle_descriptors(client, name, repo, digest)
    if isinstance(descriptors, str):
        return where, [Found("bundle", where, problem=descriptors)]
    found = []
    for descriptor in descriptors:
        manifest_digest = descriptor.get("digest")
        if not isinstance(manifest_digest, str) or not is_digest(manifest_digest):
            found.append(Found("bundle", where, problem="a referrer has no valid digest"))
            continue
        at = f"{name}@{manifest_digest}"
        manifest = manifest_or_none(client, repo, manifest_digest, [mediatypes.OCI_MANIFEST])
        if manifest is None or isinstance(manifest, str):
            problem = manifest or "the referrer's manifest is not in the registry"
            found.append(Found("bundle", at, problem=problem))
            continue
        layers = manifest.document.get("layers")
        layer = next(
            (
                item
                for item in (layers if isinstance(layers, list) else [])
                if isinstance(item, dict) and item.get("mediaType") == BUNDLE_ARTIFACT_TYPE
            ),
            None,
        )
        if layer is None:
            if _untyped(descriptor) and manifest.document.get("artifactType") != (
                BUNDLE_ARTIFACT_TYPE
            ):
                continue  # another kind of referrer (an SBOM, an attestation): not a bundle
            found.append(Found("bundle", at, problem="the referrer has no bundle layer"))
            continue
        data, problem = fetch_blob(client, repo, layer, MAX_BUNDLE_BYTES)
        found.append(Found("bundle", at, bundle=data, problem=problem))
    return where, found


def discover(
    client: SignatureRegistry,
    name: str,
    repo: str,
    digest: str,
    formats: Iterable[Literal["bundle", "legacy"]],
) -> Discovery:
    """Look in each configured format's place, bundles first (as ``cosign verify`` v3)."""
    looked_in: list[str] = []
    found: list[Found] = []
    wanted = set(formats)
    if "bundle" in wanted:
        where, items = find_bundles(client, name, repo, digest)
        looked_in.append(where)
        found += items
    if "legacy" in wanted:
        where, items = find_legacy(client, name, repo, digest)
        looked_in.append(where)
        found += items
    return Discovery(tuple(looked_in), tuple(found))
