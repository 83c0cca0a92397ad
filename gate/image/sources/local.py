"""Reading content-addressed files for the local sources, verified like registry blobs."""

from __future__ import annotations

from pathlib import Path

from gate.errors import ImageSourceError
from gate.oci.digests import VerifyingReader, file_chunks, verify


def read_verified(path: Path, digest: str, *, limit: int, what: str) -> bytes:
    """All of *path* (at most *limit* bytes), which must hash to *digest*."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise ImageSourceError(f"{what} is missing ({path})") from None
    except OSError as error:
        raise ImageSourceError(f"cannot read {what} ({path}): {error.strerror}") from None
    if len(data) > limit:
        raise ImageSourceError(f"{what} is larger than {limit} bytes")
    verify(data, digest, what=what, error=ImageSourceError)
    return data


def open_verified(
    path: Path,
    digest: str,
    *,
    what: str,
    size: int | None = None,
    offset: int = 0,
    length: int | None = None,
) -> VerifyingReader:
    """Stream *path* verified at EOF: the whole file, or *length* bytes from *offset*.

    A whole file must hold exactly *size* bytes when given; an extent (a member inside a
    tar archive) is exactly *length* bytes by construction.
    """
    try:
        handle = path.open("rb")
    except OSError as error:
        raise ImageSourceError(f"cannot read {what} ({path}): {error.strerror}") from None
    handle.seek(offset)
    limit = length if length is not None else (size + 1 if size is not None else 1 << 62)
    return VerifyingReader(
        file_chunks(handle, limit),
        digest,
        what=what,
        error=ImageSourceError,
        size=size,
        on_close=handle.close,
    )
