"""The real Go programs the tests run (scripts/go-tools.txt), found where setup links them.

``scripts/go-tools.sh`` builds each pinned tool once and links it into the venv's ``bin/``.
A test that needs one asks :func:`tool_or_skip`: without the tool it skips with the reason,
unless ``CONTAINER_GATE_REQUIRE_GO=1`` (CI), where a missing tool fails the test, so CI can
never pass by skipping the proof.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.support.gobuild import go_required

VENV_BIN = Path(sys.executable).parent


def find_tool(name: str) -> Path | None:
    """``name`` from the venv's ``bin/`` (where setup links it), else from ``PATH``."""
    found = shutil.which(name, path=str(VENV_BIN)) or shutil.which(name)
    return Path(found) if found else None


def tool_or_skip(name: str) -> Path:
    """The tool's executable, or skip (fail when Go tools are required) saying how to get it."""
    found = find_tool(name)
    if found is None:
        reason = f"{name} is not installed: `make setup` builds it with Go (scripts/go-tools.sh)"
        if go_required():
            pytest.fail(reason + " (CONTAINER_GATE_REQUIRE_GO is set)", pytrace=False)
        pytest.skip(reason)
    return found
