"""scripts/prepare_db.py against stub trivy/grype executables: retry on 429, bounded fallback.

The stubs are real processes on PATH that answer the way the registries do when rate limited
(ghcr.io / mirror.gcr.io: ``TOOMANYREQUESTS``), a given number of times, then succeed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "prepare_db.py"

TRIVY_RATE_LIMIT = (
    "2026-11-28T10:00:00Z\tFATAL\tFatal error\trun error: init error: DB error: failed to "
    "download vulnerability DB: OCI artifact error: failed to download artifact from "
    "mirror.gcr.io/aquasec/trivy-db:2: OCI repository error: 1 error occurred:\n\t* GET "
    "https://mirror.gcr.io/v2/aquasec/trivy-db/manifests/2: TOOMANYREQUESTS: retry-after: "
    "1.3ms, allowed: 44000/minute\n"
)
GRYPE_RATE_LIMIT = (
    "failed to update vulnerability DB: unable to download db: 429 Too Many Requests\n"
)

STUB = """#!{python}
import json, os, pathlib, sys, datetime
tool = {tool!r}
args = sys.argv[1:]
if tool == "grype" and args[:2] == ["db", "status"]:
    built = os.environ.get("STUB_BUILT")
    if not built:
        print("no installed DB", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({{"schemaVersion": "v6.0.2", "built": built, "path": "/x", "valid": True}}))
    sys.exit(0)
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
    for tool in ("trivy", "grype"):
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


def test_grype_falls_back_to_its_cached_db_by_its_built_time(tmp_path: Path, stubs: Path) -> None:
    fresh = go_time(datetime.now(timezone.utc) - timedelta(hours=20))
    result, calls = prepare(
        tmp_path, stubs, scanners="grype", STUB_FAILS="99", STUB_MESSAGE=GRYPE_RATE_LIMIT,
        STUB_BUILT=fresh,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert calls == 4
    assert "grype: DB download rate limited 4 times; using the cached DB" in result.stdout


def test_grype_without_a_valid_cached_db_fails_closed(tmp_path: Path, stubs: Path) -> None:
    result, _ = prepare(
        tmp_path, stubs, scanners="grype", STUB_FAILS="99", STUB_MESSAGE=GRYPE_RATE_LIMIT
    )
    assert result.returncode == 2 and "no cached DB" in result.stdout


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
