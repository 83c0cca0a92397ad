"""Read a scanner's JSON report in one streaming pass, in memory that grows with what is kept.

This module is the single place the JSON parser is chosen (ijson, preferring its C
backend ``yajl2_c`` and falling back to the pure-Python one).

Why not ``json.load``: a 50,000-finding report is ~60 MB, and loading it whole peaks at
~3.6× the file in dicts and strings the gate never reads. Streaming the finding arrays
with ijson's C backend is faster *and* flat in memory: measured here on an 86 MB Trivy
report, parsing into the gate's model took 0.85-0.9 s and peaked at 65 MiB RSS, against
0.8-1.1 s and 400 MiB for a bare ``json.load``.

Two measured choices keep it there: ijson is driven through its file-reading generator
(its coroutine API passes every event between C stages as a Python tuple, ~2× the
instructions), and the cyclic garbage collector is paused while reading (see
``gate.gcpause``).

How: the document is built by one ijson ``items`` pipeline whose root object the reader
holds from the first byte (ijson's builder places every container into its parent when
the container *starts*). After each chunk the reader walks the named arrays, hands every
*finished* element to its sink, and deletes it, so big arrays never accumulate while the
small fields (``SchemaVersion``, ``Metadata``, Grype's ``source``/``descriptor``) stay in
the root whatever their position in the file. One parse, one read of the file.

Fail closed: the root must be an object, the whole input must be exactly one JSON value,
and a syntax error, truncation, or trailing garbage raises ``ScannerError`` *after* sinks
may already have seen elements; callers therefore build nothing final until
``stream_report`` returns (a truncated file never yields a shorter list).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Union

from gate.errors import ScannerError
from gate.gcpause import gc_paused
from gate.scanners._nesting import NestingGuard, TooDeep

Parents = tuple[dict[str, Any], ...]
"""The objects enclosing a streamed element, root first."""

Sink = Callable[[Any, Parents], None]
"""Receives one finished array element and its enclosing objects, root first.

For ``"Results.item.Vulnerabilities"`` the parents are ``(root, result)``. Parents may
still be incomplete (keys that come later in the file are not there yet).
"""

CHUNK_SIZE = 256 * 1024
"""Bytes read per step; findings are drained between steps."""

BACKENDS = ("yajl2_c", "python")
"""ijson backends in order of preference: the C extension, then pure Python (slow, same
results), so a platform without the compiled wheel still gates correctly."""

_Tree = dict[str, "_Node"]
_Node = Union["_Tree", "_Leaf"]


class _Leaf:
    """A streamed array: its elements go to ``sink`` (or are discarded when ``None``)."""

    __slots__ = ("sink",)

    def __init__(self, sink: Sink | None) -> None:
        self.sink = sink


def _parse_errors() -> tuple[type[BaseException], ...]:
    import ijson

    return (ijson.JSONError, UnicodeDecodeError, ValueError, RecursionError)


def _unreadable(tool: str, path: Path, exc: OSError) -> ScannerError:
    return ScannerError(f"cannot read {tool} report {path}: {exc.strerror or exc}")


def _invalid(tool: str, path: Path, exc: BaseException, backend: str) -> ScannerError:
    message = exc.args[0] if exc.args else ""
    if isinstance(message, bytes):  # yajl reports its context as raw bytes
        message = message.decode("utf-8", "replace")
    first, _, rest = str(message).strip().partition("\n")
    return ScannerError(
        f"{tool} report is not valid JSON ({first.strip() or type(exc).__name__}): {path}",
        detail=f"{rest.rstrip()}\n(parser: ijson {backend})".strip(),
    )


def _backend() -> tuple[str, Any]:
    import ijson

    for name in BACKENDS:
        try:
            return name, ijson.get_backend(name)
        except ImportError:
            continue
    raise ScannerError("no usable ijson backend")  # pragma: no cover: python always exists


def backend_name() -> str:
    """The ijson backend in use (``yajl2_c`` when the C extension is installed)."""
    return _backend()[0]


def _compile(arrays: Mapping[str, Sink | None]) -> _Tree:
    tree: _Tree = {}
    for path in arrays:
        parts = path.split(".")
        if not path or parts[-1] == "item" or "" in parts:
            raise ValueError(f"stream path {path!r} must name an array by its key")
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if isinstance(child, _Leaf):
                raise ValueError(f"stream path {path!r} lies inside streamed array")
            node = child
        if parts[-1] in node:
            raise ValueError(f"stream path {path!r} overlaps another")
        node[parts[-1]] = _Leaf(arrays[path])
    return tree


class _Walker:
    """Drains the named arrays of the partially built document after each chunk."""

    def __init__(self, tree: _Tree, tool: str) -> None:
        self.tree = tree
        self._tool = tool
        # id(list) -> (list, count of elements already walked to completion). The list
        # is held so its id cannot be reused by a new list (duplicate keys replace one).
        self._done: dict[int, tuple[list[Any], int]] = {}

    def _malformed(self, where: str, expected: str) -> ScannerError:
        place = f"`{where}`" if where else "the root"
        return ScannerError(f"{self._tool} report is malformed: {place} is not {expected}")

    def walk(
        self,
        value: Any,
        tree: _Node,
        parents: Parents,
        complete: bool,
        where: str,
    ) -> None:
        if value is None:
            return  # null is absence; the scanner's parser decides whether that is allowed
        if isinstance(tree, _Leaf):
            if not isinstance(value, list):
                raise self._malformed(where, "an array")
            self._drain(value, tree, parents, complete)
            return
        if set(tree) == {"item"}:
            if not isinstance(value, list):
                raise self._malformed(where, "an array")
            self._walk_elements(value, tree["item"], parents, complete, where)
            return
        if not isinstance(value, dict):
            raise self._malformed(where, "an object")
        inner = (*parents, value)
        for key, sub in tree.items():
            self.walk(value.get(key), sub, inner, complete, f"{where}.{key}" if where else key)

    def _walk_elements(
        self,
        items: list[Any],
        tree: _Node,
        parents: Parents,
        complete: bool,
        where: str,
    ) -> None:
        _, start = self._done.get(id(items), (items, 0))
        last = len(items) - 1
        for index in range(start, len(items)):
            finished = complete or index < last
            self.walk(items[index], tree, parents, finished, f"{where}[{index}]")
            if finished:
                self._done[id(items)] = (items, index + 1)

    @staticmethod
    def _drain(items: list[Any], leaf: _Leaf, parents: Parents, complete: bool) -> None:
        count = len(items)
        if not complete and count and isinstance(items[-1], (dict, list)):
            count -= 1  # the last container may still be filling up
        if not count:
            return
        if leaf.sink is not None:
            sink = leaf.sink
            for element in items[:count]:
                sink(element, parents)
        del items[:count]


class _DrainingReader:
    """The file object ijson reads from: before each chunk, drain what is parsed so far.

    ijson's file-driven generator is several times cheaper than feeding its coroutines
    chunk by chunk (those pass every event between C stages as a Python tuple), so the
    draining rides on ``read``. Anything raised here is remembered in ``failure`` and
    ends the input, so it can be told apart from the parse error that follows.
    """

    def __init__(
        self, handle: IO[bytes], walker: _Walker, root: dict[str, Any], tool: str, path: Path
    ) -> None:
        self.walker = walker
        self.failure: BaseException | None = None
        self.started = False
        self._guard = NestingGuard()
        self._handle = handle
        self._root = root
        self._tool = tool
        self._path = path

    def read(self, size: int = -1) -> bytes:
        if size == 0 or self.failure is not None:
            return b""
        try:
            self.walker.walk(self._root, self.walker.tree, (), False, "")
            chunk = self._read(size)
            if not self.started:
                stripped = chunk.lstrip(b" \t\r\n")
                if stripped and not stripped.startswith(b"{"):
                    raise ScannerError(f"{self._tool} report is not a JSON object: {self._path}")
                self.started = bool(stripped)
            self._guard.check(chunk)
            return chunk
        except TooDeep as exc:
            self.failure = ScannerError(
                f"{self._tool} report is malformed: nested deeper than {exc.args[0]} levels"
            )
            return b""
        except Exception as exc:
            # End the input instead of raising through ijson: its pure-Python backend
            # would leave half-run coroutines behind that complain when collected.
            self.failure = exc
            return b""

    def _read(self, size: int) -> bytes:
        """A chunk of the file, extended so that it never ends inside a ``\\X`` escape."""
        try:
            chunk = self._handle.read(size)
            while chunk.endswith(b"\\"):
                more = self._handle.read(1)
                if not more:
                    break
                chunk += more
        except OSError as exc:
            raise _unreadable(self._tool, self._path, exc) from None
        return chunk


def stream_report(path: Path, *, tool: str, arrays: Mapping[str, Sink | None]) -> dict[str, Any]:
    """Parse the JSON object in ``path`` in one pass, streaming the arrays named in ``arrays``.

    ``arrays`` maps dotted paths (ijson prefix syntax: ``item`` is "each element of an
    array") that each end at an **array-valued key**, e.g. ``"matches"``,
    ``"Results.item.Vulnerabilities"``, to a sink. Every element of that array is passed
    to the sink exactly once, in document order, as soon as it is complete. A ``None``
    sink discards the elements (arrays the gate never reads, such as Grype's
    ``ignoredMatches`` or Trivy's ``Packages``), so they cannot accumulate.

    Returns the root object with everything else intact; each streamed array is left in
    place but empty (so "present" and "absent" can still be told apart). A ``null``
    where an array or object is expected counts as absent.

    Raises ``ScannerError`` (one-line message naming ``tool``) when the file cannot be
    read, is empty, is not one JSON object, is truncated or has trailing garbage, or
    when a named path holds the wrong type (e.g. ``"Results": {}``). Exceptions raised by
    a sink propagate unchanged.
    """
    with gc_paused():
        return _stream(path, tool, arrays)


def _stream(path: Path, tool: str, arrays: Mapping[str, Sink | None]) -> dict[str, Any]:
    backend_label, backend = _backend()
    tree = _compile(arrays)
    root: dict[str, Any] = {}
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise _unreadable(tool, path, exc) from None
    with handle:
        reader = _DrainingReader(handle, _Walker(tree, tool), root, tool, path)
        # The builder asks ``map_type`` for every object it starts: hand it our root
        # first, then fresh dicts. Both callables are C-level: no cost per object.
        map_type = itertools.chain((root,), iter(dict, None)).__next__
        try:
            documents = list(
                backend.items(reader, "", map_type=map_type, use_float=True, buf_size=CHUNK_SIZE)
            )
        except _parse_errors() as exc:
            if reader.failure is not None:
                raise reader.failure from None  # our own error or a sink's, unchanged
            if not reader.started:
                raise ScannerError(f"{tool} report is empty: {path}") from None
            raise _invalid(tool, path, exc, backend_label) from None
    if reader.failure is not None:
        raise reader.failure
    whole = len(documents) == 1 and documents[0] is root
    if not whole:
        raise ScannerError(f"{tool} report is not a JSON object: {path}")
    reader.walker.walk(root, tree, (), True, "")
    return root
