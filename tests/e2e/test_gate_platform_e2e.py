"""End to end: a two-platform index whose images differ, through the CLI and the real Trivy.

The linux/amd64 image has vulnerable packages, the linux/arm64 one has none. Whatever
``--platform`` asks for, the gate judges that image and Trivy scans exactly it: the JSON
report names the index (what the tag points to, what signatures are on), the chosen
manifest, and the config digest Trivy read (its ``ImageID``), which the gate ties to it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_gate
from tests.support.oci import (
    OCI_INDEX,
    BuiltImage,
    build_image,
    image_index,
    layer,
    push,
    push_manifest,
    sha256_digest,
)
from tests.support.rootfs import APP_PASSWD, debian_rootfs
from tests.support.trivydb import CLEAN_DEBIAN_PACKAGES, VULNERABLE_DEBIAN_PACKAGES

AMD = build_image([layer(debian_rootfs(VULNERABLE_DEBIAN_PACKAGES, passwd=APP_PASSWD))], user="app")
ARM = build_image(
    [layer(debian_rootfs(CLEAN_DEBIAN_PACKAGES, passwd=APP_PASSWD))],
    user="app",
    architecture="arm64",
)
INDEX = image_index([(AMD, "linux/amd64"), (ARM, "linux/arm64")])
POLICY = "version: 1\nvulnerabilities:\n  fail_on: high\n"


@pytest.fixture(scope="module")
def multi(registry) -> str:
    for image in (AMD, ARM):
        push(registry.host, "e2e/multi", image)
    push_manifest(registry.host, "e2e/multi", "v1", INDEX, OCI_INDEX)
    return f"{registry.host}/e2e/multi:v1"


def judge(reference: str, tmp_path: Path, env: dict[str, str], *extra: str) -> tuple[int, Any]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    out = tmp_path / "report.json"
    done = run_gate(
        "check", reference, "--policy", str(policy), "--report-json", str(out), *extra, env=env
    )
    assert "Traceback" not in done.stdout + done.stderr
    (tmp_path / "stdout").write_text(done.stdout)
    return done.returncode, json.loads(out.read_text()) if out.is_file() else done.stdout


@pytest.mark.parametrize(
    ("flags", "image", "code"),
    [
        ((), AMD, 1),
        (("--platform", "linux/x86_64"), AMD, 1),
        (("--platform", "linux/arm64"), ARM, 0),
        (("--platform", "linux/aarch64/v8"), ARM, 0),
    ],
    ids=["default amd64", "x86_64", "arm64", "aarch64/v8"],
)
def test_trivy_scans_the_child_the_gate_judges(
    multi: str,
    trivy_env: dict[str, str],
    tmp_path: Path,
    flags: tuple[str, ...],
    image: BuiltImage,
    code: int,
) -> None:
    returncode, report = judge(multi, tmp_path, trivy_env, *flags)
    assert returncode == code, report
    assert f"judged its image for --platform: {image.digest}" in (tmp_path / "stdout").read_text()
    assert report["image"]["digest"] == sha256_digest(INDEX)
    assert report["image"]["manifest_digest"] == image.digest
    assert report["tools"]["trivy"]["image_id"] == image.config_digest


def test_a_saved_report_of_the_index_counts_only_for_the_child_trivy_read(
    multi: str, trivy_env: dict[str, str], tmp_path: Path
) -> None:
    saved = tmp_path / "trivy.json"
    subprocess.run(
        ["trivy", "image", "--quiet", "--format", "json", "--output", str(saved), multi],
        env=trivy_env,
        check=True,
        timeout=120,
    )
    # Trivy names the index it was given, and reads the linux/amd64 child by its own default.
    metadata = json.loads(saved.read_text())["Metadata"]
    assert metadata["RepoDigests"] == [f"{multi.rsplit(':', 1)[0]}@{sha256_digest(INDEX)}"]
    assert metadata["ImageID"] == AMD.config_digest
    code, report = judge(multi, tmp_path, trivy_env, "--trivy-report", str(saved))
    assert code == 1 and report["image"]["manifest_digest"] == AMD.digest
    code, output = judge(
        multi,
        tmp_path / "arm",
        trivy_env,
        "--trivy-report",
        str(saved),
        "--platform",
        "linux/arm64",
    )
    assert code == 2
    assert "not for the judged image" in json.dumps(output)


def test_an_oci_layout_index_is_scanned_by_its_chosen_child(
    trivy_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "layout"
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    for data in [*AMD.blobs.values(), AMD.manifest, *ARM.blobs.values(), ARM.manifest, INDEX]:
        (blobs / sha256_digest(data).removeprefix("sha256:")).write_bytes(data)
    top = {"mediaType": OCI_INDEX, "digest": sha256_digest(INDEX), "size": len(INDEX)}
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    for platform, image, code in (("linux/amd64", AMD, 1), ("linux/arm64", ARM, 0)):
        work = tmp_path / platform.replace("/", "-")
        returncode, report = judge(f"oci:{root}", work, trivy_env, "--platform", platform)
        assert returncode == code, report
        assert report["image"]["manifest_digest"] == image.digest
        assert report["tools"]["trivy"]["image_id"] == image.config_digest
