"""The pure rules: what is new since a baseline, and which OpenVEX statement decides a finding."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.checks.delta import compute_delta, days_present, refusal, warnings
from gate.model import Baseline, BaselineFinding, Severity, Subject, VexStatement, Vulnerability
from gate.vex import (
    VexError,
    applies,
    component_matches,
    deciding,
    names_image,
    ordered,
    parse_openvex,
    product_digest,
)

DIGEST = "sha256:" + "ab" * 32
IMAGE = Subject("registry.example/team/app:v1", DIGEST, "registry.example/team/app", "v1")

IDS = st.sampled_from(["CVE-2026-0001", "CVE-2026-0002", "GHSA-aaaa-0001", "DLA-1-1"])
PACKAGES = st.sampled_from(["openssl", "libssl3", "zlib1g"])


@st.composite
def findings(draw: st.DrawFn) -> Vulnerability:
    ident = draw(IDS)
    return Vulnerability(
        id=ident,
        package=draw(PACKAGES),
        installed=draw(st.sampled_from(["1.0", "1.1", "2.0"])),
        severity=Severity.HIGH,
        aliases=frozenset(draw(st.sets(IDS, max_size=2)) - {ident}),
    )


@st.composite
def baselines(draw: st.DrawFn) -> Baseline:
    rows = draw(st.lists(findings(), max_size=6))
    return Baseline("test", tuple(BaselineFinding(f.id, f.package, f.aliases) for f in rows))


@settings(max_examples=300, deadline=None)
@given(st.lists(findings(), max_size=8, unique=True), baselines())
def test_a_finding_is_inherited_exactly_when_the_baseline_shares_an_id_in_its_package(
    current: list[Vulnerability], baseline: Baseline
) -> None:
    delta = compute_delta(tuple(current), baseline)
    assert set(delta.new) | set(delta.inherited) == set(current)
    assert not set(delta.new) & set(delta.inherited)
    for finding in current:
        shares = any(
            old.package == finding.package and old.ids & finding.ids for old in baseline.findings
        )
        assert (finding in delta.inherited) == shares
    for old in baseline.findings:
        gone = not any(old.package == f.package and old.ids & f.ids for f in current)
        assert (old in delta.fixed) == gone


@settings(max_examples=200, deadline=None)
@given(st.lists(findings(), max_size=8, unique=True), baselines(), st.sampled_from(["9.9", "0.1"]))
def test_the_installed_version_never_changes_what_is_new(
    current: list[Vulnerability], baseline: Baseline, version: str
) -> None:
    upgraded = [replace(f, installed=version) for f in current]
    before = compute_delta(tuple(current), baseline)
    after = compute_delta(tuple(upgraded), baseline)
    assert len(before.new) == len(after.new)
    assert {(f.id, f.package) for f in before.new} == {(f.id, f.package) for f in after.new}


def test_another_repository_or_platform_is_refused_another_policy_only_warned() -> None:
    base = Baseline("r", (), repository="reg/app", platform="linux/amd64", policy_sha256="aa")
    assert refusal(base, repository="reg/other", platform="linux/amd64")
    assert refusal(base, repository="reg/app", platform="linux/arm64")
    assert refusal(base, repository="reg/app", platform="linux/amd64") is None
    assert warnings(base, repository="reg/app", policy_sha256="bb", scanners=())
    assert warnings(base, repository="reg/app", policy_sha256="aa", scanners=()) == []


def test_days_present_needs_a_zoned_timestamp() -> None:
    from datetime import datetime, timezone

    now = datetime(2026, 12, 4, tzinfo=timezone.utc)
    assert days_present("2026-11-22T10:00:00+00:00", now) == 11
    assert days_present("2026-11-22T10:00:00", now) is None
    assert days_present("yesterday", now) is None
    assert days_present(None, now) is None


# --------------------------------------------------------------------------- VEX


def _statement(order: int = 0, **fields: object) -> VexStatement:
    base: dict[str, object] = {
        "source": "vex.json",
        "document_id": "doc",
        "author": "a",
        "vulnerability": "CVE-2026-0002",
        "aliases": frozenset(),
        "products": ((f"pkg:oci/app@{DIGEST.replace(':', '%3A')}", ()),),
        "status": "not_affected",
        "timestamp": "2026-11-02T10:00:00Z",
        "order": order,
    }
    base.update(fields)
    return VexStatement(**base)  # type: ignore[arg-type]


ZLIB = Vulnerability(
    "CVE-2026-0002",
    "zlib1g",
    "1:1.2.13.dfsg-1",
    Severity.CRITICAL,
    purl="pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12.5",
)


@pytest.mark.parametrize(
    ("product", "digest"),
    [
        (f"pkg:oci/app@{DIGEST.replace(':', '%3A')}?arch=amd64", DIGEST),
        (DIGEST, DIGEST),
        (f"registry.example/app@{DIGEST}", DIGEST),
        ("pkg:oci/app", None),
        ("pkg:deb/debian/zlib1g@1.2", None),  # a version, but never an image digest
    ],
)
def test_product_digest_spellings(product: str, digest: str | None) -> None:
    assert product_digest(product) == digest


@pytest.mark.parametrize(
    ("component", "matches"),
    [
        ("pkg:deb/debian/zlib1g", True),
        ("pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1", True),
        ("pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64", True),
        ("pkg:deb/debian/zlib1g?arch=arm64", False),
        ("pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1+deb12u1", False),
        ("pkg:deb/debian/openssl", False),
        ("pkg:deb/ubuntu/zlib1g", False),
        ("zlib1g", True),
    ],
)
def test_subcomponents_match_the_package_purl_or_name(component: str, matches: bool) -> None:
    assert component_matches(component, ZLIB) is matches


def test_the_latest_statement_decides_and_the_first_written_breaks_a_tie() -> None:
    old = _statement(0, timestamp="2026-11-01T00:00:00Z")
    new = _statement(1, status="affected", timestamp="2026-11-03T00:00:00Z")
    assert deciding(ZLIB, ordered([new, old]), IMAGE) == new
    # Equal timestamps: the one written first wins, as go-vex orders them for Trivy.
    same_time = _statement(2, status="fixed", timestamp="2026-11-03T00:00:00Z")
    assert deciding(ZLIB, ordered([same_time, new]), IMAGE) == new


def test_an_alias_matches_and_another_image_does_not() -> None:
    aliased = _statement(vulnerability="GHSA-x", aliases=frozenset({"CVE-2026-0002"}))
    assert applies(aliased, ZLIB, IMAGE)
    assert not applies(aliased, ZLIB, Subject("x", "sha256:" + "cd" * 32, IMAGE.repository))
    assert not applies(aliased, ZLIB, Subject("x", None))


@pytest.mark.parametrize(
    ("product", "named"),
    [
        (f"pkg:oci/app@{DIGEST.replace(':', '%3A')}", True),
        (f"pkg:oci/app@{DIGEST.replace(':', '%3A')}?arch=amd64&tag=v1", True),
        (
            f"pkg:oci/app@{DIGEST.replace(':', '%3A')}"
            "?repository_url=registry.example%2Fteam%2Fapp",
            True,
        ),
        (f"pkg:oci/app@{DIGEST.replace(':', '%3A')}?repository_url=elsewhere.example/app", False),
        (f"pkg:oci/other@{DIGEST.replace(':', '%3A')}", False),
        (f"registry.example/team/app@{DIGEST}", True),
        (f"registry.example/other/app@{DIGEST}", False),
        (DIGEST, True),
    ],
)
def test_a_product_names_the_image_by_digest_and_repository(product: str, named: bool) -> None:
    assert names_image(_statement(products=((product, ()),)), IMAGE) is named


def test_subcomponents_belong_to_their_own_product() -> None:
    image = f"pkg:oci/app@{DIGEST.replace(':', '%3A')}"
    other = "pkg:oci/app@sha256%3A" + "0" * 64
    paired = _statement(products=((image, ("pkg:deb/debian/openssl",)),
                                  (other, ("pkg:deb/debian/zlib1g",))))  # fmt: skip
    assert not applies(paired, ZLIB, IMAGE)
    assert applies(replace(paired, products=((image, ()), (other, ("x",)))), ZLIB, IMAGE)


def test_parse_keeps_the_documents_timestamp_for_statements_without_one() -> None:
    document = (
        b'{"@context": "https://openvex.dev/ns/v0.2.0", "@id": "x", "author": "a",'
        b' "timestamp": "2026-11-02T10:00:00Z", "version": 1, "statements": [{"vulnerability":'
        b' {"name": "CVE-1"}, "products": [{"@id": "sha256:ab"}], "status": "fixed"}]}'
    )
    (statement,) = parse_openvex(document, "v.json")
    assert statement.timestamp == "2026-11-02T10:00:00Z" and statement.status == "fixed"
    with pytest.raises(VexError, match=r"v\.json: document\.version"):
        parse_openvex(document.replace(b'"version": 1', b'"version": "1"'), "v.json")


def test_a_baseline_report_in_the_policy_is_relative_to_the_policy_file(tmp_path) -> None:
    from gate.policy import load_policy

    policy = tmp_path / "ci" / "policy.yml"
    policy.parent.mkdir()
    policy.write_text("version: 1\nvulnerabilities:\n  baseline: reports/main.json\n")
    loaded = load_policy(policy)
    assert loaded.vulnerabilities is not None
    # Not yet written (a missing report is an error at run time), but still the policy's.
    assert loaded.vulnerabilities.baseline == str(tmp_path / "ci" / "reports" / "main.json")
    policy.write_text("version: 1\nvulnerabilities:\n  baseline: registry.example/app:main\n")
    assert load_policy(policy).vulnerabilities.baseline == "registry.example/app:main"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- attestations


def _envelope(
    key: ec.EllipticCurvePrivateKey,
    statement: object,
    payload_type: str = "application/vnd.in-toto+json",
) -> bytes:
    import base64
    import json

    from cryptography.hazmat.primitives import hashes

    from gate.signing.bundle import pae

    payload = json.dumps(statement).encode()
    sig = key.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
    return json.dumps(
        {
            "payloadType": payload_type,
            "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}],
        }
    ).encode()


def _in_toto(digest: str, predicate_type: str = "https://openvex.dev/ns") -> dict[str, object]:
    return {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": "registry.example/team/app", "digest": {"sha256": digest[7:]}}],
        "predicate": {"@context": "https://openvex.dev/ns/v0.2.0", "statements": []},
    }


@pytest.mark.parametrize(
    ("statement", "payload_type", "reason"),
    [
        (_in_toto(DIGEST), "application/vnd.in-toto+json", None),
        (_in_toto("sha256:" + "cd" * 32), "application/vnd.in-toto+json", "digest mismatch"),
        (
            _in_toto(DIGEST, "https://slsa.dev/provenance/v1"),
            "application/vnd.in-toto+json",
            "is not OpenVEX",
        ),
        (_in_toto(DIGEST), "text/plain", "the DSSE payload type is 'text/plain'"),
        ({"no": "statement"}, "application/vnd.in-toto+json", "not an in-toto statement"),
    ],
)
def test_a_vex_attestation_is_accepted_only_for_the_judged_digest_and_openvex(
    statement: object, payload_type: str, reason: str | None
) -> None:
    from datetime import datetime, timezone

    from gate.signing import Refused
    from gate.signing.attest import verify_vex_attestation
    from gate.signing.authority import Context, KeyAuthority

    key = ec.generate_private_key(ec.SECP256R1())
    authority = KeyAuthority("release", key.public_key())
    ctx = Context(DIGEST, False, datetime.now(timezone.utc))
    raw = _envelope(key, statement, payload_type)
    if reason is None:
        assert verify_vex_attestation(raw, {}, authority, ctx)["statements"] == []
        return
    with pytest.raises(Refused, match=re.escape(reason)):
        verify_vex_attestation(raw, {}, authority, ctx)


def test_a_tampered_vex_attestation_is_refused() -> None:
    import json
    from datetime import datetime, timezone

    from gate.signing import Refused
    from gate.signing.attest import verify_vex_attestation
    from gate.signing.authority import Context, KeyAuthority

    key = ec.generate_private_key(ec.SECP256R1())
    envelope = json.loads(_envelope(key, _in_toto(DIGEST)))
    other = json.loads(_envelope(key, _in_toto("sha256:" + "cd" * 32)))
    envelope["payload"] = other["payload"]  # a signature of another statement
    ctx = Context(DIGEST, False, datetime.now(timezone.utc))
    with pytest.raises(Refused, match="wrong key"):
        verify_vex_attestation(
            json.dumps(envelope).encode(), {}, KeyAuthority("release", key.public_key()), ctx
        )
