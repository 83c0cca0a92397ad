"""An image in the local container engine (``docker-daemon:NAME[:TAG]``), exported once.

The engine's API (Docker, or Podman's compatible service) is asked twice: ``GET
/images/NAME/json`` resolves NAME to the image id, then ``GET /images/<id>/get`` exports
*that id* (not NAME again, so a tag moved meanwhile cannot swap the image) as a
``docker save`` tar into a private temporary file. From then on the image is that file,
read exactly as ``docker-archive:FILE`` (:class:`DockerArchiveSource`): the passwd walk
and the scanners (``trivy --input FILE``, ``grype docker-archive:FILE``) all read the one
export, and nobody asks the engine by name again.

The judged digest is the exported config's digest, as for a docker archive. It must be the
id the engine reported: in Docker's classic store and in Podman the image id *is* the
config digest. Docker's containerd image store names an image by its manifest or index
digest instead; then the export (an OCI layout inside the tar) must hold that blob, and it
must lead to this config. Anything else is an engine that exported another image: refused.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Mapping
from pathlib import Path

from gate.errors import EngineError, ImageSourceError
from gate.image.engine import Engine
from gate.image.sources.docker_archive import DockerArchiveSource
from gate.model import Subject
from gate.oci.digests import compute, is_digest
from gate.oci.manifest import MAX_MANIFEST_BYTES, json_object
from gate.oci.reference import DaemonSpec, DockerArchiveSpec

#: An index may point at manifests; one level of nesting is all an export carries.
_MAX_DEPTH = 2


class DaemonSource(DockerArchiveSource):
    def __init__(self, text: str, spec: DaemonSpec, engine: Engine) -> None:
        record = engine.inspect(spec.name)
        image_id = record.get("Id")
        if not isinstance(image_id, str) or not is_digest(image_id):
            raise EngineError(
                f"{engine.where}: image {spec.name!r} has no valid Id ({str(image_id)[:80]!r})"
            )
        if spec.image_id is not None and image_id != spec.image_id:
            raise EngineError(f"{engine.where} resolved {spec.name!r} to another image {image_id}")
        directory = tempfile.mkdtemp(prefix="container-gate-daemon-")
        # Removed when the source is dropped, or at exit: the export may be gigabytes.
        self.close = weakref.finalize(self, shutil.rmtree, directory, ignore_errors=True)
        try:
            path = Path(directory) / "image.tar"
            with path.open("xb") as out:
                engine.export(image_id, out)
            try:
                super().__init__(text, DockerArchiveSpec(path))
            except ImageSourceError as error:
                raise EngineError(
                    f"{engine.where} exported {spec.name!r} as an unusable docker archive: "
                    f"{error.message}"
                ) from None
            exported = self.subject.digest
            assert exported is not None
            if exported != image_id and not self._leads_to(image_id, exported, _MAX_DEPTH):
                raise EngineError(
                    f"{engine.where} exported another image than {spec.name!r}: its id is "
                    f"{image_id}, the export's config is {exported}"
                )
        except BaseException:
            self.close()
            raise
        self.image_id = image_id
        self.subject = Subject(reference=text, digest=exported, repository=None, tag=spec.tag)

    def _leads_to(self, digest: str, config: str, depth: int) -> bool:
        """Whether blob *digest* in the export is a manifest of *config*, or an index of one."""
        members = self._members()
        name = "blobs/" + digest.replace(":", "/", 1)
        if depth == 0 or name not in members or members[name].size > MAX_MANIFEST_BYTES:
            return False
        body = self._read(members, name, MAX_MANIFEST_BYTES)
        doc = json_object(body) if compute(body, digest.partition(":")[0]) == digest else None
        if doc is None:
            return False
        descriptor = doc.get("config")
        if isinstance(descriptor, Mapping):
            return descriptor.get("digest") == config
        entries = doc.get("manifests")
        return isinstance(entries, list) and any(
            isinstance(entry, Mapping)
            and isinstance(entry.get("digest"), str)
            and is_digest(entry["digest"])
            and self._leads_to(entry["digest"], config, depth - 1)
            for entry in entries
        )


__all__ = ["DaemonSource"]
