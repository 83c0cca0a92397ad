"""Resolve a user *name* through the image's own ``/etc/passwd``, streaming its layers.

The effective ``/etc/passwd`` is the one the union filesystem would show: layers apply in
order, a later layer's file replaces an earlier one, and the OCI whiteouts delete it —
``etc/.wh.passwd``, ``.wh.etc``, or an opaque marker (``etc/.wh..wh..opq``) hiding everything
below (image-spec "Whiteouts"). A whiteout only affects *lower* layers, so a layer that both
whites out and re-adds the file shows the file.

That is decided top-down: the topmost layer that touches the path decides, and the layers
below it are never opened — base layers, the largest ones, usually are not read at all.
The deciding layer is read to its end (a whiteout may come after the file in tar order, a
second ``etc/passwd`` entry replaces the first, and the digest is only verified at EOF).
Tars are read in stream mode (``r|*``, gzip or plain), never extracted, and only the
passwd file itself is held in memory.

Like glibc's ``getpwnam``, the first line with the name wins.
"""

from __future__ import annotations

import posixpath
import re
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from gate.errors import ImageSourceError
from gate.image.digests import VerifyingReader
from gate.image.sources.interface import Layer
from gate.model import UserLookup

PASSWD = "etc/passwd"  # noqa: S105 (a path, not a password)
#: Paths whose presence in a layer hides a lower layer's /etc/passwd.
_HIDERS = frozenset({"etc/.wh.passwd", ".wh.etc", "etc/.wh..wh..opq", ".wh..wh..opq"})
MAX_PASSWD_BYTES = 4 * 1024 * 1024
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_UID = re.compile(r"^[0-9]+$")
_TAR_BUFSIZE = 2048
"""Compressed bytes per read while walking a layer. gzip inflates up to ~1000:1 (a layer
of zeros), so each read may become ~2 MiB; tarfile's default (10 KiB) allowed ~10 MiB."""


@dataclass(frozen=True)
class _Hidden:
    """This layer decides that there is no readable /etc/passwd, and why."""

    reason: str


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
    """What one ``etc/passwd`` tar entry provides: its bytes, or why it cannot be read."""
    if member.isreg():
        if member.size > MAX_PASSWD_BYTES:
            return _Hidden(f"/etc/passwd is larger than {MAX_PASSWD_BYTES} bytes")
        handle = tar.extractfile(member)
        return handle.read() if handle is not None else b""
    if member.issym():
        return _Hidden(
            f"/etc/passwd is a symbolic link to {member.linkname}, which is not followed"
        )
    if member.islnk():
        return _Hidden(
            f"/etc/passwd is a hard link to /{_normalise(member.linkname)}, which is not followed"
        )
    return _Hidden("/etc/passwd is not a regular file")


def _walk(tar: tarfile.TarFile) -> bytes | _Hidden | None:
    """What this layer decides about /etc/passwd, reading the whole tar.

    As a runtime extracts a layer, entries apply in tar order, so when one layer holds
    ``etc/passwd`` twice, the **last** entry is the file the container sees (taking the
    first would let a layer show ``app:x:1000`` and ship ``app:x:0``). A whiteout hides
    only lower layers, so it decides only when the layer adds no passwd of its own. An
    ``etc`` that is not a directory makes the layer undecidable: refused, not guessed.
    """
    provided: bytes | _Hidden | None = None
    hidden: _Hidden | None = None
    for member in tar:
        path = _normalise(member.name)
        if path == PASSWD:
            provided = _entry(tar, member)
        elif path == "etc" and not member.isdir():
            return _Hidden("/etc is not a directory")
        elif path in _HIDERS:
            hidden = _Hidden(f"/etc/passwd is deleted (whiteout /{path})")
    return provided if provided is not None else hidden


def _read_layer(layer: Layer) -> bytes | _Hidden | None:
    """The passwd bytes this layer provides, a reason it hides passwd, or None (untouched)."""
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
                outcome: bytes | _Hidden | None = _walk(tar)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
            raise ImageSourceError(f"layer {layer.digest} is not a readable tar: {error}") from None
        _drain(stream)
    return outcome


def parse_passwd(name: str, text: str, layer: str | None) -> UserLookup:
    """Look *name* up in passwd *text* (``name:password:uid:gid:gecos:home:shell``)."""
    for line in text.splitlines():
        fields = line.split(":")
        if not line or line.startswith("#") or fields[0] != name:
            continue
        if len(fields) < 3 or not _UID.match(fields[2]):
            return UserLookup(
                name, None, layer, reason=f"the /etc/passwd line for {name!r} is malformed"
            )
        return UserLookup(name, int(fields[2]), layer)
    return UserLookup(name, None, layer, reason=f"user {name!r} is not in /etc/passwd")


def lookup_user(name: str, layers: Sequence[Layer]) -> UserLookup:
    """Resolve *name* to a uid through the image's effective /etc/passwd.

    ``uid`` is None, with a reason, when the name is absent or the image has no usable
    passwd. Raises ``ImageSourceError``/``RegistryError`` when a layer cannot be read or
    does not match its digest.
    """
    for layer in reversed(layers):
        outcome = _read_layer(layer)
        if outcome is None:
            continue
        if isinstance(outcome, _Hidden):
            return UserLookup(name, None, layer.digest, reason=outcome.reason)
        return parse_passwd(name, outcome.decode("utf-8", "replace"), layer.digest)
    return UserLookup(name, None, None, reason="the image has no /etc/passwd")
