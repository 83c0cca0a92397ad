"""What the signature tests share: the test PKI's trust root, a fresh image per test pushed to
the loopback registry under a repository of its own, and verifying it natively.

The test modules keep their pytest fixtures (each names its own PKI and repository prefix)
as one-liners over these helpers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gate.model import SignatureFacts, Subject
from gate.policy.model import Authority, SignaturePolicy
from gate.signing.verify import gather_signatures
from tests.support import pki as P
from tests.support.oci import build_image, layer, push

TAG = "v1"


@dataclass(frozen=True)
class PushedImage:
    """An image as the registry holds it, tagged ``v1``, and what signing it pushes beside it."""

    host: str
    repo: str
    digest: str
    referrers_api: bool = False

    @property
    def bundles_looked_in(self) -> str:
        """Where the gate lists this image's bundles: the referrers API, else the fallback tag."""
        if self.referrers_api:
            return f"{self.name} referrers API for {self.digest}"
        return f"{self.name}:{self.digest.replace(':', '-')} (referrers fallback index)"

    @property
    def name(self) -> str:
        return f"{self.host}/{self.repo}"

    @property
    def pinned(self) -> str:
        """``name@digest``: what cosign signs and verifies."""
        return f"{self.name}@{self.digest}"

    @property
    def reference(self) -> str:
        """What the gate is asked to check."""
        return f"{self.name}:{TAG}"

    @property
    def subject(self) -> Subject:
        """What the gate judges once the reference is resolved."""
        return Subject(self.reference, self.digest, repository=self.name, tag=TAG)

    def push_legacy(self, *layers: P.LegacyLayer) -> str:
        """Push ``layers`` as this image's ``sha256-<hex>.sig`` manifest."""
        return P.push_legacy(self.host, self.repo, self.digest, list(layers))

    def push_bundle(self, bundle: Mapping[str, Any] | bytes) -> str:
        """Push ``bundle`` as a referrer of this image (and into the fallback index)."""
        return P.push_bundle(self.host, self.repo, self.digest, bundle)


def push_unique_image(
    host: str, request: pytest.FixtureRequest, prefix: str, *, referrers_api: bool = False
) -> PushedImage:
    """A distinct tiny image per test, pushed under ``prefix/<test name>``, so no test sees
    another test's signatures."""
    repo = f"{prefix}/" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    built = build_image([layer({"app/id.txt": request.node.nodeid.encode()})])
    return PushedImage(host, repo, push(host, repo, built, TAG), referrers_api)


def write_trusted_root(pki: P.TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pki``'s ``trusted_root.json``, in a directory of its own."""
    return pki.write_trusted_root(tmp_path_factory.mktemp("trust") / "trusted_root.json")


def verify(
    image: PushedImage,
    trusted_root: Path,
    *authorities: Authority,
    formats: tuple[str, ...],
    tlog: str = "required",
    git_sha: str | None = P.GIT_SHA,
) -> SignatureFacts:
    """Gather and judge ``image``'s signatures of ``formats`` under ``authorities``."""
    policy = SignaturePolicy(
        authorities=authorities,
        tlog=tlog,  # type: ignore[arg-type]
        trusted_root=trusted_root,
        formats=formats,  # type: ignore[arg-type]
    )
    return gather_signatures(image.subject, policy, git_sha=git_sha)


def reasons(facts: SignatureFacts) -> list[str]:
    """Every refusal's reason, signature by signature."""
    return [r.reason for s in facts.signatures for r in s.refusals]
