"""Where the repository is, for tests at any depth of ``tests/``."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
"""The repository's top (``pyproject.toml``, ``action.yml``, ``gate/``)."""
