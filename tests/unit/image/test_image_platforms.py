"""Which image of an index is judged: the one containerd would run on the requested platform.

The rules are containerd/platforms' (``Parse``, ``Normalize``, ``Only``, ``Less``) and the index
walk of containerd's ``core/images.Manifest``. The spec tests below name the cases a plain
string compare got wrong; the differential test holds the gate against the real Go package
(``tests/oracles/platforms``) on generated platforms and indexes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gate.errors import RegistryError, UsageError
from gate.oci import mediatypes
from gate.oci.manifest import Descriptor, select_platform, wanted_platform
from gate.oci.platforms import (
    Platform,
    for_scanners,
    matcher_rank,
    parse_descriptor_platform,
)
from tests.support.gobuild import Oracle, oracle

DIGESTS = ["sha256:" + c * 64 for c in "abcdef01"]


def entry(
    platform: dict[str, Any] | None,
    digest: str = DIGESTS[0],
    *,
    media_type: str = mediatypes.OCI_MANIFEST,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": 1}
    if platform is not None:
        out["platform"] = platform
    if annotations:
        out["annotations"] = annotations
    return out


def plat(text: str) -> dict[str, str]:
    os_name, arch, *variant = text.split("/")
    out = {"os": os_name, "architecture": arch}
    if variant:
        out["variant"] = variant[0]
    return out


def pick(want: str, *entries: dict[str, Any]) -> Descriptor:
    return select_platform({"manifests": list(entries)}, want, what="idx", error=RegistryError)


def chosen(want: str, *platforms: str) -> str:
    """The platform of the entry chosen among one entry per platform (distinct digests)."""
    entries = [entry(plat(p), DIGESTS[i]) for i, p in enumerate(platforms)]
    descriptor = pick(want, *entries)
    return platforms[DIGESTS.index(descriptor.digest)]


# --------------------------------------------------------------------------- spec


def test_x86_64_is_amd64() -> None:
    assert chosen("linux/x86_64", "linux/arm64", "linux/amd64") == "linux/amd64"


def test_aarch64_is_arm64_and_v8_is_its_default_variant() -> None:
    assert chosen("linux/aarch64", "linux/amd64", "linux/arm64/v8") == "linux/arm64/v8"
    assert chosen("linux/arm64/v8", "linux/amd64", "linux/arm64") == "linux/arm64"


def test_arm_means_arm_v7_and_prefers_it_to_older_variants() -> None:
    assert chosen("linux/arm", "linux/arm/v6", "linux/arm/v7") == "linux/arm/v7"
    assert chosen("linux/armhf", "linux/arm/v6", "linux/arm/v7") == "linux/arm/v7"


def test_arm_v7_runs_arm_v6_but_arm_v6_does_not_run_arm_v7() -> None:
    assert chosen("linux/arm/v7", "linux/arm/v6", "linux/amd64") == "linux/arm/v6"
    with pytest.raises(RegistryError, match="has no linux/arm/v6 image"):
        chosen("linux/armel", "linux/arm/v7")


def test_an_arm64_host_runs_32_bit_arm_when_no_arm64_image_exists() -> None:
    assert chosen("linux/arm64", "linux/amd64", "linux/arm/v7") == "linux/arm/v7"


def test_an_amd64_host_runs_386_only_when_no_amd64_image_exists() -> None:
    assert chosen("linux/amd64", "linux/386", "linux/amd64") == "linux/amd64"
    assert chosen("linux/amd64", "linux/386", "linux/arm64") == "linux/386"


def test_a_variant_the_host_does_not_have_is_never_chosen() -> None:
    assert chosen("linux/amd64", "linux/amd64/v3", "linux/amd64") == "linux/amd64"
    with pytest.raises(RegistryError, match="has no linux/amd64 image"):
        chosen("linux/amd64", "linux/amd64/v3")


def test_case_of_the_index_and_of_the_flag_does_not_matter() -> None:
    assert chosen("Linux/AMD64", "LINUX/X86_64") == "LINUX/X86_64"


def test_two_different_images_for_the_same_platform_are_refused() -> None:
    twins = [entry(plat("linux/amd64"), DIGESTS[0]), entry(plat("linux/x86_64"), DIGESTS[1])]
    with pytest.raises(RegistryError, match=r"ambiguous.*2 different images match linux/amd64"):
        pick("linux/amd64", *twins)


def test_the_same_image_listed_twice_is_not_ambiguous() -> None:
    twice = [entry(plat("linux/amd64"), DIGESTS[0]), entry(plat("linux/amd64"), DIGESTS[0])]
    assert pick("linux/amd64", *twice).digest == DIGESTS[0]


def test_an_entry_without_platform_is_refused_when_it_could_be_the_one() -> None:
    with pytest.raises(RegistryError, match=f"ambiguous.*{DIGESTS[1]} declares no platform"):
        pick("linux/amd64", entry(plat("linux/arm64"), DIGESTS[0]), entry(None, DIGESTS[1]))


def test_an_entry_without_platform_loses_to_any_entry_that_matches_exactly() -> None:
    descriptor = pick(
        "linux/amd64", entry(None, DIGESTS[1]), entry(plat("linux/amd64"), DIGESTS[0])
    )
    assert descriptor.digest == DIGESTS[0]


def test_an_entry_without_platform_next_to_a_mere_fallback_is_refused() -> None:
    # ctr pull takes the 386 image; CRI's strict pull skips it and tries the other one.
    with pytest.raises(RegistryError, match=r"ambiguous.*no index entry is exactly linux/amd64"):
        pick("linux/amd64", entry(None, DIGESTS[1]), entry(plat("linux/386"), DIGESTS[0]))


def test_buildkit_attestation_manifests_are_never_chosen() -> None:
    attestation = entry(
        plat("unknown/unknown"),
        DIGESTS[1],
        annotations={"vnd.docker.reference.type": "attestation-manifest"},
    )
    with pytest.raises(RegistryError, match="attestation manifests"):
        pick("unknown/unknown", entry(plat("linux/amd64")), attestation)
    relabelled = {**attestation, "platform": plat("linux/amd64")}
    with pytest.raises(RegistryError, match="is an attestation manifest"):
        pick("linux/amd64", relabelled)
    with pytest.raises(RegistryError, match=r"\(available: linux/amd64\)"):
        pick("linux/s390x", entry(plat("linux/amd64")), attestation)


def test_a_buildkit_index_with_attestations_as_on_docker_hub() -> None:
    """The shape of an official image's index: images, then one attestation per image."""
    images = ["linux/amd64", "linux/arm/v5", "linux/arm/v7", "linux/arm64/v8", "linux/386"]
    listed = [entry(plat(p), DIGESTS[i]) for i, p in enumerate(images)]
    listed += [
        entry(
            plat("unknown/unknown"),
            "sha256:" + f"{i}" * 64,
            annotations={
                "vnd.docker.reference.digest": DIGESTS[i],
                "vnd.docker.reference.type": "attestation-manifest",
            },
        )
        for i in range(len(images))
    ]
    expected = {
        "linux/amd64": "linux/amd64",
        "linux/arm64": "linux/arm64/v8",
        "linux/arm": "linux/arm/v7",
        "linux/arm/v6": "linux/arm/v5",
        "linux/386": "linux/386",
    }
    for want, image in expected.items():
        assert pick(want, *listed).digest == DIGESTS[images.index(image)], want


def test_a_nested_index_is_refused() -> None:
    nested = entry(plat("linux/amd64"), media_type=mediatypes.OCI_INDEX)
    with pytest.raises(RegistryError, match="nested index"):
        pick("linux/amd64", nested)


@pytest.mark.parametrize("media_type", ["", "application/vnd.oci.empty.v1+json"])
def test_an_entry_that_is_not_an_image_manifest_is_refused(media_type: str) -> None:
    with pytest.raises(RegistryError, match="not an image manifest"):
        pick("linux/amd64", entry(plat("linux/amd64"), media_type=media_type))


@pytest.mark.parametrize(
    ("platform", "reason"),
    [
        ({"os": "linux", "architecture": 64}, "architecture is not a string"),
        ("linux/amd64", "platform is not an object"),
        ({"OS": "linux", "architecture": "amd64"}, "the spec spells it os"),
        ({"os": "linux", "architecture": "amd64", "os.features": "x"}, "not a list of strings"),
        ({"os": "linux", "architecture": "\u0130386"}, "non-ASCII"),
    ],
)
def test_a_platform_go_would_read_differently_is_refused(platform: object, reason: str) -> None:
    doc = {"manifests": [{**entry(None), "platform": platform}]}
    with pytest.raises(RegistryError, match=reason):
        select_platform(doc, "linux/amd64", what="idx", error=RegistryError)


def test_an_entry_without_os_is_refused_since_containerd_fills_in_its_host() -> None:
    with pytest.raises(RegistryError, match="without an OS"):
        pick("linux/amd64", entry({"architecture": "amd64"}))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "is not an OS"),
        ("linux/", "is not an architecture"),
        ("linux//amd64", "is not an architecture"),
        ("linux/amd64/v3/x", "expected os/architecture"),
        ("linux/*", "wildcards"),
        ("linux/amd 64", "is not an architecture"),
        ("arm64", "names only an OS or only an architecture"),
        ("linux", "names only an OS or only an architecture"),
        ("windows(10.0.17763)/amd64", "OS options"),
        ("unknown/unknown", "attestation manifests"),
        ("linux/amd64/v1000", "there is no amd64"),
    ],
)
def test_a_platform_flag_containerd_would_refuse_or_answer_from_its_host_is_refused(
    text: str, reason: str
) -> None:
    with pytest.raises(UsageError, match=reason):
        wanted_platform(text, error=UsageError)


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("linux/x86_64", "linux/amd64"),
        ("linux/x86-64", "linux/amd64"),
        ("linux/amd64/v1", "linux/amd64"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/arm64/8", "linux/arm64"),
        ("linux/arm64/9", "linux/arm64/v9"),
        ("linux/armhf", "linux/arm/v7"),
        ("linux/armel", "linux/arm/v6"),
        ("linux/arm/7", "linux/arm/v7"),
        ("linux/i386", "linux/386"),
        ("macos/arm64", "darwin/arm64"),
    ],
)
def test_platform_aliases_normalise_as_containerd_does(text: str, normal: str) -> None:
    assert wanted_platform(text, error=UsageError).format() == normal


@pytest.mark.parametrize(
    ("declared", "passed"),
    [
        ("linux/x86_64", "linux/amd64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/arm", "linux/arm"),
        ("linux/arm/v7", "linux/arm/v7"),
        ("linux/armhf", "linux/arm"),
        ("linux/amd64/v3", "linux/amd64/v3"),
    ],
)
def test_scanners_get_the_chosen_entry_s_platform_normalised(declared: str, passed: str) -> None:
    os_name, arch, *variant = declared.split("/")
    assert for_scanners(Platform(os_name, arch, variant[0] if variant else "")) == passed


# --------------------------------------------------------------------------- differential

OSES = ["linux", "Linux", "LINUX", "windows", "darwin", "macos", "freebsd", "unknown", ""]
ARCHES = [
    "amd64", "x86_64", "x86-64", "AMD64", "386", "i386", "arm64", "aarch64", "ARM64", "arm",
    "armhf", "armel", "ppc64le", "s390x", "riscv64", "unknown", "",
]  # fmt: skip
VARIANTS = [
    "", "v1", "v2", "v3", "v4", "v03", "v5", "v6", "v7", "v8", "5", "7", "8", "9", "v8.0",
    "v8.2", "v8.9", "v9", "9.0", "v9.0", "v9.3", "v9.7", "v10", "V7", "v-1", "junk",
]  # fmt: skip
GATE_ONLY = (
    "names only an OS or only an architecture",  # containerd fills in the host's
    "OS options",  # the host's OS version decides
    "without an OS",  # containerd fills in the host's
    "attestation manifests",  # --platform unknown/unknown
    "no index entry is exactly",  # containerd's strict paths would try the bare entry
)

# Mostly Linux and the common architectures, so that most indexes hold a match.
oses = st.sampled_from(["linux"] * 12 + OSES)
arches = st.sampled_from(["amd64", "arm64", "arm"] * 3 + ARCHES)
component = st.sampled_from(OSES[:-1] + ARCHES[:-1] + VARIANTS[1:])
composed = st.builds(
    lambda o, a, v: "/".join(p for p in (o, a, v) if p is not None),
    oses,
    arches,
    st.none() | st.none() | st.sampled_from(VARIANTS),
)
REAL = [
    "linux/amd64", "linux/arm64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6",
    "linux/arm/v5", "linux/386", "linux/ppc64le", "linux/s390x", "linux/riscv64",
    "linux/amd64/v2", "linux/amd64/v3", "linux/arm64/v9", "linux/arm64/v8.2", "linux/arm",
    "linux/x86_64", "linux/aarch64", "linux/armhf", "linux/armel", "linux/i386",
    "Linux/AMD64", "windows/amd64", "unknown/unknown",
]  # fmt: skip
real = st.sampled_from(REAL)
wants = st.one_of(
    real,
    composed,
    real,
    composed,
    st.lists(component, min_size=1, max_size=4).map("/".join),
    st.text(alphabet="linuxamd64rv7/_.-*()+ ", max_size=16),
    st.sampled_from(["windows(10.0.17763)/amd64", "linux()/amd64", "linux(%zz)/arm"]),
)
platforms = st.fixed_dictionaries(
    {"os": oses, "architecture": arches},
    optional={
        "variant": st.sampled_from([""] * 8 + VARIANTS),
        "os.version": st.sampled_from(["", "10.0.17763.1", "10.0.20348.1"]),
        "os.features": st.sampled_from([[]] * 12 + [["win32k"], ["a"], ["win32k"] * 2, [""]]),
    },
)
entries = st.lists(
    st.tuples(
        st.one_of(real.map(plat), platforms, real.map(plat), st.none()), st.sampled_from(DIGESTS)
    ),
    min_size=1,
    max_size=8,
)


@pytest.fixture(scope="module")
def containerd() -> Iterator[Oracle]:
    with oracle("platforms") as running:
        yield running


def verdict(want: str, listed: list[tuple[dict[str, Any] | None, str]]) -> Descriptor | str:
    doc = {"manifests": [entry(p, d) for p, d in listed]}
    try:
        return select_platform(doc, want, what="idx", error=RegistryError)
    except RegistryError as refused:
        return refused.message


#: At least 2,500 generated cases, in CI too (its profile's default is 100); more in a long hunt.
EXAMPLES = max(2500, settings().max_examples)


@settings(
    max_examples=EXAMPLES,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(want=wants, listed=entries)
def test_the_gate_chooses_what_containerd_chooses_or_refuses(
    containerd: Oracle, want: str, listed: list[tuple[dict[str, Any] | None, str]]
) -> None:
    answer = containerd.ask({"want": want, "entries": [p for p, _ in listed]})
    ours = verdict(want, listed)
    if answer.get("error"):
        event("containerd refuses")
        assert isinstance(ours, str), f"containerd refuses {want!r}: {answer['error']}"
        return
    best = answer["best"]
    certain = (
        best is not None
        and listed[best][0] is not None
        and len({listed[i][1] for i in answer["tied"]}) == 1
    )
    if not certain:
        event("containerd has no single image")
        assert isinstance(ours, str), f"containerd's choice is not one image: {answer}"
        return
    if isinstance(ours, str):
        event("the gate alone refuses")
        assert any(reason in ours for reason in GATE_ONLY), (ours, answer)
        return
    event("both choose")
    assert ours.digest == listed[best][1], (ours, answer)
    strict = answer["strict"]
    if strict is not None:
        # containerd's strict paths run nothing else than the gate judged, or nothing
        event("a strict path chooses too")
        assert listed[strict][0] is not None and ours.digest == listed[strict][1], answer


@settings(
    max_examples=EXAMPLES,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(want=st.one_of(real, composed), listed=entries)
def test_every_entry_is_matched_and_ranked_as_containerd_does(
    containerd: Oracle, want: str, listed: list[tuple[dict[str, Any] | None, str]]
) -> None:
    """Stronger than the choice alone: ``Match`` and ``Less`` agree on every entry."""
    answer = containerd.ask({"want": want, "entries": [p for p, _ in listed]})
    try:
        wanted = wanted_platform(want, error=UsageError)
    except UsageError:
        event("the gate refuses the platform")
        return  # held by the test above: the gate refuses whatever it cannot parse
    assert not answer.get("error"), (want, wanted, answer)
    declared = [None if p is None else parse_descriptor_platform(p) for p, _ in listed]
    if any(p is not None and not p.os for p in declared):
        event("an entry without OS (containerd would use its host's)")
        return
    ranks = {
        i: rank
        for i, p in enumerate(declared)
        if p is not None and (rank := matcher_rank(wanted, p)) is not None
    }
    theirs = [i for i in answer["match"] if declared[i] is not None]
    assert set(ranks) == set(theirs), (want, listed, answer)
    ordered = [ranks[i] for i in theirs]
    assert ordered == sorted(ordered), (want, listed, answer)
    if ranks:
        event("some entries match")
        best = min(ranks.values())
        assert {i for i, r in ranks.items() if r == best} == set(answer["tied"])


@pytest.mark.parametrize(
    ("want", "listed"),
    [
        ("linux/arm", ["linux/arm/v6", "linux/arm/v7", "linux/arm/v8"]),
        ("linux/arm64/v8", ["linux/arm/v7", "linux/arm64"]),
        ("linux/arm64/v9.3", ["linux/arm64/v8.2", "linux/arm64/v8.9", "linux/arm64/v9"]),
        ("linux/x86_64", ["linux/386", "linux/amd64/v2", "linux/amd64"]),
        ("linux/amd64/v3", ["linux/amd64/v2", "linux/amd64/v4", "linux/386"]),
        ("windows/amd64", ["windows/amd64"]),
    ],
)
def test_the_spec_cases_agree_with_containerd(
    containerd: Oracle, want: str, listed: list[str]
) -> None:
    answer = containerd.ask({"want": want, "entries": [plat(p) for p in listed]})
    assert answer["best"] is not None
    assert chosen(want, *listed) == listed[answer["best"]]


def test_the_normalised_flag_matches_what_containerd_parses(containerd: Oracle) -> None:
    for text in ["linux/x86_64", "linux/armhf", "linux/arm64/v8", "Linux/AARCH64/8"]:
        normal = wanted_platform(text, error=UsageError)
        answer = containerd.ask({"want": text, "entries": [plat(normal.format())]})
        assert answer["best"] == 0, (text, normal)
        assert isinstance(normal, Platform)
