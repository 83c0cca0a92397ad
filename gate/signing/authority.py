"""The policy's authorities, made ready to verify with, and what every verification shares.

Loading happens once per run: a key file that cannot be read is a gate error (exit 2), since
the policy itself is broken; a signature that does not verify is only a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

from gate.errors import SignatureError
from gate.policy.model import Authority, SignaturePolicy
from gate.signing import Refused
from gate.signing.identity import IdentityPolicy
from gate.signing.keys import PublicKey, load_pem_public_key
from gate.signing.trust import TrustRoot, load_trust_root


@dataclass(frozen=True)
class KeyAuthority:
    name: str
    key: PublicKey


@dataclass(frozen=True)
class KeylessAuthority:
    name: str
    identity: IdentityPolicy


Verifier = KeyAuthority | KeylessAuthority


def load_authority(authority: Authority, git_sha: str | None) -> Verifier:
    if authority.keyless is not None:
        return KeylessAuthority(authority.name, IdentityPolicy(authority.keyless, git_sha))
    if authority.key is None:
        raise SignatureError(f"authority {authority.name!r} has neither key nor keyless")
    try:
        pem = authority.key.read_bytes()
    except OSError as exc:
        raise SignatureError(
            f"cannot read key {authority.key} of authority {authority.name!r}: {exc.strerror}"
        ) from None
    try:
        return KeyAuthority(authority.name, load_pem_public_key(pem, str(authority.key)))
    except Refused as exc:
        raise SignatureError(f"authority {authority.name!r}: {exc}") from None


@dataclass(frozen=True)
class Context:
    """What one run verifies against: the image digest, the tlog rule, the trust root."""

    digest: str
    tlog_required: bool
    now: datetime
    trusted_root: Path | None = None

    @cached_property
    def trust(self) -> TrustRoot:
        """Loaded on first use: a key-only policy without tlog never needs a trust root."""
        return load_trust_root(self.trusted_root)

    @classmethod
    def for_policy(cls, policy: SignaturePolicy, digest: str, now: datetime) -> Context:
        return cls(digest, policy.tlog == "required", now, policy.trusted_root)
