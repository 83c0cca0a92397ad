"""Read /etc/passwd and /etc/group as the container would see them, streaming the layers.

The runtime resolves ``config.User`` through these files (``gate.oci.users``). The
effective file is the one the union filesystem would show: layers apply in order, a later
layer's file replaces an earlier one, and the OCI whiteouts delete it — ``etc/.wh.passwd``,
``.wh.etc``, or an opaque marker (``etc/.wh..wh..opq``) hiding everything below
(image-spec "Whiteouts"). A whiteout only affects *lower* layers, so a layer that both
whites out and re-adds the file shows the file. A deleted file does not exist: the runtime
reads none (moby/sys/user's ``GetExecUserPath`` passes a nil reader).

That is decided top-down, one walk for all the paths: the topmost layer that touches a
path decides it, and once every path is decided the layers below are never opened — base
layers, the largest ones, usually are not read at all. A layer is read to its end (a
whiteout may come after the file in tar order, a second entry replaces the first, and the
digest is only verified at EOF). Tars are read in stream mode (``r|*``, gzip or plain),
never extracted, and only the wanted files themselves are held in memory.
"""

from __future__ import annotations

import posixpath
import tarfile
import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from gate.errors import ImageSourceError
from gate.image.sources.interface import Layer
from gate.model import UserFile, UserFiles
from gate.oci.digests import VerifyingReader

PASSWD = "etc/passwd"  # noqa: S105 (a path, not a password)
GROUP = "etc/group"
MAX_PASSWD_BYTES = 4 * 1024 * 1024
"""Per file; a larger one is not read (refused, not guessed)."""
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_TAR_BUFSIZE = 2048
"""Compressed bytes per read while walking a layer. gzip inflates up to ~1000:1 (a layer
of zeros), so each read may become ~2 MiB; tarfile's default (10 KiB) allowed ~10 MiB."""


@dataclass(frozen=True)
class _Hidden:
    """This layer decides that the gate cannot read the file, and why."""

    reason: str


@dataclass(frozen=True)
class _Deleted:
    """This layer deletes the file from the layers below (a whiteout): it does not exist."""

    reason: str


_Outcome = bytes | _Hidden | _Deleted
"""What one layer decides about one path."""


def _hiders(path: str) -> dict[str, str]:
    """The entries that delete *path* from lower layers (whiteouts of it or of a parent,
    opaque markers in a parent), each with the parent it names."""
    parts = path.split("/")
    hiders = {}
    for depth in range(len(parts)):
        parent = "/".join(parts[:depth])
        prefix = parent + "/" if parent else ""
        hiders[prefix + ".wh." + parts[depth]] = parent
        hiders[prefix + ".wh..wh..opq"] = parent
    return hiders


class _Prefixed:
    """A read-only stream that first returns *prefix* (the magic bytes already peeked)."""

    def __init__(self, prefix: bytes, stream: VerifyingReader) -> None:
        self._prefix = prefix
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size < 0:
                data, self._prefix = self._prefix + self._stream.read(), b""
                return data
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            if len(data) < size:
                data += self._stream.read(size - len(data))
            return data
        return self._stream.read(size)


def _normalise(name: str) -> str:
    return posixpath.normpath(name).lstrip("/") if name else name


def _drain(stream: VerifyingReader) -> None:
    """Read the rest, so a verifying stream checks its digest."""
    while stream.read(1 << 16):
        pass


def _entry(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes | _Hidden:
    """What one tar entry for a wanted path provides: its bytes, or why it cannot be read."""
    path = "/" + _normalise(member.name)
    if member.isreg():
        if member.size > MAX_PASSWD_BYTES:
            return _Hidden(f"{path} is larger than {MAX_PASSWD_BYTES} bytes")
        handle = tar.extractfile(member)
        return handle.read() if handle is not None else b""
    if member.issym():
        return _Hidden(f"{path} is a symbolic link to {member.linkname}, which is not followed")
    if member.islnk():
        return _Hidden(
            f"{path} is a hard link to /{_normalise(member.linkname)}, which is not followed"
        )
    return _Hidden(f"{path} is not a regular file")


def _walk(tar: tarfile.TarFile, paths: Collection[str]) -> dict[str, _Outcome]:
    """What this layer decides about each of *paths*, reading the whole tar.

    As a runtime extracts a layer, entries apply in tar order, so when one layer holds a
    file twice, the **last** entry is the file the container sees (taking the first would
    let a layer show ``app:x:1000`` and ship ``app:x:0``). A whiteout hides only lower
    layers, so it decides only when the layer adds no file of its own. A parent directory
    that is not a directory (``etc`` as a file or link) makes the path undecidable: refused,
    not guessed.
    """
    provided: dict[str, bytes | _Hidden] = {}
    deleted: dict[str, _Deleted] = {}
    broken: dict[str, _Hidden] = {}
    hiders = {path: _hiders(path) for path in paths}
    for member in tar:
        name = _normalise(member.name)
        for path in paths:
            if name == path:
                provided[path] = _entry(tar, member)
            elif name in hiders[path]:
                deleted[path] = _Deleted(f"/{path} is deleted (whiteout /{name})")
            elif name in hiders[path].values() and name and not member.isdir():
                broken.setdefault(path, _Hidden(f"/{name} is not a directory"))
    return {**deleted, **provided, **broken}


def _read_layer(layer: Layer, paths: Collection[str]) -> dict[str, _Outcome]:
    """What this layer decides about each of *paths* it touches."""
    with layer.open() as stream:
        magic = stream.read(4)
        if magic == _ZSTD_MAGIC:
            raise ImageSourceError(
                f"layer {layer.digest} is zstd-compressed, which the gate cannot read"
            )
        try:
            with tarfile.open(  # type: ignore[call-overload]
                fileobj=_Prefixed(magic, stream), mode="r|*", bufsize=_TAR_BUFSIZE
            ) as tar:
                outcome = _walk(tar, paths)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
            raise ImageSourceError(f"layer {layer.digest} is not a readable tar: {error}") from None
        _drain(stream)
    return outcome


def read_files(paths: Collection[str], layers: Sequence[Layer]) -> dict[str, UserFile]:
    """Each of *paths* (``etc/passwd``) as the container would see it, in one top-down walk.

    Raises ``ImageSourceError``/``RegistryError`` when a layer cannot be read or does not
    match its digest.
    """
    found: dict[str, UserFile] = {}
    for layer in reversed(layers):
        undecided = [path for path in paths if path not in found]
        if not undecided:
            break
        for path, outcome in _read_layer(layer, undecided).items():
            found[path] = _user_file(path, outcome, layer.digest)
    for path in paths:
        found.setdefault(path, UserFile("/" + path, None, reason=f"the image has no /{path}"))
    return found


def _user_file(path: str, outcome: _Outcome, layer: str) -> UserFile:
    if isinstance(outcome, bytes):
        return UserFile("/" + path, outcome, layer)
    readable = isinstance(outcome, _Deleted)
    return UserFile("/" + path, None, layer, outcome.reason, readable=readable)


def read_user_files(layers: Sequence[Layer]) -> UserFiles:
    """/etc/passwd and /etc/group, for resolving ``config.User`` (``gate.oci.users``)."""
    files = read_files((PASSWD, GROUP), layers)
    return UserFiles(files[PASSWD], files[GROUP])
