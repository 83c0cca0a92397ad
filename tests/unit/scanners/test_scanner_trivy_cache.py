"""Trivy's kept reports (``gate.scanners.trivy_cache``): reused only for the same image, Trivy,
DB and settings, and only while a scan now would use that same DB.

The live tests run the real Trivy 0.76 offline, on the fs backend, with a cache directory of
their own, against an image in the loopback registry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gate.model import ScanReport, ScanTarget
from gate.scanners import trivy_cache
from gate.scanners.trivy import Trivy
from gate.scanners.trivy_cache import DbFiles, DbState, ReportCache, cache_directory, report_key
from tests.support import oci, rootfs, trivydb
from tests.support.registry import RunningRegistry
from tests.support.stubs import Stub, StubBin
from tests.unit.scanners.test_scanner_trivy import REGISTRY_TARGET, report

NOW = datetime(2026, 12, 4, tzinfo=timezone.utc)
ARGV = (
    "trivy", "image", "--format", "json", "--output", "/tmp/a/trivy.json", "--module-dir",
    "/tmp/a/empty", "--timeout", "600s", "--cache-backend", "fs", "--platform", "linux/amd64",
    "--image-src", "remote", "127.0.0.1:5000/app@sha256:" + "a" * 64,
)  # fmt: skip
EXE = ("/usr/bin/trivy", 1, 2)


def db(next_update: str = "2036-01-01T00:00:00Z", **fields: str) -> DbFiles:
    meta = {"Version": 2, "NextUpdate": next_update, "UpdatedAt": "2026-11-01T00:00:00Z"}
    return DbFiles(json.dumps({**meta, **fields}).encode(), (10, 20))


NO_DB = DbFiles(None, None)
STATE = DbState(db(), NO_DB)


def key(
    argv: tuple[str, ...] = ARGV, env: dict[str, str] | None = None, state: DbState = STATE
) -> str:
    return report_key(argv, env or {}, EXE, state)


# --------------------------------------------------------------------------- the rules


def test_the_cache_directory_is_trivy_cache_dir_when_set() -> None:
    assert cache_directory({"TRIVY_CACHE_DIR": "/c", "HOME": "/h"}) == Path("/c")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Go's Linux rule")
def test_the_default_cache_directory_is_gos_user_cache_dir() -> None:
    assert cache_directory({"XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path("/x/trivy")
    assert cache_directory({"XDG_CACHE_HOME": "", "HOME": "/h"}) == Path("/h/.cache/trivy")


def test_a_cache_directory_the_gate_cannot_be_sure_of_keeps_nothing() -> None:
    assert cache_directory({"XDG_CACHE_HOME": "relative", "HOME": "/h"}) is None
    assert cache_directory({"TRIVY_CACHE_DIR": "relative"}) is None
    assert cache_directory({}) is None


def test_a_report_is_reused_only_while_the_db_needs_no_update() -> None:
    assert DbState(db(), NO_DB).settled({}, NOW)
    stale = DbState(db("2026-12-01T00:00:00Z"), NO_DB)
    assert not stale.settled({}, NOW)  # Trivy would download a new DB first
    assert stale.settled({"TRIVY_SKIP_DB_UPDATE": "true"}, NOW)
    assert stale.settled({"TRIVY_SKIP_UPDATE": "1"}, NOW)
    assert not stale.settled({"TRIVY_SKIP_DB_UPDATE": "yes"}, NOW)  # not a Go bool: no skip
    assert not DbState(NO_DB, NO_DB).settled({"TRIVY_SKIP_DB_UPDATE": "true"}, NOW)
    garbled = DbState(DbFiles(b"{not json", (1, 2)), NO_DB)
    assert not garbled.settled({}, NOW)


def test_a_stale_java_db_blocks_reuse_but_an_absent_one_does_not() -> None:
    assert DbState(db(), NO_DB).settled({}, NOW)
    stale_java = DbState(db(), db("2026-01-01T00:00:00Z"))
    assert not stale_java.settled({}, NOW)
    assert stale_java.settled({"TRIVY_SKIP_JAVA_DB_UPDATE": "true"}, NOW)
    half_there = DbState(db(), DbFiles(None, (1, 2)))
    assert not half_there.settled({}, NOW)


def test_the_key_leaves_out_what_belongs_to_the_run_alone() -> None:
    other_run = list(ARGV)
    other_run[ARGV.index("--output") + 1] = "/tmp/b/trivy.json"
    other_run[ARGV.index("--module-dir") + 1] = "/tmp/b/empty"
    other_run[ARGV.index("--timeout") + 1] = "60s"
    other_run[ARGV.index("--cache-backend") + 1] = "memory"
    assert key(tuple(other_run)) == key()
    assert key(env={"TRIVY_PASSWORD": "a", "TRIVY_TOKEN": "b", "HOME": "/h"}) == key()


def test_the_key_holds_the_image_the_settings_trivy_and_the_dbs() -> None:
    other_platform = tuple("linux/arm64" if a == "linux/amd64" else a for a in ARGV)
    assert key(other_platform) != key()
    assert key((*ARGV[:-1], ARGV[-1].replace("a" * 64, "b" * 64))) != key()
    assert key((*ARGV[:-1], "--scanners", "vuln,secret", ARGV[-1])) != key()
    assert key(env={"TRIVY_OFFLINE_SCAN": "true"}) != key()
    assert report_key(ARGV, {}, ("/usr/bin/trivy", 1, 3), STATE) != key()
    assert key(state=DbState(db(UpdatedAt="2026-11-02T00:00:00Z"), NO_DB)) != key()
    assert key(state=DbState(DbFiles(db().metadata, (10, 21)), NO_DB)) != key()
    assert key(state=DbState(db(), db())) != key()


def test_reports_unused_for_a_week_are_removed(tmp_path: Path) -> None:
    cache = ReportCache(tmp_path)
    report = tmp_path / "src.json"
    report.write_text("{}")
    cache.put("old", report)
    cache.put("new", report)
    week_ago = time.time() - trivy_cache.MAX_AGE - 60
    os.utime(tmp_path / "old.json", (week_ago, week_ago))
    cache.prune()
    assert cache.get("old") is None
    assert cache.get("new") is not None


def test_nothing_is_kept_without_a_vulnerability_db_to_key_it_by(
    stubs: StubBin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIVY_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TRIVY_CACHE_BACKEND", raising=False)
    stubs.install("trivy", Stub(report=json.dumps(report())))
    trivy = Trivy(cache="fs", keep_reports=True)
    assert not trivy.scan(REGISTRY_TARGET, timeout=60).reused
    assert not trivy.scan(REGISTRY_TARGET, timeout=60).reused
    assert not (tmp_path / "fanal").exists()


# --------------------------------------------------------------------------- real Trivy


@pytest.fixture(scope="module")
def pushed(registry: RunningRegistry) -> str:
    files = rootfs.debian_rootfs(trivydb.VULNERABLE_DEBIAN_PACKAGES, passwd=rootfs.APP_PASSWD)
    digest = oci.push(registry.host, "gate/kept", oci.build_image([oci.layer(files)]), "v1")
    return f"{registry.host}/gate/kept@{digest}"


@pytest.fixture
def fs_env(trivy_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """``trivy_env`` on Trivy's default fs backend, with a cache directory of its own."""
    env = {k: v for k, v in trivy_env.items() if k != "TRIVY_CACHE_BACKEND"}
    env["TRIVY_CACHE_DIR"] = str(trivydb.build_trivy_cache(tmp_path / "cache"))
    return env


def kept_reports(env: dict[str, str]) -> list[Path]:
    root = Path(env["TRIVY_CACHE_DIR"]).joinpath(*trivy_cache.SUBDIRECTORY)
    return sorted(root.glob("*.json")) if root.is_dir() else []


def scan(env: dict[str, str], ref: str, *, keep: bool = True) -> ScanReport:
    trivy = Trivy(scanners={"vuln"}, env=env, cache="fs", keep_reports=keep)
    return trivy.scan(ScanTarget("registry", ref, platform="linux/amd64"), timeout=180)


def test_a_second_scan_of_the_same_digest_reads_the_kept_report(
    fs_env: dict[str, str], pushed: str
) -> None:
    first = scan(fs_env, pushed)
    assert not first.reused
    (kept,) = kept_reports(fs_env)
    # What the second scan returns is what was kept: drop every finding but one there.
    doc = json.loads(kept.read_text())
    doc["Results"][0]["Vulnerabilities"] = doc["Results"][0]["Vulnerabilities"][:1]
    kept.write_text(json.dumps(doc))
    second = scan(fs_env, pushed)
    assert second.reused
    assert len(first.vulnerabilities) > 1 and len(second.vulnerabilities) == 1
    assert second.image_id == first.image_id
    assert (second.db_built, second.db_source) == (first.db_built, first.db_source)


def test_rescan_never_reads_a_kept_report(fs_env: dict[str, str], pushed: str) -> None:
    first = scan(fs_env, pushed)
    again = scan(fs_env, pushed, keep=False)
    assert not again.reused and again.vulnerabilities == first.vulnerabilities


def test_a_new_db_is_never_served_a_report_kept_with_the_old_one(
    fs_env: dict[str, str], pushed: str
) -> None:
    scan(fs_env, pushed)
    cache = Path(fs_env["TRIVY_CACHE_DIR"])
    trivydb.build_trivy_cache(cache, trivydb.DEFAULT_ADVISORIES[:1])
    narrower = scan(fs_env, pushed)
    assert not narrower.reused
    assert {v.id for v in narrower.vulnerabilities} == {trivydb.DEFAULT_ADVISORIES[0].vuln_id}
    assert len(kept_reports(fs_env)) == 2


def test_a_damaged_kept_report_is_scanned_again_and_replaced(
    fs_env: dict[str, str], pushed: str
) -> None:
    first = scan(fs_env, pushed)
    (kept,) = kept_reports(fs_env)
    kept.write_text('{"SchemaVersion": 2, "Results": [')
    again = scan(fs_env, pushed)
    assert not again.reused and again.vulnerabilities == first.vulnerabilities
    assert json.loads(kept.read_text())["SchemaVersion"] == 2


def test_a_memory_backend_keeps_nothing(trivy_env: dict[str, str], pushed: str) -> None:
    assert trivy_env["TRIVY_CACHE_BACKEND"] == "memory"
    scanned = scan(trivy_env, pushed)
    assert not scanned.reused and kept_reports(trivy_env) == []


@pytest.mark.parametrize("xdg", [True, False], ids=["XDG_CACHE_HOME", "HOME"])
def test_the_default_cache_directory_is_where_real_trivy_finds_its_db(
    trivy_env: dict[str, str], tmp_path: Path, xdg: bool
) -> None:
    env = {k: v for k, v in trivy_env.items() if k not in ("TRIVY_CACHE_DIR", "XDG_CACHE_HOME")}
    env["HOME"] = str(tmp_path / "home")
    if xdg:
        env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    where = cache_directory(env)
    assert where is not None
    shutil.copytree(trivy_env["TRIVY_CACHE_DIR"], where)
    argv = ["trivy", "version", "--format", "json"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=True)
    told = json.loads(done.stdout)["VulnerabilityDB"]["UpdatedAt"]
    assert told == trivy_cache.read_state(where).updated_at == "2026-11-01T00:00:00Z"


def _metadata(cache: Path, next_update: datetime, downloaded: datetime) -> None:
    meta = json.loads((cache / "db" / "metadata.json").read_text())
    meta["NextUpdate"] = next_update.strftime("%Y-%m-%dT%H:%M:%SZ")
    meta["DownloadedAt"] = downloaded.strftime("%Y-%m-%dT%H:%M:%SZ")
    (cache / "db" / "metadata.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("next_update_h", "downloaded_h", "skip"),
    [(+24, -48, ""), (-1, -48, ""), (-1, -48, "true"), (-1, -48, "false"), (-1, -0.5, "")],
    ids=["fresh", "stale", "stale-skipped", "stale-skip-false", "stale-downloaded-just-now"],
)
def test_a_db_judged_settled_is_one_real_trivy_does_not_update(
    trivy_env: dict[str, str], tmp_path: Path, next_update_h: float, downloaded_h: float, skip: str
) -> None:
    """Sound, not exact: whenever the gate would reuse a report, Trivy would not touch the
    DB; Trivy's one-hour grace after a download is not counted on (the last case)."""
    cache = trivydb.build_trivy_cache(tmp_path / "cache")
    now = datetime.now(timezone.utc)
    _metadata(cache, now + timedelta(hours=next_update_h), now + timedelta(hours=downloaded_h))
    env = {k: v for k, v in trivy_env.items() if k not in ("TRIVY_SKIP_DB_UPDATE",)}
    env |= {"TRIVY_CACHE_DIR": str(cache), "TRIVY_DB_REPOSITORY": "127.0.0.1:9/trivy-db:2"}
    if skip:
        env["TRIVY_SKIP_DB_UPDATE"] = skip
    image = oci.build_image([oci.layer(rootfs.debian_rootfs(trivydb.VULNERABLE_DEBIAN_PACKAGES))])
    layout = oci.write_oci_layout(tmp_path / "image", image, "v1")
    argv = ["trivy", "image", "--format", "json", "--output", str(tmp_path / "r.json")]
    done = subprocess.run(
        [*argv, "--input", str(layout)], env=env, capture_output=True, text=True, timeout=120
    )
    updates = "download" in done.stderr.lower() and done.returncode != 0
    settled = trivy_cache.read_state(cache).settled(env, datetime.now(timezone.utc))
    if settled:
        assert done.returncode == 0 and not updates, done.stderr[-2000:]
    else:  # Trivy tries the (unreachable) repository, except within its grace hour
        assert updates == (downloaded_h <= -1), done.stderr[-2000:]
