"""Check ``age``: the image was built recently ("rebuild regularly to pick up patches").

The age is ``facts.now`` minus the config's ``created`` (RFC 3339, as Go's
``time.RFC3339Nano`` writes it: up to nine fractional digits, ``Z`` or an offset). The
image passes while it is *younger* than ``max_age_days``: at exactly the limit it fails.

Fails closed: a missing or unparsable ``created`` fails, and so does one more than a day
in the future (a day of clock skew is tolerated), since a future date would otherwise
exempt an image from the check forever. Reproducible builds often write the Unix epoch
(``1970-01-01T00:00:00Z``, e.g. distroless, ko, ``SOURCE_DATE_EPOCH=0``); such an image has
no real build time, and the summary says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import ClassVar

from gate.model import CheckResult, Facts, Need, Problem, Status, need
from gate.policy.model import Policy
from gate.rfc3339 import parse as parse_created

CLOCK_SKEW = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class AgeCheck:
    id: ClassVar[str] = "age"

    def needs(self, policy: Policy) -> frozenset[Need] | None:
        if policy.image is None or policy.image.max_age_days is None:
            return None
        return frozenset({Need.CONFIG})

    def evaluate(self, policy: Policy, facts: Facts) -> CheckResult:
        assert policy.image is not None and policy.image.max_age_days is not None
        limit = policy.image.max_age_days
        config = need(facts.config, "the image config")
        now = facts.now if facts.now.tzinfo else facts.now.replace(tzinfo=timezone.utc)
        evidence: dict[str, object] = {"created": config.created, "max_age_days": limit}

        if not config.created:
            return self._fail(evidence, "no-created", "the image config has no created time")
        created = parse_created(config.created)
        if created is None:
            return self._fail(
                evidence, "invalid-created", f"created {config.created!r} is not an RFC 3339 time"
            )
        age = now - created
        evidence["age_days"] = round(age / timedelta(days=1), 2)
        if age < -CLOCK_SKEW:
            return self._fail(
                evidence, "created-in-future", f"created {config.created} is in the future"
            )
        # A limit beyond timedelta's range (valid in the schema) is one no image can reach.
        if age >= timedelta(days=min(limit, timedelta.max.days)):
            message = f"built {age.days} days ago ({created.date()}); limit {limit} days"
            if created == _EPOCH:
                message += " (created is the Unix epoch: a reproducible build with no real time)"
            return self._fail(evidence, "too-old", message)
        return CheckResult(
            self.id,
            Status.PASS,
            f"built {max(age.days, 0)} days ago ({created.date()}); limit {limit} days",
            evidence=evidence,
        )

    def _fail(self, evidence: dict[str, object], rule: str, message: str) -> CheckResult:
        problem = Problem(rule=rule, message=message, data=dict(evidence))
        return CheckResult(self.id, Status.FAIL, message, (problem,), evidence)
