"""The git commit SHA the ``tag`` check (and keyless ``match_git_sha``) compares against.

Sources, first wins: ``--git-sha``, then ``GITHUB_SHA``, then ``git rev-parse HEAD`` in the
working directory. Only a full commit id is accepted: 40 hex digits, or 64 for
repositories in git's SHA-256 object format. A short or malformed value that the user
gave is a usage error rather than a silent fall-through to the next source, since the
gate would otherwise judge against a commit nobody asked for.

Note for GitHub Actions: on ``pull_request`` events ``GITHUB_SHA`` is the synthetic merge
commit, not the branch head; pass ``--git-sha ${{ github.event.pull_request.head.sha }}``
when images are tagged with the head commit.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from gate.errors import GateError, UsageError

GIT_TIMEOUT = 10.0
_FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _validated(value: str, source: str) -> str:
    sha = value.strip().lower()
    if not _FULL_SHA.fullmatch(sha):
        raise UsageError(
            f"{source} {value.strip()[:80]!r} is not a full commit SHA (40 hex digits)"
        )
    return sha


def _from_git(cwd: Path | None, timeout: float) -> str | None:
    """``git rev-parse HEAD``; None without git, outside a repository, or before a commit."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        return None
    except subprocess.TimeoutExpired as error:
        stderr = error.stderr.decode(errors="replace") if isinstance(error.stderr, bytes) else ""
        raise GateError(
            f"`git rev-parse HEAD` timed out after {timeout:g} s", detail=stderr[-2000:]
        ) from error
    except OSError as error:
        raise GateError(f"cannot run git: {error.strerror or error}") from error
    if done.returncode != 0:
        return None
    return _validated(done.stdout, "`git rev-parse HEAD` printed")


def find_git_sha(
    explicit: str | None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = GIT_TIMEOUT,
) -> str | None:
    """The full, lowercase commit SHA, or None when no source knows one.

    ``env`` defaults to ``os.environ`` and ``cwd`` to the process's working directory.
    Raises ``UsageError`` for a malformed ``--git-sha``/``GITHUB_SHA`` and ``GateError``
    when git itself hangs.
    """
    if explicit is not None and explicit.strip():
        return _validated(explicit, "--git-sha")
    environ = os.environ if env is None else env
    github_sha = environ.get("GITHUB_SHA", "").strip()
    if github_sha:
        return _validated(github_sha, "GITHUB_SHA")
    return _from_git(cwd, timeout)
