"""End to end: build, then gate before pushing: ``python -m gate check docker-daemon:NAME``.

The engine is a real Engine API (Podman's service, the ``podman`` fixture), the images are
built here and loaded into it, and the scanner is the real Trivy. A thin wrapper in front of
Trivy keeps a copy of the report Trivy wrote, so the tests can see *what* it scanned: the
one export the gate made, never a second lookup of NAME.
"""

from __future__ import annotations

import json
import shutil
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_gate
from tests.support.oci import BuiltImage, build_image, layer, write_docker_archive
from tests.support.podman import RunningPodman
from tests.support.rootfs import APP_PASSWD, ROOT_PASSWD, debian_rootfs
from tests.support.trivydb import CLEAN_DEBIAN_PACKAGES, VULNERABLE_DEBIAN_PACKAGES

VULNERABLE = build_image(
    [layer(debian_rootfs(VULNERABLE_DEBIAN_PACKAGES, passwd=APP_PASSWD))], user="app"
)
CLEAN = build_image([layer(debian_rootfs(CLEAN_DEBIAN_PACKAGES, passwd=APP_PASSWD))], user="app")
AS_ROOT = build_image([layer(debian_rootfs(CLEAN_DEBIAN_PACKAGES, passwd=ROOT_PASSWD))])
IMAGES = {"vulnerable": VULNERABLE, "clean": CLEAN, "root": AS_ROOT}

_OBSERVER = """#!{python}
import shutil, subprocess, sys
argv = sys.argv[1:]
code = subprocess.run([{real!r}, *argv]).returncode
shutil.copy(argv[argv.index("--output") + 1], {copy!r})
sys.exit(code)
"""


@pytest.fixture(scope="module")
def loaded(podman: RunningPodman, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Every test image in the engine as ``localhost/e2e/<name>:1``; returns its DOCKER_HOST."""
    directory = tmp_path_factory.mktemp("daemon-e2e")
    for name, image in IMAGES.items():
        podman.load(
            write_docker_archive(directory / f"{name}.tar", image, f"localhost/e2e/{name}:1")
        )
    return podman.docker_host


def environment(trivy_env: dict[str, str], docker_host: str, tmp_path: Path) -> dict[str, str]:
    """Trivy's offline environment, the engine, and a private TMPDIR to check for leftovers."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return trivy_env | {"DOCKER_HOST": docker_host, "TMPDIR": str(tmp)}


def observe_trivy(env: dict[str, str], tmp_path: Path) -> Path:
    """Put a Trivy in front of the real one that copies its report; returns the copy's path."""
    real = shutil.which("trivy", path=env["PATH"])
    assert real is not None
    copy = tmp_path / "trivy-report.json"
    bin_dir = tmp_path / "observer"
    bin_dir.mkdir()
    script = bin_dir / "trivy"
    script.write_text(_OBSERVER.format(python=sys.executable, real=real, copy=str(copy)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    return copy


def policy(tmp_path: Path, body: str) -> str:
    path = tmp_path / "policy.yml"
    path.write_text("version: 1\n" + body, encoding="utf-8")
    return str(path)


def check(env: dict[str, str], tmp_path: Path, image: str, body: str) -> tuple[int, str, Any]:
    report = tmp_path / "report.json"
    done = run_gate(
        "check", image, "--policy", policy(tmp_path, body), "--report-json", str(report), env=env
    )
    data = json.loads(report.read_text()) if report.exists() else None
    return done.returncode, done.stdout + done.stderr, data


def test_a_vulnerable_local_image_fails_on_its_cve_and_trivy_scanned_the_one_export(
    loaded, trivy_env, tmp_path
):
    env = environment(trivy_env, loaded, tmp_path)
    scanned = observe_trivy(env, tmp_path)
    code, output, data = check(
        env,
        tmp_path,
        "docker-daemon:localhost/e2e/vulnerable:1",
        "vulnerabilities:\n  fail_on: high\n",
    )
    assert code == 1, output
    assert "CVE-2026-0002" in output and "zlib1g" in output
    assert data["image"]["digest"] == VULNERABLE.config_digest
    trivy = json.loads(scanned.read_text())
    assert trivy["Metadata"]["ImageID"] == VULNERABLE.config_digest
    artifact = Path(trivy["ArtifactName"])
    assert artifact.name == "image.tar" and artifact.parent.name.startswith(
        "container-gate-daemon-"
    )
    assert artifact.is_relative_to(env["TMPDIR"])
    assert list(Path(env["TMPDIR"]).iterdir()) == [], "the export outlived the run"


def test_a_clean_local_image_passes(loaded, trivy_env, tmp_path):
    env = environment(trivy_env, loaded, tmp_path)
    body = "vulnerabilities:\n  fail_on: high\nimage:\n  non_root: true\n"
    code, output, data = check(env, tmp_path, "docker-daemon:localhost/e2e/clean:1", body)
    assert code == 0, output
    assert output.startswith("PASS") and data["verdict"] == "pass"
    assert data["image"]["digest"] == CLEAN.config_digest


def test_a_local_image_running_as_root_fails_non_root(loaded, trivy_env, tmp_path):
    env = environment(trivy_env, loaded, tmp_path)
    code, output, data = check(
        env, tmp_path, "docker-daemon:localhost/e2e/root:1", "image:\n  non_root: true\n"
    )
    assert code == 1, output
    (result,) = data["checks"]
    assert result["id"] == "non-root" and result["status"] == "fail"


@pytest.mark.parametrize("image", [VULNERABLE, CLEAN])
def test_the_daemon_image_and_its_docker_save_archive_are_the_same_digest(
    image: BuiltImage, loaded, trivy_env, tmp_path
):
    env = environment(trivy_env, loaded, tmp_path)
    archive = write_docker_archive(tmp_path / "saved.tar", image, "app:1")
    body = "image:\n  non_root: true\n"
    _, _, by_engine = check(env, tmp_path, f"docker-daemon:{image.config_digest}", body)
    _, _, by_file = check(env, tmp_path, f"docker-archive:{archive}", body)
    assert by_engine["image"]["digest"] == by_file["image"]["digest"] == image.config_digest


def test_an_unknown_local_image_is_an_error_naming_it(loaded, trivy_env, tmp_path):
    env = environment(trivy_env, loaded, tmp_path)
    code, output, _ = check(
        env, tmp_path, "docker-daemon:localhost/e2e/absent:1", "image:\n  non_root: true\n"
    )
    assert code == 2, output
    assert "'localhost/e2e/absent:1' not found" in output and "DOCKER_HOST" in output
    assert "Traceback" not in output


def test_no_engine_is_an_error_naming_docker_host(trivy_env, tmp_path):
    env = environment(trivy_env, f"unix://{tmp_path}/no-engine.sock", tmp_path)
    code, output, _ = check(
        env, tmp_path, "docker-daemon:localhost/e2e/clean:1", "image:\n  non_root: true\n"
    )
    assert code == 2, output
    assert f"cannot reach the engine at DOCKER_HOST=unix://{tmp_path}/no-engine.sock" in output
