"""Check ``size``: the compressed size of all layers is at most ``max_size_mb``.

The size is the sum of the judged manifest's layer descriptors' ``size`` (what a pull
transfers; for an index, the platform being judged, chosen by the image edge). MB means
10^6 bytes, the decimal unit ``docker images`` and registries display, so the number a
user sees there is the number the policy compares against.
"""

from __future__ import annotations

from typing import ClassVar

from gate.model import CheckResult, Facts, MissingFact, Need, Problem, Status, need
from gate.policy.model import Policy

MB = 1_000_000


def _mb(size: float) -> str:
    return f"{size / MB:.1f} MB"


class SizeCheck:
    id: ClassVar[str] = "size"

    def needs(self, policy: Policy) -> frozenset[Need] | None:
        if policy.image is None or policy.image.max_size_mb is None:
            return None
        return frozenset({Need.MANIFEST})

    def evaluate(self, policy: Policy, facts: Facts) -> CheckResult:
        assert policy.image is not None and policy.image.max_size_mb is not None
        limit_mb = policy.image.max_size_mb
        manifest = need(facts.manifest, "the image manifest")
        if any(size < 0 for size in manifest.layer_sizes):
            raise MissingFact("the manifest lists a negative layer size")
        total = sum(manifest.layer_sizes)
        evidence = {
            "bytes": total,
            "layers": len(manifest.layer_sizes),
            "max_size_mb": limit_mb,
            "unit": "MB = 1,000,000 bytes",
            "platform": manifest.platform,
        }
        limit = f"limit {limit_mb:g} MB (MB = 10^6 bytes)"
        if total > limit_mb * MB:
            layers = len(manifest.layer_sizes)
            message = f"{_mb(total)} ({total:,} bytes) compressed in {layers} layers; {limit}"
            problem = Problem(rule="too-large", message=message, data=evidence)
            return CheckResult(self.id, Status.FAIL, message, (problem,), evidence)
        return CheckResult(
            self.id, Status.PASS, f"{_mb(total)} compressed; {limit}", evidence=evidence
        )
