"""The gate's vocabulary: facts gathered at the edges, and the results judged from them.

Everything here is a frozen dataclass with no I/O. Edges (registry, subprocess,
filesystem) produce these values; ``gate.core`` and ``gate.checks`` consume them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from gate.severity import Severity as Severity  # re-exported: part of the vocabulary

# --------------------------------------------------------------------------- subject


@dataclass(frozen=True)
class Subject:
    """The one image being judged.

    ``digest`` is the digest the reference resolved to, once: what the user pushed and
    what ``cosign sign IMAGE:TAG`` signs (an index's, for a multi-platform image).
    ``manifest_digest`` is the image manifest every other fact is about: the index entry
    containerd would run on the requested platform, or ``digest`` itself for a
    single-platform image (None for a docker archive, which has no manifest).
    ``tag`` is the tag from the reference the user gave (``None`` when given by digest).
    """

    reference: str
    digest: str | None
    repository: str | None = None
    tag: str | None = None
    manifest_digest: str | None = None

    @property
    def pinned(self) -> str:
        """``repository@digest`` when both are known, else the reference as given."""
        if self.repository and self.digest:
            return f"{self.repository}@{self.digest}"
        return self.reference


@dataclass(frozen=True)
class ScanTarget:
    """What a scanner is pointed at: always the resolved digest, never a moving tag."""

    kind: Literal["registry", "oci", "docker-archive"]
    location: str
    insecure: bool = False
    platform: str | None = None
    """The platform of the index entry the gate chose (normalised; see
    ``gate.oci.platforms.for_scanners``), None when there was no index."""


# --------------------------------------------------------------------------- scanner facts


@dataclass(frozen=True)
class Vulnerability:
    """One vulnerability in one installed package, as one or more scanners saw it."""

    id: str
    package: str
    installed: str
    severity: Severity
    fixed: tuple[str, ...] = ()
    aliases: frozenset[str] = frozenset()
    title: str = ""
    status: str = ""
    url: str = ""
    purl: str = ""
    target: str = ""
    found_by: frozenset[str] = frozenset()
    source_packages: frozenset[str] = frozenset()
    """The source package(s) the installed package was built from, when a scanner named
    one other than ``package`` itself (``openssl`` for ``libssl3``): Trivy's ``SrcName``,
    Grype's ``artifact.upstreams[].name``. Two names when the scanners disagree."""

    @property
    def ids(self) -> frozenset[str]:
        return self.aliases | {self.id}

    @property
    def has_fix(self) -> bool:
        return bool(self.fixed)


def package_phrase(package: str, sources: Iterable[str]) -> str:
    """``libssl3 (source openssl)``: the source package is what advisories and waivers name."""
    shown = ", ".join(sorted(sources))
    return f"{package} (source {shown})" if shown else package


@dataclass(frozen=True)
class Secret:
    """A secret a scanner found in the image. ``match`` is already redacted by the scanner."""

    rule_id: str
    title: str
    severity: Severity
    target: str
    line: int | None = None
    category: str = ""


@dataclass(frozen=True)
class ScanReport:
    """One scanner's complete, successfully parsed report."""

    scanner: str
    version: str = ""
    db_built: str | None = None
    db_source: str = ""
    """Where ``db_built`` was read (Grype's report, Trivy's ``metadata.json``); empty if unknown."""
    artifact: str = ""
    digests: tuple[str, ...] = ()
    image_id: str | None = None
    """The config digest of the image the scanner read (Trivy ``Metadata.ImageID``,
    Grype ``source.target.imageID``): what it really scanned, whatever it was given."""
    os: str | None = None
    vulnerabilities: tuple[Vulnerability, ...] = ()
    secrets: tuple[Secret, ...] = ()
    image_config: Mapping[str, Any] | None = None
    secrets_scanned: bool | None = None
    """True when the gate ran the scanner with secret scanning on; False when the report
    holds no secret scan (Grype never looks for secrets; Trivy run without it); None when
    unknown (a saved Trivy report does not record which of its scanners ran)."""
    reused: bool = False
    """The report of an earlier scan of this digest by the same scanner, DB and settings
    (``gate.scanners.trivy_cache``), read again instead of scanning again."""


# --------------------------------------------------------------------------- image facts


@dataclass(frozen=True)
class ImageConfig:
    """The parts of the OCI image config the hygiene checks read."""

    user: str | None
    created: str | None = None


@dataclass(frozen=True)
class UserFile:
    """``/etc/passwd`` or ``/etc/group`` as the container would see it, from the image's layers.

    ``content`` is None when the file does not exist (never added, or deleted by a
    whiteout): the runtime then reads no file. ``readable`` is False when the gate cannot
    tell what the runtime would read (a symbolic link, not a regular file, too large, or
    no image to read); ``reason`` says why content is None. ``layer`` decided it.
    """

    path: str
    content: bytes | None
    layer: str | None = None
    reason: str = ""
    readable: bool = True


@dataclass(frozen=True)
class UserFiles:
    """The files the runtime reads to resolve ``config.User`` (moby/sys/user's GetExecUser)."""

    passwd: UserFile
    group: UserFile

    @classmethod
    def unread(cls, reason: str) -> UserFiles:
        return cls(
            UserFile("/etc/passwd", None, reason=reason, readable=False),
            UserFile("/etc/group", None, reason=reason, readable=False),
        )


@dataclass(frozen=True)
class ManifestFacts:
    """The judged manifest: compressed layer sizes, annotations, platform."""

    layer_sizes: tuple[int, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: str | None = None
    media_type: str = ""


@dataclass(frozen=True)
class Location:
    file: str
    line: int | None = None


@dataclass(frozen=True)
class BaseImage:
    """An external image a Dockerfile's build pulls (internal stages excluded)."""

    reference: str
    repository: str
    digest: str | None
    location: Location | None = None
    text: str = ""
    role: str = "base"
    """``base`` (FROM), ``copy-from`` (COPY --from, RUN --mount from) or ``frontend`` (syntax)."""


@dataclass(frozen=True)
class SignatureRefusal:
    authority: str
    reason: str


@dataclass(frozen=True)
class SignatureEvidence:
    """One signature found for the digest, and what each authority made of it."""

    format: Literal["legacy", "bundle"]
    where: str
    accepted_by: str | None = None
    refusals: tuple[SignatureRefusal, ...] = ()


@dataclass(frozen=True)
class SignatureFacts:
    looked_in: tuple[str, ...]
    signatures: tuple[SignatureEvidence, ...] = ()


# --------------------------------------------------------------------------- baseline and VEX


@dataclass(frozen=True)
class BaselineFinding:
    """A finding of the baseline image: matched by id or alias plus package, not version."""

    id: str
    package: str
    aliases: frozenset[str] = frozenset()
    first_seen: str | None = None

    @property
    def ids(self) -> frozenset[str]:
        return self.aliases | {self.id}


@dataclass(frozen=True)
class Baseline:
    """What a previous image (scanned now, or a saved report of it) was found to carry.

    ``repository``, ``platform`` and ``policy_sha256`` say what it was judged as, so the
    check can refuse a baseline of another image line instead of silently applying it.
    """

    source: str
    findings: tuple[BaselineFinding, ...]
    digest: str | None = None
    repository: str | None = None
    platform: str | None = None
    policy_sha256: str | None = None
    scanners: tuple[str, ...] = ()
    judged_at: str | None = None


@dataclass(frozen=True)
class VexStatement:
    """One OpenVEX statement, with the document it came from (v0.2.0 fields)."""

    source: str
    document_id: str
    author: str
    vulnerability: str
    aliases: frozenset[str]
    products: tuple[tuple[str, tuple[str, ...]], ...]
    """Each product's id with its own subcomponents (none: the whole product)."""
    status: str
    justification: str = ""
    impact_statement: str = ""
    action_statement: str = ""
    timestamp: str = ""
    order: int = 0

    @property
    def ids(self) -> frozenset[str]:
        return self.aliases | {self.vulnerability}


@dataclass(frozen=True)
class VexFacts:
    """The statements to apply, and the VEX attestations refused (where, and why)."""

    statements: tuple[VexStatement, ...] = ()
    refused: tuple[str, ...] = ()
    looked_in: tuple[str, ...] = ()


# --------------------------------------------------------------------------- facts container


@dataclass(frozen=True)
class Unavailable:
    """A fact the gate tried and failed to gather. Checks needing it end in error."""

    reason: str
    detail: str = ""


class MissingFact(Exception):
    """Raised inside a check that needs a fact which is absent or unavailable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


T = TypeVar("T")


def need(value: T | Unavailable | None, what: str) -> T:
    """Return a gathered fact, or raise MissingFact so the check ends in error (fail closed)."""
    if value is None:
        raise MissingFact(f"{what} was not gathered")
    if isinstance(value, Unavailable):
        raise MissingFact(value.reason, value.detail)
    return value


class Need(enum.Enum):
    """The facts a check asks for, so the gate gathers only what the policy needs."""

    SCANS = "scans"
    CONFIG = "config"
    USER = "user"
    MANIFEST = "manifest"
    BASE_IMAGES = "base_images"
    GIT_SHA = "git_sha"
    SIGNATURES = "signatures"
    BASELINE = "baseline"
    VEX = "vex"


@dataclass(frozen=True)
class Facts:
    subject: Subject
    now: datetime
    scans: tuple[ScanReport, ...] | Unavailable | None = None
    config: ImageConfig | Unavailable | None = None
    user: UserFiles | Unavailable | None = None
    manifest: ManifestFacts | Unavailable | None = None
    base_images: tuple[BaseImage, ...] | Unavailable | None = None
    git_sha: str | Unavailable | None = None
    signatures: SignatureFacts | Unavailable | None = None
    baseline: Baseline | Unavailable | None = None
    vex: VexFacts | Unavailable | None = None
    platform: str | None = None


# --------------------------------------------------------------------------- results


class Status(str, enum.Enum):
    PASS = "pass"  # noqa: S105 (a status, not a password)
    FAIL = "fail"
    ERROR = "error"


@dataclass(frozen=True)
class Problem:
    """One reason a check fails.

    ``rule`` is stable across runs (a CVE id, ``unpinned-base``, …) so SARIF alerts and
    annotations keep their identity. ``data`` is the JSON row machines read.
    """

    rule: str
    message: str
    severity: Severity | None = None
    location: Location | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    id: str
    status: Status
    summary: str
    findings: tuple[Problem, ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)
    detail: str = ""


Mode = Literal["enforce", "warn"]


@dataclass(frozen=True)
class Verdict:
    """The judgement on one image."""

    subject: Subject
    checks: tuple[CheckResult, ...]
    mode: Mode = "enforce"
    tools: Mapping[str, Any] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> Literal["pass", "fail", "error"]:
        statuses = {c.status for c in self.checks}
        if Status.ERROR in statuses:
            return "error"
        if Status.FAIL in statuses:
            return "fail"
        return "pass"
