"""The pure core: (Policy, Facts) → Verdict. No I/O happens here.

``required_facts`` tells the edges what to gather; ``evaluate`` runs every check the
policy enables over what was gathered. A check that reads a fact the edges failed to
gather ends in ``error`` (fail closed), never in ``pass``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gate.checks import ALL_CHECKS
from gate.checks.interface import Check
from gate.model import CheckResult, Facts, MissingFact, Need, Status, Verdict
from gate.policy.model import Policy


def enabled_checks(policy: Policy, checks: Sequence[Check] = ALL_CHECKS) -> list[Check]:
    return [check for check in checks if check.needs(policy) is not None]


def required_facts(policy: Policy, checks: Sequence[Check] = ALL_CHECKS) -> frozenset[Need]:
    needs: set[Need] = set()
    for check in checks:
        needs |= check.needs(policy) or frozenset()
    return frozenset(needs)


def evaluate(
    policy: Policy,
    facts: Facts,
    *,
    checks: Sequence[Check] = ALL_CHECKS,
    tools: Mapping[str, Any] | None = None,
    timings: Mapping[str, float] | None = None,
    notes: Sequence[str] = (),
) -> Verdict:
    results: list[CheckResult] = []
    for check in enabled_checks(policy, checks):
        try:
            results.append(check.evaluate(policy, facts))
        except MissingFact as missing:
            results.append(
                CheckResult(check.id, Status.ERROR, missing.reason, detail=missing.detail)
            )
    if not results:
        # A policy that enables nothing must not wave every image through.
        results.append(
            CheckResult("policy", Status.ERROR, "the policy enables no checks; nothing was judged")
        )
    return Verdict(
        subject=facts.subject,
        checks=tuple(results),
        mode=policy.mode,
        tools=dict(tools or {}),
        timings=dict(timings or {}),
        notes=tuple(notes),
    )
