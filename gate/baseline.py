"""Fetch the baseline the delta is computed against: the I/O edge of ``gate.checks.delta``.

A baseline is either a saved ``--report-json`` of an earlier run (its vulnerabilities check
lists every finding in ``evidence.inventory``, with when each was first seen), or a registry
reference, resolved and scanned now with the same scanners (and so the same DB) as the
judged image. Anything that cannot be read, parsed or scanned raises ``GateError``: the
check then ends in error (exit 2), never in "everything is inherited".
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from gate.errors import GateError
from gate.model import Baseline, BaselineFinding
from gate.policy.model import Policy
from gate.scanners import SCANNERS, ScanSettings

MAX_REPORT_BYTES = 256 << 20


class BaselineError(GateError):
    """The baseline cannot be used; the delta would be meaningless."""


def is_report(spec: str) -> bool:
    """A file, or something named like one: a missing ``old.json`` is not an image name."""
    return Path(spec).is_file() or spec.endswith(".json")


def load_baseline(
    spec: str,
    policy: Policy,
    *,
    insecure_hosts: Collection[str],
    platform: str,
    timeout: float,
    settings: ScanSettings | None = None,
) -> Baseline:
    if is_report(spec):
        return read_report(Path(spec))
    return scan_image(
        spec,
        policy,
        insecure_hosts=insecure_hosts,
        platform=platform,
        timeout=timeout,
        settings=settings,
    )


def _fail(path: Path, why: str) -> BaselineError:
    return BaselineError(f"baseline report {path}: {why}")


def read_report(path: Path) -> Baseline:
    """The baseline a saved ``--report-json`` records (one image, judged without error)."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_REPORT_BYTES + 1)
    except OSError as error:
        raise _fail(path, f"cannot be read: {error.strerror}") from None
    if len(data) > MAX_REPORT_BYTES:
        raise _fail(path, f"is larger than {MAX_REPORT_BYTES} bytes")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        raise _fail(path, "is not JSON") from None
    images = document.get("images") if isinstance(document, dict) else None
    if not isinstance(images, list) or len(images) != 1 or not isinstance(images[0], dict):
        raise _fail(path, "is not a container-gate report of exactly one image")
    image = images[0]
    checks = image.get("checks")
    check = next(
        (c for c in checks if isinstance(c, dict) and c.get("id") == "vulnerabilities"),
        None,
    ) if isinstance(checks, list) else None  # fmt: skip
    if check is None:
        raise _fail(path, "has no vulnerabilities check, so it lists no findings")
    if check.get("status") == "error":
        raise _fail(path, "its vulnerabilities check ended in error; its findings are unknown")
    evidence = check.get("evidence")
    inventory = evidence.get("inventory") if isinstance(evidence, dict) else None
    if not isinstance(inventory, list):
        raise _fail(
            path, "has no finding inventory (evidence.inventory); write it with this version"
        )
    assert isinstance(evidence, dict)  # inventory was found in it
    raw_identity, raw_subject = evidence.get("identity"), image.get("image")
    identity: dict[str, Any] = raw_identity if isinstance(raw_identity, dict) else {}
    subject: dict[str, Any] = raw_subject if isinstance(raw_subject, dict) else {}
    return Baseline(
        source=f"report {path}",
        findings=tuple(_finding(row, path, _str(evidence.get("judged_at"))) for row in inventory),
        digest=_str(subject.get("digest")),
        repository=_str(identity.get("repository")) or _str(subject.get("repository")),
        platform=_str(identity.get("platform")),
        policy_sha256=_str(identity.get("policy_sha256")),
        scanners=tuple(s for s in identity.get("scanners", ()) if isinstance(s, str)),
        judged_at=_str(evidence.get("judged_at")),
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _finding(row: object, path: Path, judged_at: str | None) -> BaselineFinding:
    if not isinstance(row, Mapping):
        raise _fail(path, "an inventory entry is not a mapping")
    ident, package, aliases = row.get("id"), row.get("package"), row.get("aliases", [])
    # No first_seen: first seen when that report was judged (see ``_inventory``).
    if not isinstance(ident, str) or not isinstance(package, str) or not isinstance(aliases, list):
        raise _fail(path, "an inventory entry lacks its id, package or aliases")
    return BaselineFinding(
        id=ident,
        package=package,
        aliases=frozenset(a for a in aliases if isinstance(a, str)),
        first_seen=_str(row.get("first_seen")) or judged_at,
    )


def scan_image(
    reference: str,
    policy: Policy,
    *,
    insecure_hosts: Collection[str],
    platform: str,
    timeout: float,
    settings: ScanSettings | None = None,
) -> Baseline:
    """Resolve and scan the baseline image with the policy's scanners (vulnerabilities only),
    scanning as the judged image is (``settings``: the run's Trivy server, cache, kept
    reports)."""
    from gate.findings import merge
    from gate.image.sources import open_image

    rules = policy.vulnerabilities
    assert rules is not None
    try:
        source = open_image(reference, insecure_hosts=insecure_hosts, platform=platform)
        vulns_only = replace(policy, secrets=None)
        reports = [
            SCANNERS[name].create(vulns_only, settings).scan(source.scan_target, timeout=timeout)
            for name in rules.scanners
        ]
    except GateError as error:
        raise BaselineError(
            f"baseline image {reference}: {error.message}", detail=error.detail
        ) from None
    subject = source.subject
    findings = merge(reports).findings
    return Baseline(
        source=f"image {subject.pinned}",
        findings=tuple(BaselineFinding(f.id, f.package, f.aliases - {f.id}) for f in findings),
        digest=subject.digest,
        repository=subject.repository,
        platform=platform,
        policy_sha256=policy.sha256,
        scanners=rules.scanners,
    )
