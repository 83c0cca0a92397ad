"""Content digests: validate them, compute them, and verify bytes against them.

Every byte the gate reads from a registry or a layout is checked against the digest that
named it, as containerd's content store does: a registry (or a tampered layout) cannot swap
what is judged. Streams are verified at EOF, so a layer is never held in memory.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Iterator

from gate.errors import GateError

#: The digest algorithms of the OCI image spec ("Registered algorithms").
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")


def is_digest(text: str) -> bool:
    """True for ``sha256:<64 hex>`` or ``sha512:<128 hex>`` (lowercase, as the spec requires).

    The whole text: ``$`` would also match before a trailing newline.
    """
    return _DIGEST.fullmatch(text) is not None


def compute(data: bytes, algorithm: str = "sha256") -> str:
    """``algorithm:<hex>`` of *data*."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def algorithm_of(digest: str) -> str:
    return digest.partition(":")[0]


def verify(data: bytes, expected: str, *, what: str, error: type[GateError]) -> None:
    """Raise *error* unless *data* hashes to *expected*."""
    actual = compute(data, algorithm_of(expected))
    if actual != expected:
        raise error(f"digest mismatch for {what}: expected {expected}, got {actual}")


class VerifyingReader(io.RawIOBase):
    """A read-only stream over *chunks* that checks the digest (and size) when it reaches EOF.

    A mismatch raises *error* from ``read``, so a consumer that reads to the end can never
    accept tampered content. Consumers that stop early must call :meth:`drain` to verify.
    """

    def __init__(
        self,
        chunks: Iterator[bytes],
        expected: str,
        *,
        what: str,
        error: type[GateError],
        size: int | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._chunks = chunks
        self._expected = expected
        self._what = what
        self._error = error
        self._size = size
        self._on_close = on_close
        self._hash = hashlib.new(algorithm_of(expected))
        self._buffer = b""
        self._seen = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(target).cast("B")
        while not self._buffer and not self._eof:
            self._pull()
        count = min(len(view), len(self._buffer))
        view[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count

    def _pull(self) -> None:
        chunk = next(self._chunks, None)
        if chunk is None:
            self._eof = True
            self._finish()
            return
        self._seen += len(chunk)
        if self._size is not None and self._seen > self._size:
            raise self._error(f"{self._what} is larger than its descriptor's {self._size} bytes")
        self._hash.update(chunk)
        self._buffer = chunk

    def _finish(self) -> None:
        actual = f"{algorithm_of(self._expected)}:{self._hash.hexdigest()}"
        if actual != self._expected:
            raise self._error(
                f"digest mismatch for {self._what}: expected {self._expected}, got {actual}"
            )
        if self._size is not None and self._seen != self._size:
            raise self._error(
                f"{self._what} has {self._seen} bytes, its descriptor says {self._size}"
            )

    def read(self, size: int | None = -1) -> bytes:
        """Up to *size* bytes (all that remain when negative or None); ``b""`` at EOF."""
        if size is None or size < 0:
            parts = [self._buffer]
            self._buffer = b""
            while not self._eof:
                self._pull()
                parts.append(self._buffer)
                self._buffer = b""
            return b"".join(parts)
        while not self._buffer and not self._eof and size:
            self._pull()
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def drain(self) -> None:
        """Read (and discard) the rest, so the digest is verified."""
        self._buffer = b""
        while not self._eof:
            self._pull()
            self._buffer = b""

    def close(self) -> None:
        if not self.closed and self._on_close is not None:
            self._on_close()
        super().close()


def file_chunks(
    stream: io.BufferedIOBase | io.RawIOBase, limit: int, size: int = 1 << 16
) -> Iterator[bytes]:
    """Yield at most *limit* bytes of *stream* in chunks (a tar member's extent, for example)."""
    left = limit
    while left > 0:
        chunk = stream.read(min(size, left))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk
