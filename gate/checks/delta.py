"""What is new since a baseline: a pure function of the current findings and the baseline's.

A finding is *inherited* when the baseline has a finding in the same package that shares
its id or one of its aliases; the installed version is not compared, so an upgrade that
still carries the CVE is not "new" (as scout's ``compare`` lists by CVE and package).
Everything else is *new*; baseline findings no current finding matches are *fixed*.

Whether a baseline may be applied at all is decided here too (``refusal``/``warnings``),
so the edge only fetches and the rules stay testable without a registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gate.model import Baseline, BaselineFinding, Vulnerability


@dataclass(frozen=True)
class Delta:
    new: tuple[Vulnerability, ...]
    inherited: dict[Vulnerability, BaselineFinding]
    fixed: tuple[BaselineFinding, ...]


def compute_delta(findings: tuple[Vulnerability, ...], baseline: Baseline) -> Delta:
    """Split ``findings`` into new and inherited, and list the baseline's fixed findings.

    Written for 50,000-finding reports: ids and aliases are read directly (``ids`` builds
    a set per call), and aliases are only sorted, for a deterministic match, when the
    finding's own id has none.
    """
    index: dict[tuple[str, str], BaselineFinding] = {}
    for old in baseline.findings:
        index.setdefault((old.package, old.id), old)
        for alias in old.aliases:
            index.setdefault((old.package, alias), old)
    new: list[Vulnerability] = []
    inherited: dict[Vulnerability, BaselineFinding] = {}
    present: set[tuple[str, str]] = set()
    for finding in findings:
        package = finding.package
        key = (package, finding.id)
        present.add(key)
        hit = index.get(key)
        if finding.aliases:
            keys = [(package, alias) for alias in finding.aliases]
            present.update(keys)
            if hit is None:
                hit = next((index[k] for k in sorted(keys) if k in index), None)
        if hit is None:
            new.append(finding)
        else:
            inherited[finding] = hit
    fixed = tuple(
        old
        for old in baseline.findings
        if (old.package, old.id) not in present
        and not any((old.package, alias) in present for alias in old.aliases)
    )
    return Delta(tuple(new), inherited, fixed)


def refusal(baseline: Baseline, *, repository: str | None, platform: str | None) -> str | None:
    """Why the baseline describes another image line, or None when it may be applied.

    Another repository or another platform has other packages: comparing with it would
    call the judged image's own findings "inherited", so it is refused (exit 2).
    """
    if baseline.repository and repository and baseline.repository != repository:
        return (
            f"the baseline is for repository {baseline.repository}, not {repository}; "
            "a baseline must be an earlier image of the same repository"
        )
    if baseline.platform and platform and baseline.platform != platform:
        return f"the baseline is for platform {baseline.platform}, not {platform}"
    return None


def warnings(
    baseline: Baseline,
    *,
    repository: str | None,
    policy_sha256: str,
    scanners: tuple[str, ...],
) -> list[str]:
    """Differences that leave the comparison meaningful but worth a look."""
    out: list[str] = []
    if baseline.policy_sha256 and policy_sha256 and baseline.policy_sha256 != policy_sha256:
        out.append("the baseline was judged with another policy (its sha256 differs)")
    if not baseline.repository or not repository:
        out.append("the baseline's repository or the judged image's is unknown; not compared")
    if baseline.scanners and set(baseline.scanners) != set(scanners):
        out.append(
            f"the baseline was scanned by {', '.join(baseline.scanners)}, "
            f"this run by {', '.join(scanners)}"
        )
    return out


def days_present(first_seen: str | None, now: datetime) -> int | None:
    """Whole days since ``first_seen`` (ISO 8601), or None when unknown or unreadable."""
    if not first_seen:
        return None
    try:
        when = datetime.fromisoformat(first_seen)
    except ValueError:
        return None
    if when.tzinfo is None or now.tzinfo is None:
        return None
    return max(0, (now - when).days)
