"""Where the git SHA comes from: --git-sha, then GITHUB_SHA, then a real `git rev-parse HEAD`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gate.errors import UsageError
from gate.gitsha import find_git_sha

SHA = "3f2a9c1d4e5f60718293a4b5c6d7e8f901234567"
OTHER = "b" * 40

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_explicit_sha_wins_over_the_environment():
    assert find_git_sha(SHA, env={"GITHUB_SHA": OTHER}) == SHA


def test_explicit_sha_is_lowercased():
    assert find_git_sha(SHA.upper(), env={}) == SHA


def test_github_sha_is_used_without_an_explicit_one():
    assert find_git_sha(None, env={"GITHUB_SHA": f" {SHA}\n"}) == SHA


@pytest.mark.parametrize("bad", ["3f2a9c1", "not-a-sha", SHA + "0", "g" * 40])
def test_malformed_explicit_sha_is_a_usage_error(bad: str):
    with pytest.raises(UsageError, match=r"--git-sha .* is not a full commit SHA"):
        find_git_sha(bad, env={})


def test_malformed_github_sha_is_a_usage_error():
    with pytest.raises(UsageError, match="GITHUB_SHA"):
        find_git_sha(None, env={"GITHUB_SHA": "refs/heads/main"})


def test_sha256_object_format_ids_are_accepted():
    assert find_git_sha("c" * 64, env={}) == "c" * 64


@needs_git
def test_falls_back_to_git_rev_parse_head(tmp_path: Path):
    git(tmp_path, "init", "-q")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "first")
    head = git(tmp_path, "rev-parse", "HEAD")
    assert find_git_sha(None, env={}, cwd=tmp_path) == head


@needs_git
def test_repository_without_commits_knows_no_sha(tmp_path: Path):
    git(tmp_path, "init", "-q")
    assert find_git_sha(None, env={}, cwd=tmp_path) is None


@needs_git
def test_outside_a_repository_no_sha_is_known(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert find_git_sha(None, env={}, cwd=tmp_path) is None
