"""Gather the facts one image's verdict needs: the I/O edge in front of the pure core.

Only what the enabled checks ask for is fetched (``gate.core.required_facts``): a policy
with only ``signature`` runs no scanner and pulls no layer. Independent facts are
gathered concurrently, so two scanners cost about the slower of the two.

Every gathering step either yields its fact or an ``Unavailable`` carrying the error;
the check that needs it then ends in ``error``, so a failure can never read as a pass.
Opening the image itself is not optional: if the tag cannot be resolved to a digest,
``GateError`` propagates and the whole image is an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gate.errors import GateError, UsageError
from gate.model import (
    Facts,
    ImageConfig,
    Need,
    ScanReport,
    Subject,
    Unavailable,
    UserLookup,
)
from gate.policy.model import Policy

if TYPE_CHECKING:
    from gate.image.sources import ImageSource
    from gate.scanners.interface import Scanner

T = TypeVar("T")


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


@dataclass
class Timer:
    timings: dict[str, float] = field(default_factory=dict)

    def timed(self, name: str, fn: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.timings[name] = time.perf_counter() - start


def _scanner(name: str) -> Scanner:
    if name == "trivy":
        from gate.scanners.trivy import Trivy

        return Trivy()
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


def _subject_from_reports(reports: tuple[ScanReport, ...]) -> Subject:
    """Name the image from saved reports (``--trivy-report`` without IMAGE)."""
    artifact = next((r.artifact for r in reports if r.artifact), "")
    digests = [d for r in reports for d in r.digests]
    digest = digests[0].rpartition("@")[2] if digests else None
    repository = digests[0].rpartition("@")[0] if digests else None
    from gate.image.reference import tag_of

    return Subject(
        reference=artifact or "(from report)",
        digest=digest or None,
        repository=repository or None,
        tag=tag_of(artifact) if artifact else None,
    )


def _check_report_matches(subject: Subject, reports: tuple[ScanReport, ...]) -> None:
    """A saved report must describe the digest being judged, or it judges another image."""
    for report in reports:
        digests = {d.rpartition("@")[2] for d in report.digests}
        if subject.digest and digests and subject.digest not in digests:
            raise UsageError(
                f"the {report.scanner} report is for {', '.join(sorted(digests))}, "
                f"not for the judged image {subject.digest}"
            )


def _config_from_reports(reports: tuple[ScanReport, ...]) -> ImageConfig | Unavailable:
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
    return Unavailable("the reports carry no image config; pass IMAGE to read it")


def gather(
    policy: Policy,
    needs: frozenset[Need],
    image: str | None,
    options: GatherOptions,
    timer: Timer,
) -> tuple[Facts, dict[str, Any]]:
    """Gather the facts for one image. Returns the facts and the tool versions used."""
    now = options.now or datetime.now(timezone.utc)
    source: ImageSource | None = None
    if image is not None:
        from gate.image.sources import open_image

        source = timer.timed(
            "resolve",
            lambda: open_image(
                image, insecure_hosts=options.insecure_hosts, platform=options.platform
            ),
        )

    saved: dict[str, ScanReport] = {}
    for name, path in options.reports.items():
        saved[name] = timer.timed(
            f"parse_{name}", lambda n=name, p=path: _scanner(n).parse_report(p)
        )
    if source is None and not saved:
        raise UsageError("no IMAGE given; pass an image reference or --trivy-report/--grype-report")
    subject = source.subject if source is not None else _subject_from_reports(tuple(saved.values()))
    _check_report_matches(subject, tuple(saved.values()))

    scanner_names = scanners_needed(policy) if Need.SCANS in needs else ()
    to_run = [n for n in scanner_names if n not in saved]
    if to_run and source is None:
        raise UsageError(
            f"no IMAGE given, so {', '.join(to_run)} cannot run; pass IMAGE or --{to_run[0]}-report"
        )

    with ThreadPoolExecutor(max_workers=max(4, len(to_run) + 3)) as pool:
        scan_futures = {
            name: pool.submit(
                _attempt,
                lambda n=name: timer.timed(
                    f"scan_{n}",
                    lambda: _scanner(n).scan(source.scan_target, timeout=options.scanner_timeout),  # type: ignore[union-attr]
                ),
            )
            for name in to_run
        }
        config_future = manifest_future = None
        if source is not None and needs & {Need.CONFIG, Need.USER}:
            config_future = pool.submit(_attempt, lambda: timer.timed("config", source.config))
        if source is not None and Need.MANIFEST in needs:
            manifest_future = pool.submit(
                _attempt, lambda: timer.timed("manifest", source.manifest_facts)
            )
        bases_future = git_future = signatures_future = None
        if Need.BASE_IMAGES in needs and options.dockerfiles:
            bases_future = pool.submit(
                _attempt, lambda: timer.timed("dockerfile", lambda: _base_images(options))
            )
        if Need.GIT_SHA in needs:
            git_future = pool.submit(_attempt, lambda: _git_sha(options))
        if Need.SIGNATURES in needs:
            signatures_future = pool.submit(
                _attempt,
                lambda: timer.timed("signatures", lambda: _signatures(policy, subject, options)),
            )

        scans: tuple[ScanReport, ...] | Unavailable | None = None
        if Need.SCANS in needs:
            scans = _collect_scans(scanner_names, saved, scan_futures)

        config = _result(config_future)
        if config is None and needs & {Need.CONFIG, Need.USER} and scans is not None:
            config = _config_from_reports(tuple(saved.values()))
        user = _user(config, source, needs, timer)

    return (
        Facts(
            subject=subject,
            now=now,
            scans=scans,
            config=config,
            user=user,
            manifest=_result(manifest_future),
            base_images=_result(bases_future),
            git_sha=_result(git_future),
            signatures=_result(signatures_future),
        ),
        _tools(scans),
    )


def _collect_scans(
    names: tuple[str, ...],
    saved: Mapping[str, ScanReport],
    futures: Mapping[str, Future[ScanReport | Unavailable]],
) -> tuple[ScanReport, ...] | Unavailable:
    reports: list[ScanReport] = []
    for name in names:
        outcome = saved[name] if name in saved else futures[name].result()
        if isinstance(outcome, Unavailable):
            return outcome
        reports.append(outcome)
    return tuple(reports)


def _user(
    config: ImageConfig | Unavailable | None,
    source: ImageSource | None,
    needs: frozenset[Need],
    timer: Timer,
) -> UserLookup | Unavailable | None:
    """Resolve a user *name* through the image's /etc/passwd; numeric users need no lookup."""
    if Need.USER not in needs or not isinstance(config, ImageConfig) or not config.user:
        return None
    name = config.user.split(":", 1)[0]
    if name.isdigit() or name == "root":
        return None
    if source is None:
        return UserLookup(
            name, None, reason="only reports were given, so the image's /etc/passwd cannot be read"
        )
    from gate.image.passwd import lookup_user

    layers = source.layers
    return _attempt(lambda: timer.timed("passwd", lambda: lookup_user(name, layers())))


def _base_images(options: GatherOptions) -> Any:
    from gate.dockerfile import read_base_images

    return read_base_images(options.dockerfiles, options.build_args)


def _git_sha(options: GatherOptions) -> str:
    from gate.gitsha import find_git_sha

    sha = find_git_sha(options.git_sha)
    if sha is None:
        raise UsageError("no git SHA known; pass --git-sha SHA or set GITHUB_SHA")
    return sha


def _signatures(policy: Policy, subject: Subject, options: GatherOptions) -> Any:
    from gate.signing.verify import gather_signatures

    assert policy.signature is not None
    git_sha = None
    if any(
        a.keyless and a.keyless.github and a.keyless.github.match_git_sha
        for a in policy.signature.authorities
    ):
        git_sha = _git_sha(options)
    return gather_signatures(
        subject, policy.signature, insecure_hosts=options.insecure_hosts, git_sha=git_sha
    )


def _tools(scans: tuple[ScanReport, ...] | Unavailable | None) -> dict[str, Any]:
    if not isinstance(scans, tuple):
        return {}
    return {r.scanner: {"version": r.version, "db_built": r.db_built} for r in scans}
