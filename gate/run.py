"""``gate check``: load the policy, judge each image once, render every requested format.

Each image is resolved, scanned, inspected and verified once; the resulting ``Run`` is
then handed to every renderer (terminal, JSON, SARIF, GitHub), so asking for more
formats never scans again.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from gate import masking
from gate.core import evaluate, required_facts
from gate.errors import EXIT_ERROR, EXIT_PASS, EXIT_VIOLATION, GateError, UsageError
from gate.facts import GatherOptions, Timer, gather, scanners_needed
from gate.masking import write_file
from gate.model import CheckResult, Severity, Status, Subject, Verdict
from gate.policy.model import Policy, TrivyPolicy
from gate.progress import Progress
from gate.report.interface import Run
from gate.report.terminal import TerminalRenderer
from gate.scanners import SCANNERS, allowed, report_options

_log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from gate.scanners.trivy_server import ServerEndpoint


def _load_policy(args: argparse.Namespace) -> tuple[Policy, list[str]]:
    from gate import policy as policies

    notes: list[str] = []
    path = args.policy or policies.find_policy(Path.cwd())
    if path is not None:
        loaded = policies.load_policy(path)
    else:
        loaded = policies.load_default_policy()
        notes.append(
            "no policy file found (.github/container-gate.yml, container-gate.yml); "
            "using the built-in default policy"
        )
    if args.mode:
        loaded = replace(loaded, mode=args.mode)
    if args.fail_on:
        loaded = _with_fail_on(loaded, args.fail_on)
    if getattr(args, "baseline", None):
        if loaded.vulnerabilities is None:
            raise UsageError("--baseline given, but the policy has no vulnerabilities section")
        loaded = replace(
            loaded, vulnerabilities=replace(loaded.vulnerabilities, baseline=args.baseline)
        )
    if args.scanners:
        names = tuple(n.strip() for n in args.scanners.split(",") if n.strip())
        unknown = sorted(set(names) - set(SCANNERS))
        if unknown or not names:
            raise UsageError(
                f"--scanners: unknown scanner {', '.join(unknown) or '(none)'}; "
                f"allowed: {allowed()}"
            )
        if loaded.vulnerabilities is None:
            raise UsageError("--scanners given, but the policy has no vulnerabilities section")
        loaded = replace(loaded, vulnerabilities=replace(loaded.vulnerabilities, scanners=names))
    return loaded, notes


def _with_fail_on(policy: Policy, word: str) -> Policy:
    """``--fail-on HIGH``: the threshold, in any case, as Trivy's ``--severity`` words."""
    labels = [s.label for s in Severity if s is not Severity.UNKNOWN]
    if word.strip().lower() not in labels:
        raise UsageError(f"--fail-on: {word!r} is not a severity; allowed: {', '.join(labels)}")
    if policy.vulnerabilities is None:
        raise UsageError("--fail-on given, but the policy has no vulnerabilities section")
    threshold = Severity[word.strip().upper()]
    return replace(policy, vulnerabilities=replace(policy.vulnerabilities, fail_on=threshold))


def _build_args(pairs: list[str], environ: Mapping[str, str]) -> dict[str, str]:
    """``--build-arg`` as ``docker build`` reads it: ``K=V``, or ``K`` to take ``$K``.

    A bare ``K`` that is not in the environment is left out, as docker does, so the
    Dockerfile's default (or the "pass --build-arg" error) applies.
    """
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not key:
            raise UsageError(f"--build-arg {pair!r}: expected KEY=VALUE or KEY")
        if not sep:
            if key not in environ:
                continue
            value = environ[key]
        out[key] = value
    return out


def _dockerfiles(args: argparse.Namespace, policy: Policy) -> tuple[Path, ...]:
    if args.dockerfile:
        return tuple(args.dockerfile)
    if policy.base_image and policy.base_image.dockerfiles:
        return tuple(Path(p) for p in policy.base_image.dockerfiles)
    default = Path("Dockerfile")
    return (default,) if default.is_file() else ()


def _options(args: argparse.Namespace, policy: Policy) -> GatherOptions:
    saved = {name: getattr(args, f"{name}_report", None) for name in SCANNERS}
    reports = {name: path for name, path in saved.items() if path}
    if args.scanner_timeout <= 0:
        raise UsageError("--scanner-timeout must be a positive number of seconds")
    from gate.oci.manifest import wanted_platform

    wanted_platform(args.platform, error=UsageError)  # refused before any image is opened
    return GatherOptions(
        insecure_hosts=frozenset(args.insecure_registry),
        platform=args.platform,
        scanner_timeout=args.scanner_timeout,
        reports=reports,
        dockerfiles=_dockerfiles(args, policy),
        build_args=_build_args(args.build_arg, os.environ),
        git_sha=args.git_sha,
        progress=Progress.from_environment(),
        keep_reports=not getattr(args, "rescan", False),
    )


def ignored_scanner_settings(
    policy: Policy, options: GatherOptions, environ: Mapping[str, str], cwd: Path
) -> list[str]:
    """One note per scanner the gate will run that would have read settings the gate
    keeps from it (``gate.scanners.isolation``): the user sees what no longer applies."""
    from gate.facts import scanner_for, scanners_needed
    from gate.scanners.isolation import ignored_note

    notes = []
    for name in scanners_needed(policy):
        if name not in options.reports:
            note = ignored_note(name, scanner_for(name).ignored_settings(environ, cwd))
            if note:
                notes.append(note)
    return notes


def trivy_images(policy: Policy, options: GatherOptions, images: list[str | None]) -> int:
    """How many Trivy scans this run makes (saved reports and no-image runs make none): one
    per image, and one more per image when a baseline image is scanned beside it."""
    from gate.baseline import is_report
    from gate.facts import scanners_needed

    if "trivy" not in scanners_needed(policy) or "trivy" in options.reports:
        return 0
    judged = sum(1 for image in images if image is not None)
    rules = policy.vulnerabilities
    baseline = rules is not None and rules.baseline is not None and not is_report(rules.baseline)
    return judged * 2 if baseline else judged


def uses_local_server(scans: int, parallel: int) -> bool:
    """Whether Trivy's scans go through a local ``trivy server`` rather than running alone.

    Only when two scans can overlap: one standalone Trivy at a time uses the user's ``fs``
    cache directly (kept across runs, no lock contention, no server start-up, which costs
    ~0.1 s of CPU and 0.2-0.5 s of wall time), while overlapping ones would lock each other
    out of it. Neither applies when ``TRIVY_CACHE_BACKEND`` is set: that is the user's
    choice (``memory``: nothing shared; ``redis://``: a cache made for concurrent use).
    """
    return scans >= 2 and parallel >= 2


def remote_server(
    args: argparse.Namespace, policy: Policy, environ: Mapping[str, str]
) -> ServerEndpoint | None:
    """The organisation's Trivy server from ``--trivy-server`` or the policy, with its token."""
    from gate.scanners.trivy_server import ServerEndpoint, server_url

    configured = policy.trivy or TrivyPolicy()
    url = getattr(args, "trivy_server", None) or configured.server
    if not url:
        return None
    return ServerEndpoint(server_url(url), environ.get(configured.token_env) or None)


def judge_image(
    image: str | None, policy: Policy, options: GatherOptions, notes: list[str]
) -> Verdict:
    """Judge one image. A failure to even open it is that image's error verdict."""
    timer = Timer()
    started = time.perf_counter()
    try:
        facts, tools = gather(policy, required_facts(policy), image, options, timer)
    except GateError as error:
        subject = Subject(reference=image or "(from report)", digest=None)
        failed = CheckResult("image", Status.ERROR, error.message, detail=error.detail)
        return Verdict(
            subject, (failed,), mode=policy.mode, timings=timer.timings, notes=tuple(notes)
        )
    timer.timings["total"] = time.perf_counter() - started
    reused = [name for name, info in tools.items() if info.get("reused")]
    if reused:  # said per image: the verdict rests on an earlier scan of this very digest
        notes = [
            *notes,
            f"{', '.join(reused)}: report of an earlier scan of this digest reused (same "
            "scanner, DB and settings); --rescan scans again",
        ]
    return evaluate(policy, facts, tools=tools, timings=timer.timings, notes=notes)


def exit_code(run: Run, *, mode: str, dry_run: bool) -> int:
    if run.status == "error":
        return EXIT_ERROR
    if run.status == "fail" and mode == "enforce" and not dry_run:
        return EXIT_VIOLATION
    return EXIT_PASS


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file(path, text)
    except OSError as error:
        raise GateError(f"cannot write {path}: {error.strerror}") from error


def run_check(args: argparse.Namespace) -> int:
    policy, notes = _load_policy(args)
    options = _options(args, policy)
    images: list[str | None] = list(args.images) or [None]
    if len(set(images)) != len(images):
        raise UsageError("an image is listed twice")
    if len(images) > 1 and options.reports:
        raise UsageError(f"{report_options()} describe one image; give one IMAGE with them")
    if args.parallel < 1:
        raise UsageError("--parallel must be at least 1")
    if args.mode is None and policy.mode == "warn":
        notes.append("mode: warn (violations are shown but do not fail the job)")
    scans = trivy_images(policy, options, images)
    endpoint = remote_server(args, policy, os.environ) if scans else None
    if args.images:
        environ: Mapping[str, str] = os.environ
        if endpoint is not None:  # the server's token is not a setting the gate ignores
            token_env = (policy.trivy or TrivyPolicy()).token_env
            environ = {k: v for k, v in os.environ.items() if k != token_env}
        notes += ignored_scanner_settings(policy, options, environ, Path.cwd())
    local = None
    if endpoint is not None:
        notes.append(
            f"trivy: every scan is a client of the Trivy server at {endpoint.url}; "
            "its vulnerability DB decides the findings"
        )
    elif scans and not os.environ.get("TRIVY_CACHE_BACKEND"):  # else: the user's choice
        if uses_local_server(scans, args.parallel):
            from gate.scanners.trivy_server import LocalServer

            local = LocalServer()
        else:
            options = replace(options, trivy_cache="fs")
    _log.debug(
        "policy %s (mode %s); images %s; scanners %s; platform %s",
        policy.source,
        policy.mode,
        ", ".join(i or "(from reports)" for i in images),
        ", ".join(
            f"{n} (report {options.reports[n]})" if n in options.reports else n
            for n in scanners_needed(policy)
        )
        or "none",
        options.platform,
    )
    try:
        if local is not None:
            local.on_note = notes.append
            endpoint = local.launch()  # started by the first scan that is not reused
            _log.debug("trivy: starting a local Trivy server at %s", endpoint.url)
        if endpoint is not None:
            if endpoint.token:  # scrubbed from every output, and masked in Actions
                masking.register(endpoint.token)
            options = replace(options, trivy_server=endpoint)
        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            verdicts = tuple(
                pool.map(lambda image: judge_image(image, policy, options, notes), images)
            )
    finally:
        if local is not None:
            local.stop()
    run = Run(verdicts, policy.source)
    for verdict in verdicts:
        _log.debug(
            "%s: %s (%s); timings %s",
            verdict.subject.pinned,
            verdict.status,
            ", ".join(f"{c.id} {c.status.value}" for c in verdict.checks),
            ", ".join(f"{k} {v:.3f} s" for k, v in verdict.timings.items()),
        )

    in_actions = os.environ.get("GITHUB_ACTIONS") == "true"
    text = TerminalRenderer().render(run)
    if in_actions:
        # Scanner text (titles, stderr tails) must not be read as workflow commands.
        from gate.report.github import guard

        text = guard(text)
    sys.stdout.write(text)
    if args.report_json:
        from gate.report.json_report import JsonRenderer

        _write(args.report_json, JsonRenderer().render(run))
    if args.sarif:
        from gate.report.sarif import SarifRenderer

        _write(args.sarif, SarifRenderer().render(run))
    if in_actions:
        from gate.report.github import publish

        publish(run, report_path=args.report_json, sarif_path=args.sarif)
    code = exit_code(run, mode=policy.mode, dry_run=args.dry_run)
    if code == EXIT_PASS and run.status == "fail":
        reason = "--dry-run" if args.dry_run else "mode: warn"
        print(f"(violations found, exiting 0 because of {reason})")
    return code
