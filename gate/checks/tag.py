"""Check ``tag``: the tag in the reference the user gave names the build it came from.

- ``git-sha``: the tag is the commit SHA, all of it or a prefix of at least 7 hex digits
  (git's own default abbreviation length). Hex is compared case-insensitively: ``3F2A9C1``
  names the same commit as ``3f2a9c1``. With no SHA known the check errors (exit 2) and
  says how to pass one. A reference given only by digest has no tag, which fails.
- ``{pattern: "sha-{short_sha}"}``: the tag is exactly the pattern with the commit filled
  in. ``{sha}`` is the full SHA, ``{short_sha}`` its first 7 hex digits (the length
  docker/metadata-action's ``type=sha`` tags use by default), ``{short_sha:N}`` the first
  N (7 to 40). The pattern matches the whole tag; the rest of it is literal text,
  compared exactly, and only the hex is compared case-insensitively. No prefix rule: a
  team that tags ``sha-<7 hex>`` gets exactly that checked.
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
SHORT_SHA_LENGTH = 7
"""``{short_sha}``: docker/metadata-action's default (``DOCKER_METADATA_SHORT_SHA_LENGTH``)."""
_HEX = re.compile(r"[0-9a-f]+")
_PLACEHOLDER = re.compile(r"\{(sha|short_sha)(?::(\d+))?\}")
_TAG_CHARS = re.compile(r"[A-Za-z0-9_.-]*")
NO_SHA = "no git SHA known; pass --git-sha SHA or set GITHUB_SHA"


class TagPatternError(ValueError):
    """A ``tag`` pattern that cannot describe a tag (the loader reports it with its line)."""


def pattern_parts(pattern: str) -> list[str | tuple[str, int | None]]:
    """Split a tag pattern into literal text and ``(placeholder, length)`` parts.

    The literal text must be tag characters (a tag is ``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``,
    as the distribution reference grammar), so braces can only be placeholders, and at
    least one placeholder must tie the tag to the commit.
    """
    parts: list[str | tuple[str, int | None]] = []
    position = 0
    for match in _PLACEHOLDER.finditer(pattern):
        parts.append(pattern[position : match.start()])
        length = int(match.group(2)) if match.group(2) else None
        if match.group(1) == "sha" and length is not None:
            raise TagPatternError("{sha} is the full SHA; use {short_sha:N} for a prefix")
        if length is not None and not MIN_PREFIX <= length <= 40:
            raise TagPatternError(f"{{short_sha:{length}}}: N must be {MIN_PREFIX} to 40")
        parts.append((match.group(1), length))
        position = match.end()
    parts.append(pattern[position:])
    literal = "".join(p for p in parts if isinstance(p, str))
    if not _TAG_CHARS.fullmatch(literal):
        bad = next(c for c in literal if not _TAG_CHARS.fullmatch(c))
        raise TagPatternError(
            f"{bad!r} cannot appear in a tag; placeholders are {{sha}}, {{short_sha}}, "
            "{short_sha:N}"
        )
    if not any(isinstance(p, tuple) for p in parts):
        raise TagPatternError("the pattern names no commit; include {sha} or {short_sha}")
    if pattern[:1] in (".", "-"):
        raise TagPatternError("a tag cannot start with '.' or '-'")
    return [p for p in parts if p != ""]


def expected_tag(pattern: str, sha: str) -> re.Pattern[str]:
    """The tag ``pattern`` describes for commit ``sha``: literal text exact, hex any case."""
    regex = ""
    for part in pattern_parts(pattern):
        if isinstance(part, str):
            regex += re.escape(part)
        else:
            name, length = part
            value = sha if name == "sha" else sha[: length or SHORT_SHA_LENGTH]
            regex += f"(?i:{re.escape(value)})"
    return re.compile(regex)


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
            return self._git_sha(facts, policy.image.tag_pattern)
        return self._immutable(policy.image.mutable_tags, facts)

    def _git_sha(self, facts: Facts, pattern: str | None) -> CheckResult:
        if facts.git_sha is None:
            raise MissingFact(NO_SHA)
        sha = need(facts.git_sha, "the git SHA").lower()
        if len(sha) not in (40, 64) or not _HEX.fullmatch(sha):
            raise MissingFact(f"the git SHA {sha!r} is not a full commit SHA (40 or 64 hex)")
        if pattern is not None:
            return self._pattern(pattern, sha, facts.subject.tag)
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

    def _pattern(self, pattern: str, sha: str, tag: str | None) -> CheckResult:
        evidence = {"mode": "pattern", "pattern": pattern, "tag": tag, "git_sha": sha}
        wanted = expected_tag(pattern, sha)
        example = _fill(pattern, sha)
        if tag is None:
            return self._fail(
                evidence,
                "no-tag",
                f"reference has no tag to check (given by digest); tag it {example}",
            )
        if wanted.fullmatch(tag):
            return CheckResult(
                self.id,
                Status.PASS,
                f"tag {tag} is {pattern} for the git SHA {sha}",
                evidence={**evidence, "matched": "pattern"},
            )
        why = f"tag {tag!r} is not {pattern} for the git SHA {sha} (expected {example})"
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


def _fill(pattern: str, sha: str) -> str:
    """The pattern with the commit written in, for messages (``sha-3f2a9c1``)."""
    out = ""
    for part in pattern_parts(pattern):
        if isinstance(part, str):
            out += part
        else:
            out += sha if part[0] == "sha" else sha[: part[1] or SHORT_SHA_LENGTH]
    return out
