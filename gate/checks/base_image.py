"""Checks ``base-digest`` and ``base-allowed``: what the image was built from.

The bases come from the Dockerfile(s) when the user gave any (``facts.base_images``,
read by ``gate.dockerfile`` as BuildKit reads them: every external ``FROM``, images pulled
by ``COPY --from`` and ``RUN --mount=from=``, and the ``# syntax=`` frontend image, which
BuildKit pulls and runs to read the Dockerfile: it is judged like a base, as the
``frontend``). Without a Dockerfile they come from the
manifest annotations ``org.opencontainers.image.base.name`` and ``…base.digest`` that
BuildKit and the OCI image spec define. With neither, both checks fail: the gate cannot
judge a base it cannot see.

- ``base-digest``: every base is pinned ``@sha256:<64 lowercase hex>`` (the only form the
  OCI digest grammar allows for sha256). A tag next to the digest is fine: the digest wins.
- ``base-allowed``: each base repository, normalised (``debian`` →
  ``docker.io/library/debian``), matches one of ``allowed`` as written, with
  ``fnmatch.fnmatchcase`` semantics: ``*`` also matches ``/``, and matching is
  case-sensitive (repositories are lowercase by the reference grammar).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any, ClassVar

from gate.errors import GateError
from gate.model import BaseImage, CheckResult, Facts, Need, Problem, Status, need
from gate.oci.reference import normalise_repository
from gate.policy.model import Policy

BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"
_PINNED = re.compile(r"sha256:[0-9a-f]{64}")
UNKNOWN_BASE = "cannot determine the base image; pass --dockerfile"


def is_pinned(digest: str | None) -> bool:
    return digest is not None and _PINNED.fullmatch(digest) is not None


def _where(base: BaseImage) -> str:
    if base.location is None:
        return "manifest annotation"
    if base.location.line is None:
        return base.location.file
    return f"{base.location.file}:{base.location.line}"


def _place(base: BaseImage) -> str:
    """The message's prefix: where the base was named, unless ``location`` already says so
    (every report shows a location itself; in the message too, it showed twice)."""
    return "" if base.location is not None else f"{_where(base)}: "


def _row(base: BaseImage) -> dict[str, Any]:
    return {
        "role": base.role,
        "reference": base.reference,
        "repository": base.repository,
        "digest": base.digest,
        "file": base.location.file if base.location else None,
        "line": base.location.line if base.location else None,
        "text": base.text,
    }


def _what(base: BaseImage) -> str:
    return "syntax frontend " if base.role == "frontend" else ""


def _frontend(bases: tuple[BaseImage, ...]) -> dict[str, Any]:
    """The ``# syntax=`` frontend BuildKit runs, or None for its built-in one."""
    found = [b.reference for b in bases if b.role == "frontend"]
    return {"frontend": found[0] if len(found) == 1 else found or None}


def _from_annotations(annotations: Mapping[str, str]) -> tuple[BaseImage, ...]:
    name = annotations.get(BASE_NAME, "").strip()
    digest = annotations.get(BASE_DIGEST, "").strip() or None
    if not name and digest is None:
        return ()
    repository = ""
    if name:
        try:
            repository = normalise_repository(name)
        except GateError:
            repository = ""  # not a valid reference: no pattern can allow it
    text = f"{BASE_NAME}={name!r} {BASE_DIGEST}={digest!r}"
    return (
        BaseImage(reference=name or "(unnamed)", repository=repository, digest=digest, text=text),
    )


def gather_bases(facts: Facts) -> tuple[str, tuple[BaseImage, ...]] | None:
    """The bases and where they came from, or None when no source names any base.

    A Dockerfile that failed to read is an error (``need`` raises); only an absent
    Dockerfile falls back to the annotations. An absent manifest (reports only) is
    treated like one without annotations, so the check fails rather than passes.
    """
    if facts.base_images is not None:
        return "dockerfile", need(facts.base_images, "the Dockerfile's base images")
    if facts.manifest is None:
        return None
    manifest = need(facts.manifest, "the image manifest")
    bases = _from_annotations(manifest.annotations)
    return ("annotations", bases) if bases else None


def _unknown(check_id: str) -> CheckResult:
    problem = Problem(rule="unknown-base", message=UNKNOWN_BASE)
    return CheckResult(check_id, Status.FAIL, UNKNOWN_BASE, (problem,), {"source": None})


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class BaseDigestCheck:
    id: ClassVar[str] = "base-digest"

    def needs(self, policy: Policy) -> frozenset[Need] | None:
        if policy.base_image is None or not policy.base_image.require_digest:
            return None
        return frozenset({Need.BASE_IMAGES, Need.MANIFEST})

    def evaluate(self, policy: Policy, facts: Facts) -> CheckResult:
        found = gather_bases(facts)
        if found is None:
            return _unknown(self.id)
        source, bases = found
        evidence = {"source": source, "bases": [_row(b) for b in bases], **_frontend(bases)}
        if not bases:
            return CheckResult(
                self.id,
                Status.PASS,
                "no external base images (FROM scratch only)",
                evidence=evidence,
            )
        problems = tuple(
            Problem(
                rule="unpinned-base",
                message=f"{_place(b)}{_what(b)}{b.reference} is not pinned @sha256:<64 hex>"
                + (f": {b.text}" if b.location is not None else ""),
                location=b.location,
                data=_row(b),
            )
            for b in bases
            if not is_pinned(b.digest)
        )
        if problems:
            summary = f"{_count(len(problems), 'base image')} of {len(bases)} not pinned by digest"
            return CheckResult(self.id, Status.FAIL, summary, problems, evidence)
        return CheckResult(
            self.id,
            Status.PASS,
            f"{_count(len(bases), 'base image')} pinned by digest (from the {source})",
            evidence=evidence,
        )


class BaseAllowedCheck:
    id: ClassVar[str] = "base-allowed"

    def needs(self, policy: Policy) -> frozenset[Need] | None:
        if policy.base_image is None or not policy.base_image.allowed:
            return None
        return frozenset({Need.BASE_IMAGES, Need.MANIFEST})

    def evaluate(self, policy: Policy, facts: Facts) -> CheckResult:
        assert policy.base_image is not None
        allowed = policy.base_image.allowed
        found = gather_bases(facts)
        if found is None:
            return _unknown(self.id)
        source, bases = found
        evidence = {
            "source": source,
            "allowed": list(allowed),
            "bases": [_row(b) for b in bases],
            **_frontend(bases),
        }
        problems = tuple(
            Problem(
                rule="base-not-allowed",
                message=f"{_place(b)}{_what(b)}{b.repository or b.reference} matches no "
                "allowed pattern"
                f" ({', '.join(allowed)})",
                location=b.location,
                data=_row(b),
            )
            for b in bases
            if not b.repository or not any(fnmatchcase(b.repository, p) for p in allowed)
        )
        if problems:
            summary = f"{_count(len(problems), 'base image')} outside the allowed repositories"
            return CheckResult(self.id, Status.FAIL, summary, problems, evidence)
        if not bases:
            return CheckResult(
                self.id,
                Status.PASS,
                "no external base images (FROM scratch only)",
                evidence=evidence,
            )
        return CheckResult(
            self.id,
            Status.PASS,
            f"{_count(len(bases), 'base image')} from allowed repositories",
            evidence=evidence,
        )
