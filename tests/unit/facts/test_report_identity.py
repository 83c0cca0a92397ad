"""Scanners get the chosen manifest, and a report counts only for the image it really read.

A scanner handed an index picks a child by its own rules (Trivy 0.76 takes linux/amd64 and
still names the index in ``RepoDigests``), so the identity that says what it read is the
config digest (Trivy ``Metadata.ImageID``, Grype ``source.target.imageID``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gate.errors import UsageError
from gate.model import ImageConfig, ScanReport, ScanTarget
from gate.oci.manifest import image_config
from gate.provenance import Judged, check_report_is_judged, config_from_reports
from gate.scanners.grype import Grype
from gate.scanners.grype import parse_report as parse_grype
from gate.scanners.trivy import Trivy
from gate.scanners.trivy import parse_report as parse_trivy
from tests.support.grype import grype_report
from tests.support.stubs import Stub, StubBin
from tests.unit.scanners.test_scanner_trivy import report as trivy_report

REPO = "registry.test/app"
INDEX, CHILD, OTHER = ("sha256:" + c * 64 for c in "123")
CONFIG, OTHER_CONFIG = ("sha256:" + c * 64 for c in "cd")
JUDGED = Judged(digest=INDEX, manifest=CHILD, config=CONFIG)
CHOSEN = ScanTarget("registry", f"{REPO}@{CHILD}", platform="linux/arm64/v8")


def scanned(*digests: str, image_id: str | None = None) -> ScanReport:
    return ScanReport("trivy", digests=tuple(f"{REPO}@{d}" for d in digests), image_id=image_id)


def test_a_report_of_the_index_counts_when_its_config_is_the_judged_one() -> None:
    check_report_is_judged(JUDGED, scanned(INDEX, image_id=CONFIG))


def test_a_report_naming_the_chosen_manifest_counts() -> None:
    check_report_is_judged(JUDGED, scanned(CHILD))
    check_report_is_judged(JUDGED, scanned(CHILD, image_id=CONFIG))


def test_a_report_of_the_index_that_read_another_child_is_refused() -> None:
    with pytest.raises(UsageError, match=f"for the image with config {OTHER_CONFIG}, not for"):
        check_report_is_judged(JUDGED, scanned(INDEX, image_id=OTHER_CONFIG))


def test_a_report_naming_only_the_index_cannot_say_which_child_it_read() -> None:
    with pytest.raises(UsageError, match="which of its images was scanned is unknown"):
        check_report_is_judged(JUDGED, scanned(INDEX))


def test_a_report_naming_nothing_cannot_be_tied() -> None:
    with pytest.raises(UsageError, match="names no image digest of the judged image"):
        check_report_is_judged(JUDGED, scanned())


def test_a_report_naming_another_manifest_is_refused_even_with_the_right_config() -> None:
    with pytest.raises(UsageError, match=f"is for {OTHER}, not for the judged image"):
        check_report_is_judged(JUDGED, scanned(CHILD, OTHER, image_id=CONFIG))


def test_both_parsers_read_the_config_digest_of_what_was_scanned(tmp_path: Path) -> None:
    trivy_doc = trivy_report()
    trivy_doc["Metadata"]["ImageID"] = CONFIG
    (tmp_path / "t.json").write_text(json.dumps(trivy_doc))
    assert parse_trivy(tmp_path / "t.json").image_id == CONFIG
    grype_doc = grype_report([])
    grype_doc["source"]["target"]["imageID"] = CONFIG
    (tmp_path / "g.json").write_text(json.dumps(grype_doc))
    assert parse_grype(tmp_path / "g.json").image_id == CONFIG
    grype_doc["source"]["target"]["imageID"] = "REDACTED"
    (tmp_path / "g.json").write_text(json.dumps(grype_doc))
    assert parse_grype(tmp_path / "g.json").image_id is None


@pytest.mark.parametrize("target", [CHOSEN, ScanTarget("registry", f"{REPO}@{CHILD}")])
def test_scanners_get_the_chosen_manifest_and_its_platform(
    tmp_path: Path, target: ScanTarget
) -> None:
    stubs = StubBin(tmp_path)
    trivy_argv, grype_argv = tmp_path / "trivy.json", tmp_path / "grype.json"
    trivy = stubs.install("trivy", Stub(report=json.dumps(trivy_report()), argv_file=trivy_argv))
    grype = stubs.install("grype", Stub(report=json.dumps(grype_report([])), argv_file=grype_argv))
    Trivy(executable=str(trivy)).scan(target, timeout=30)
    Grype(executable=str(grype)).scan(target, timeout=30)
    for argv in (json.loads(trivy_argv.read_text()), json.loads(grype_argv.read_text())):
        assert any(a.endswith(f"{REPO}@{CHILD}") for a in argv)
        if target.platform:
            assert argv[argv.index("--platform") + 1] == "linux/arm64/v8"
        else:
            assert "--platform" not in argv


@pytest.mark.parametrize("user", ["", "0", "app:app"])
def test_a_config_embedded_in_a_report_reads_as_the_images_own_config(user: str) -> None:
    raw = {"created": "2026-11-01T00:00:00Z", "config": {"User": user}}
    read = config_from_reports((ScanReport("grype", image_config=raw),))
    assert read == image_config(raw)
    assert isinstance(read, ImageConfig)
    assert read.user == (user or None)  # an empty User is no user (root), as in the image
