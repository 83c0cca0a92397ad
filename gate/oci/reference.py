"""Parse what the user names as IMAGE: a registry reference, ``oci:DIR[:TAG]``,
``docker-archive:FILE.tar`` or ``docker-daemon:NAME[:TAG]``.

Registry references follow distribution's reference grammar (``docker/distribution/reference``):
the first path component is a registry host when it contains ``.`` or ``:``, is ``localhost``
or is a bracketed IPv6 address; otherwise the image is on Docker Hub, whose API host is
``registry-1.docker.io`` and whose one-component names live under ``library/`` (as
``ParseNormalizedNamed`` does). A reference with neither tag nor digest means ``:latest``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from gate.errors import UsageError
from gate.oci.digests import is_digest

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_LABEL = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_HOST = re.compile(
    rf"^(?:{_LABEL}(?:\.{_LABEL})*|\[(?P<ipv6>[0-9A-Fa-f:.]+)\])(?::(?P<port>[0-9]+))?$"
)
_NAME_MAX = 255


@dataclass(frozen=True)
class Reference:
    """A parsed registry reference.

    ``domain`` is the registry as people write it (``docker.io`` for Docker Hub);
    :attr:`registry` is the host the API is served from.
    """

    domain: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def registry(self) -> str:
        """Host (and port) of the distribution API."""
        return DOCKER_HUB_API if self.domain == DOCKER_HUB else self.domain

    @property
    def name(self) -> str:
        """``domain/repository``, e.g. ``docker.io/library/debian``."""
        return f"{self.domain}/{self.repository}"

    @property
    def identifier(self) -> str:
        """What to ask the registry for: the digest when given, else the tag."""
        return self.digest or self.tag or "latest"

    def pinned(self, digest: str) -> str:
        """``domain/repository@digest``: the form scanners are pointed at."""
        return f"{self.name}@{digest}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True)
class OciLayoutSpec:
    """``oci:DIR[:TAG]`` (or ``oci:DIR@sha256:…``): an OCI image layout directory."""

    path: Path
    tag: str | None = None
    digest: str | None = None


@dataclass(frozen=True)
class DockerArchiveSpec:
    """``docker-archive:FILE.tar``: a ``docker save`` tarball."""

    path: Path


@dataclass(frozen=True)
class DaemonSpec:
    """``docker-daemon:NAME[:TAG]``, ``docker-daemon:NAME@sha256:…`` or
    ``docker-daemon:sha256:<image id>``: an image in the local container engine.

    ``name`` is sent to the engine exactly as written: the engine resolves it by its own
    rules (Docker normalises ``app`` to ``docker.io/library/app:latest``; Podman also finds
    ``localhost/app``), so the gate does not second-guess which image NAME means. ``tag`` is
    the reference's tag (``latest`` when implicit; None for a digest or an image id).
    """

    name: str
    tag: str | None = None
    image_id: str | None = None


ImageSpec = Reference | OciLayoutSpec | DockerArchiveSpec | DaemonSpec


def _check_host(domain: str, text: str) -> str:
    match = _HOST.match(domain)
    if not match:
        raise UsageError(f"invalid registry host {domain!r} in image reference {text!r}")
    if match["ipv6"] is not None:
        try:
            ipaddress.IPv6Address(match["ipv6"])
        except ValueError:
            raise UsageError(
                f"invalid IPv6 address {domain!r} in image reference {text!r}"
            ) from None
    if match["port"] is not None and not 0 < int(match["port"]) < 65536:
        raise UsageError(f"invalid port in registry host {domain!r} (1-65535)")
    return domain.lower()


def _check_path(path: str, text: str) -> None:
    for component in path.split("/"):
        if _COMPONENT.match(component):
            continue
        if _COMPONENT.match(component.lower()):
            raise UsageError(f"repository names must be lowercase: {text!r}")
        raise UsageError(
            f"invalid repository name {path!r} in {text!r}: each path component is lowercase "
            "letters and digits, separated by '.', '_', '__' or '-'"
        )


def parse_reference(text: str) -> Reference:
    """Parse a registry reference, raising ``UsageError`` with what is wrong."""
    if not text or text != text.strip() or any(c.isspace() for c in text):
        raise UsageError(f"invalid image reference {text!r}: empty or contains whitespace")
    if "://" in text:
        raise UsageError(f"invalid image reference {text!r}: drop the URL scheme (host/repo:tag)")
    name, at, digest = text.partition("@")
    if at and not is_digest(digest):
        raise UsageError(
            f"invalid digest {digest!r} in {text!r}: expected sha256:<64 lowercase hex>"
        )
    tag: str | None = None
    colon, slash = name.rfind(":"), name.rfind("/")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.match(tag):
            raise UsageError(
                f"invalid tag {tag!r} in {text!r}: up to 128 of [A-Za-z0-9_.-], not starting "
                "with '.' or '-'"
            )
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        domain, path = _check_host(first, text), rest
    else:
        domain, path = DOCKER_HUB, name
    if domain in _HUB_ALIASES:
        domain = DOCKER_HUB
        if "/" not in path:
            path = f"library/{path}"
    if not path:
        raise UsageError(f"invalid image reference {text!r}: no repository")
    _check_path(path, text)
    if len(f"{domain}/{path}") > _NAME_MAX:
        raise UsageError(f"image name longer than {_NAME_MAX} characters: {text!r}")
    if tag is None and not at:
        tag = "latest"
    return Reference(domain=domain, repository=path, tag=tag, digest=digest if at else None)


def normalise_repository(text: str) -> str:
    """The repository a reference names, without tag or digest.

    ``nginx:1.27`` → ``docker.io/library/nginx``; ``ghcr.io/x/y`` stays ``ghcr.io/x/y``.
    """
    return parse_reference(text).name


def tag_of(text: str) -> str | None:
    """The tag of a reference (``latest`` when implicit), or None (digest-only or unparsable)."""
    try:
        return parse_reference(text).tag
    except UsageError:
        return None


def _parse_oci(rest: str, text: str) -> OciLayoutSpec:
    if not rest:
        raise UsageError(f"{text!r}: expected oci:DIR[:TAG]")
    path, at, digest = rest.rpartition("@")
    if at and is_digest(digest):
        return OciLayoutSpec(Path(path), digest=digest)
    if ":" in rest and not Path(rest).is_dir():
        path, _, tag = rest.rpartition(":")
        if path and _TAG.match(tag):
            return OciLayoutSpec(Path(path), tag=tag)
    return OciLayoutSpec(Path(rest))


def _parse_daemon(rest: str, text: str) -> DaemonSpec:
    if rest.startswith("sha256:"):
        if not is_digest(rest):
            raise UsageError(
                f"{text!r}: an image id is the full sha256:<64 lowercase hex> (`docker image "
                "inspect --format '{{.Id}}' NAME` prints it)"
            )
        return DaemonSpec(rest, image_id=rest)
    if not rest:
        raise UsageError(f"{text!r}: expected docker-daemon:NAME[:TAG]")
    return DaemonSpec(rest, tag=parse_reference(rest).tag)


def parse_image(text: str) -> ImageSpec:
    """Parse any IMAGE form the CLI accepts."""
    if text.startswith("oci:"):
        return _parse_oci(text[len("oci:") :], text)
    if text.startswith("docker-archive:"):
        path = text[len("docker-archive:") :]
        if not path:
            raise UsageError(f"{text!r}: expected docker-archive:FILE.tar")
        return DockerArchiveSpec(Path(path))
    if text.startswith("docker-daemon:"):
        return _parse_daemon(text[len("docker-daemon:") :], text)
    if text.startswith("oci-archive:"):
        raise UsageError("oci-archive is not supported: extract the tar and pass oci:DIR")
    return parse_reference(text)
