"""Check ``tag``: the tag in the reference the user gave names the build it came from.

- ``git-sha``: the tag is the commit SHA, all of it or a prefix of at least 7 hex digits
  (git's own default abbreviation length). Hex is compared case-insensitively: ``3F2A9C1``
  names the same commit as ``3f2a9c1``. With no SHA known the check errors (exit 2) and
  says how to pass one. A reference given only by digest has no tag, which fails.
- ``immutable``: the tag is not one of ``mutable_tags`` (compared case-insensitively, so
  ``Latest`` cannot slip past ``latest``). A digest-only reference passes: a digest is the
  one reference that cannot move.
- ``any``: not checked, so the check is not enabled at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

from gate.model import CheckResult, Facts, MissingFact, Need, Problem, Status, need
from gate.policy.model import Policy

MIN_PREFIX = 7
_HEX = re.compile(r"[0-9a-f]+")
NO_SHA = "no git SHA known; pass --git-sha SHA or set GITHUB_SHA"


class TagCheck:
    id: ClassVar[str] = "tag"

    def needs(self, policy: Policy) -> frozenset[Need] | None:
        if policy.image is None or policy.image.tag == "any":
            return None
        if policy.image.tag == "git-sha":
            return frozenset({Need.GIT_SHA})
        return frozenset()

    def evaluate(self, policy: Policy, facts: Facts) -> CheckResult:
        assert policy.image is not None
        if policy.image.tag == "git-sha":
            return self._git_sha(facts)
        return self._immutable(policy.image.mutable_tags, facts)

    def _git_sha(self, facts: Facts) -> CheckResult:
        if facts.git_sha is None:
            raise MissingFact(NO_SHA)
        sha = need(facts.git_sha, "the git SHA").lower()
        if len(sha) not in (40, 64) or not _HEX.fullmatch(sha):
            raise MissingFact(f"the git SHA {sha!r} is not a full commit SHA (40 or 64 hex)")
        tag = facts.subject.tag
        evidence = {"mode": "git-sha", "tag": tag, "git_sha": sha}
        if tag is None:
            return self._fail(
                evidence,
                "no-tag",
                f"reference has no tag to check (given by digest); tag the image {sha[:MIN_PREFIX]}"
                f" or {sha}",
            )
        candidate = tag.lower()
        if candidate == sha:
            return CheckResult(
                self.id,
                Status.PASS,
                f"tag is the git SHA {sha}",
                evidence={**evidence, "matched": "full"},
            )
        if len(candidate) >= MIN_PREFIX and _HEX.fullmatch(candidate) and sha.startswith(candidate):
            return CheckResult(
                self.id,
                Status.PASS,
                f"tag {tag} is a prefix of the git SHA {sha}",
                evidence={**evidence, "matched": "prefix"},
            )
        if _HEX.fullmatch(candidate) and sha.startswith(candidate):
            why = f"tag {tag!r} is a prefix of the git SHA but shorter than {MIN_PREFIX} characters"
        else:
            why = f"tag {tag!r} is not the git SHA {sha} (nor a prefix of at least {MIN_PREFIX})"
        return self._fail(evidence, "tag-not-git-sha", why)

    def _immutable(self, mutable: tuple[str, ...], facts: Facts) -> CheckResult:
        tag = facts.subject.tag
        evidence = {"mode": "immutable", "tag": tag, "mutable_tags": list(mutable)}
        if tag is None:
            return CheckResult(
                self.id, Status.PASS, "given by digest, which cannot move", evidence=evidence
            )
        if tag.lower() in {m.lower() for m in mutable}:
            return self._fail(
                evidence, "mutable-tag", f"tag {tag!r} is mutable; tag releases immutably"
            )
        return CheckResult(
            self.id, Status.PASS, f"tag {tag!r} is not a mutable tag", evidence=evidence
        )

    def _fail(self, evidence: Mapping[str, object], rule: str, message: str) -> CheckResult:
        problem = Problem(rule=rule, message=message, data=dict(evidence))
        return CheckResult(self.id, Status.FAIL, message, (problem,), evidence)
