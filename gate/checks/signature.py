"""Check ``signature``: the judged digest carries a cosign signature a trusted authority made.

Pure: the verification itself happened while gathering (``gate.signing``); this check reads
the ``SignatureFacts`` and passes if ANY authority accepted ANY signature, as ``cosign
verify`` does. With no signature at all it fails and names where it looked. The evidence
lists every signature with its format and the authority that accepted it, or each
authority's precise refusal, so a failure explains itself.

``required: false`` reports the same evidence but never fails the gate.
"""

from __future__ import annotations

from typing import Any, ClassVar

from gate.model import CheckResult, Facts, Need, Problem, SignatureEvidence, Status, need
from gate.policy.model import Policy, SignaturePolicy


def _matches_git_sha(policy: SignaturePolicy) -> bool:
    return any(
        a.keyless is not None and a.keyless.github is not None and a.keyless.github.match_git_sha
        for a in policy.authorities
    )


def _row(signature: SignatureEvidence) -> dict[str, Any]:
    return {
        "format": signature.format,
        "where": signature.where,
        "accepted_by": signature.accepted_by,
        "refusals": [{"authority": r.authority, "reason": r.reason} for r in signature.refusals],
    }


def _refused(signature: SignatureEvidence) -> Problem:
    reasons = "; ".join(f"{r.authority}: {r.reason}" for r in signature.refusals)
    return Problem(
        rule="signature-refused",
        message=f"{signature.format} signature {signature.where} refused "
        f"({reasons or 'no authority is configured'})",
        data=_row(signature),
    )


class SignatureCheck:
    id: ClassVar[str] = "signature"

    def needs(self, policy: Policy) -> frozenset[Need] | None:
        if policy.signature is None:
            return None
        if _matches_git_sha(policy.signature):
            return frozenset({Need.SIGNATURES, Need.GIT_SHA})
        return frozenset({Need.SIGNATURES})

    def evaluate(self, policy: Policy, facts: Facts) -> CheckResult:
        assert policy.signature is not None
        required = policy.signature.required
        if _matches_git_sha(policy.signature):
            need(facts.git_sha, "the git SHA")
        gathered = need(facts.signatures, "signatures")
        signatures = gathered.signatures
        evidence = {
            "looked_in": list(gathered.looked_in),
            "signatures": [_row(s) for s in signatures],
        }
        accepted = [s for s in signatures if s.accepted_by is not None]
        if accepted:
            first = accepted[0]
            return CheckResult(
                self.id,
                Status.PASS,
                f"{first.format} signature {first.where} accepted by {first.accepted_by}"
                + (f" (and {len(accepted) - 1} more)" if len(accepted) > 1 else ""),
                evidence=evidence,
            )
        suffix = "" if required else " (signature.required is false, so this does not fail)"
        if not signatures:
            places = ", ".join(gathered.looked_in) or "nowhere (no formats configured)"
            problem = Problem(
                rule="signature-missing",
                message=f"no cosign signature found; looked in {places}",
                data={"looked_in": list(gathered.looked_in)},
            )
            if not required:
                return CheckResult(self.id, Status.PASS, problem.message + suffix, (), evidence)
            return CheckResult(self.id, Status.FAIL, problem.message, (problem,), evidence)
        count = len(signatures)
        summary = (
            f"{count} signature{'s' if count != 1 else ''} found, none accepted by a trusted "
            "authority" + suffix
        )
        if not required:
            return CheckResult(self.id, Status.PASS, summary, (), evidence)
        findings = tuple(_refused(s) for s in signatures)
        return CheckResult(self.id, Status.FAIL, summary, findings, evidence)
