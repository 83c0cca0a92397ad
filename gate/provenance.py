"""Saved scanner reports: which image they are about, and what they say of it.

Pure: reports in, a subject, a config or a refusal out. A report handed to the gate must be
about the judged image, by what the scanner really read (its config digest), or, with no
IMAGE, the reports must agree among themselves on one image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gate.errors import UsageError
from gate.model import ImageConfig, ScanReport, Subject, Unavailable
from gate.oci.manifest import image_config
from gate.oci.reference import tag_of


def subject_from_reports(reports: tuple[ScanReport, ...]) -> Subject:
    """Name the image from saved reports (``--trivy-report`` without IMAGE)."""
    artifact = next((r.artifact for r in reports if r.artifact), "")
    pinned = next((d for r in reports for d in r.digests if "@" in d), "")
    repository, _, digest = pinned.rpartition("@")
    return Subject(
        reference=artifact or "(from report)",
        digest=digest or None,
        repository=repository or None,
        tag=tag_of(artifact) if artifact else None,
    )


@dataclass(frozen=True)
class Judged:
    """What a scanner report must be about: the judged image's identities.

    ``digest`` is what the reference resolved to (an index's, for a multi-platform image),
    ``manifest`` the image manifest judged (the chosen entry), ``config`` its config digest.
    """

    digest: str | None
    manifest: str | None
    config: str | None


def check_report_is_judged(judged: Judged, report: ScanReport) -> None:
    """A scanner report must be about the judged image, by what the scanner really read.

    The config digest a scanner reports (Trivy ``ImageID``, Grype ``imageID``) is the image
    it read, whatever reference it was given: it must be the judged config. Manifest
    digests it names may be the judged manifest or the index that lists it (Trivy names the
    reference it was given), nothing else. And one of the two must tie it to the judged
    image: an index digest alone does not say which of the index's images was scanned (a
    scanner picks its own child, by its own rules), and a report naming nothing (Trivy and
    Grype list no digest for an OCI layout or an archive) cannot be tied at all.
    """
    named = {d.rpartition("@")[2] for d in report.digests}
    judged_text = f"the judged image (manifest {judged.manifest or '-'}, config {judged.config})"
    if report.image_id and report.image_id != judged.config:
        raise UsageError(
            f"the {report.scanner} report is for the image with config {report.image_id}, "
            f"not for {judged_text}"
        )
    stray = sorted(named - {judged.manifest, judged.digest})
    if stray:
        raise UsageError(
            f"the {report.scanner} report is for {', '.join(stray)}, not for {judged_text}"
        )
    if report.image_id != judged.config and judged.manifest not in named:
        index = " (an index: which of its images was scanned is unknown)" if named else ""
        raise UsageError(
            f"the {report.scanner} report names no image digest of {judged_text}{index}, "
            f"so it cannot be tied to it; let the gate run "
            f"{report.scanner} on IMAGE, or judge the report alone (omit IMAGE)"
        )


def check_reports_agree(subject: Subject, reports: tuple[ScanReport, ...]) -> None:
    """Without IMAGE, the saved reports name the image: they must all name the same one."""
    configs = sorted({r.image_id for r in reports if r.image_id})
    if len(configs) > 1:
        raise UsageError(f"the reports are about different images (configs {', '.join(configs)})")
    for report in reports:
        digests = {d.rpartition("@")[2] for d in report.digests}
        if subject.digest and digests and subject.digest not in digests:
            raise UsageError(
                f"the {report.scanner} report is for {', '.join(sorted(digests))}, "
                f"not for the judged image {subject.digest}"
            )


def config_from_reports(reports: tuple[ScanReport, ...]) -> ImageConfig | Unavailable:
    """The image config a scanner embedded in its report (Trivy ImageConfig, Grype config),
    read as the image's own config is (``gate.oci.manifest.image_config``)."""
    for report in reports:
        if isinstance(report.image_config, Mapping):
            return image_config(report.image_config)
    return Unavailable("the reports carry no image config; pass IMAGE so it can be read")
