"""Signatures made by the real cosign, judged by the gate's CLI, on both real registries.

cosign v2.6.5 signs offline with a key (no public Rekor: see tests/support/cosign.py): a legacy
``.sig``, unlogged or logged in a loopback stand-in Rekor, or a Sigstore bundle
(``--new-bundle-format``) that it stores through the referrers API where the registry has one
and through the fallback tag where it has not. cosign's own
``cosign verify`` is asked too, so each verdict is held against the program that made it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import pki as P
from tests.support import signed
from tests.support.cli import run_gate
from tests.support.cosign import Cosign
from tests.support.fakerekor import FakeRekor
from tests.support.registry import RunningRegistry
from tests.support.signed import PushedImage

FORMATS = ["legacy", "bundle"]


@pytest.fixture(scope="module")
def pki() -> P.TestPKI:
    return P.TestPKI.create("cosign")


@pytest.fixture(scope="module")
def cosign(pki: P.TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Cosign:
    root = signed.write_trusted_root(pki, tmp_path_factory)
    return Cosign.create(tmp_path_factory.mktemp("cosign"), root)


@pytest.fixture
def image(signature_registry: RunningRegistry, request: pytest.FixtureRequest) -> PushedImage:
    return signed.push_unique_image(
        signature_registry.host,
        request,
        "cosigned",
        referrers_api=signature_registry.referrers_api,
    )


def check(
    image: PushedImage, key: Path, tmp_path: Path, tlog: str, trusted_root: Path | None = None
) -> tuple[int, dict[str, Any]]:
    """``python -m gate check`` with a signature-only policy trusting ``key``."""
    policy = tmp_path / "policy.yml"
    policy.write_text(
        "version: 1\nsignature:\n"
        f"  tlog: {tlog}\n"
        + (f"  trusted_root: {trusted_root}\n" if trusted_root else "")
        + f"  authorities:\n    - name: release-key\n      key: {key}\n"
    )
    report = tmp_path / "report.json"
    env = {"PATH": os.path.dirname(sys.executable), "HOME": str(tmp_path)}
    done = run_gate(
        "check", image.reference, "--policy", str(policy), "--report-json", str(report), env=env
    )
    assert "Traceback" not in done.stdout + done.stderr
    return done.returncode, json.loads(report.read_text())


def evidence(report: dict[str, Any]) -> dict[str, Any]:
    (signature_check,) = report["checks"]
    result: dict[str, Any] = signature_check["evidence"]
    return result


@pytest.mark.parametrize("form", FORMATS)
def test_real_cosign_signature_passes_as_cosign_verify_accepts_it(
    form: str, image: PushedImage, cosign: Cosign, tmp_path: Path
) -> None:
    cosign.sign(image.pinned, bundle=form == "bundle")

    code, report = check(image, cosign.public_key, tmp_path, tlog="optional")

    assert cosign.verify(image.pinned).returncode == 0
    assert code == 0, report
    (signature,) = evidence(report)["signatures"]
    assert (signature["format"], signature["accepted_by"]) == (form, "release-key")
    if form == "bundle":
        assert evidence(report)["looked_in"][0] == image.bundles_looked_in


@pytest.mark.parametrize("form", FORMATS)
def test_real_cosign_signature_under_another_key_fails_as_cosign_verify_refuses_it(
    form: str, image: PushedImage, cosign: Cosign, tmp_path: Path
) -> None:
    cosign.sign(image.pinned, bundle=form == "bundle")
    other = tmp_path / "other.pub"
    other.write_bytes(P.public_pem(P.new_key()))

    code, report = check(image, other, tmp_path, tlog="optional")

    assert cosign.verify(image.pinned, key=other).returncode != 0
    assert code == 1, report
    (signature,) = evidence(report)["signatures"]
    assert signature["accepted_by"] is None
    assert signature["refusals"][0]["reason"].startswith("wrong key")


@pytest.mark.parametrize("form", FORMATS)
def test_real_cosign_signature_without_tlog_entry_fails_when_one_is_required(
    form: str, image: PushedImage, cosign: Cosign, tmp_path: Path
) -> None:
    cosign.sign(image.pinned, bundle=form == "bundle")

    code, report = check(image, cosign.public_key, tmp_path, tlog="required")

    assert code == 1, report
    (signature,) = evidence(report)["signatures"]
    assert [r["reason"] for r in signature["refusals"]] == ["no tlog entry while one is required"]


def test_both_real_cosign_formats_on_one_image_are_both_judged(
    image: PushedImage, cosign: Cosign, tmp_path: Path
) -> None:
    cosign.sign(image.pinned)
    cosign.sign(image.pinned, bundle=True)

    code, report = check(image, cosign.public_key, tmp_path, tlog="optional")

    assert code == 0, report
    assert [(s["format"], s["accepted_by"]) for s in evidence(report)["signatures"]] == [
        ("bundle", "release-key"),
        ("legacy", "release-key"),
    ]


def test_real_cosign_signature_logged_in_rekor_passes_with_tlog_required(
    image: PushedImage, cosign: Cosign, pki: P.TestPKI, tmp_path: Path
) -> None:
    """cosign uploads the entry to the stand-in Rekor and keeps its SET in the signature; the
    gate and ``cosign verify --offline`` both check that SET under the test PKI's Rekor key."""
    with FakeRekor(pki) as rekor:
        cosign.sign(image.pinned, rekor_url=rekor.url)

    code, report = check(
        image, cosign.public_key, tmp_path, tlog="required", trusted_root=cosign.trusted_root
    )

    assert cosign.verify(image.pinned, tlog=True).returncode == 0
    assert code == 0, report
    assert evidence(report)["signatures"][0]["accepted_by"] == "release-key"


def test_real_cosign_signature_logged_in_another_rekor_is_refused(
    image: PushedImage, cosign: Cosign, tmp_path: Path
) -> None:
    with FakeRekor(P.TestPKI.create("another-rekor")) as rekor:
        cosign.sign(image.pinned, rekor_url=rekor.url)

    code, report = check(
        image, cosign.public_key, tmp_path, tlog="required", trusted_root=cosign.trusted_root
    )

    assert cosign.verify(image.pinned, tlog=True).returncode != 0
    assert code == 1, report
    (signature,) = evidence(report)["signatures"]
    assert signature["refusals"][0]["reason"].startswith("unknown Rekor logID")
