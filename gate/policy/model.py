"""The loaded policy: frozen dataclasses built only from a schema-valid document.

A section that is ``None`` was absent from the file: it is not checked, and nothing it
would need is gathered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from gate.scanners import DEFAULT_SCANNERS
from gate.severity import Severity

if TYPE_CHECKING:  # a type only: the policy loads without the fact model (gate.severity)
    from gate.model import Mode

EXPIRY_WARNING_DAYS = 14
"""An exception expiring within this many days is reported, so it is renewed in time."""

DEFAULT_MUTABLE_TAGS = ("latest", "stable", "edge", "main", "master", "dev", "nightly")


@dataclass(frozen=True)
class VulnException:
    """A waiver. It always carries a reason and an expiry; past the expiry it stops applying."""

    id: str
    reason: str
    expires: date
    package: str | None = None
    line: int | None = None

    def matches(
        self, ids: frozenset[str], package: str, sources: frozenset[str] = frozenset()
    ) -> bool:
        """Whether this waives a finding with these ids, in ``package`` built from ``sources``.

        Ids compare case-insensitively (``cve-2026-0001`` is ``CVE-2026-0001``; GHSA ids
        are spelled either way), as the merge folds them. ``package`` names the binary
        package or its source package, so one waiver for ``openssl`` covers ``libssl3``.
        """
        if self.package is not None and self.package != package and self.package not in sources:
            return False
        wanted = self.id.strip().upper()
        return any(i.strip().upper() == wanted for i in ids)

    def expired(self, today: date) -> bool:
        """An exception is valid through its ``expires`` day and expired the day after."""
        return today > self.expires


@dataclass(frozen=True)
class VulnerabilityPolicy:
    fail_on: Severity = Severity.HIGH
    ignore_unfixed: bool = False
    unknown_as: Severity = Severity.HIGH
    exceptions: tuple[VulnException, ...] = ()
    scanners: tuple[str, ...] = DEFAULT_SCANNERS
    baseline: str | None = None
    new_only: bool = False
    vex: tuple[Path, ...] = ()
    vex_attestations: bool = False


@dataclass(frozen=True)
class SecretsPolicy:
    fail: bool = True


@dataclass(frozen=True)
class ImagePolicy:
    non_root: bool = False
    tag: Literal["git-sha", "immutable", "any"] = "any"
    tag_pattern: str | None = None
    """With ``tag: git-sha``: the tag around the commit, e.g. ``sha-{short_sha}``."""
    mutable_tags: tuple[str, ...] = DEFAULT_MUTABLE_TAGS
    max_age_days: int | None = None
    max_size_mb: float | None = None


@dataclass(frozen=True)
class BaseImagePolicy:
    require_digest: bool = True
    dockerfiles: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class GitHubClaims:
    repository: str | None = None
    ref: str | None = None
    match_git_sha: bool = False


@dataclass(frozen=True)
class KeylessIdentity:
    issuer: str | None = None
    issuer_regex: str | None = None
    subject: str | None = None
    subject_regex: str | None = None
    github: GitHubClaims | None = None


@dataclass(frozen=True)
class Authority:
    """Exactly one of ``key`` (a PEM public key file) or ``keyless`` is set."""

    name: str
    key: Path | None = None
    keyless: KeylessIdentity | None = None


@dataclass(frozen=True)
class SignaturePolicy:
    required: bool = True
    authorities: tuple[Authority, ...] = ()
    tlog: Literal["required", "optional"] = "required"
    trusted_root: Path | None = None
    formats: tuple[Literal["bundle", "legacy"], ...] = ("bundle", "legacy")
    repository: str | None = None


@dataclass(frozen=True)
class TrivyPolicy:
    """Where Trivy scans are judged: ``server`` makes every scan a client of that server."""

    server: str | None = None
    token_env: str = "TRIVY_TOKEN"  # noqa: S105 (the name of a variable)


@dataclass(frozen=True)
class Policy:
    source: str
    version: int = 1
    mode: Mode = "enforce"
    vulnerabilities: VulnerabilityPolicy | None = None
    secrets: SecretsPolicy | None = None
    image: ImagePolicy | None = None
    base_image: BaseImagePolicy | None = None
    signature: SignaturePolicy | None = None
    builtin: bool = False
    sha256: str = ""
    trivy: TrivyPolicy | None = None
