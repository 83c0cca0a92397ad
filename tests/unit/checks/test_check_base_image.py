"""base-digest and base-allowed, judged from Dockerfile bases or manifest annotations."""

from __future__ import annotations

from gate.checks.base_image import BaseAllowedCheck, BaseDigestCheck
from gate.checks.interface import Check
from gate.core import evaluate
from gate.dockerfile import parse_dockerfile
from gate.model import (
    BaseImage,
    CheckResult,
    Facts,
    Location,
    ManifestFacts,
    Need,
    Status,
    Unavailable,
)
from gate.policy.model import BaseImagePolicy, Policy
from tests.support.facts import NOW, SUBJECT

DIGEST = "sha256:" + "cd" * 32
PIN = Policy("test", base_image=BaseImagePolicy(require_digest=True))
ALLOWED = ("docker.io/library/debian", "gcr.io/distroless/*")
ALLOW = Policy("test", base_image=BaseImagePolicy(require_digest=False, allowed=ALLOWED))
MULTI = (
    "FROM golang:1.22 AS build\n"
    "RUN go build -o /app\n"
    f"FROM gcr.io/distroless/static-debian12@{DIGEST}\n"
    "COPY --from=build /app /app\n"
    "COPY --from=alpine:3.19 /bin/busybox /busybox\n"
)


def facts(
    bases: tuple[BaseImage, ...] | Unavailable | None = None,
    annotations: dict[str, str] | None = None,
    manifest: ManifestFacts | Unavailable | None = None,
) -> Facts:
    if manifest is None and annotations is not None:
        manifest = ManifestFacts(layer_sizes=(1,), annotations=annotations)
    return Facts(SUBJECT, NOW, base_images=bases, manifest=manifest)


def annotated(name: str, digest: str | None = None) -> Facts:
    """No Dockerfile: the base is named by the manifest's OCI base-image annotations."""
    annotations = {"org.opencontainers.image.base.name": name}
    if digest is not None:
        annotations["org.opencontainers.image.base.digest"] = digest
    return facts(annotations=annotations)


def judge(policy: Policy, the_facts: Facts) -> list[CheckResult]:
    checks: list[Check] = [BaseDigestCheck(), BaseAllowedCheck()]
    return list(evaluate(policy, the_facts, checks=checks).checks)


def test_needs_follow_the_policy():
    assert BaseDigestCheck().needs(Policy("test")) is None
    assert BaseAllowedCheck().needs(PIN) is None
    assert BaseDigestCheck().needs(ALLOW) is None
    assert BaseDigestCheck().needs(PIN) == frozenset({Need.BASE_IMAGES, Need.MANIFEST})
    assert BaseAllowedCheck().needs(ALLOW) == frozenset({Need.BASE_IMAGES, Need.MANIFEST})


def test_pinned_single_stage_passes():
    [result] = judge(PIN, facts(parse_dockerfile(f"FROM debian:12@{DIGEST}\n")))
    assert result.id == "base-digest"
    assert result.status is Status.PASS
    assert result.evidence["source"] == "dockerfile"


def test_unpinned_single_stage_fails_citing_file_line_and_text():
    [result] = judge(PIN, facts(parse_dockerfile("# base\nFROM debian:12\n", name="Dockerfile")))
    assert result.status is Status.FAIL
    [problem] = result.findings
    assert problem.rule == "unpinned-base"
    assert problem.location == Location("Dockerfile", 2)
    # The place is the location's, shown once by every report: not repeated in the message.
    assert problem.message == "debian:12 is not pinned @sha256:<64 hex>: FROM debian:12"
    assert problem.data["repository"] == "docker.io/library/debian"


def test_multi_stage_reports_only_unpinned_external_images():
    [result] = judge(PIN, facts(parse_dockerfile(MULTI)))
    assert result.status is Status.FAIL
    assert [(p.location.line if p.location else None) for p in result.findings] == [1, 5]
    assert result.summary == "2 base images of 3 not pinned by digest"


def test_arg_pinned_by_build_arg_passes():
    text = "ARG BASE=debian:12\nFROM $BASE\n"
    unpinned = judge(PIN, facts(parse_dockerfile(text)))[0]
    pinned = judge(PIN, facts(parse_dockerfile(text, build_args={"BASE": f"debian@{DIGEST}"})))[0]
    assert (unpinned.status, pinned.status) == (Status.FAIL, Status.PASS)


def test_sha512_is_not_the_required_pin():
    base = BaseImage(
        "debian@sha512:" + "a" * 128, "docker.io/library/debian", "sha512:" + "a" * 128
    )
    assert judge(PIN, facts((base,)))[0].status is Status.FAIL


def test_scratch_only_has_nothing_to_pin():
    [result] = judge(PIN, facts(parse_dockerfile("FROM scratch\nCOPY app /app\n")))
    assert result.status is Status.PASS
    assert "scratch" in result.summary


def test_without_a_dockerfile_the_annotations_decide():
    [result] = judge(PIN, annotated("docker.io/library/debian:12", DIGEST))
    assert result.status is Status.PASS
    assert result.evidence["source"] == "annotations"

    [result] = judge(PIN, annotated("debian:12"))
    assert result.status is Status.FAIL
    assert result.findings[0].message.startswith("manifest annotation: debian:12 is not pinned")


def test_without_dockerfile_or_annotations_the_base_is_unknown():
    for the_facts in (facts(annotations={}), facts()):
        results = judge(Policy("test", base_image=BaseImagePolicy(allowed=ALLOWED)), the_facts)
        assert [(r.id, r.status, r.summary) for r in results] == [
            ("base-digest", Status.FAIL, "cannot determine the base image; pass --dockerfile"),
            ("base-allowed", Status.FAIL, "cannot determine the base image; pass --dockerfile"),
        ]


def test_unreadable_dockerfile_is_an_error_not_a_fallback():
    broken = facts(Unavailable("Dockerfile:3: FROM uses ARG BASE, which has no value"), {})
    [result] = judge(PIN, broken)
    assert (result.status, result.summary) == (
        Status.ERROR,
        "Dockerfile:3: FROM uses ARG BASE, which has no value",
    )


def test_unreadable_manifest_is_an_error():
    [result] = judge(PIN, facts(manifest=Unavailable("registry returned 503")))
    assert result.status is Status.ERROR


def test_bases_inside_allowed_pass():
    text = f"FROM debian:12\nFROM gcr.io/distroless/static-debian12@{DIGEST}\n"
    [result] = judge(ALLOW, facts(parse_dockerfile(text)))
    assert result.id == "base-allowed"
    assert result.status is Status.PASS


def test_base_outside_allowed_fails_with_its_location():
    [result] = judge(ALLOW, facts(parse_dockerfile(MULTI)))
    assert result.status is Status.FAIL
    assert [(p.rule, p.data["repository"], p.location) for p in result.findings] == [
        ("base-not-allowed", "docker.io/library/golang", Location("Dockerfile", 1)),
        ("base-not-allowed", "docker.io/library/alpine", Location("Dockerfile", 5)),
    ]
    assert "matches no allowed pattern" in result.findings[0].message


def test_allowed_patterns_match_the_normalised_repository_as_written():
    # "debian" as a pattern is not normalised: write docker.io/library/debian.
    policy = Policy("test", base_image=BaseImagePolicy(require_digest=False, allowed=("debian",)))
    assert judge(policy, facts(parse_dockerfile("FROM debian\n")))[0].status is Status.FAIL


def test_annotation_base_outside_allowed_fails():
    [result] = judge(ALLOW, annotated("docker.io/library/ubuntu:24.04", DIGEST))
    assert result.status is Status.FAIL
    assert result.findings[0].data["repository"] == "docker.io/library/ubuntu"


def test_annotation_with_an_invalid_name_is_never_allowed():
    [result] = judge(
        Policy("test", base_image=BaseImagePolicy(require_digest=False, allowed=("*",))),
        annotated("Not A Reference"),
    )
    assert result.status is Status.FAIL


# --------------------------------------------------------------------------- syntax frontend


def test_unpinned_syntax_frontend_fails_base_digest_and_is_named_as_the_frontend():
    text = f"# syntax=docker/dockerfile:1\nFROM debian:12@{DIGEST}\n"
    [result] = judge(PIN, facts(parse_dockerfile(text)))
    assert result.status is Status.FAIL
    [problem] = result.findings
    assert problem.message.startswith("syntax frontend docker/dockerfile:1 ")
    assert result.evidence["frontend"] == "docker/dockerfile:1"
    assert [b["role"] for b in result.evidence["bases"]] == ["frontend", "base"]


def test_syntax_frontend_outside_the_allowlist_fails_base_allowed():
    text = f"#syntax = ghcr.io/evil/frontend@{DIGEST}\nFROM debian:12\n"
    [result] = judge(ALLOW, facts(parse_dockerfile(text)))
    assert result.status is Status.FAIL
    assert [p.data["reference"] for p in result.findings] == [f"ghcr.io/evil/frontend@{DIGEST}"]


def test_pinned_allowed_frontend_passes_and_no_directive_means_no_frontend():
    pinned = f"# syntax=docker.io/library/debian@{DIGEST}\nFROM debian:12@{DIGEST}\n"
    assert [r.status for r in judge(PIN, facts(parse_dockerfile(pinned)))] == [Status.PASS]
    [plain] = judge(PIN, facts(parse_dockerfile(f"FROM debian:12@{DIGEST}\n")))
    assert plain.status is Status.PASS
    assert plain.evidence["frontend"] is None
