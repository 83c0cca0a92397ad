"""Minimal root filesystems that Trivy's OS and package analyzers recognise.

Only the files Trivy's analyzers read are produced: for Debian ``etc/os-release``,
``etc/debian_version`` and ``var/lib/dpkg/status`` (one stanza per package, with the
``Source:`` field the DB is keyed on and a Debian maintainer, since Trivy drops packages with
third-party maintainers); for Alpine ``etc/alpine-release``, ``etc/os-release`` and
``lib/apk/db/installed`` (``P:``/``V:``/``A:``/``o:``). The result is a ``{path: bytes}``
mapping ready for :func:`tests.support.oci.layer`.

:data:`AWS_SECRET_FILE` holds an AWS key pair that Trivy's built-in secret rules report
(``aws-access-key-id`` and ``aws-secret-access-key``); it is fake and was never valid.
"""

from __future__ import annotations

from collections.abc import Iterable

#: ``(binary package name, source package name, version)``
Package = tuple[str, str, str]

_DEBIAN_CODENAMES = {"11": "bullseye", "12": "bookworm", "13": "trixie"}
_DEBIAN_MAINTAINER = "Debian Security Team <team@security.debian.org>"

ROOT_PASSWD = "root:x:0:0:root:/root:/bin/sh\n"
#: passwd with an unprivileged ``app`` user (uid 1000), for non-root hygiene tests.
APP_PASSWD = ROOT_PASSWD + "app:x:1000:1000:app:/home/app:/bin/sh\n"

#: Where tests conventionally plant :data:`AWS_SECRET_FILE` in an image.
AWS_SECRET_PATH = "app/config/deploy.env"
#: A planted (fake) AWS credential pair; Trivy reports it with ``Class: "secret"``.
AWS_SECRET_FILE = (
    b"# deployment settings\n"
    b"AWS_ACCESS_KEY_ID=AKIA2E0A8F3B244C9986\n"
    b"AWS_SECRET_ACCESS_KEY=m5Q1x7cVnR2pT8yZ0bW4kL6hJ3dF9gS1aE7uI0oN\n"
)
#: Trivy rule IDs expected for :data:`AWS_SECRET_FILE`.
AWS_SECRET_RULE_IDS = frozenset({"aws-access-key-id", "aws-secret-access-key"})


def _dpkg_stanza(name: str, source: str, version: str, arch: str) -> str:
    return (
        f"Package: {name}\n"
        "Status: install ok installed\n"
        "Priority: optional\n"
        "Section: libs\n"
        f"Maintainer: {_DEBIAN_MAINTAINER}\n"
        f"Architecture: {arch}\n"
        f"Source: {source}\n"
        f"Version: {version}\n"
        f"Description: {name} test package\n"
    )


def debian_rootfs(
    packages: Iterable[Package],
    *,
    release: str = "12.5",
    passwd: str | None = None,
    arch: str = "amd64",
) -> dict[str, bytes]:
    """Files of a Debian *release* with *packages* installed (dpkg status database)."""
    major = release.split(".")[0]
    codename = _DEBIAN_CODENAMES.get(major, "unknown")
    os_release = (
        f'PRETTY_NAME="Debian GNU/Linux {major} ({codename})"\n'
        'NAME="Debian GNU/Linux"\n'
        f'VERSION_ID="{major}"\n'
        f'VERSION="{major} ({codename})"\n'
        f"VERSION_CODENAME={codename}\n"
        "ID=debian\n"
    )
    status = "\n".join(_dpkg_stanza(n, s, v, arch) for n, s, v in packages)
    files = {
        "etc/os-release": os_release.encode(),
        "etc/debian_version": f"{release}\n".encode(),
        "var/lib/dpkg/status": status.encode(),
    }
    if passwd is not None:
        files["etc/passwd"] = passwd.encode()
    return files


def alpine_rootfs(
    packages: Iterable[Package],
    *,
    release: str = "3.22.2",
    passwd: str | None = None,
    arch: str = "x86_64",
) -> dict[str, bytes]:
    """Files of an Alpine *release* with *packages* (``(name, origin, version)``) installed."""
    major_minor = ".".join(release.split(".")[:2])
    os_release = (
        'NAME="Alpine Linux"\n'
        "ID=alpine\n"
        f"VERSION_ID={release}\n"
        f'PRETTY_NAME="Alpine Linux v{major_minor}"\n'
    )
    installed = "".join(
        f"P:{name}\nV:{version}\nA:{arch}\no:{origin}\nL:MIT\n\n"
        for name, origin, version in packages
    )
    files = {
        "etc/alpine-release": f"{release}\n".encode(),
        "etc/os-release": os_release.encode(),
        "lib/apk/db/installed": installed.encode(),
    }
    if passwd is not None:
        files["etc/passwd"] = passwd.encode()
    return files
