"""Check ``secrets``: any secret the scanner finds in the image fails the gate.

Only Trivy looks for secrets (a report says so in ``secrets_scanned``: Grype's is always
False). What it reports is already redacted (``Match`` masks the value), and the gate
never prints more than the rule, file and line.
"""

from __future__ import annotations

from typing import ClassVar

from gate.model import CheckResult, Facts, Need, Problem, Status, need
from gate.policy.model import Policy


class SecretsCheck:
    id: ClassVar[str] = "secrets"

    def needs(self, policy: Policy) -> frozenset[Need] | None:
        if policy.secrets is None or not policy.secrets.fail:
            return None
        return frozenset({Need.SCANS})

    def evaluate(self, policy: Policy, facts: Facts) -> CheckResult:
        reports = need(facts.scans, "scanner reports")
        secrets = [s for r in reports for s in r.secrets]
        if all(r.secrets_scanned is False for r in reports):
            return CheckResult(
                self.id, Status.ERROR, "no report of a secret scanner, so no secret scan ran"
            )
        problems = tuple(
            Problem(
                rule=f"secret/{s.rule_id}",
                message=f"{s.title or s.rule_id} in {s.target}"
                + (f" line {s.line}" if s.line else ""),
                severity=s.severity,
                data={
                    "rule": s.rule_id,
                    "title": s.title,
                    "severity": s.severity.label,
                    "target": s.target,
                    "line": s.line,
                    "category": s.category,
                },
            )
            for s in secrets
        )
        if problems:
            count = len(problems)
            return CheckResult(
                self.id, Status.FAIL, f"{count} secret{'s' if count != 1 else ''} found", problems
            )
        if any(r.secrets_scanned for r in reports):
            return CheckResult(self.id, Status.PASS, "no secrets found")
        # A saved report cannot say whether its secret scanner ran (`trivy image` runs it by
        # default, `--scanners vuln` does not): pass, but say what the pass rests on.
        return CheckResult(
            self.id,
            Status.PASS,
            "no secrets in the saved Trivy report (it does not record whether secret scanning "
            "ran: `trivy image` scans for secrets by default, `--scanners vuln` does not)",
            evidence={"secret_scan": "not recorded in the saved report"},
        )
