"""End to end: how ``gate check`` shares Trivy's layer analyses, with the real CLI and Trivy.

Several images judged at once go through one local ``trivy server`` that keeps its
analyses in the user's cache directory; one image at a time uses that cache directly;
and the verdicts are those of Trivy run alone with no cache at all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.support.cli import run_gate
from tests.support.oci import build_image, layer, push
from tests.support.registry import RunningRegistry
from tests.support.rootfs import APP_PASSWD, debian_rootfs
from tests.support.trivydb import EXPECTED_DEBIAN_FINDINGS, VULNERABLE_DEBIAN_PACKAGES
from tests.support.trivyserver import RunningTrivyServer

POLICY = "version: 1\nvulnerabilities:\n  fail_on: high\n"


@pytest.fixture(scope="module")
def images(registry: RunningRegistry) -> list[str]:
    """Three images on one base layer, each with its own small top layer."""
    base = layer(debian_rootfs(VULNERABLE_DEBIAN_PACKAGES, passwd=APP_PASSWD))
    refs = []
    for name in ("one", "two", "three"):
        top = layer({f"app/{name}.txt": name.encode()})
        digest = push(registry.host, f"e2e/shared-{name}", build_image([base, top], user="app"))
        refs.append(f"{registry.host}/e2e/shared-{name}@{digest}")
    return refs


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yml"
    path.write_text(POLICY)
    return path


def own_cache(trivy_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The tests' environment with Trivy's default fs cache in a directory of this test."""
    cache = tmp_path / "trivy-cache"
    shutil.copytree(trivy_env["TRIVY_CACHE_DIR"], cache)
    env = {k: v for k, v in trivy_env.items() if k != "TRIVY_CACHE_BACKEND"}
    env["TRIVY_CACHE_DIR"] = str(cache)
    return env


def findings(report: Path) -> list[set[tuple[str, str]]]:
    """Per image, the (id, package) of every failing finding in the JSON report."""
    data = json.loads(report.read_text())
    return [
        {
            (f["id"], f["package"])
            for check in image["checks"]
            if check["id"] == "vulnerabilities"
            for f in check["findings"]
        }
        for image in data["images"]
    ]


def processes_using(path: str) -> list[int]:
    """Processes of ours whose environment names ``path`` (a Trivy the gate left behind)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if path.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_images_judged_at_once_share_one_local_server_and_its_cache_outlives_the_run(
    images: list[str], trivy_env: dict[str, str], tmp_path: Path, policy: Path
) -> None:
    env = own_cache(trivy_env, tmp_path)
    shared, alone = tmp_path / "shared.json", tmp_path / "alone.json"
    args = ("check", *images, "--policy", str(policy), "--parallel", "2")

    done = run_gate(*args, "--report-json", str(shared), env=env)

    assert done.returncode == 1, done.stderr
    assert (Path(env["TRIVY_CACHE_DIR"]) / "fanal" / "fanal.db").is_file()
    assert processes_using(env["TRIVY_CACHE_DIR"]) == []
    reference = run_gate(*args, "--report-json", str(alone), env=trivy_env)  # memory cache
    assert reference.returncode == 1, reference.stderr
    expected = {(i, p) for i, p, s in EXPECTED_DEBIAN_FINDINGS if s in ("HIGH", "CRITICAL")}
    expected.add(("CVE-2026-0005", "tar"))  # UNKNOWN, judged as high
    assert findings(shared) == findings(alone) == [expected] * 3
    again = run_gate(*args, "--report-json", str(shared), env=env)  # warm: analyses reused
    assert again.returncode == 1 and findings(shared) == [expected] * 3


def test_one_image_uses_the_user_s_cache_directly_without_a_server(
    images: list[str], trivy_env: dict[str, str], tmp_path: Path, policy: Path
) -> None:
    env = own_cache(trivy_env, tmp_path)
    done = run_gate("check", images[0], "--policy", str(policy), env=env)
    assert done.returncode == 1, done.stderr
    assert (Path(env["TRIVY_CACHE_DIR"]) / "fanal" / "fanal.db").is_file()


def test_the_policy_names_the_server_and_the_variable_holding_its_token(
    images: list[str],
    trivy_env: dict[str, str],
    trivy_server: RunningTrivyServer,
    policy: Path,
) -> None:
    policy.write_text(
        POLICY + f"trivy:\n  server: {trivy_server.url}\n  token_env: ORG_TRIVY_TOKEN\n"
    )
    env = {**trivy_env, "ORG_TRIVY_TOKEN": trivy_server.token}
    done = run_gate("check", images[0], "--policy", str(policy), env=env)
    assert done.returncode == 1, done.stderr
    assert f"client of the Trivy server at {trivy_server.url}" in done.stdout
    assert trivy_server.token not in done.stdout + done.stderr
    env.pop("ORG_TRIVY_TOKEN")
    refused = run_gate("check", images[0], "--policy", str(policy), env=env)
    assert refused.returncode == 2, refused.stdout


def test_in_github_actions_the_local_server_s_token_is_masked(
    images: list[str], trivy_env: dict[str, str], tmp_path: Path, policy: Path
) -> None:
    env = {**own_cache(trivy_env, tmp_path), "GITHUB_ACTIONS": "true"}
    env["GITHUB_STEP_SUMMARY"] = str(tmp_path / "summary.md")
    env["GITHUB_OUTPUT"] = str(tmp_path / "output")
    done = run_gate("check", *images[:2], "--policy", str(policy), env=env)
    assert done.returncode == 1, done.stderr
    masks = [line for line in done.stdout.splitlines() if line.startswith("::add-mask::")]
    # The token is masked raw and in the encoded forms the scrubber knows (hex, base64).
    raw = [m for m in masks if re.fullmatch(r"::add-mask::[A-Za-z0-9_-]{43}", m)]
    assert len(raw) == 1 and len(masks) >= 2
    token = raw[0].removeprefix("::add-mask::")
    unmasked = "\n".join(line for line in done.stdout.splitlines() if line not in masks)
    assert token not in unmasked + done.stderr
    assert os.environ.get("TRIVY_TOKEN") != token


def test_a_cache_backend_you_set_is_used_and_no_server_is_started(
    images: list[str], trivy_env: dict[str, str], tmp_path: Path, policy: Path
) -> None:
    """``TRIVY_CACHE_BACKEND=memory`` (set by the tests' environment) is the user's choice."""
    real = shutil.which("trivy", path=trivy_env["PATH"])
    assert real is not None
    log = tmp_path / "calls"
    wrapper = tmp_path / "bin" / "trivy"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$1" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    env = {**trivy_env, "PATH": f"{wrapper.parent}{os.pathsep}{trivy_env['PATH']}"}
    done = run_gate("check", *images[:2], "--policy", str(policy), "--parallel", "2", env=env)
    assert done.returncode == 1, done.stderr
    assert [c for c in log.read_text().split() if c != "version"] == ["image", "image"]
    env = {**own_cache(trivy_env, tmp_path), "PATH": env["PATH"]}  # no backend set
    log.unlink()
    done = run_gate("check", *images[:2], "--policy", str(policy), "--parallel", "2", env=env)
    assert done.returncode == 1, done.stderr
    calls = [c for c in log.read_text().split() if c != "version"]  # the DB age query
    assert sorted(calls) == ["image", "image", "server"]


def reused(report: Path) -> list[bool]:
    """Per image, whether Trivy's report was a kept one (``tools.trivy.reused``)."""
    return [
        bool(i["tools"]["trivy"].get("reused")) for i in json.loads(report.read_text())["images"]
    ]


def test_a_second_run_reuses_each_image_s_report_and_rescan_scans_again(
    images: list[str], trivy_env: dict[str, str], tmp_path: Path, policy: Path
) -> None:
    env = own_cache(trivy_env, tmp_path)
    report = tmp_path / "report.json"
    args = ("check", *images, "--policy", str(policy), "--report-json", str(report))

    first = run_gate(*args, env=env)
    assert first.returncode == 1, first.stderr
    assert reused(report) == [False] * 3
    verdict = findings(report)

    second = run_gate(*args, env=env)
    assert second.returncode == 1, second.stderr
    assert reused(report) == [True] * 3 and findings(report) == verdict
    said = "trivy: report of an earlier scan of this digest reused"
    assert second.stdout.count(said) == 3 and said not in first.stdout

    rescan = run_gate(*args, "--rescan", env=env)
    assert rescan.returncode == 1, rescan.stderr
    assert reused(report) == [False] * 3 and findings(report) == verdict


def test_an_organisation_s_server_keeps_no_report(
    images: list[str],
    trivy_env: dict[str, str],
    trivy_server: RunningTrivyServer,
    tmp_path: Path,
    policy: Path,
) -> None:
    env = {**own_cache(trivy_env, tmp_path), "TRIVY_TOKEN": trivy_server.token}
    report = tmp_path / "report.json"
    args = ("check", images[0], "--policy", str(policy), "--report-json", str(report))
    for _ in range(2):
        done = run_gate(*args, "--trivy-server", trivy_server.url, env=env)
        assert done.returncode == 1, done.stderr
        assert reused(report) == [False]
    assert not (Path(env["TRIVY_CACHE_DIR"]) / "fanal" / "container-gate").exists()
