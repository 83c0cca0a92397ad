"""Which image of a multi-platform index runs: containerd's rules, mirrored.

A tag that names an index is resolved by the runtime, not by the gate: containerd (``ctr``,
``nerdctl``, the kubelet through CRI, Docker's containerd image store) builds a matcher with
``platforms.Only(platform)`` (``platforms.Default()`` is ``Only`` of the host's platform) and
walks the index as ``core/images.Manifest`` does: keep the entries that have no platform or
that the matcher matches, stable-sort them by the matcher's ``Less`` (entries without a
platform last) and take the first. Everything here mirrors ``github.com/containerd/platforms``
v1.0.0-rc.5 (``Parse``, ``Normalize``, ``normalizeArch``, ``platformVector``, ``Only``,
``orderedPlatformComparer.Less``) and is held against it by a differential test. Stricter
containerd paths match with ``OnlyStrict`` (exact platform only); whenever they choose an
image, it is the one chosen here (the differential test checks that too).

Where containerd's answer depends on something the gate cannot see, or two different images
tie, the gate refuses (``ambiguous``) instead of guessing:

- ``--platform`` with one component (``linux``, ``arm64``): ``Parse`` fills the other in from
  the host running the parser, which is not the host that will run the image;
- ``--platform`` with OS options (``windows(10.0.17763)``): the host's OS version decides;
- the best rank shared by entries with different digests (containerd takes the first listed,
  another runtime may not);
- no entry with a platform matches but one has none: containerd would read its config to
  decide, go-containerregistry (inside Trivy and Grype) calls it linux/amd64; likewise when
  only a fallback matches (arm/v6 for arm/v7, 386 for amd64): containerd's strict paths
  (``OnlyStrict``, or ``Ordered`` of the host's platform as CRI's transfer-service pull uses)
  skip the fallback and would try the entry without platform;
- an entry whose platform names no OS: ``Normalize`` substitutes the host's OS;
- non-ASCII platform fields, or field names that differ from the spec's only in case (Go's
  ``encoding/json`` matches names case-insensitively, Python does not).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

__all__ = [
    "Ambiguous",
    "InvalidPlatform",
    "Platform",
    "choose",
    "for_scanners",
    "matcher_rank",
    "normalize",
    "parse",
    "parse_descriptor_platform",
]

_OS_RE = re.compile(r"([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.%-]*)((?:\+[A-Za-z0-9_.%-]+)*)\))?")
_SPECIFIER_RE = re.compile(r"[A-Za-z0-9_.-]+")
_GO_ATOI = re.compile(r"[+-]?[0-9]+")
_INT64_MAX = 2**63 - 1
#: containerd expands amd64/vN and arm/vN to every lower variant; none beyond v9 exists.
_MAX_VARIANT = 99

#: ``arm64variantToVersion`` of compare.go: the (major, minor) pairs each variant runs.
_ARM64_VERSIONS: dict[str, tuple[tuple[int, int], ...]] = {
    **{f"v8.{m}": ((8, m),) for m in range(10)},
    "v8": ((8, 0),),
    "v9": ((9, 0), (8, 5)),
    **{f"v9.{m}": ((9, m), (8, min(m + 5, 9))) for m in range(8)},
}


class InvalidPlatform(ValueError):
    """A platform string or an index entry's platform the gate cannot read."""


class Ambiguous(ValueError):
    """containerd's choice is not one image the gate can know (see the module docstring)."""


@dataclass(frozen=True)
class Platform:
    """An OCI platform (``image-spec``'s ``Platform``), as declared: not normalised."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    def format(self) -> str:
        """``os/architecture[/variant]`` (containerd's ``Format``)."""
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


# --------------------------------------------------------------------------- normalising


def _go_lower(text: str) -> str:
    """Go's ``strings.ToLower`` for the ASCII strings the gate accepts."""
    return text.lower()


def _normalize_os(os_name: str) -> str:
    os_name = _go_lower(os_name)
    return "darwin" if os_name == "macos" else os_name


def normalize_arch(arch: str, variant: str) -> tuple[str, str]:
    """containerd's ``normalizeArch``: aliases to Go's names, default variants to ``""``."""
    arch, variant = _go_lower(arch), _go_lower(variant)
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        if variant in ("8", "v8", "v8.0"):
            variant = ""
        elif variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        return "arm64", variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
    return arch, variant


def normalize(platform: Platform) -> Platform:
    """containerd's ``Normalize`` (an empty OS is refused before this: see ``choose``)."""
    arch, variant = normalize_arch(platform.architecture, platform.variant)
    return replace(
        platform,
        os=_normalize_os(platform.os),
        architecture=arch,
        variant=variant,
        os_features=tuple(sorted(set(platform.os_features))),
    )


def for_scanners(platform: Platform) -> str:
    """The ``--platform`` the scanners get for a chosen entry: its platform, normalised.

    Grype checks the image config against it the way go-containerregistry matches
    (os and architecture equal, the variant only when one is given), so aliases are
    normalised (``x86_64`` would never equal a config's ``amd64``) and a variant is passed
    only when the index declares one.
    """
    normal = normalize(platform)
    return replace(normal, variant=normal.variant if platform.variant else "").format()


# --------------------------------------------------------------------------- parsing


def parse(text: str) -> Platform:
    """``--platform``, read as containerd's ``Parse`` reads a specifier, then normalised.

    Refuses everything ``Parse`` refuses, and two things it accepts but answers from the
    host it runs on (a single component, OS options): see the module docstring.
    """
    if "*" in text:
        raise InvalidPlatform(f"invalid platform {text!r}: wildcards are not supported")
    parts = text.split("/", 3)
    options = _OS_RE.fullmatch(parts[0])
    if options is None:
        raise InvalidPlatform(
            f"invalid platform {text!r}: {parts[0]!r} is not an OS (letters, digits, _ and -)"
        )
    for part in parts[1:]:
        if not _SPECIFIER_RE.fullmatch(part):
            raise InvalidPlatform(
                f"invalid platform {text!r}: {part!r} is not an architecture or variant "
                "(letters, digits, _, . and -)"
            )
    if len(parts) > 3:
        raise InvalidPlatform(f"invalid platform {text!r}: expected os/architecture[/variant]")
    if len(parts) == 1:
        raise Ambiguous(
            f"platform {text!r} names only an OS or only an architecture; containerd fills in "
            "the other from the host it runs on. Give os/architecture[/variant]"
        )
    if "(" in parts[0]:
        raise Ambiguous(
            f"platform {text!r} carries OS options; which image matches then depends on the "
            "host's OS version, so the gate does not accept them"
        )
    os_name = _normalize_os(options.group(1))
    if len(parts) == 2:
        arch, variant = normalize_arch(parts[1], "")
        if arch == "arm" and variant == "v7":
            variant = ""
    else:
        arch, variant = normalize_arch(parts[1], parts[2])
        if arch == "arm64" and variant == "":
            variant = "v8"
    number = _go_atoi(variant.removeprefix("v"))
    if arch in ("amd64", "arm") and number is not None and number > _MAX_VARIANT:
        raise InvalidPlatform(f"invalid platform {text!r}: there is no {arch} {variant}")
    if "unknown" in (os_name, arch):
        raise InvalidPlatform(
            f"invalid platform {text!r}: unknown/unknown marks attestation manifests "
            "(BuildKit's provenance and SBOM), never an image that runs"
        )
    return normalize(Platform(os=os_name, architecture=arch, variant=variant))


def _go_atoi(text: str) -> int | None:
    """Go's ``strconv.Atoi``: an optional sign, ASCII digits, within int64."""
    if not _GO_ATOI.fullmatch(text):
        return None
    value = int(text)
    return value if -_INT64_MAX - 1 <= value <= _INT64_MAX else None


def _vector(p: Platform) -> list[Platform]:
    """containerd's ``platformVector``: what ``Only(p)`` matches, best first."""
    vector = [p]
    if p.architecture == "amd64":
        version = _go_atoi(p.variant.removeprefix("v"))
        if version is not None and version > 1:
            vector += [replace(p, variant=f"v{v}") for v in range(version - 1, 0, -1)]
        vector.append(replace(p, architecture="386", variant=""))
    elif p.architecture == "arm":
        version = _go_atoi(p.variant.removeprefix("v"))
        if version is not None and version > 5:
            vector += [replace(p, variant=f"v{v}") for v in range(version - 1, 4, -1)]
    elif p.architecture == "arm64":
        variant = p.variant or "v8"
        versions = _ARM64_VERSIONS.get(variant)
        if versions is None:
            return []
        vector = [
            replace(p, variant=f"v{major}" if minor == 0 else f"v{major}.{minor}")
            for major, top in versions
            for minor in range(top, -1, -1)
        ]
        arm_variant = "v8" if variant.startswith(("v8", "v9")) else variant
        vector += _vector(replace(p, architecture="arm", variant=arm_variant))
    return vector


def _matches(want: Platform, entry: Platform) -> bool:
    """containerd's ``matcher.Match`` for a ``want`` without OS version or features."""
    if want.os == "windows" and "win32k" in entry.os_features:
        # windowsStripFeaturesMatcher: the first "win32k" is not considered
        features = list(entry.os_features)
        features.remove("win32k")
        entry = replace(entry, os_features=tuple(features))
    have = normalize(entry)
    return (
        want.os == have.os
        and want.architecture == have.architecture
        and want.variant == have.variant
        and not have.os_features
    )


def matcher_rank(want: Platform, entry: Platform) -> tuple[int, int] | None:
    """Where ``Only(want)`` ranks ``entry`` (lower is preferred), or None when it does not match.

    ``orderedPlatformComparer.Less(a, b)`` is the lexicographic order of these keys for
    entries that match: the first matcher of the vector that matches decides, and among
    entries the same matcher matches, more OS features (as declared) come first.
    """
    for index, candidate in enumerate(_vector(normalize(want))):
        if _matches(normalize(candidate), entry):
            return index, -len(entry.os_features)
    return None


# --------------------------------------------------------------------------- descriptors

_ALL_FIELDS = ("os", "architecture", "variant", "os.version", "os.features")


def parse_descriptor_platform(raw: object) -> Platform | None:
    """A descriptor's ``platform`` as Go's ``encoding/json`` fills ``*specs.Platform``.

    Absent or null is no platform. Anything Go would refuse (not an object, a field of the
    wrong type) is an ``InvalidPlatform``, and so is what the gate would read differently
    from Go: a field name differing from the spec's only in case, or a non-ASCII value.
    """
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InvalidPlatform("a platform is not an object")
    for key in raw:
        folded = str(key).casefold()
        if folded in _ALL_FIELDS and key not in _ALL_FIELDS:
            raise InvalidPlatform(f"a platform has the field {key!r}; the spec spells it {folded}")
    values: dict[str, str] = {}
    for key in ("os", "architecture", "variant", "os.version"):
        value = raw.get(key)
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise InvalidPlatform(f"a platform's {key} is not a string")
        values[key] = value
    features = raw.get("os.features")
    if features is None:
        features = []
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise InvalidPlatform("a platform's os.features is not a list of strings")
    if not all(v.isascii() for v in [*values.values(), *features]):
        raise InvalidPlatform("a platform holds non-ASCII text")
    return Platform(
        os=values["os"],
        architecture=values["architecture"],
        variant=values["variant"],
        os_version=values["os.version"],
        os_features=tuple(features),
    )


@dataclass(frozen=True)
class Candidate:
    """One index entry as the chooser sees it."""

    digest: str
    platform: Platform | None


def choose(want: Platform, entries: Sequence[Candidate]) -> int | None:
    """The index of the entry containerd runs for ``want``, None when none can run.

    Mirrors the index branch of containerd's ``core/images.Manifest``: entries without a
    platform sort last, the rest by ``Only(want).Less``, ties keep index order. Raises
    ``Ambiguous`` where the module docstring lists.
    """
    for entry in entries:
        if entry.platform is not None and not entry.platform.os:
            raise Ambiguous(
                f"the index entry {entry.digest} declares a platform without an OS; "
                "containerd substitutes its host's OS, so whether it runs depends on the host"
            )
    ranked = [
        (rank, i)
        for i, entry in enumerate(entries)
        if entry.platform is not None and (rank := matcher_rank(want, entry.platform)) is not None
    ]
    if not ranked:
        bare = [e.digest for e in entries if e.platform is None]
        if bare:
            raise Ambiguous(
                f"no index entry declares {want.format()}, but {bare[0]} declares no platform: "
                "containerd would decide by its config, go-containerregistry would call it "
                "linux/amd64"
            )
        return None
    best = min(rank for rank, _ in ranked)
    bare = [e.digest for e in entries if e.platform is None]
    if bare and best[0] > 0:
        raise Ambiguous(
            f"no index entry is exactly {want.format()} and {bare[0]} declares no platform: "
            "containerd's strict paths (CRI's pull, `ctr import`) would try that one, "
            f"its lenient ones ({want.format()} hosts that also run older variants) another"
        )
    tied = [i for rank, i in ranked if rank == best]
    digests = sorted({entries[i].digest for i in tied})
    if len(digests) > 1:
        raise Ambiguous(
            f"{len(digests)} different images match {want.format()} equally well "
            f"({', '.join(digests)}); containerd takes the first listed, other runtimes may not"
        )
    return tied[0]
