"""End to end: OpenVEX documents in the repository, and OpenVEX attestations signed by cosign.

The real CLI, Trivy and registry; the attestations are written by the real ``cosign attest
--type openvex`` (v2), so the gate reads what cosign really stores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_gate
from tests.support.oci import build_image, layer, push
from tests.support.rootfs import APP_PASSWD, debian_rootfs
from tests.support.trivydb import VULNERABLE_DEBIAN_PACKAGES

ZLIB = "CVE-2026-0002"


@pytest.fixture(scope="module")
def image(registry) -> tuple[str, str]:
    """(tag reference, digest) of an image whose only critical finding is zlib1g's."""
    built = build_image(
        [layer(debian_rootfs(VULNERABLE_DEBIAN_PACKAGES, passwd=APP_PASSWD))], user="app"
    )
    push(registry.host, "vex/app", built, "v1")
    return f"{registry.host}/vex/app:v1", built.digest


def product(digest: str) -> str:
    return "pkg:oci/app@" + digest.replace(":", "%3A")


def statement(digest: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "vulnerability": {"name": ZLIB},
        "products": [{"@id": product(digest)}],
        "status": "not_affected",
        "justification": "vulnerable_code_not_in_execute_path",
    }
    body.update(fields)
    return body


def document(*statements: dict[str, Any], **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.test/vex/app-1",
        "author": "Jane Maintainer <jane@example.test>",
        "timestamp": "2026-11-02T10:00:00Z",
        "version": 1,
        "statements": list(statements),
    }
    doc.update(fields)
    return doc


def write_policy(tmp_path: Path, *docs: dict[str, Any], extra: str = "") -> Path:
    names = []
    for number, doc in enumerate(docs):
        name = f"vex/doc{number}.openvex.json"
        (tmp_path / "vex").mkdir(exist_ok=True)
        (tmp_path / name).write_text(json.dumps(doc))
        names.append(name)
    listed = "".join(f"    - {n}\n" for n in names)
    policy = tmp_path / "policy.yml"
    policy.write_text(
        "version: 1\nvulnerabilities:\n  fail_on: critical\n"
        + (f"  vex:\n{listed}" if names else "")
        + extra
    )
    return policy


def test_a_not_affected_statement_for_the_image_waives_the_finding(image, trivy_env, tmp_path):
    ref, digest = image
    sub = {"subcomponents": [{"@id": "pkg:deb/debian/zlib1g"}]}
    policy = write_policy(
        tmp_path, document(statement(digest, products=[{"@id": product(digest), **sub}]))
    )
    report = tmp_path / "report.json"
    result = run_gate(
        "check", ref, "--policy", str(policy), "--report-json", str(report), env=trivy_env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"vex: {ZLIB} in zlib1g is not_affected (vulnerable_code_not_in_execute_path) "
        "by Jane Maintainer <jane@example.test>"
    ) in result.stdout
    (check,) = json.loads(report.read_text())["checks"]
    (applied,) = check["evidence"]["vex_applied"]
    assert applied["finding_package"] == "zlib1g" and applied["author"].startswith("Jane")
    assert check["evidence"]["vex_unused"] == []


def test_without_the_statement_the_same_image_fails(image, trivy_env, tmp_path):
    ref, _ = image
    result = run_gate("check", ref, "--policy", str(write_policy(tmp_path)), env=trivy_env)
    assert result.returncode == 1 and ZLIB in result.stdout


def test_an_alias_matches_and_a_bare_digest_names_the_image(image, trivy_env, tmp_path):
    ref, digest = image
    st = statement(digest, vulnerability={"name": "GHSA-zzzz-0002", "aliases": [ZLIB]})
    st["products"] = [{"@id": digest}]
    result = run_gate("check", ref, "--policy", str(write_policy(tmp_path, document(st))),
                      env=trivy_env)  # fmt: skip
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    "later",
    [
        {"status": "affected", "action_statement": "upgrade zlib", "justification": None},
        {"status": "under_investigation", "justification": None},
    ],
)
def test_a_later_affected_or_under_investigation_statement_overrides(
    image, trivy_env, tmp_path, later
):
    ref, digest = image
    newer = {k: v for k, v in statement(digest, **later).items() if v is not None}
    newer["timestamp"] = "2026-11-03T10:00:00Z"
    # The newer statement comes first in the file: the timestamp, not the order, decides.
    policy = write_policy(tmp_path, document(newer, statement(digest)))
    result = run_gate("check", ref, "--policy", str(policy), env=trivy_env)
    assert result.returncode == 1, result.stdout
    assert f"vex: {ZLIB}" not in result.stdout


def test_statements_for_another_image_or_package_apply_nothing_and_are_listed(
    image, trivy_env, tmp_path
):
    ref, digest = image
    other = "sha256:" + "0" * 64
    wrong_package = statement(
        digest,
        products=[{"@id": product(digest), "subcomponents": [{"@id": "pkg:deb/debian/openssl"}]}],
    )
    policy = write_policy(tmp_path, document(statement(other), wrong_package))
    result = run_gate("check", ref, "--policy", str(policy), env=trivy_env)
    assert result.returncode == 1
    assert "none of its products is this image (digest and repository)" in result.stdout
    assert "no finding in this image matches it" in result.stdout


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d["statements"][0].update(status="not-affected"), "statements[0].status"),
        (lambda d: d.pop("author"), "document.author"),
        (lambda d: d["statements"][0].pop("justification"), "needs a justification"),
        (lambda d: d.update(timestamp="yesterday"), "not an RFC 3339 timestamp"),
        (lambda d: d["statements"][0].update(product="x"), "unknown key 'product'"),
    ],
)
def test_a_malformed_vex_document_is_an_error_naming_file_and_reason(
    image, trivy_env, tmp_path, mutate, reason
):
    ref, digest = image
    doc = document(statement(digest))
    mutate(doc)
    result = run_gate("check", ref, "--policy", str(write_policy(tmp_path, doc)), env=trivy_env)
    assert result.returncode == 2, result.stdout
    assert "doc0.openvex.json" in result.stdout and reason in result.stdout


def test_a_missing_vex_file_is_refused_with_its_position(image, trivy_env, tmp_path):
    ref, _ = image
    policy = write_policy(tmp_path, extra="  vex: [missing.json]\n")
    result = run_gate("check", ref, "--policy", str(policy), env=trivy_env)
    assert result.returncode == 2
    assert "policy.yml:4:9: vulnerabilities.vex[0]: file 'missing.json' not found" in result.stderr


# --------------------------------------------------------------------------- attestations


@pytest.fixture(scope="module")
def cosign() -> str:
    found = shutil.which("cosign", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("cosign is not installed (scripts/go-tools.sh)")
    return found


def _keypair(cosign: str, where: Path) -> tuple[Path, Path]:
    where.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "COSIGN_PASSWORD": ""}
    subprocess.run([cosign, "generate-key-pair"], cwd=where, env=env, check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    return where / "cosign.key", where / "cosign.pub"


def _attest(cosign: str, key: Path, predicate: Path, target: str) -> None:
    env = {**os.environ, "COSIGN_PASSWORD": ""}
    done = subprocess.run(
        [cosign, "attest", "--yes", "--type", "openvex", "--predicate", str(predicate),
         "--key", str(key), "--tlog-upload=false", "--allow-insecure-registry",
         "--allow-http-registry", target],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def attested(image, cosign, tmp_path_factory) -> dict[str, Path]:
    """The image with a VEX attestation signed by ``signer``; ``stranger`` signed nothing."""
    ref, digest = image
    root = tmp_path_factory.mktemp("attest")
    key, pub = _keypair(cosign, root / "signer")
    _, stranger = _keypair(cosign, root / "stranger")
    predicate = root / "vex.json"
    predicate.write_text(json.dumps(document(statement(digest))))
    _attest(cosign, key, predicate, f"{ref.rsplit(':', 1)[0]}@{digest}")
    return {"signer": pub, "stranger": stranger}


def _attestation_policy(tmp_path: Path, key: Path) -> Path:
    policy = tmp_path / "policy.yml"
    policy.write_text(
        "version: 1\nvulnerabilities:\n  fail_on: critical\n  vex_attestations: true\n"
        "signature:\n  required: false\n  tlog: optional\n  authorities:\n"
        f"    - name: release\n      key: {key}\n"
    )
    return policy


def test_a_signed_vex_attestation_from_an_authority_is_applied(attested, image, trivy_env,
                                                              tmp_path):  # fmt: skip
    ref, _ = image
    policy = _attestation_policy(tmp_path, attested["signer"])
    result = run_gate("check", ref, "--policy", str(policy), env=trivy_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"vex: {ZLIB} in zlib1g is not_affected" in result.stdout
    assert "(signed by release)" in result.stdout


def test_a_vex_attestation_from_another_signer_is_refused(attested, image, trivy_env, tmp_path):
    ref, _ = image
    policy = _attestation_policy(tmp_path, attested["stranger"])
    summary = tmp_path / "summary.md"
    env = {**trivy_env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = run_gate("check", ref, "--policy", str(policy), env=env)
    assert "VEX attestation refused" in summary.read_text()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "vex attestation refused" in result.stdout
    assert "wrong key: the DSSE signature does not verify under release's key" in result.stdout


def test_with_tlog_required_an_attestation_without_an_entry_is_refused(
    attested, image, trivy_env, tmp_path
):
    ref, _ = image
    policy = _attestation_policy(tmp_path, attested["signer"])
    policy.write_text(policy.read_text().replace("tlog: optional", "tlog: required"))
    result = run_gate("check", ref, "--policy", str(policy), env=trivy_env)
    assert result.returncode == 1
    assert "signature.tlog is required, and it has none" in result.stdout
