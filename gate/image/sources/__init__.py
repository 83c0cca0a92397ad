"""Image sources: a registry reference, an OCI layout, a docker archive or an image in the
local engine, opened once.

``open_image`` parses IMAGE, resolves it to the digest that will be judged, and returns an
:class:`ImageSource`. Only the registry source needs ``requests``, and it is imported there.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping

from gate.image.sources.interface import ImageSource, Layer
from gate.oci.reference import DaemonSpec, DockerArchiveSpec, OciLayoutSpec, parse_image

__all__ = ["ImageSource", "Layer", "open_image"]


def open_image(
    text: str,
    *,
    insecure_hosts: Collection[str] = (),
    platform: str = "linux/amd64",
    timeout: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> ImageSource:
    """Open IMAGE (``host/repo:tag``, ``…@sha256:…``, ``oci:DIR[:TAG]``, ``docker-archive:F``,
    ``docker-daemon:NAME[:TAG]``).

    Registry credentials come from *environ* (default ``os.environ``): see
    :func:`gate.image.auth.load_credentials`; so does the request timeout when ``timeout``
    is None (:func:`gate.image.registry.registry_timeout`), and the engine's address
    (``DOCKER_HOST``, :func:`gate.image.engine.engine_address`).
    """
    spec = parse_image(text)
    if isinstance(spec, OciLayoutSpec):
        from gate.image.sources.oci_layout import OciLayoutSource

        return OciLayoutSource(text, spec, platform)
    if isinstance(spec, DockerArchiveSpec):
        from gate.image.sources.docker_archive import DockerArchiveSource

        return DockerArchiveSource(text, spec)
    if isinstance(spec, DaemonSpec):
        from gate.image import engine
        from gate.image.sources.daemon import DaemonSource

        return DaemonSource(text, spec, engine.connect(os.environ if environ is None else environ))
    from gate.image.registry import connect
    from gate.image.sources.registry import RegistrySource

    client = connect(spec.registry, insecure_hosts=insecure_hosts, timeout=timeout, environ=environ)
    return RegistrySource(text, spec, client, platform)
