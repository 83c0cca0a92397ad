"""Fixtures shared by the scanner edge's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.stubs import StubBin


@pytest.fixture
def stubs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StubBin:
    """A directory of stub scanners first on ``PATH`` (``tests.support.stubs``)."""
    bin_dir = StubBin(tmp_path)
    monkeypatch.setenv("PATH", bin_dir.path_with_system())
    return bin_dir
