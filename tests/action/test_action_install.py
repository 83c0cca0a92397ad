"""scripts/install-scanners.sh, offline: assets come from a local directory, sums are enforced.

The script is run for real (bash, tar, sha256sum). ``CONTAINER_GATE_DOWNLOAD_BASE`` points it at
a local directory instead of GitHub; the checksum recorded in the repository is enforced all
the same, which is exactly what these tests prove.
"""

from __future__ import annotations

import hashlib
import io
import platform
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
SCRIPT = ROOT / "scripts" / "install-scanners.sh"
CHECKSUMS = ROOT / "scripts" / "scanner-checksums.txt"
PLATFORM = {"x86_64": "linux-amd64", "aarch64": "linux-arm64"}.get(platform.machine())

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or PLATFORM is None, reason="checksums cover Linux amd64/arm64"
)


def tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def recorded_asset(tool: str) -> tuple[str, str, str]:
    """(version, asset, sha256) of the tool's pinned default on this platform."""
    for line in CHECKSUMS.read_text().splitlines():
        fields = line.split()
        if len(fields) == 5 and fields[0] == tool and fields[2] == PLATFORM:
            return fields[1], fields[3], fields[4]
    raise AssertionError(f"no recorded {tool} for {PLATFORM}")


def install(
    *tools: str, script: Path = SCRIPT, assets: Path | str, dest: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *tools],
        env={
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "INSTALL_DIR": str(dest),
            "CONTAINER_GATE_DOWNLOAD_BASE": str(assets),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


FAKE_TRIVY = b"#!/bin/sh\necho 'Version: fake'\n"


def test_a_checksum_mismatch_aborts_and_installs_nothing(tmp_path: Path) -> None:
    _, asset, _ = recorded_asset("trivy")
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / asset).write_bytes(tarball({"trivy": FAKE_TRIVY}))  # not the real release

    result = install("trivy", assets=assets, dest=tmp_path / "bin")

    assert result.returncode != 0
    assert f"checksum mismatch for {asset}" in result.stderr
    assert "refusing to install" in result.stderr
    assert not (tmp_path / "bin" / "trivy").exists()


def test_a_file_url_base_is_verified_the_same_way(tmp_path: Path) -> None:
    _, asset, _ = recorded_asset("grype")
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / asset).write_bytes(tarball({"grype": b"#!/bin/sh\n"}))
    result = install("grype", assets=f"file://{assets}", dest=tmp_path / "bin")
    assert result.returncode != 0 and "checksum mismatch" in result.stderr


def with_own_checksums(tmp_path: Path, lines: list[str]) -> Path:
    """A copy of the script next to a checksum file of our own (the script reads its sibling)."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    shutil.copy(SCRIPT, scripts / SCRIPT.name)
    (scripts / CHECKSUMS.name).write_text("\n".join(lines) + "\n")
    return scripts / SCRIPT.name


def test_a_matching_checksum_installs_only_the_binary(tmp_path: Path) -> None:
    data = tarball({"trivy": FAKE_TRIVY, "README.md": b"docs", "contrib/x.tpl": b"tpl"})
    asset = "trivy_9.9.9_Linux-64bit.tar.gz"
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / asset).write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    script = with_own_checksums(tmp_path, [f"trivy 9.9.9 {PLATFORM} {asset} {digest}"])

    result = install("trivy=9.9.9", script=script, assets=assets, dest=tmp_path / "bin")

    assert result.returncode == 0, result.stderr
    assert f"verified sha256 {digest}" in result.stdout
    assert sorted(p.name for p in (tmp_path / "bin").iterdir()) == ["trivy"]
    ran = subprocess.run([tmp_path / "bin" / "trivy"], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "Version: fake"


def test_an_unrecorded_version_is_refused_before_any_download(tmp_path: Path) -> None:
    result = install("trivy=0.0.1", assets=tmp_path / "nowhere", dest=tmp_path / "bin")
    assert result.returncode != 0
    assert "no recorded checksum for trivy 0.0.1" in result.stderr


def test_an_archive_without_the_binary_at_its_root_is_refused(tmp_path: Path) -> None:
    data = tarball({"nested/trivy": FAKE_TRIVY})
    asset = "trivy_9.9.9_Linux-64bit.tar.gz"
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / asset).write_bytes(data)
    script = with_own_checksums(
        tmp_path, [f"trivy 9.9.9 {PLATFORM} {asset} {hashlib.sha256(data).hexdigest()}"]
    )
    result = install("trivy=9.9.9", script=script, assets=assets, dest=tmp_path / "bin")
    assert result.returncode != 0
    assert not (tmp_path / "bin" / "trivy").exists()


def test_a_malformed_recorded_checksum_is_refused(tmp_path: Path) -> None:
    asset = "trivy_9.9.9_Linux-64bit.tar.gz"
    script = with_own_checksums(tmp_path, [f"trivy 9.9.9 {PLATFORM} {asset} not-a-sha"])
    result = install("trivy=9.9.9", script=script, assets=tmp_path, dest=tmp_path / "bin")
    assert result.returncode != 0 and "malformed checksum" in result.stderr
