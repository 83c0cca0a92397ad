"""The pure ``signature`` check over gathered facts, and the lazy-import rule for gate.signing."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gate.checks.signature import SignatureCheck
from gate.model import (
    Facts,
    MissingFact,
    Need,
    SignatureEvidence,
    SignatureFacts,
    SignatureRefusal,
    Status,
    Subject,
    Unavailable,
)
from gate.policy.model import (
    Authority,
    GitHubClaims,
    KeylessIdentity,
    Policy,
    SignaturePolicy,
)
from tests.support.paths import REPO_ROOT

CHECK = SignatureCheck()
SUBJECT = Subject("registry.test/app:v1", "sha256:" + "a" * 64, repository="registry.test/app")
KEY = Authority("release-key", key=Path("cosign.pub"))
LOOKED = (
    "registry.test/app:sha256-aaaa (referrers fallback index)",
    "registry.test/app:sha256-aaaa.sig",
)


def policy(*authorities: Authority, required: bool = True) -> Policy:
    return Policy(
        source="test",
        signature=SignaturePolicy(required=required, authorities=authorities or (KEY,)),
    )


def facts(signatures: SignatureFacts | Unavailable | None, git_sha: object = None) -> Facts:
    return Facts(
        SUBJECT,
        datetime.now(timezone.utc),
        signatures=signatures,
        git_sha=git_sha,  # type: ignore[arg-type]
    )


REFUSED = SignatureEvidence(
    "legacy",
    "registry.test/app:sha256-aaaa.sig layer 0",
    refusals=(SignatureRefusal("release-key", "wrong key: the signature does not verify"),),
)
ACCEPTED = SignatureEvidence(
    "bundle",
    "registry.test/app@sha256:bbbb",
    accepted_by="release-key",
)


def test_not_asked_for_without_a_signature_section() -> None:
    assert CHECK.needs(Policy(source="test")) is None


def test_needs_signatures_and_the_git_sha_only_when_matched() -> None:
    assert CHECK.needs(policy()) == frozenset({Need.SIGNATURES})
    keyless = Authority(
        "ci",
        keyless=KeylessIdentity(issuer="x", subject="y", github=GitHubClaims(match_git_sha=True)),
    )
    assert CHECK.needs(policy(keyless)) == frozenset({Need.SIGNATURES, Need.GIT_SHA})


def test_one_accepted_signature_passes_and_every_signature_is_evidence() -> None:
    result = CHECK.evaluate(policy(), facts(SignatureFacts(LOOKED, (REFUSED, ACCEPTED))))

    assert result.status is Status.PASS
    assert (
        result.summary == "bundle signature registry.test/app@sha256:bbbb accepted by release-key"
    )
    assert result.evidence["looked_in"] == list(LOOKED)
    assert result.evidence["signatures"] == [
        {
            "format": "legacy",
            "where": REFUSED.where,
            "accepted_by": None,
            "refusals": [
                {"authority": "release-key", "reason": "wrong key: the signature does not verify"}
            ],
        },
        {"format": "bundle", "where": ACCEPTED.where, "accepted_by": "release-key", "refusals": []},
    ]


def test_no_signature_fails_naming_where_it_looked() -> None:
    result = CHECK.evaluate(policy(), facts(SignatureFacts(LOOKED)))

    assert result.status is Status.FAIL
    assert result.summary == f"no cosign signature found; looked in {', '.join(LOOKED)}"
    assert [f.rule for f in result.findings] == ["signature-missing"]


def test_only_refused_signatures_fail_with_each_reason() -> None:
    result = CHECK.evaluate(policy(), facts(SignatureFacts(LOOKED, (REFUSED,))))

    assert result.status is Status.FAIL
    assert result.summary == "1 signature found, none accepted by a trusted authority"
    (finding,) = result.findings
    assert finding.rule == "signature-refused"
    assert "release-key: wrong key: the signature does not verify" in finding.message


def test_not_required_reports_but_does_not_fail() -> None:
    result = CHECK.evaluate(policy(required=False), facts(SignatureFacts(LOOKED, (REFUSED,))))

    assert result.status is Status.PASS
    assert "does not fail" in result.summary
    assert result.evidence["signatures"][0]["accepted_by"] is None


def test_signatures_that_could_not_be_gathered_are_an_error() -> None:
    with pytest.raises(MissingFact, match="registry down"):
        CHECK.evaluate(policy(), facts(Unavailable("registry down")))
    with pytest.raises(MissingFact):
        CHECK.evaluate(policy(), facts(None))


def test_match_git_sha_without_a_git_sha_is_an_error() -> None:
    keyless = Authority(
        "ci",
        keyless=KeylessIdentity(issuer="x", subject="y", github=GitHubClaims(match_git_sha=True)),
    )
    with pytest.raises(MissingFact, match="no git SHA"):
        CHECK.evaluate(
            policy(keyless),
            facts(SignatureFacts(LOOKED, (ACCEPTED,)), git_sha=Unavailable("no git SHA known")),
        )


def test_cli_import_does_not_load_signing_or_crypto() -> None:
    code = (
        "import sys, gate.cli, gate.checks.signature\n"
        "heavy = [m for m in ('gate.signing', 'cryptography', 'sigstore', 'rfc8785') "
        "if m in sys.modules]\n"
        "print(heavy)\n"
    )
    root = REPO_ROOT
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "[]"
