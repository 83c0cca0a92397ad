"""scripts/action-requirements.txt: the Action installs exactly these files, by hash.

The lock must pin every runtime dependency pyproject.toml declares (within its range) and the
build requirement, with at least one sha256 each, and action.yml must install it with
``--require-hashes --no-deps`` so nothing unlisted is resolved or accepted.
"""

from __future__ import annotations

import re

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
LOCK = ROOT / "scripts" / "action-requirements.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+)")


def locked() -> dict[str, tuple[Version, list[str]]]:
    """name -> (version, hashes), from the lock's continuation-line format."""
    entries: dict[str, tuple[Version, list[str]]] = {}
    current = ""
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        pin = PIN.match(line)
        if pin:
            current = canonicalize_name(pin.group(1))
            assert current not in entries, f"{current} pinned twice"
            entries[current] = (Version(pin.group(2)), [])
            continue
        digest = re.fullmatch(r"\s+--hash=sha256:([0-9a-f]{64})( \\)?", line)
        assert digest and current, f"unexpected line in the lock: {line!r}"
        entries[current][1].append(digest.group(1))
    return entries


def declared() -> list[Requirement]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    build = project["build-system"]["requires"]
    return [Requirement(r) for r in (*project["project"]["dependencies"], *build)]


def test_every_declared_dependency_is_locked_within_its_range() -> None:
    entries = locked()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{name} is declared in pyproject.toml but not locked"
        version, _ = entries[name]
        assert requirement.specifier.contains(version), f"{name}=={version} not in {requirement}"


def test_every_locked_package_has_a_hash() -> None:
    entries = locked()
    assert len(entries) > len(declared())  # transitive dependencies are pinned too
    assert all(hashes for _, hashes in entries.values())


def test_the_action_installs_the_lock_by_hash_and_nothing_else() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    scripts = "\n".join(step.get("run", "") for step in action["runs"]["steps"])
    assert "--require-hashes --no-deps --only-binary :all:" in scripts
    assert "scripts/action-requirements.txt" in scripts
    # The package itself: no index, no build isolation (which would fetch setuptools unpinned).
    assert '--no-deps --no-index --no-build-isolation --force-reinstall "$ACTION_PATH"' in scripts
    assert scripts.count("-m pip") == 1  # one pip, used only for these two installs
