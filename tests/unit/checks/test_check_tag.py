"""The tag check: git-sha and immutable modes, judged purely from facts."""

from __future__ import annotations

import pytest

from gate.checks.tag import TagCheck
from gate.core import evaluate
from gate.gitsha import find_git_sha
from gate.model import Facts, Need, Status, Subject, Unavailable
from gate.policy.model import ImagePolicy, Policy
from tests.support.facts import NOW

SHA = "3f2a9c1d4e5f60718293a4b5c6d7e8f901234567"
DIGEST = "sha256:" + "a" * 64
GIT_SHA = Policy("test", image=ImagePolicy(tag="git-sha"))
IMMUTABLE = Policy("test", image=ImagePolicy(tag="immutable"))


def subject(tag: str | None) -> Subject:
    ref = f"registry.test/app:{tag}" if tag else f"registry.test/app@{DIGEST}"
    return Subject(ref, DIGEST, "registry.test/app", tag)


def judge(policy: Policy, tag: str | None, git_sha: str | Unavailable | None = SHA):
    facts = Facts(subject(tag), NOW, git_sha=git_sha)
    return evaluate(policy, facts, checks=[TagCheck()]).checks[0]


def test_needs_follow_the_mode():
    check = TagCheck()
    assert check.needs(Policy("test")) is None
    assert check.needs(Policy("test", image=ImagePolicy(tag="any"))) is None
    assert check.needs(GIT_SHA) == frozenset({Need.GIT_SHA})
    assert check.needs(IMMUTABLE) == frozenset()


def test_full_sha_tag_passes():
    result = judge(GIT_SHA, SHA)
    assert result.status is Status.PASS
    assert result.evidence["matched"] == "full"


@pytest.mark.parametrize("tag", [SHA[:7], SHA[:12], SHA[:7].upper()])
def test_short_sha_prefix_of_at_least_seven_passes(tag: str):
    result = judge(GIT_SHA, tag)
    assert result.status is Status.PASS
    assert result.evidence["matched"] == "prefix"


def test_prefix_shorter_than_seven_fails_and_says_why():
    result = judge(GIT_SHA, SHA[:6])
    assert result.status is Status.FAIL
    assert "shorter than 7" in result.summary


@pytest.mark.parametrize("tag", ["0000000", "deadbeefcafe", SHA[:-1] + "0", "latest", SHA + "0"])
def test_wrong_sha_or_latest_fails(tag: str):
    result = judge(GIT_SHA, tag)
    assert result.status is Status.FAIL
    assert [p.rule for p in result.findings] == ["tag-not-git-sha"]
    assert SHA in result.summary


def test_digest_only_reference_has_no_tag_to_check():
    result = judge(GIT_SHA, None)
    assert result.status is Status.FAIL
    assert result.summary.startswith("reference has no tag to check (given by digest)")


def test_no_sha_known_is_an_error_that_says_how_to_pass_one():
    result = judge(GIT_SHA, SHA[:7], git_sha=None)
    assert result.status is Status.ERROR
    assert result.summary == "no git SHA known; pass --git-sha SHA or set GITHUB_SHA"


def test_sha_lookup_failure_is_an_error():
    result = judge(
        GIT_SHA, SHA[:7], git_sha=Unavailable("`git rev-parse HEAD` timed out after 10 s")
    )
    assert result.status is Status.ERROR
    assert "timed out" in result.summary


def test_malformed_sha_fact_is_an_error():
    assert judge(GIT_SHA, "abc1234", git_sha="abc1234").status is Status.ERROR


def test_sha_from_github_sha_judges_the_tag():
    sha = find_git_sha(None, env={"GITHUB_SHA": SHA})
    assert judge(GIT_SHA, SHA[:7], git_sha=sha).status is Status.PASS
    assert judge(GIT_SHA, "latest", git_sha=sha).status is Status.FAIL


@pytest.mark.parametrize("tag", ["latest", "Latest", "main", "nightly"])
def test_immutable_rejects_mutable_tags(tag: str):
    result = judge(IMMUTABLE, tag, git_sha=None)
    assert result.status is Status.FAIL
    assert [p.rule for p in result.findings] == ["mutable-tag"]


@pytest.mark.parametrize("tag", ["1.4.2", SHA[:7], "v2"])
def test_immutable_accepts_other_tags(tag: str):
    assert judge(IMMUTABLE, tag, git_sha=None).status is Status.PASS


def test_immutable_uses_the_policy_list():
    policy = Policy("test", image=ImagePolicy(tag="immutable", mutable_tags=("prod",)))
    assert judge(policy, "latest", git_sha=None).status is Status.PASS
    assert judge(policy, "prod", git_sha=None).status is Status.FAIL


def test_immutable_accepts_a_digest_reference():
    result = judge(IMMUTABLE, None, git_sha=None)
    assert result.status is Status.PASS
    assert "digest" in result.summary


# --------------------------------------------------------------------------- tag patterns


def pattern(text: str) -> Policy:
    return Policy("test", image=ImagePolicy(tag="git-sha", tag_pattern=text))


METADATA_ACTION = pattern("sha-{short_sha}")


def test_metadata_action_sha_tag_passes():
    """docker/metadata-action's ``type=sha`` default: ``sha-`` and the first 7 hex digits."""
    result = judge(METADATA_ACTION, f"sha-{SHA[:7]}")
    assert result.status is Status.PASS
    assert result.evidence["matched"] == "pattern"


@pytest.mark.parametrize(
    "tag",
    [
        SHA[:7],  # the bare short SHA: not what the pattern says
        f"sha-{SHA[:8]}",  # the pattern matches the whole tag, not a prefix of it
        f"sha-{SHA[:6]}",
        f"sha-{SHA}",
        f"sha-{SHA[:7]}-debug",
        f"x-sha-{SHA[:7]}",
        f"SHA-{SHA[:7]}",  # literal text is compared exactly
        "sha-0000000",
    ],
)
def test_a_tag_that_is_not_the_pattern_exactly_fails(tag: str):
    result = judge(METADATA_ACTION, tag)
    assert result.status is Status.FAIL
    assert f"sha-{SHA[:7]}" in result.summary


def test_hex_in_a_pattern_is_compared_case_insensitively():
    assert judge(METADATA_ACTION, f"sha-{SHA[:7].upper()}").status is Status.PASS


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("{sha}", SHA),
        ("{short_sha:12}-amd64", f"{SHA[:12]}-amd64"),
        ("v1.4-{short_sha}", f"v1.4-{SHA[:7]}"),
        ("{sha}.{short_sha}", f"{SHA}.{SHA[:7]}"),
    ],
)
def test_placeholders_fill_in_the_commit(text: str, tag: str):
    assert judge(pattern(text), tag).status is Status.PASS


def test_a_pattern_without_a_known_sha_is_an_error():
    assert judge(METADATA_ACTION, f"sha-{SHA[:7]}", git_sha=None).status is Status.ERROR


def test_a_pattern_on_a_digest_only_reference_fails_and_shows_the_expected_tag():
    result = judge(METADATA_ACTION, None)
    assert result.status is Status.FAIL
    assert f"sha-{SHA[:7]}" in result.summary
