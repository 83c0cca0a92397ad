"""scripts/prepare_db.py: retry on 429, bounded fallback to a cached DB.

Trivy is a stub executable (a real process on PATH) that answers the way the registries do
when rate limited (ghcr.io / mirror.gcr.io: ``TOOMANYREQUESTS``), a given number of times,
then succeeds. Grype is the real one, whose DB listing URL (``GRYPE_DB_UPDATE_URL``) is a
local server answering 429, with the tests' DB (``grype_env``) as its cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.support.fakeregistry import FakeRegistry, Reply
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
SCRIPT = ROOT / "scripts" / "prepare_db.py"

TRIVY_RATE_LIMIT = (
    "2026-11-28T10:00:00Z\tFATAL\tFatal error\trun error: init error: DB error: failed to "
    "download vulnerability DB: OCI artifact error: failed to download artifact from "
    "mirror.gcr.io/aquasec/trivy-db:2: OCI repository error: 1 error occurred:\n\t* GET "
    "https://mirror.gcr.io/v2/aquasec/trivy-db/manifests/2: TOOMANYREQUESTS: retry-after: "
    "1.3ms, allowed: 44000/minute\n"
)

STUB = """#!{python}
import json, os, pathlib, sys, datetime
tool = {tool!r}
args = sys.argv[1:]
if tool == "trivy" and args == ["--version"]:
    print("Version: " + os.environ.get("STUB_VERSION", "0.76.0"))
    sys.exit(0)
counter = pathlib.Path(os.environ["STUB_COUNTER"])
calls = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(calls + 1))
if calls < int(os.environ.get("STUB_FAILS", "0")):
    sys.stderr.write(os.environ["STUB_MESSAGE"])
    sys.exit(1)
if tool == "trivy":
    java = "--download-java-db-only" in args
    db = pathlib.Path(os.environ["TRIVY_CACHE_DIR"]) / ("java-db" if java else "db")
    db.mkdir(parents=True, exist_ok=True)
    (db / ("trivy-java.db" if java else "trivy.db")).write_bytes(b"bolt")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    version = 1 if java else 2
    (db / "metadata.json").write_text(json.dumps({{"Version": version, "UpdatedAt": now}}))
print(tool + ": updated")
"""


@pytest.fixture
def stubs(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("trivy",):
        path = bin_dir / tool
        path.write_text(STUB.format(python=sys.executable, tool=tool))
        path.chmod(0o755)
    return bin_dir


def go_time(moment: datetime) -> str:
    """A timestamp as Trivy writes it: nanoseconds and Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "987654321Z"


def cached_trivy_db(cache: Path, age: timedelta) -> None:
    db = cache / "db"
    db.mkdir(parents=True)
    (db / "trivy.db").write_bytes(b"bolt")
    built = datetime.now(timezone.utc) - age
    (db / "metadata.json").write_text(json.dumps({"Version": 2, "UpdatedAt": go_time(built)}))


def prepare(
    tmp_path: Path, stubs: Path, *, scanners: str = "trivy", **env: str
) -> tuple[subprocess.CompletedProcess[str], int]:
    counter = tmp_path / "calls"
    counter.unlink(missing_ok=True)
    environment = {
        "PATH": f"{stubs}{os.pathsep}/usr/bin{os.pathsep}/bin",  # no real scanner
        "TRIVY_CACHE_DIR": str(tmp_path / "trivy-cache"),
        "GRYPE_DB_CACHE_DIR": str(tmp_path / "grype-cache"),
        "STUB_COUNTER": str(counter),
        "STUB_MESSAGE": TRIVY_RATE_LIMIT,
        "CONTAINER_GATE_DB_RETRY_DELAYS": "0,0,0",
        "PYTHONPATH": str(ROOT),  # this checkout's gate package
        **env,
    }
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--scanners", scanners],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    calls = int(counter.read_text()) if counter.exists() else 0
    return result, calls


def test_when_the_db_is_ready_its_age_and_size_go_to_stderr(tmp_path: Path, stubs: Path) -> None:
    result, _ = prepare(tmp_path, stubs)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "container-gate: trivy: downloading the vulnerability DB" in result.stderr
    ready = [line for line in result.stderr.splitlines() if "vulnerability DB ready" in line]
    assert len(ready) == 1 and "h old), 0.0 MB" in ready[0] and "(0.0 h old)" in ready[0]
    assert "h old" not in result.stdout


def test_a_successful_download_needs_no_retry(tmp_path: Path, stubs: Path) -> None:
    result, calls = prepare(tmp_path, stubs)
    assert result.returncode == 0, result.stdout + result.stderr
    assert calls == 1
    assert (tmp_path / "trivy-cache" / "db" / "metadata.json").is_file()


def test_a_rate_limit_is_retried_with_backoff_until_the_download_succeeds(
    tmp_path: Path, stubs: Path
) -> None:
    result, calls = prepare(tmp_path, stubs, STUB_FAILS="2")
    assert result.returncode == 0, result.stdout
    assert calls == 3
    assert result.stdout.count("rate limited") == 2
    assert "trivy: vulnerability DB ready" in result.stdout


def test_persistent_rate_limit_falls_back_to_a_fresh_cached_db(tmp_path: Path, stubs: Path) -> None:
    cached_trivy_db(tmp_path / "trivy-cache", timedelta(hours=10))
    result, calls = prepare(tmp_path, stubs, STUB_FAILS="99")
    assert result.returncode == 0, result.stdout
    assert calls == 4  # the first attempt and three retries
    assert "using the cached DB built" in result.stdout
    assert "(10.0h old, maximum 72h)" in result.stdout


def test_a_cached_db_older_than_the_maximum_age_fails_closed(tmp_path: Path, stubs: Path) -> None:
    cached_trivy_db(tmp_path / "trivy-cache", timedelta(hours=100))
    result, _ = prepare(tmp_path, stubs, STUB_FAILS="99")
    assert result.returncode == 2
    assert "older than the 72h maximum; failing closed" in result.stdout


def test_the_maximum_age_is_configurable(tmp_path: Path, stubs: Path) -> None:
    cached_trivy_db(tmp_path / "trivy-cache", timedelta(hours=10))
    result, _ = prepare(tmp_path, stubs, STUB_FAILS="99", CONTAINER_GATE_DB_MAX_AGE_HOURS="6")
    assert result.returncode == 2
    assert "older than the 6h maximum" in result.stdout


def test_rate_limited_with_no_cached_db_fails_closed(tmp_path: Path, stubs: Path) -> None:
    result, _ = prepare(tmp_path, stubs, STUB_FAILS="99")
    assert result.returncode == 2
    assert "no cached DB to fall back to; failing closed" in result.stdout


def test_a_cache_with_unreadable_metadata_is_no_fallback(tmp_path: Path, stubs: Path) -> None:
    cached_trivy_db(tmp_path / "trivy-cache", timedelta(hours=1))
    (tmp_path / "trivy-cache" / "db" / "metadata.json").write_text('{"Version": 2, "Upda')
    result, _ = prepare(tmp_path, stubs, STUB_FAILS="99")
    assert result.returncode == 2 and "no cached DB" in result.stdout


def test_other_download_errors_fail_closed_without_retry_or_fallback(
    tmp_path: Path, stubs: Path
) -> None:
    cached_trivy_db(tmp_path / "trivy-cache", timedelta(hours=1))
    result, calls = prepare(
        tmp_path,
        stubs,
        STUB_FAILS="99",
        STUB_MESSAGE="FATAL unauthorized: authentication required\n",
    )
    assert result.returncode == 2
    assert calls == 1
    assert "DB download failed (exit 1)" in result.stdout
    assert "unauthorized" in result.stdout


LISTING = "/databases/v6/latest.json"


@pytest.fixture
def rate_limited_listing() -> Iterator[FakeRegistry]:
    """Grype's DB listing URL answering 429, as grype.anchore.io does when rate limited."""
    with FakeRegistry() as server:
        server.script(LISTING, Reply(429, b"rate limited", {"Retry-After": "1"}))
        yield server


def prepare_real_grype(
    tmp_path: Path, grype_env: dict[str, str], listing: FakeRegistry, cache: Path
) -> subprocess.CompletedProcess[str]:
    """scripts/prepare_db.py with the real Grype, its DB updates served by *listing*."""
    environment = {
        **grype_env,
        "GRYPE_DB_CACHE_DIR": str(cache),
        "GRYPE_DB_UPDATE_URL": listing.url + LISTING,
        "CONTAINER_GATE_DB_RETRY_DELAYS": "0,0,0",
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--scanners", "grype"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_of_test_db(grype_env: dict[str, str], cache: Path) -> Path:
    shutil.copytree(grype_env["GRYPE_DB_CACHE_DIR"], cache)
    return cache


def test_real_grype_rate_limited_falls_back_to_its_cached_db_by_its_built_time(
    tmp_path: Path, grype_env: dict[str, str], rate_limited_listing: FakeRegistry
) -> None:
    cache = copy_of_test_db(grype_env, tmp_path / "grype-cache")
    result = prepare_real_grype(tmp_path, grype_env, rate_limited_listing, cache)
    assert result.returncode == 0, result.stdout + result.stderr
    # The first attempt and three retries (Grype asks for the listing twice per update).
    assert "grype: rate limited (3/4)" in result.stdout  # Grype: "bad response code: 429"
    assert rate_limited_listing.count(LISTING) >= 4
    assert "grype: DB download rate limited 4 times; using the cached DB" in result.stdout


def test_real_grype_rate_limited_with_a_db_failing_its_checksum_fails_closed(
    tmp_path: Path, grype_env: dict[str, str], rate_limited_listing: FakeRegistry
) -> None:
    cache = copy_of_test_db(grype_env, tmp_path / "grype-cache")
    with (cache / "6" / "vulnerability.db").open("ab") as db:
        db.write(b"\0")  # `grype db status` now says invalid (bad db checksum), exit 1
    result = prepare_real_grype(tmp_path, grype_env, rate_limited_listing, cache)
    assert result.returncode == 2
    assert "no cached DB to fall back to; failing closed" in result.stdout


def test_real_grype_rate_limited_without_a_db_fails_closed(
    tmp_path: Path, grype_env: dict[str, str], rate_limited_listing: FakeRegistry
) -> None:
    result = prepare_real_grype(tmp_path, grype_env, rate_limited_listing, tmp_path / "none")
    assert result.returncode == 2
    assert "no cached DB to fall back to; failing closed" in result.stdout


def test_in_github_actions_the_fallback_is_a_warning_annotation(
    tmp_path: Path, stubs: Path
) -> None:
    cached_trivy_db(tmp_path / "trivy-cache", timedelta(hours=3))
    result, _ = prepare(tmp_path, stubs, STUB_FAILS="99", GITHUB_ACTIONS="true")
    assert result.returncode == 0
    warnings = [line for line in result.stdout.splitlines() if line.startswith("::warning::")]
    assert len(warnings) == 1 and "using the cached DB" in warnings[0]


def test_a_missing_scanner_binary_fails_closed(tmp_path: Path, stubs: Path) -> None:
    (stubs / "trivy").unlink()
    result, _ = prepare(tmp_path, stubs)
    assert result.returncode == 2 and "trivy: not found on PATH" in result.stdout


def cached_java_db(cache: Path, age: timedelta) -> None:
    db = cache / "java-db"
    db.mkdir(parents=True)
    (db / "trivy-java.db").write_bytes(b"bolt")
    built = datetime.now(timezone.utc) - age
    (db / "metadata.json").write_text(json.dumps({"Version": 1, "UpdatedAt": go_time(built)}))


def test_the_java_db_is_prepared_with_the_same_retries(tmp_path: Path, stubs: Path) -> None:
    result, calls = prepare(tmp_path, stubs, scanners="trivy,trivy-java", STUB_FAILS="2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert calls == 4  # two rate-limited attempts, then the DB, then the Java DB
    assert (tmp_path / "trivy-cache" / "java-db" / "trivy-java.db").is_file()
    assert "trivy-java: vulnerability DB ready" in result.stdout


def test_a_rate_limited_java_db_falls_back_only_to_a_fresh_cached_one(
    tmp_path: Path, stubs: Path
) -> None:
    cached_java_db(tmp_path / "trivy-cache", timedelta(hours=2))
    fresh, _ = prepare(tmp_path, stubs, scanners="trivy-java", STUB_FAILS="99")
    assert fresh.returncode == 0 and "using the cached DB" in fresh.stdout
    old = tmp_path / "old"
    cached_java_db(old / "trivy-cache", timedelta(hours=100))
    stale, _ = prepare(old, stubs, scanners="trivy-java", STUB_FAILS="99")
    assert stale.returncode == 2 and "failing closed" in stale.stdout


def analysis_key(tmp_path: Path, stubs: Path, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--analysis-key"],
        env={
            "PATH": f"{stubs}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "TRIVY_CACHE_DIR": str(tmp_path / "trivy-cache"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("key=")
    return result.stdout.strip().removeprefix("key=")


def test_the_analysis_cache_key_changes_with_trivy_and_with_either_db(
    tmp_path: Path, stubs: Path
) -> None:
    cache = tmp_path / "trivy-cache"
    cached_trivy_db(cache, timedelta(hours=5))
    cached_java_db(cache, timedelta(hours=30))
    key = analysis_key(tmp_path, stubs)
    assert key.startswith("0.76.0-") and key == analysis_key(tmp_path, stubs)
    assert analysis_key(tmp_path, stubs, STUB_VERSION="0.77.0") != key
    for db, make in (("db", cached_trivy_db), ("java-db", cached_java_db)):
        saved = cache / f"{db}.saved"
        (cache / db).rename(saved)
        make(cache, timedelta(hours=1))  # a newer build of that DB
        assert analysis_key(tmp_path, stubs) != key
        shutil.rmtree(cache / db)
        saved.rename(cache / db)
    assert analysis_key(tmp_path, stubs) == key
