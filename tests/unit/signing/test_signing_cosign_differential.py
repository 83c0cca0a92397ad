"""Differential: the gate and the real ``cosign verify`` agree on altered cosign signatures.

cosign v2.6.5 signs one image (a legacy ``.sig``) and another (a Sigstore bundle) with a key;
Hypothesis then alters that material: the payload's fields and bytes (re-signed with the same
key, so the claims themselves are judged, or left stale), the signature bytes and their
base64, the annotations, the bundle's fields. Each altered signature is pushed in place of the
real one, and ``cosign verify --key … --insecure-ignore-tlog=true`` (offline) and the gate
(its own discovery and verification, ``tlog: optional``) must reach the same verdict.

Where the gate is deliberately stricter than cosign, the case says so (``stricter``): there
the gate may refuse what cosign accepts, never the reverse. Each reason is in the README.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.model import SignatureFacts
from gate.policy.model import Authority
from tests.support import pki as P
from tests.support import signed
from tests.support.cosign import Cosign
from tests.support.fakerekor import FakeRekor
from tests.support.oci import (
    OCI_INDEX,
    OCI_MANIFEST,
    build_image,
    layer,
    push,
    push_blob,
    push_manifest,
    sha256_digest,
)
from tests.support.registry import RunningRegistry
from tests.support.signed import PushedImage

SIGNATURE = "dev.cosignproject.cosign/signature"
#: Hypothesis examples per format; with both formats, CI judges at least 500 cases.
CASES = max(250, settings().max_examples)
#: The secp256r1 group order, for the high-S twin of an ECDSA signature.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

# Deliberate strictness of the gate over cosign v2.6.5 (README, "Signatures"):
#: the simple-signing payload must say ``critical.type: cosign container image signature``.
TYPE = "type"
#: JSON keys match exactly (Go's encoding/json also takes ``Critical`` for ``critical``).
KEY_CASE = "key-case"
#: JSON must be UTF-8 (Go's encoding/json replaces invalid bytes and reads on).
UTF8 = "utf-8"
#: no JSON number beyond float64 anywhere (Go fails only where it decodes one: it skips the
#: values of fields it does not know).
NUMBER = "number"
#: a tlog entry that is present must verify, even with ``tlog: optional``
#: (``--insecure-ignore-tlog`` skips it whole).
TLOG_PRESENT = "tlog-present"
#: the in-toto statement's ``predicateType`` must be cosign's image signature.
PREDICATE = "predicate"
#: only ``simplesigning`` layers of the ``.sig`` manifest are signatures (cosign reads all).
LAYER_TYPE = "layer-type"


@dataclass
class Material:
    """One altered signature: a legacy layer, or a bundle (as JSON or raw bytes)."""

    payload: bytes
    annotations: dict[str, str] = field(default_factory=dict)
    media_type: str = ""
    bundle: dict[str, Any] = field(default_factory=dict)
    stricter: set[str] = field(default_factory=set)
    steps: list[str] = field(default_factory=list)


@dataclass(repr=False)
class Base:
    """The real cosign signatures Hypothesis alters, and how to judge an altered one."""

    cosign: Cosign
    key: P.PrivateKey
    trusted_root: Path
    legacy_image: PushedImage
    legacy: Material
    bundle_image: PushedImage
    bundle: Material
    pki: P.TestPKI
    logged_image: PushedImage
    logged: Material
    timings: dict[str, list[float]] = field(
        default_factory=lambda: {"cosign": [], "gate": []}, repr=False
    )

    def verdicts(
        self, image: PushedImage, form: str, *, tlog: bool = False
    ) -> tuple[bool, bool, SignatureFacts, str]:
        """cosign's verdict and the gate's; with ``tlog``, both must verify the tlog entry
        (``cosign verify --offline``, the gate's ``tlog: required``)."""
        started = time.monotonic()
        done = self.cosign.verify(image.pinned, tlog=tlog)
        self.timings["cosign"].append(time.monotonic() - started)
        started = time.monotonic()
        facts = signed.verify(
            image,
            self.trusted_root,
            Authority("release-key", key=self.cosign.public_key),
            formats=(form,),
            tlog="required" if tlog else "optional",
        )
        self.timings["gate"].append(time.monotonic() - started)
        gate_accepts = any(s.accepted_by for s in facts.signatures)
        return done.returncode == 0, gate_accepts, facts, done.stderr[-600:]


def _get(image: PushedImage, kind: str, reference: str, accept: str = OCI_MANIFEST) -> bytes:
    url = f"http://{image.host}/v2/{image.repo}/{kind}/{reference}"
    resp = requests.get(url, headers={"Accept": accept}, timeout=10)
    resp.raise_for_status()
    return resp.content


def _legacy_material(image: PushedImage) -> Material:
    (sig_layer,) = json.loads(_get(image, "manifests", P.sig_tag(image.digest)))["layers"]
    return Material(
        _get(image, "blobs", sig_layer["digest"]),
        dict(sig_layer["annotations"]),
        sig_layer["mediaType"],
    )


def _image(host: str, repo: str) -> PushedImage:
    built = build_image([layer({"app/id.txt": repo.encode()})])
    return PushedImage(host, repo, push(host, repo, built, signed.TAG))


@pytest.fixture(scope="module")
def base(
    referrers_registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Base]:
    """On go-containerregistry's registry: held in memory, it takes a push in a few
    milliseconds where distribution's disk storage takes tens."""
    registry = referrers_registry
    key = P.new_key()
    pki = P.TestPKI.create("differential")
    root = signed.write_trusted_root(pki, tmp_path_factory)
    cosign = Cosign.create(tmp_path_factory.mktemp("cosign"), root, key)
    legacy_image = _image(registry.host, "differential/legacy")
    bundle_image = _image(registry.host, "differential/bundle")
    logged_image = _image(registry.host, "differential/logged")
    cosign.sign(legacy_image.pinned)
    cosign.sign(bundle_image.pinned, bundle=True)
    with FakeRekor(pki) as rekor:
        cosign.sign(logged_image.pinned, rekor_url=rekor.url)

    legacy, logged = (_legacy_material(image) for image in (legacy_image, logged_image))
    (listed,) = _referrers(bundle_image)
    referrer = json.loads(_get(bundle_image, "manifests", listed))
    (bundle_layer,) = referrer["layers"]
    document = json.loads(_get(bundle_image, "blobs", bundle_layer["digest"]))
    bundle = Material(
        base64.b64decode(document["dsseEnvelope"]["payload"]),
        media_type=bundle_layer["mediaType"],
        bundle=document,
    )
    found = Base(
        cosign, key, root, legacy_image, legacy, bundle_image, bundle, pki, logged_image, logged
    )
    yield found
    for side, spent in found.timings.items():
        if spent:
            print(f"\n{side}: {len(spent)} verdicts, {sum(spent):.1f}s")


# --------------------------------------------------------------------------- alterations

Edit = Callable[[Material], None]


def _other_digest(digest: str) -> str:
    return "sha256:" + sha256_digest(digest.encode()).split(":")[1]


def digest_variants(digest: str) -> st.SearchStrategy[object]:
    hex_part = digest.split(":")[1]
    return st.sampled_from(
        [
            digest,
            _other_digest(digest),
            digest.upper(),
            "sha256:" + hex_part.upper(),
            digest + " ",
            " " + digest,
            digest[:-1],
            "sha512:" + hex_part * 2,
            hex_part,
            "",
        ]
    ) | st.one_of(st.none(), st.integers(), st.lists(st.just(digest), max_size=2))


def _at(document: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        document = document.get(key) if isinstance(document, dict) else None
    return document


@st.composite
def set_field(
    draw: st.DrawFn,
    paths: dict[tuple[str, ...], st.SearchStrategy[object]],
    strict: dict[tuple[str, ...], str],
) -> Callable[[dict[str, Any]], str]:
    """Set, or delete, one field of a JSON document (``paths`` say what values to try)."""
    path = draw(st.sampled_from(sorted(paths)))
    delete = draw(st.booleans()) and draw(st.booleans())
    value = None if delete else draw(paths[path])

    def edit(document: dict[str, Any]) -> str:
        parent = _at(document, path[:-1])
        if not isinstance(parent, dict):
            return f"{'.'.join(path)}: no parent"
        if delete:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = value
        return f"{'.'.join(path)} = {'<deleted>' if delete else repr(value)}" + (
            f" [{strict[path]}]" if path in strict else ""
        )

    edit.strict = strict.get(path, "")  # type: ignore[attr-defined]
    return edit


@st.composite
def recase_key(draw: st.DrawFn, paths: list[tuple[str, ...]]) -> Callable[[dict[str, Any]], str]:
    path = draw(st.sampled_from(paths))
    style = draw(st.sampled_from([str.upper, str.title, str.capitalize]))

    def edit(document: dict[str, Any]) -> str:
        parent = _at(document, path[:-1])
        if not isinstance(parent, dict) or path[-1] not in parent:
            return f"{'.'.join(path)}: absent"
        new = style(path[-1])
        if new != path[-1]:
            parent[new] = parent.pop(path[-1])
        return f"{'.'.join(path)} renamed {new!r} [{KEY_CASE}]"

    edit.strict = KEY_CASE  # type: ignore[attr-defined]
    return edit


@st.composite
def add_key(draw: st.DrawFn, parents: list[tuple[str, ...]]) -> Callable[[dict[str, Any]], str]:
    parent_path = draw(st.sampled_from(parents))
    key = draw(st.text("abcdefXYZ-_.", min_size=1, max_size=8))
    value: object = draw(st.one_of(st.none(), st.integers(), st.text(max_size=8), st.just({})))

    def edit(document: dict[str, Any]) -> str:
        parent = _at(document, parent_path)
        if isinstance(parent, dict) and key.lower() not in {k.lower() for k in parent}:
            parent[key] = value
        return f"{'.'.join(parent_path) or '<top>'} gains {key!r}: {value!r}"

    edit.strict = ""  # type: ignore[attr-defined]
    return edit


@st.composite
def raw_edit(draw: st.DrawFn, key: str) -> Callable[[bytes], tuple[bytes, str, str]]:
    """An edit of the serialized JSON bytes."""
    kind = draw(
        st.sampled_from(
            [
                "indent",
                "trailing-space",
                "trailing-garbage",
                "bom",
                "bad-utf8",
                "nan",
                "huge-number",
                "dup-first",
                "dup-last",
            ]
        )
    )
    other = draw(st.sampled_from(["sha256:" + "0" * 64, "x"]))

    def edit(raw: bytes) -> tuple[bytes, str, str]:
        if kind == "indent":
            return json.dumps(json.loads(raw), indent=2).encode(), kind, ""
        if kind == "trailing-space":
            return raw + b" \n", kind, ""
        if kind == "trailing-garbage":
            return raw + b"}", kind, ""
        if kind == "bom":
            return b"\xef\xbb\xbf" + raw, kind, ""
        if kind == "bad-utf8":
            return raw[:-1] + b',"zz":"\xff"}', kind, UTF8
        if kind == "nan":
            return raw[:-1] + b',"zz":NaN}', kind, ""
        if kind == "huge-number":
            return raw[:-1] + b',"zz":1e400}', kind, NUMBER
        needle = f'"{key}":'.encode()
        if needle not in raw:
            return raw, f"{kind}: no {key}", ""
        twin = needle + json.dumps(other).encode() + b","
        if kind == "dup-first":  # the real value comes last: both take the last
            return raw.replace(needle, twin + needle, 1), kind, ""
        start = raw.index(needle)  # dup-last: the real value first, the other one last
        end = raw.index(b"}", start)
        return raw[:end] + b"," + twin[:-1] + raw[end:], kind, ""

    return edit


def _signature_edit(draw: st.DrawFn) -> Callable[[bytes], tuple[bytes, str]]:
    kind = draw(st.sampled_from(["flip", "high-s", "append", "truncate", "empty"]))
    where = draw(st.integers(min_value=0, max_value=1 << 16))

    def edit(sig: bytes) -> tuple[bytes, str]:
        if kind == "flip":
            at = where % (len(sig) * 8)
            flipped = bytearray(sig)
            flipped[at // 8] ^= 1 << (at % 8)
            return bytes(flipped), f"bit {at} flipped"
        if kind == "high-s":
            return _high_s(sig), kind
        if kind == "append":
            return sig + bytes([where % 256]), kind
        if kind == "truncate":
            return sig[: where % len(sig)], kind
        return b"", kind

    return edit


def _high_s(sig: bytes) -> bytes:
    """The same ECDSA signature with s replaced by n - s (DER), which also verifies."""
    from cryptography.hazmat.primitives.asymmetric.utils import (
        decode_dss_signature,
        encode_dss_signature,
    )

    r, s = decode_dss_signature(sig)
    return encode_dss_signature(r, P256_ORDER - s)


def _sometimes(draw: st.DrawFn) -> bool:
    """One time in three: each alteration that breaks the signature stays rare enough that
    most cases still reach the claim checks."""
    return draw(st.integers(0, 2)) == 0


def _b64_edit(draw: st.DrawFn) -> Callable[[str], tuple[str, str]]:
    kind = draw(st.sampled_from(["none", "unpadded", "newline", "crlf", "space", "urlsafe"]))
    where = draw(st.integers(min_value=0, max_value=200))

    def edit(text: str) -> tuple[str, str]:
        at = where % (len(text) + 1)
        if kind == "unpadded":
            return text.rstrip("="), kind
        if kind == "newline":
            return text[:at] + "\n" + text[at:], kind
        if kind == "crlf":
            return text[:at] + "\r\n" + text[at:], kind
        if kind == "space":
            return text[:at] + " " + text[at:], kind
        if kind == "urlsafe":
            return text.replace("+", "-").replace("/", "_"), kind
        return text, "base64 as is"

    return edit


# --------------------------------------------------------------------------- legacy


def legacy_payload_edits(digest: str) -> st.SearchStrategy[Any]:
    paths: dict[tuple[str, ...], st.SearchStrategy[object]] = {
        ("critical", "image", "docker-manifest-digest"): digest_variants(digest),
        ("critical", "type"): st.sampled_from(
            ["cosign container image signature", "Cosign Container Image Signature", ""]
        )
        | st.text(max_size=12),
        ("critical", "identity", "docker-reference"): st.text(max_size=12) | st.none(),
        ("critical", "image"): st.just({"docker-manifest-digest": digest}) | st.none(),
        ("optional",): st.none() | st.dictionaries(st.text(max_size=4), st.text(max_size=4)),
    }
    strict: dict[tuple[str, ...], str] = {("critical", "type"): TYPE}
    recased = [
        ("critical",),
        ("critical", "image"),
        ("critical", "image", "docker-manifest-digest"),
        ("critical", "type"),
    ]
    return st.one_of(
        set_field(paths, strict),
        recase_key(recased),
        add_key([(), ("critical",), ("critical", "image")]),
    )


@st.composite
def legacy_case(draw: st.DrawFn, base: Material, digest: str, key: P.PrivateKey) -> Material:
    material = Material(base.payload, dict(base.annotations), base.media_type)
    document = json.loads(base.payload)
    edits = draw(st.lists(legacy_payload_edits(digest), max_size=3))
    for edit in edits:
        material.steps.append(edit(document))
        material.stricter.add(edit.strict)
    raw = json.dumps(document, separators=(",", ":")).encode() if edits else base.payload
    for raw_change in draw(st.lists(raw_edit("docker-manifest-digest"), max_size=1)):
        raw, step, strict = raw_change(raw)
        material.steps.append(step)
        material.stricter.add(strict)
    if raw != base.payload:
        material.payload = raw
        if draw(st.integers(0, 9)):
            material.annotations[SIGNATURE] = P.b64(P.sign(key, raw))
        else:
            material.steps.append("signature left stale")
    if _sometimes(draw):
        sig = base64.b64decode(material.annotations[SIGNATURE])
        sig, step = _signature_edit(draw)(sig)
        material.annotations[SIGNATURE] = P.b64(sig)
        material.steps.append(f"signature: {step}")
    if _sometimes(draw):
        text, step = _b64_edit(draw)(material.annotations[SIGNATURE])
        material.annotations[SIGNATURE] = text
        material.steps.append(f"signature base64: {step}")
    extra = draw(
        st.sampled_from(
            ["none"] * 5 + ["drop-signature", "bundle", "certificate", "other", "media-type"]
        )
    )
    if extra == "drop-signature":
        del material.annotations[SIGNATURE]
    elif extra == "bundle":
        material.annotations["dev.sigstore.cosign/bundle"] = draw(
            st.sampled_from(['{"SignedEntryTimestamp":"","Payload":{}}', "junk", "{}"])
        )
        material.stricter.add(TLOG_PRESENT)
    elif extra == "certificate":
        material.annotations["dev.sigstore.cosign/certificate"] = draw(
            st.sampled_from(
                ["junk", "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----"]
            )
        )
    elif extra == "other":
        material.annotations[draw(st.text("abc./", min_size=1, max_size=8))] = "x"
    elif extra == "media-type":
        material.media_type = "application/vnd.dev.cosign.simplesigning.v2+json"
        material.stricter.add(LAYER_TYPE)
    material.steps.append(f"annotations: {extra}")
    material.stricter.discard("")
    return material


def publish_legacy(image: PushedImage, material: Material) -> None:
    layer = P.LegacyLayer(material.payload, material.annotations, material.media_type)
    P.push_legacy(image.host, image.repo, image.digest, [layer])


def _judge(
    base: Base, image: PushedImage, form: str, material: Material, *, tlog: bool = False
) -> None:
    cosign_accepts, gate_accepts, facts, stderr = base.verdicts(image, form, tlog=tlog)
    if cosign_accepts == gate_accepts:
        return
    detail = (
        f"cosign {'accepts' if cosign_accepts else 'refuses'}, the gate "
        f"{'accepts' if gate_accepts else 'refuses'}; steps {material.steps}; "
        f"gate: {[r.reason for s in facts.signatures for r in s.refusals]}; cosign: {stderr}"
    )
    assert cosign_accepts and material.stricter, detail  # the gate never accepts more


def test_the_real_signatures_verify_on_both_sides(base: Base) -> None:
    """The baseline the alterations start from: both accept cosign's own signatures."""
    for image, form, tlog in (
        (base.legacy_image, "legacy", False),
        (base.bundle_image, "bundle", False),
        (base.logged_image, "legacy", True),
    ):
        cosign_accepts, gate_accepts, facts, stderr = base.verdicts(image, form, tlog=tlog)
        assert (cosign_accepts, gate_accepts) == (True, True), (facts, stderr)


@settings(max_examples=CASES)
@given(data=st.data())
def test_gate_agrees_with_cosign_verify_on_altered_legacy_signatures(
    base: Base, data: st.DataObject
) -> None:
    material = data.draw(legacy_case(base.legacy, base.legacy_image.digest, base.key))
    publish_legacy(base.legacy_image, material)
    _judge(base, base.legacy_image, "legacy", material)


# --------------------------------------------------------------------------- bundles


def statement_edits(digest: str) -> st.SearchStrategy[Any]:
    hex_part = digest.split(":")[1]
    paths: dict[tuple[str, ...], st.SearchStrategy[object]] = {
        ("predicateType",): st.sampled_from(
            [P.COSIGN_SIGN, "https://slsa.dev/provenance/v1", P.COSIGN_SIGN.upper(), ""]
        )
        | st.integers(),
        ("_type",): st.sampled_from(
            ["https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1", "x"]
        ),
        ("predicate",): st.none() | st.just({}) | st.just({"a": "b"}),
        ("subject",): st.sampled_from(
            [
                [],
                [{"digest": {"sha256": _other_digest(digest).split(":")[1]}}],
                [{"digest": {"sha256": hex_part}}, {"digest": {"sha256": "0" * 64}}],
                [{"digest": {"sha256": "0" * 64}}, {"digest": {"sha256": hex_part}}],
                [{"digest": {"sha256": hex_part.upper()}}],
                [{"digest": {"sha512": hex_part * 2}}],
                [{"digest": {"SHA256": hex_part}}],
                [{"name": "x", "digest": {"sha256": hex_part}}],
                [{"digest": {"sha256": hex_part, "sha512": "0" * 128}}],
                [{"digest": {"sha256": hex_part + " "}}],
                {"digest": {"sha256": hex_part}},
            ]
        ),
    }
    strict: dict[tuple[str, ...], str] = {("predicateType",): PREDICATE}
    return st.one_of(
        set_field(paths, strict),
        recase_key([("predicateType",), ("subject",), ("_type",)]),
        add_key([()]),
    )


@st.composite
def bundle_case(draw: st.DrawFn, base: Material, digest: str, key: P.PrivateKey) -> Material:
    document = json.loads(json.dumps(base.bundle))
    material = Material(base.payload, media_type=base.media_type, bundle=document)
    envelope = document["dsseEnvelope"]
    statement = json.loads(base.payload)
    edits = draw(st.lists(statement_edits(digest), max_size=3))
    for edit in edits:
        material.steps.append(edit(statement))
        material.stricter.add(edit.strict)
    raw = json.dumps(statement, separators=(",", ":")).encode() if edits else base.payload
    for raw_change in draw(st.lists(raw_edit("sha256"), max_size=1)):
        raw, step, strict = raw_change(raw)
        material.steps.append(step)
        material.stricter.add(strict)
    payload_type = draw(
        st.sampled_from([P.IN_TOTO, P.IN_TOTO, P.IN_TOTO, "application/json", "", "text/plain"])
    )
    if payload_type != P.IN_TOTO:
        material.steps.append(f"payloadType {payload_type!r}")
    envelope["payloadType"] = payload_type
    envelope["payload"] = P.b64(raw)
    if raw != base.payload or payload_type != P.IN_TOTO:
        if draw(st.integers(0, 9)):
            envelope["signatures"][0]["sig"] = P.b64(P.sign(key, P.pae(payload_type, raw)))
        else:
            material.steps.append("signature left stale")
    if _sometimes(draw):
        sig, step = _signature_edit(draw)(base64.b64decode(envelope["signatures"][0]["sig"]))
        envelope["signatures"][0]["sig"] = P.b64(sig)
        material.steps.append(f"signature: {step}")
    for name, holder in (("payload", envelope), ("sig", envelope["signatures"][0])):
        if _sometimes(draw):
            text, step = _b64_edit(draw)(holder[name])
            holder[name] = text
            material.steps.append(f"{name} base64: {step}")
    extra = draw(
        st.sampled_from(
            ["none"] * 8
            + [
                "two-signatures",
                "no-signatures",
                "keyid",
                "no-hint",
                "other-hint",
                "empty-tlog",
                "junk-tlog",
                "certificate",
                "media-type",
                "layer-type",
                "message-signature",
            ]
        )
    )
    material_part = document["verificationMaterial"]
    if extra == "two-signatures":
        envelope["signatures"] = envelope["signatures"] * 2
    elif extra == "no-signatures":
        envelope["signatures"] = []
    elif extra == "keyid":
        envelope["signatures"][0]["keyid"] = draw(st.sampled_from(["", "x"]))
    elif extra == "no-hint":
        material_part["publicKey"] = {}
    elif extra == "other-hint":
        material_part["publicKey"] = {"hint": P.b64(b"another key")}
    elif extra == "empty-tlog":
        material_part["tlogEntries"] = []
    elif extra == "junk-tlog":
        material_part["tlogEntries"] = [{"logIndex": "1", "kindVersion": {"kind": "dsse"}}]
        material.stricter.add(TLOG_PRESENT)
    elif extra == "certificate":
        del material_part["publicKey"]
        material_part["certificate"] = {"rawBytes": P.b64(b"junk")}
    elif extra == "media-type":
        document["mediaType"] = draw(
            st.sampled_from(
                [
                    "application/vnd.dev.sigstore.bundle+json;version=0.1",
                    "application/vnd.dev.sigstore.bundle+json;version=0.2",
                    "application/vnd.dev.sigstore.bundle+json;version=0.3",
                    "application/vnd.dev.sigstore.bundle.v0.4+json",
                    "junk",
                ]
            )
        )
    elif extra == "layer-type":
        material.media_type = "application/vnd.dev.sigstore.bundle.v0.2+json"
        material.stricter.add(LAYER_TYPE)
    elif extra == "message-signature":
        document["messageSignature"] = {"signature": envelope["signatures"][0]["sig"]}
    material.steps.append(f"bundle: {extra}")
    material.stricter.discard("")
    return material


def publish_bundle(base: Base, material: Material) -> None:
    """Make this bundle the image's only referrer (the registry lists them itself)."""
    image = base.bundle_image
    data = json.dumps(material.bundle).encode()
    push_blob(image.host, image.repo, data)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": P.EMPTY_CONFIG, "size": 2, "digest": sha256_digest(b"{}")},
        "layers": [
            {"mediaType": material.media_type, "size": len(data), "digest": sha256_digest(data)}
        ],
        "subject": {"mediaType": OCI_MANIFEST, "size": 0, "digest": image.digest},
        "artifactType": P.BUNDLE_MEDIA_TYPE,
    }
    body = json.dumps(manifest).encode()
    digest = push_manifest(image.host, image.repo, sha256_digest(body), body, OCI_MANIFEST)
    for previous in _referrers(image):
        if previous != digest:
            url = f"http://{image.host}/v2/{image.repo}/manifests/{previous}"
            requests.delete(url, timeout=10).raise_for_status()


def _referrers(image: PushedImage) -> list[str]:
    index = json.loads(_get(image, "referrers", image.digest, OCI_INDEX))
    return [m["digest"] for m in index["manifests"]]


@settings(max_examples=CASES)
@given(data=st.data())
def test_gate_agrees_with_cosign_verify_on_altered_bundles(base: Base, data: st.DataObject) -> None:
    material = data.draw(bundle_case(base.bundle, base.bundle_image.digest, base.key))
    publish_bundle(base, material)
    _judge(base, base.bundle_image, "bundle", material)


# --------------------------------------------------------------------------- tlog entries

REKOR_BUNDLE = "dev.sigstore.cosign/bundle"


@st.composite
def logged_case(draw: st.DrawFn, base: Base) -> Material:
    """Alter the Rekor entry cosign kept beside a logged signature: the hashedrekord body, the
    SET's payload, the SET itself; re-signing the SET with the log's key (or not)."""
    material = Material(base.logged.payload, dict(base.logged.annotations), base.logged.media_type)
    entry = json.loads(material.annotations[REKOR_BUNDLE])
    payload = entry["Payload"]
    body = json.loads(base64.b64decode(payload["body"]))
    spec = body["spec"]
    other_key = P.b64(P.public_pem(P.new_key()))
    body_paths: dict[tuple[str, ...], st.SearchStrategy[object]] = {
        ("spec", "data", "hash", "value"): st.sampled_from(
            [spec["data"]["hash"]["value"], spec["data"]["hash"]["value"].upper(), "0" * 64]
        ),
        ("spec", "data", "hash", "algorithm"): st.sampled_from(["sha256", "SHA256", "sha512"]),
        ("spec", "signature", "content"): st.sampled_from(
            [spec["signature"]["content"], P.b64(b"other")]
        ),
        ("spec", "signature", "publicKey", "content"): st.sampled_from(
            [spec["signature"]["publicKey"]["content"], other_key]
        ),
        ("kind",): st.sampled_from(["hashedrekord", "rekord", "dsse"]),
        ("apiVersion",): st.sampled_from(["0.0.1", "0.0.2"]),
    }
    for edit in draw(st.lists(set_field(body_paths, {}), max_size=2)):
        material.steps.append("body " + edit(body))
    if material.steps:
        payload["body"] = P.b64(json.dumps(body).encode())
    now = int(time.time())
    payload_paths: dict[tuple[str, ...], st.SearchStrategy[object]] = {
        ("integratedTime",): st.sampled_from(
            [payload["integratedTime"], now + 3600, 0, -1, str(payload["integratedTime"])]
        ),
        ("logIndex",): st.sampled_from([payload["logIndex"], 7, -1, "0"]),
        ("logID",): st.sampled_from([payload["logID"], payload["logID"].upper(), "00" * 32]),
    }
    for edit in draw(st.lists(set_field(payload_paths, {}), max_size=2)):
        material.steps.append("SET payload " + edit(payload))
    if material.steps:
        if draw(st.integers(0, 9)):
            entry["SignedEntryTimestamp"] = P.b64(P.sign(base.pki.rekor_key, _canonical(payload)))
        else:
            material.steps.append("SET left stale")
    if _sometimes(draw):
        signed_entry = base64.b64decode(entry["SignedEntryTimestamp"])
        changed, step = _signature_edit(draw)(signed_entry)
        entry["SignedEntryTimestamp"] = P.b64(changed)
        material.steps.append(f"SET: {step}")
    if _sometimes(draw):
        material.annotations[REKOR_BUNDLE] = draw(
            st.sampled_from(["", "{}", "null", json.dumps(entry) + " "])
        )
        material.steps.append(f"bundle annotation {material.annotations[REKOR_BUNDLE]!r:.20}")
    else:
        material.annotations[REKOR_BUNDLE] = json.dumps(entry)
    return material


def _canonical(payload: dict[str, Any]) -> bytes:
    import rfc8785

    canonical: bytes = rfc8785.dumps(payload)
    return canonical


@settings(max_examples=CASES)
@given(data=st.data())
def test_gate_agrees_with_cosign_verify_on_altered_tlog_entries(
    base: Base, data: st.DataObject
) -> None:
    """``tlog: required`` against ``cosign verify --offline``: both check the SET and that the
    entry records this payload, signature and key."""
    material = data.draw(logged_case(base))
    publish_legacy(base.logged_image, material)
    _judge(base, base.logged_image, "legacy", material, tlog=True)
