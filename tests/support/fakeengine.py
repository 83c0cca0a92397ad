"""A fault-injecting container engine: the scripted fake registry, on a unix socket.

Podman serves the real Engine API (``tests/support/podman.py``); the faults it cannot be made
to produce (a 500, an export cut off mid-stream, an export of another image than the id it
reported, a stall) come from :class:`~tests.support.fakeregistry.FakeRegistry`'s scripted
replies, served where an engine listens::

    with fake_engine() as fake:
        serve_image(fake, "app:1", docker_archive_bytes(image, "app:1"))
        env["DOCKER_HOST"] = f"unix://{fake.unix_path}"
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from pathlib import Path

from tests.support.fakeregistry import FakeRegistry, Reply
from tests.support.oci import BuiltImage, write_docker_archive


class FakeEngine(FakeRegistry):
    """Scripted replies on ``<new temp dir>/engine.sock`` (pytest's tmp_path can be too long
    for a socket's 108-byte path); leaving removes the socket and its directory."""

    def __init__(self) -> None:
        super().__init__(unix_path=Path(tempfile.mkdtemp(prefix="engine-")) / "engine.sock")

    def __exit__(self, *exc_info: object) -> None:
        super().__exit__(*exc_info)
        assert self.unix_path is not None
        self.unix_path.parent.rmdir()


def fake_engine() -> FakeEngine:
    """A :class:`FakeEngine`, to use as a context manager."""
    return FakeEngine()


def docker_archive_bytes(image: BuiltImage, repo_tag: str) -> bytes:
    """The ``docker save`` tar :func:`tests.support.oci.write_docker_archive` writes."""
    with tempfile.TemporaryDirectory() as tmp:
        return write_docker_archive(Path(tmp) / "image.tar", image, repo_tag).read_bytes()


def with_members(archive: bytes, members: dict[str, bytes]) -> bytes:
    """*archive* with *members* added (a containerd-store export carries ``blobs/…``)."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(archive)) as source,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as target,
    ):
        for member in source.getmembers():
            target.addfile(member, source.extractfile(member))
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            target.addfile(info, io.BytesIO(data))
    return out.getvalue()


def serve_image(
    fake: FakeRegistry,
    name: str,
    archive: bytes,
    *,
    image_id: str,
    inspect: Reply | None = None,
    export: Reply | None = None,
) -> None:
    """``/images/NAME/json`` answers *image_id* (or *inspect*); ``/images/<id>/get`` *archive*."""
    record = json.dumps({"Id": image_id, "RepoTags": [name]}).encode()
    fake.script(f"/images/{name}/json", inspect or Reply(200, record))
    fake.script(f"/images/{image_id}/get", export or Reply(200, archive))
