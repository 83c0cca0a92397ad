"""Fault matrix, platforms: an index whose image cannot be known, or a report of another image.

The image judged from an index is the entry containerd would run on ``--platform``
(``gate.oci.platforms``). Where that is not one certain image the gate refuses, and a
scanner report about any other image than the judged one (a scanner that resolved the
index by its own rules) is an error, never a pass. Real registry; the scanner is a stub
writing what Trivy 0.76 writes when handed the index instead of the chosen manifest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import Outcome, Row, base_env, check_row, run_cli, write_policy
from tests.support import oci
from tests.support.grype import grype_report
from tests.support.registry import RunningRegistry
from tests.support.stubs import Stub, StubBin
from tests.unit.scanners.test_scanner_trivy import report as trivy_report

REPO = "faults/platforms"
AMD = oci.build_image([oci.layer({"app/amd": b"1"})], user="1000")
ARM = oci.build_image([oci.layer({"app/arm": b"2"})], user="1000", architecture="arm64")
AMD_TWIN = oci.build_image([oci.layer({"app/amd": b"3"})], user="1000")
ATTESTATION = {"vnd.docker.reference.type": "attestation-manifest"}
POLICY = "image:\n  non_root: true\n"
TRIVY_POLICY = "vulnerabilities:\n  fail_on: high\n"


@dataclass(frozen=True)
class Index:
    reference: str
    repository: str
    digest: str


def descriptor(image: oci.BuiltImage, platform: dict[str, str] | None, **extra: Any) -> Any:
    out: dict[str, Any] = {
        "mediaType": image.media_type,
        "digest": image.digest,
        "size": len(image.manifest),
    }
    if platform is not None:
        out["platform"] = platform
    return out | extra


def push_index(registry: RunningRegistry, tag: str, entries: list[Any]) -> Index:
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": entries}
    ).encode()
    digest = oci.push_manifest(registry.host, REPO, tag, body, oci.OCI_INDEX)
    repository = f"{registry.host}/{REPO}"
    return Index(f"{repository}:{tag}", repository, digest)


@pytest.fixture(scope="module")
def pushed(registry: RunningRegistry) -> RunningRegistry:
    for image in (AMD, ARM, AMD_TWIN):
        oci.push(registry.host, REPO, image)
    return registry


AMD64 = {"os": "linux", "architecture": "amd64"}
ARM64 = {"os": "linux", "architecture": "arm64"}

INDEXES: list[tuple[Row, list[Any], str]] = [
    (
        Row("two different images for linux/amd64", 2, "2 different images match linux/amd64"),
        [descriptor(AMD, AMD64), descriptor(AMD_TWIN, {**AMD64, "architecture": "x86_64"})],
        "linux/amd64",
    ),
    (
        Row("no match, one entry without platform", 2, "declares no platform"),
        [descriptor(ARM, ARM64), descriptor(AMD, None)],
        "linux/amd64",
    ),
    (
        Row("an entry with a platform but no OS", 2, "without an OS"),
        [descriptor(AMD, {"architecture": "amd64"})],
        "linux/amd64",
    ),
    (
        Row("the matching entry is an attestation", 2, "is an attestation manifest"),
        [descriptor(AMD, AMD64, annotations=ATTESTATION)],
        "linux/amd64",
    ),
    (
        Row("no image for the platform", 2, "has no linux/s390x image"),
        [descriptor(AMD, AMD64), descriptor(ARM, ARM64)],
        "linux/s390x",
    ),
    (
        Row("--platform names only an architecture", 2, "names only an OS or only an arch"),
        [descriptor(AMD, AMD64)],
        "arm64",
    ),
    (
        Row("--platform is junk", 2, "invalid platform"),
        [descriptor(AMD, AMD64)],
        "linux/amd64/v3/x",
    ),
]


@pytest.mark.parametrize(("row", "entries", "platform"), INDEXES, ids=[str(r[0]) for r in INDEXES])
def test_an_index_whose_image_cannot_be_known_is_refused(
    row: Row, entries: list[Any], platform: str, pushed: RunningRegistry, tmp_path: Path
) -> None:
    index = push_index(pushed, "t" + hashlib.sha256(row.fault.encode()).hexdigest()[:12], entries)
    policy = write_policy(tmp_path, POLICY)
    env = base_env("", tmp_path)
    outcome = run_cli("check", index.reference, "--policy", policy, "--platform", platform, env=env)
    check_row(outcome, row)


def _trivy_of_the_index(index: Index, scanned: oci.BuiltImage) -> str:
    """What Trivy writes when given ``repo@<index>``: the index named, its own child read."""
    doc = trivy_report([])
    doc["ArtifactName"] = f"{index.repository}@{index.digest}"
    doc["Metadata"]["RepoDigests"] = [f"{index.repository}@{index.digest}"]
    doc["Metadata"]["ImageID"] = scanned.config_digest
    return json.dumps(doc)


def _grype_of_the_index(index: Index, scanned: oci.BuiltImage) -> str:
    """What Grype (stereoscope) writes when given ``registry:repo@<index>``."""
    named = f"{index.repository}@{index.digest}"
    doc = grype_report([], user_input=named, repo_digests=(named,))
    doc["source"]["target"]["manifestDigest"] = scanned.digest
    doc["source"]["target"]["imageID"] = scanned.config_digest
    return json.dumps(doc)


def _gate(
    index: Index, tmp_path: Path, stub: Stub | None, *extra: str, scanner: str = "trivy"
) -> Outcome:
    bin_dir = StubBin(tmp_path / "bin")
    if stub is not None:
        bin_dir.install(scanner, stub)
    policy = write_policy(tmp_path, TRIVY_POLICY + f"  scanners: [{scanner}]\n")
    env = base_env(bin_dir.path_alone(), tmp_path)
    return run_cli("check", index.reference, "--policy", policy, *extra, env=env)


def test_a_scanner_that_read_another_child_of_the_index_is_an_error(
    pushed: RunningRegistry, tmp_path: Path
) -> None:
    index = push_index(pushed, "two", [descriptor(AMD, AMD64), descriptor(ARM, ARM64)])
    stub = Stub(report=_trivy_of_the_index(index, AMD))
    outcome = _gate(index, tmp_path, stub, "--platform", "linux/arm64")
    check_row(outcome, Row("trivy read linux/amd64, arm64 judged", 2, "scanned the wrong image"))
    assert ARM.config_digest in outcome.output and AMD.config_digest in outcome.output


def test_grype_that_read_another_child_of_the_index_is_an_error(
    pushed: RunningRegistry, tmp_path: Path
) -> None:
    index = push_index(pushed, "two", [descriptor(AMD, AMD64), descriptor(ARM, ARM64)])
    stub = Stub(report=_grype_of_the_index(index, ARM))
    outcome = _gate(index, tmp_path, stub, scanner="grype")
    check_row(outcome, Row("grype read linux/arm64, amd64 judged", 2, "scanned the wrong image"))


def test_a_saved_report_of_the_index_for_another_child_is_an_error(
    pushed: RunningRegistry, tmp_path: Path
) -> None:
    index = push_index(pushed, "two", [descriptor(AMD, AMD64), descriptor(ARM, ARM64)])
    saved = tmp_path / "trivy.json"
    saved.write_text(_trivy_of_the_index(index, AMD))
    outcome = _gate(
        index, tmp_path, None, "--platform", "linux/arm64", "--trivy-report", str(saved)
    )
    check_row(outcome, Row("saved report read amd64, arm64 judged", 2, "not for the judged image"))


def test_a_report_naming_only_the_index_cannot_be_tied_to_the_child(
    pushed: RunningRegistry, tmp_path: Path
) -> None:
    index = push_index(pushed, "two", [descriptor(AMD, AMD64), descriptor(ARM, ARM64)])
    doc = json.loads(_trivy_of_the_index(index, AMD))
    del doc["Metadata"]["ImageID"]
    saved = tmp_path / "trivy.json"
    saved.write_text(json.dumps(doc))
    outcome = _gate(index, tmp_path, None, "--trivy-report", str(saved))
    check_row(outcome, Row("report names the index only", 2, "which of its images was scanned"))
