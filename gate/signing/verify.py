"""Orchestration: find every signature on the judged digest and ask every authority about it.

The result, ``SignatureFacts``, records for each signature its format and where it was found,
and either the authority that accepted it or each authority's precise refusal; the pure check
``gate.checks.signature`` then passes if any authority accepted any signature, as
``cosign verify`` does when several signatures and keys are in play.

Errors that make a verdict impossible (a registry failure, an unreadable key file or trust
root) raise ``GateError``; a signature that does not verify is only refused.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timezone

from gate.errors import GateError, SignatureError
from gate.model import SignatureEvidence, SignatureFacts, SignatureRefusal, Subject
from gate.policy.model import SignaturePolicy
from gate.signing import Refused
from gate.signing.authority import Context, Verifier, load_authority
from gate.signing.bundle import verify_bundle
from gate.signing.discover import Found, SignatureRegistry, discover
from gate.signing.legacy import verify_legacy

Connect = Callable[[str], SignatureRegistry]


def judge(found: Found, authorities: Sequence[Verifier], ctx: Context) -> SignatureEvidence:
    """Try each authority in policy order; the first that accepts ends the search."""
    refusals: list[SignatureRefusal] = []
    for authority in authorities:
        try:
            if found.problem:
                raise Refused(f"unreadable signature: {found.problem}")
            if found.legacy is not None:
                verify_legacy(found.legacy, authority, ctx)
            elif found.bundle is not None:
                verify_bundle(found.bundle, authority, ctx)
            else:  # pragma: no cover - discovery always sets one of the three
                raise Refused("no signature material")
        except Refused as refusal:
            refusals.append(SignatureRefusal(authority.name, str(refusal)))
            continue
        except GateError:
            raise
        except Exception as exc:  # hostile material can trip a parser: refuse, never accept
            reason = f"the signature material cannot be processed ({type(exc).__name__}: {exc})"
            refusals.append(SignatureRefusal(authority.name, reason[:300]))
            continue
        return SignatureEvidence(found.format, found.where, authority.name, tuple(refusals))
    return SignatureEvidence(found.format, found.where, None, tuple(refusals))


def signature_location(subject: Subject, policy: SignaturePolicy) -> tuple[str, str, str]:
    """(registry host, display name, repository path) where the signatures are stored.

    ``signature.repository`` overrides the image's own repository, as ``COSIGN_REPOSITORY``.
    """
    from gate.oci.reference import parse_reference

    name = policy.repository or subject.repository
    if not name:
        raise SignatureError(
            f"cannot look up signatures for {subject.reference}: it is not a registry image; "
            "set signature.repository to where its signatures are stored"
        )
    ref = parse_reference(name)
    return ref.registry, ref.name, ref.repository


def gather_signatures(
    subject: Subject,
    policy: SignaturePolicy,
    *,
    insecure_hosts: Collection[str] = (),
    git_sha: str | None = None,
    connect: Connect | None = None,
    now: datetime | None = None,
) -> SignatureFacts:
    """Discover and verify the signatures of ``subject.digest`` under ``policy``."""
    if not subject.digest:
        raise SignatureError(f"cannot verify signatures of {subject.reference}: no digest resolved")
    authorities = [load_authority(a, git_sha) for a in policy.authorities]
    host, name, repo = signature_location(subject, policy)
    if connect is None:
        from gate.image.registry import connect as registry_connect

        client: SignatureRegistry = registry_connect(host, insecure_hosts=insecure_hosts)
    else:
        client = connect(host)
    discovery = discover(client, name, repo, subject.digest, policy.formats)
    ctx = Context.for_policy(policy, subject.digest, now or datetime.now(timezone.utc))
    evidence = tuple(judge(found, authorities, ctx) for found in discovery.found)
    return SignatureFacts(looked_in=discovery.looked_in, signatures=evidence)
