"""Manifest media types the gate reads, as the OCI image spec and Docker's v2 schema name them.

Docker schema 1 (``…manifest.v1+prettyjws``) is deliberately absent: it was removed from
Docker and distribution, and its digests are not content addresses of what is served.
"""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"

#: Single-platform image manifests (config + layers).
IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
#: Multi-platform indexes (a list of manifest descriptors).
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
#: The ``Accept`` list for a manifest request: every type above, OCI first.
ALL_MANIFESTS = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST)
