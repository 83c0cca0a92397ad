"""The size check: compressed layer sizes against max_size_mb (MB = 10^6 bytes)."""

from __future__ import annotations

from gate.checks.size import SizeCheck
from gate.core import evaluate
from gate.model import Facts, ManifestFacts, Need, Status, Unavailable
from gate.policy.model import ImagePolicy, Policy
from tests.support.facts import NOW, SUBJECT


def judge(layers: tuple[int, ...] | Unavailable, limit_mb: float = 1):
    policy = Policy("test", image=ImagePolicy(max_size_mb=limit_mb))
    manifest = layers if isinstance(layers, Unavailable) else ManifestFacts(layer_sizes=layers)
    return evaluate(policy, Facts(SUBJECT, NOW, manifest=manifest), checks=[SizeCheck()]).checks[0]


def test_enabled_only_with_max_size_mb():
    assert SizeCheck().needs(Policy("test", image=ImagePolicy())) is None
    assert SizeCheck().needs(Policy("test", image=ImagePolicy(max_size_mb=1))) == frozenset(
        {Need.MANIFEST}
    )


def test_three_mb_image_fails_a_one_mb_limit():
    result = judge((1_000_000, 1_500_000, 500_000))
    assert result.status is Status.FAIL
    assert result.summary == (
        "3.0 MB (3,000,000 bytes) compressed in 3 layers; limit 1 MB (MB = 10^6 bytes)"
    )
    assert result.findings[0].data["bytes"] == 3_000_000


def test_image_under_the_limit_passes():
    result = judge((400_000, 500_000))
    assert result.status is Status.PASS
    assert result.summary == "0.9 MB compressed; limit 1 MB (MB = 10^6 bytes)"


def test_exactly_the_limit_passes_and_one_byte_more_fails():
    assert judge((1_000_000,)).status is Status.PASS
    assert judge((1_000_001,)).status is Status.FAIL


def test_fractional_limits():
    assert judge((2_400_000,), limit_mb=2.5).status is Status.PASS


def test_unreadable_manifest_is_an_error():
    assert judge(Unavailable("no manifest for linux/amd64 in the index")).status is Status.ERROR


def test_negative_layer_size_is_an_error():
    assert judge((-5, 10)).status is Status.ERROR
