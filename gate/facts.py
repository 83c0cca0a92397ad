"""Gather the facts one image's verdict needs: the I/O edge in front of the pure core.

Only what the enabled checks ask for is fetched (``gate.core.required_facts``): a policy
with only ``signature`` runs no scanner and pulls no layer. Independent facts are
gathered concurrently, so two scanners cost about the slower of the two.

Every gathering step yields its fact or an ``Unavailable`` carrying the error; the check
that needs it then ends in ``error``, so a failure can never read as a pass. Opening the
image itself is not optional: if the tag cannot be resolved to a digest, ``GateError``
propagates and the whole image is an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from gate.errors import GateError, UsageError
from gate.model import (
    BaseImage,
    Baseline,
    Facts,
    ImageConfig,
    Need,
    ScanReport,
    SignatureFacts,
    Subject,
    Unavailable,
    UserFiles,
    VexFacts,
    VexStatement,
)
from gate.policy.model import Policy
from gate.progress import Progress, silent

if TYPE_CHECKING:
    from gate.image.sources import ImageSource
    from gate.scanners.interface import Scanner
    from gate.scanners.trivy_server import ServerEndpoint

T = TypeVar("T")
Gathered = Future["T | Unavailable"]


@dataclass(frozen=True)
class GatherOptions:
    insecure_hosts: frozenset[str] = frozenset()
    platform: str = "linux/amd64"
    scanner_timeout: float = 600.0
    reports: Mapping[str, Path] = field(default_factory=dict)
    dockerfiles: tuple[Path, ...] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    git_sha: str | None = None
    now: datetime | None = None
    progress: Progress = field(default_factory=silent)
    trivy_server: ServerEndpoint | None = None
    """Every Trivy scan is a client of this server (``gate.scanners.trivy_server``)."""
    trivy_cache: Literal["memory", "fs"] = "memory"
    """A standalone Trivy's layer cache: ``fs`` only when no two Trivy runs overlap."""


@dataclass
class Timer:
    """Wall time per gathering step, for the report's ``timings``."""

    timings: dict[str, float] = field(default_factory=dict)

    def timed(self, name: str, fn: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.timings[name] = time.perf_counter() - start


def scanner_for(
    name: str, policy: Policy | None = None, options: GatherOptions | None = None
) -> Scanner:
    """The scanner called ``name``; Trivy is told to look only for what the policy judges,
    and where to keep its layer analyses (``options``)."""
    if name == "trivy":
        from gate.scanners.trivy import Trivy

        where: dict[str, Any] = {}
        if options is not None:
            where = {"server": options.trivy_server, "cache": options.trivy_cache}
        if policy is None:
            return Trivy(**where)
        kinds = []
        if policy.vulnerabilities is not None and "trivy" in policy.vulnerabilities.scanners:
            kinds.append("vuln")
        if policy.secrets is not None and policy.secrets.fail:
            kinds.append("secret")
        return Trivy(scanners=kinds, **where)
    if name == "grype":
        from gate.scanners.grype import Grype

        return Grype()
    raise UsageError(f"unknown scanner {name!r}; allowed: trivy, grype")


def scanners_needed(policy: Policy) -> tuple[str, ...]:
    """Vulnerability scanners from the policy, plus Trivy when secrets are judged."""
    names = list(policy.vulnerabilities.scanners) if policy.vulnerabilities else []
    if policy.secrets is not None and policy.secrets.fail and "trivy" not in names:
        names.append("trivy")
    return tuple(names)


def _attempt(fn: Callable[[], T]) -> T | Unavailable:
    try:
        return fn()
    except GateError as error:
        return Unavailable(error.message, error.detail)


def _result(future: Future[T | Unavailable] | None) -> T | Unavailable | None:
    return None if future is None else future.result()


# --------------------------------------------------------------------------- saved reports


def _subject_from_reports(reports: tuple[ScanReport, ...]) -> Subject:
    """Name the image from saved reports (``--trivy-report`` without IMAGE)."""
    from gate.image.reference import tag_of

    artifact = next((r.artifact for r in reports if r.artifact), "")
    pinned = next((d for r in reports for d in r.digests if "@" in d), "")
    repository, _, digest = pinned.rpartition("@")
    return Subject(
        reference=artifact or "(from report)",
        digest=digest or None,
        repository=repository or None,
        tag=tag_of(artifact) if artifact else None,
    )


@dataclass(frozen=True)
class Judged:
    """What a scanner report must be about: the judged image's identities.

    ``digest`` is what the reference resolved to (an index's, for a multi-platform image),
    ``manifest`` the image manifest judged (the chosen entry), ``config`` its config digest.
    """

    digest: str | None
    manifest: str | None
    config: str | None


def _judged(source: ImageSource) -> Judged:
    subject = source.subject
    return Judged(subject.digest, subject.manifest_digest, source.config_digest())


def _check_report_is_judged(judged: Judged, report: ScanReport) -> None:
    """A scanner report must be about the judged image, by what the scanner really read.

    The config digest a scanner reports (Trivy ``ImageID``, Grype ``imageID``) is the image
    it read, whatever reference it was given: it must be the judged config. Manifest
    digests it names may be the judged manifest or the index that lists it (Trivy names the
    reference it was given), nothing else. And one of the two must tie it to the judged
    image: an index digest alone does not say which of the index's images was scanned (a
    scanner picks its own child, by its own rules), and a report naming nothing (Trivy and
    Grype list no digest for an OCI layout or an archive) cannot be tied at all.
    """
    named = {d.rpartition("@")[2] for d in report.digests}
    judged_text = f"the judged image (manifest {judged.manifest or '-'}, config {judged.config})"
    if report.image_id and report.image_id != judged.config:
        raise UsageError(
            f"the {report.scanner} report is for the image with config {report.image_id}, "
            f"not for {judged_text}"
        )
    stray = sorted(named - {judged.manifest, judged.digest})
    if stray:
        raise UsageError(
            f"the {report.scanner} report is for {', '.join(stray)}, not for {judged_text}"
        )
    if report.image_id != judged.config and judged.manifest not in named:
        index = " (an index: which of its images was scanned is unknown)" if named else ""
        raise UsageError(
            f"the {report.scanner} report names no image digest of {judged_text}{index}, "
            f"so it cannot be tied to it; let the gate run "
            f"{report.scanner} on IMAGE, or judge the report alone (omit IMAGE)"
        )


def _check_reports_agree(subject: Subject, reports: tuple[ScanReport, ...]) -> None:
    """Without IMAGE, the saved reports name the image: they must all name the same one."""
    configs = sorted({r.image_id for r in reports if r.image_id})
    if len(configs) > 1:
        raise UsageError(f"the reports are about different images (configs {', '.join(configs)})")
    for report in reports:
        digests = {d.rpartition("@")[2] for d in report.digests}
        if subject.digest and digests and subject.digest not in digests:
            raise UsageError(
                f"the {report.scanner} report is for {', '.join(sorted(digests))}, "
                f"not for the judged image {subject.digest}"
            )


def _config_from_reports(reports: tuple[ScanReport, ...]) -> ImageConfig | Unavailable:
    """The image config a scanner embedded in its report (Trivy ImageConfig, Grype config)."""
    for report in reports:
        raw = report.image_config
        if isinstance(raw, Mapping):
            inner = raw.get("config")
            user = inner.get("User") if isinstance(inner, Mapping) else None
            created = raw.get("created")
            return ImageConfig(
                user=user if isinstance(user, str) else None,
                created=created if isinstance(created, str) else None,
            )
    return Unavailable("the reports carry no image config; pass IMAGE so it can be read")


# --------------------------------------------------------------------------- gathering


_LONG_STEPS = {
    "scan_trivy": "trivy: scanning",
    "scan_grype": "grype: scanning",
    "passwd": "reading /etc/passwd and /etc/group from the layers",
    "signatures": "verifying signatures",
}
"""Gathering steps that can take long enough to need progress lines (gate.progress)."""


@dataclass
class _Gatherer:
    policy: Policy
    needs: frozenset[Need]
    options: GatherOptions
    timer: Timer
    source: ImageSource | None
    saved: dict[str, ScanReport]

    def step(self, name: str, fn: Callable[[], T]) -> Callable[[], T | Unavailable]:
        label = _LONG_STEPS.get(name)
        if label is None:
            return lambda: _attempt(lambda: self.timer.timed(name, fn))
        image = self.source.subject.reference if self.source else None

        def announced() -> T:
            with self.options.progress.step(label, image):
                return fn()

        return lambda: _attempt(lambda: self.timer.timed(name, announced))

    def scan(self, name: str) -> ScanReport:
        """Run one scanner on the judged digest, and make sure that is what it scanned."""
        from gate.errors import ScannerError

        assert self.source is not None
        target = self.source.scan_target
        scanner = scanner_for(name, self.policy, self.options)
        report = scanner.scan(target, timeout=self.options.scanner_timeout)
        try:
            _check_report_is_judged(_judged(self.source), report)
        except UsageError as error:
            raise ScannerError(f"{name} scanned the wrong image: {error.message}") from error
        return report

    def scans(self, pool: ThreadPoolExecutor) -> Callable[[], tuple[ScanReport, ...] | Unavailable]:
        """Start every scanner that has no saved report; return a collector of all reports."""
        names = scanners_needed(self.policy)
        running = {
            name: pool.submit(self.step(f"scan_{name}", lambda n=name: self.scan(n)))  # type: ignore[misc]
            for name in names
            if name not in self.saved
        }
        if running and self.source is None:
            missing = next(iter(running))
            raise UsageError(
                f"no IMAGE given, so {missing} cannot run; pass IMAGE or --{missing}-report"
            )
        if running:
            from gate.scanners._stream import backend_name

            # Load the report parser while the scanners run, off the critical path: the
            # gate waits for them anyway. A failure here is the parser's to report later.
            pool.submit(backend_name)

        def collect() -> tuple[ScanReport, ...] | Unavailable:
            """Every report, or every scanner's failure (not just the first one's)."""
            outcomes = [self.saved.get(name) or running[name].result() for name in names]
            failures = [o for o in outcomes if isinstance(o, Unavailable)]
            if failures:
                return Unavailable(
                    "; ".join(f.reason for f in failures),
                    "\n".join(f.detail for f in failures if f.detail),
                )
            return tuple(o for o in outcomes if isinstance(o, ScanReport))

        return collect

    def config(self) -> ImageConfig | Unavailable:
        if self.source is not None:
            return _attempt(lambda: self.timer.timed("config", self.source.config))  # type: ignore[union-attr]
        return _config_from_reports(tuple(self.saved.values()))

    def user(self, config: ImageConfig | Unavailable) -> UserFiles | Unavailable | None:
        """The image's /etc/passwd and /etc/group, when they can change the non-root verdict."""
        from gate.image.users import needs_files

        if not isinstance(config, ImageConfig) or not needs_files(config.user or ""):
            return None
        if self.source is None:
            return UserFiles.unread(
                "only reports were given, so the image's /etc/passwd and /etc/group cannot be read"
            )
        from gate.image.passwd import read_user_files

        layers = self.source.layers
        return self.step("passwd", lambda: read_user_files(layers()))()

    def base_images(self) -> tuple[BaseImage, ...]:
        from gate.dockerfile import read_base_images

        return read_base_images(self.options.dockerfiles, self.options.build_args)

    def git_sha(self) -> str:
        from gate.gitsha import find_git_sha

        sha = find_git_sha(self.options.git_sha)
        if sha is None:
            raise UsageError("no git SHA known; pass --git-sha SHA or set GITHUB_SHA")
        return sha

    def baseline(self) -> Baseline:
        from gate.baseline import load_baseline

        rules = self.policy.vulnerabilities
        assert rules is not None and rules.baseline is not None
        return load_baseline(
            rules.baseline,
            self.policy,
            insecure_hosts=self.options.insecure_hosts,
            platform=self.options.platform,
            timeout=self.options.scanner_timeout,
        )

    def vex(self, subject: Subject) -> VexFacts:
        """The statements of the policy's VEX files, then of verified VEX attestations."""
        from gate.vex import MAX_VEX_BYTES, VexError, parse_openvex

        rules = self.policy.vulnerabilities
        assert rules is not None
        statements: list[VexStatement] = []
        for path in rules.vex:
            try:
                with path.open("rb") as file:
                    data = file.read(MAX_VEX_BYTES + 1)
            except OSError as error:
                raise VexError(f"{path}: cannot read the VEX document: {error.strerror}") from None
            if len(data) > MAX_VEX_BYTES:
                raise VexError(f"{path}: larger than {MAX_VEX_BYTES} bytes")
            statements += parse_openvex(data, str(path), first_order=len(statements))
        if not rules.vex_attestations:
            return VexFacts(tuple(statements))
        from gate.signing.attest import gather_vex_attestations

        assert self.policy.signature is not None  # the loader requires it
        attested = gather_vex_attestations(
            subject,
            self.policy.signature,
            insecure_hosts=self.options.insecure_hosts,
            first_order=len(statements),
        )
        return VexFacts((*statements, *attested.statements), attested.refused, attested.looked_in)

    def signatures(self, subject: Subject) -> SignatureFacts:
        from gate.signing.verify import gather_signatures

        rules = self.policy.signature
        assert rules is not None
        wants_sha = any(
            a.keyless and a.keyless.github and a.keyless.github.match_git_sha
            for a in rules.authorities
        )
        return gather_signatures(
            subject,
            rules,
            insecure_hosts=self.options.insecure_hosts,
            git_sha=self.git_sha() if wants_sha else None,
        )


def gather(
    policy: Policy,
    needs: frozenset[Need],
    image: str | None,
    options: GatherOptions,
    timer: Timer,
) -> tuple[Facts, dict[str, Any]]:
    """Gather the facts for one image. Returns the facts and the tool versions used."""
    running = scanners_needed(policy)
    unused = sorted(set(options.reports) - set(running))
    if unused and policy.vulnerabilities is not None:
        # Judging the findings of fewer reports than the user handed in would weaken the
        # gate silently. (Without a vulnerabilities section a report only names the image
        # and carries its config, and any report can do that.)
        wanted = ",".join(sorted({*running, *unused}))
        raise UsageError(
            f"--{unused[0]}-report given, but the policy does not run {unused[0]} (it runs "
            f"{', '.join(running) or 'no scanner'}); add {unused[0]} to "
            f"vulnerabilities.scanners, or pass --scanners {wanted}"
        )
    source: ImageSource | None = None
    if image is not None:
        from gate.image.sources import open_image

        def resolve() -> ImageSource:
            return open_image(
                image, insecure_hosts=options.insecure_hosts, platform=options.platform
            )

        opening = (
            "exporting from the Docker engine"
            if image.startswith("docker-daemon:")
            else "opening the image"
        )
        with options.progress.step(opening, image):
            source = timer.timed("resolve", resolve)
    saved = {
        name: timer.timed(f"parse_{name}", lambda p=path, n=name: scanner_for(n).parse_report(p))  # type: ignore[misc]
        for name, path in options.reports.items()
    }
    if source is None and not saved:
        raise UsageError("no IMAGE given; pass an image reference or --trivy-report/--grype-report")
    subject = source.subject if source else _subject_from_reports(tuple(saved.values()))
    if source is None:
        _check_reports_agree(subject, tuple(saved.values()))
    elif saved:
        judged = _judged(source)
        for report in saved.values():
            _check_report_is_judged(judged, report)

    g = _Gatherer(policy, needs, options, timer, source, saved)
    with ThreadPoolExecutor(max_workers=6) as pool:
        collect_scans = g.scans(pool) if Need.SCANS in needs else None

        def submit(need: Need, name: str, fn: Callable[[], T]) -> Future[T | Unavailable] | None:
            return pool.submit(g.step(name, fn)) if need in needs else None

        manifest = submit(Need.MANIFEST, "manifest", source.manifest_facts) if source else None
        bases = (
            submit(Need.BASE_IMAGES, "dockerfile", g.base_images) if options.dockerfiles else None
        )
        git_sha = submit(Need.GIT_SHA, "git_sha", g.git_sha)
        signatures = submit(Need.SIGNATURES, "signatures", lambda: g.signatures(subject))
        baseline = submit(Need.BASELINE, "baseline", g.baseline)
        vex = submit(Need.VEX, "vex", lambda: g.vex(subject))
        config = g.config() if needs & {Need.CONFIG, Need.USER} else None
        user = g.user(config) if config is not None and Need.USER in needs else None
        scans = collect_scans() if collect_scans else None

    facts = Facts(
        subject=subject,
        now=options.now or datetime.now(timezone.utc),
        scans=scans,
        config=config,
        user=user,
        manifest=_result(manifest),
        base_images=_result(bases),
        git_sha=_result(git_sha),
        signatures=_result(signatures),
        baseline=_result(baseline),
        vex=_result(vex),
        platform=options.platform if source is not None else None,
    )
    tools = (
        {
            r.scanner: {
                "version": r.version,
                "db_built": r.db_built,
                "db_source": r.db_source,
                "image_id": r.image_id,
            }
            for r in scans
        }
        if isinstance(scans, tuple)
        else {}
    )
    return facts, tools
