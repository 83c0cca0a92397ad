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

import logging
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
from gate.provenance import (
    Judged,
    check_report_is_judged,
    check_reports_agree,
    config_from_reports,
    subject_from_reports,
)
from gate.scanners import SCANNERS, ScanSettings, allowed, report_options

if TYPE_CHECKING:
    from gate.image.sources import ImageSource
    from gate.scanners.interface import Scanner
    from gate.scanners.trivy_server import ServerEndpoint

T = TypeVar("T")
_log = logging.getLogger(__name__)


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
    keep_reports: bool = False
    """Trivy's reports are kept and reused across runs (off with ``--rescan``)."""


@dataclass
class Timer:
    """Wall time per gathering step, for the report's ``timings``."""

    timings: dict[str, float] = field(default_factory=dict)

    def timed(self, name: str, fn: Callable[[], T]) -> T:
        _log.debug("%s: started", name)
        start = time.perf_counter()
        try:
            result = fn()
        except BaseException as error:
            self.timings[name] = took = time.perf_counter() - start
            _log.debug("%s: failed after %.3f s: %s", name, took, getattr(error, "message", error))
            raise
        self.timings[name] = took = time.perf_counter() - start
        _log.debug("%s: done in %.3f s", name, took)
        return result


def scanner_for(
    name: str, policy: Policy | None = None, options: GatherOptions | None = None
) -> Scanner:
    """The scanner called ``name`` (``gate.scanners.SCANNERS``), set up for the policy and
    told where Trivy scans (``options``: a Trivy server, the layer cache)."""
    entry = SCANNERS.get(name)
    if entry is None:
        raise UsageError(f"unknown scanner {name!r}; allowed: {allowed()}")
    return entry.create(policy, None if options is None else scan_settings(options))


def scan_settings(options: GatherOptions) -> ScanSettings:
    """How this run's scans run (a Trivy server, the layer cache, kept reports): the same for
    the judged image and a baseline image."""
    return ScanSettings(
        trivy_server=options.trivy_server,
        trivy_cache=options.trivy_cache,
        keep_reports=options.keep_reports,
    )


def scanners_needed(policy: Policy) -> tuple[str, ...]:
    """Vulnerability scanners from the policy, plus a secret scanner when secrets are judged."""
    names = list(policy.vulnerabilities.scanners) if policy.vulnerabilities else []
    secrets = policy.secrets is not None and policy.secrets.fail
    if secrets and not any(n in SCANNERS and SCANNERS[n].finds_secrets for n in names):
        names.append(next(e.name for e in SCANNERS.values() if e.finds_secrets))
    return tuple(names)


def _attempt(fn: Callable[[], T]) -> T | Unavailable:
    try:
        return fn()
    except GateError as error:
        return Unavailable(error.message, error.detail)


def _result(future: Future[T | Unavailable] | None) -> T | Unavailable | None:
    return None if future is None else future.result()


# --------------------------------------------------------------------------- saved reports


def _judged(source: ImageSource) -> Judged:
    subject = source.subject
    return Judged(subject.digest, subject.manifest_digest, source.config_digest())


# --------------------------------------------------------------------------- gathering


_LONG_STEPS = {
    **{f"scan_{name}": f"{name}: scanning" for name in SCANNERS},
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
            check_report_is_judged(_judged(self.source), report)
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
        return config_from_reports(tuple(self.saved.values()))

    def user(self, config: ImageConfig | Unavailable) -> UserFiles | Unavailable | None:
        """The image's /etc/passwd and /etc/group, when they can change the non-root verdict."""
        from gate.oci.users import needs_files

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
        baseline = load_baseline(
            rules.baseline,
            self.policy,
            insecure_hosts=self.options.insecure_hosts,
            platform=self.options.platform,
            timeout=self.options.scanner_timeout,
            settings=scan_settings(self.options),
        )
        _log.debug("baseline %s: %d finding(s)", baseline.source, len(baseline.findings))
        return baseline

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
            found = parse_openvex(data, str(path), first_order=len(statements))
            _log.debug("vex: %s: %d statement(s)", path, len(found))
            statements += found
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
        _log.debug(
            "vex: %d attested statement(s), %d attestation(s) refused",
            len(attested.statements),
            len(attested.refused),
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
        raise UsageError(f"no IMAGE given; pass an image reference or {report_options()}")
    subject = source.subject if source else subject_from_reports(tuple(saved.values()))
    if source is None:
        check_reports_agree(subject, tuple(saved.values()))
    elif saved:
        judged = _judged(source)
        for report in saved.values():
            check_report_is_judged(judged, report)

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
                **({"reused": True} if r.reused else {}),
            }
            for r in scans
        }
        if isinstance(scans, tuple)
        else {}
    )
    return facts, tools
