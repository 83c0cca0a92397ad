"""Read a scanner's JSON report in one streaming pass, in memory that grows with what is kept.

This module is the single place the JSON parser is chosen: the standard library's own
scanner (``json``'s C ``scan_once``, as ``json.loads`` uses; its pure-Python twin where
the C one is missing), driven over a window of the file.

Why not ``json.load``: a 50,000-finding report is 70-150 MB, and loading it whole peaks at
5-6× the file in dicts and strings the gate never reads, with the cyclic garbage collector
rescanning them as they pile up (the 154 MB report of ``bench/reports.py``: 0.5 s to
decode with the collector paused, 1.3 s for ``json.load``). Why not a streaming parser
(ijson, used before): its C builder cost about twice what ``json``'s scanner does per
finding (0.45 s against 0.23 s for 50,000).

How: the outer structure (the root object, the paths named in ``arrays`` down to the
streamed arrays) is walked here, member by member; every other value, and every element
of a streamed array, is decoded whole by ``scan_once`` (exact JSON, and its own recursion
guard) and handed on. The file is read in chunks through an incremental UTF-8 decoder
(a character split across chunks is joined), and the window holds only the text not yet
walked. A value that reaches the end of the window, or fails there, may be cut by it:
the window is extended (at least doubled, so a huge value costs linear time) and the
value scanned again; an error anywhere else is final. The cyclic garbage collector is
paused while reading (see ``gate.gcpause``).

Nesting: a value nested past ``scan_once``'s recursion guard (Python's recursion limit:
about 1,000 levels on CPython 3.11) is refused before it is built, so a tiny, deeply
nested report costs no memory. Shallower nesting costs nothing here, so it has no limit
of its own: the chunk-by-chunk bracket guard the previous parser needed (ijson keeps one
prefix string per open level, its memory growing with the square of the depth) is gone,
and an exact count of each value's brackets would cost 6-9% of ``json.load``'s time on a
big report.

Fail closed: the root must be an object, the whole input must be exactly one JSON value
(RFC 8259: no ``NaN``, no trailing data, UTF-8 only), and a syntax error, truncation, or
trailing garbage raises ``ScannerError`` *after* sinks may already have seen elements;
callers therefore build nothing final until ``stream_report`` returns (a truncated file
never yields a shorter list). A key repeated on the streamed path streams every
occurrence (no finding is dropped); any other repeated key keeps its last value, as
``json.loads`` does.
"""

from __future__ import annotations

import codecs
import json.decoder
import json.scanner
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, NoReturn, Union

from gate.errors import ScannerError
from gate.gcpause import gc_paused

Parents = tuple[dict[str, Any], ...]
"""The objects enclosing a streamed element, root first."""

Sink = Callable[[Any, Parents], None]
"""Receives one finished array element and its enclosing objects, root first.

For ``"Results.item.Vulnerabilities"`` the parents are ``(root, result)``. Parents may
still be incomplete (keys that come later in the file are not there yet).
"""

CHUNK_SIZE = 256 * 1024
"""Bytes read per step (the window grows past it only for a value longer than that)."""

MAX_DEPTH = 256
"""Nesting always accepted (``scan_once`` refuses only far deeper): far above any real
report (Trivy's deepest path is ``Results[].Vulnerabilities[].CVSS.nvd``, 5 levels;
Grype's ``matches[].matchDetails[].searchedBy.distro``). A report refused for its nesting
nests deeper than this."""

BACKENDS = ("c", "python")
"""``json``'s scanners in order of preference: the C one, then pure Python (slower, same
results), so an interpreter without ``_json`` still gates correctly."""

_CUT_MARGIN = 16
"""An error this close to the end of the window may come from the cut (``tru|e``,
``1.|5``, ``\\u00|41``): the longest lookahead of ``scan_once`` is a surrogate pair."""

_WHITESPACE = frozenset(" \t\n\r")  # RFC 8259's four; str.isspace() knows many more
_skip = re.compile(r"[ \t\n\r]*").match  # always matches, maybe empty

_Tree = dict[str, "_Node"]
_Node = Union["_Tree", "_Leaf"]


class _Leaf:
    """A streamed array: its elements go to ``sink`` (or are discarded when ``None``)."""

    __slots__ = ("sink",)

    def __init__(self, sink: Sink | None) -> None:
        self.sink = sink


class _Constant(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's extension, not JSON."""


def _no_constant(name: str) -> NoReturn:
    raise _Constant(f"{name} is not a JSON value")


def _scanners(backend: str) -> tuple[Any, Any]:
    """``(scan_once, scanstring)`` of ``json``'s C or pure-Python implementation, strict:
    no raw control characters in strings, no ``NaN``."""
    decoder = json.decoder.JSONDecoder(parse_constant=_no_constant, strict=True)
    # Not in typeshed's stubs: the two implementations json.scanner chooses between.
    kind = "c" if backend == "c" else "py"
    make = getattr(json.scanner, f"{kind}_make_scanner", None)
    scanstring = getattr(json.decoder, f"{kind}_scanstring", None)
    if make is None or scanstring is None:
        raise ImportError(backend)
    return make(decoder), scanstring


def _backend() -> tuple[str, Any, Any]:
    for name in BACKENDS:
        try:
            return (name, *_scanners(name))
        except ImportError:
            continue
    raise ScannerError("no usable JSON scanner")  # pragma: no cover: python always exists


def backend_name() -> str:
    """The scanner in use (``c`` when ``json``'s C accelerator is there)."""
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


class _Refused(Exception):
    """The report is not one valid JSON object; ``args[0]`` says why."""


class _Parser:
    """One report's text as a window ``text[pos:]``, and the walk of its outer structure."""

    def __init__(
        self, handle: IO[bytes], tool: str, path: Path, scan_once: Any, scanstring: Any
    ) -> None:
        self.text = ""
        self.pos = 0
        self.eof = False
        self.dropped = 0  # characters of the file before ``text``
        self.broken = ""  # why the file's text ends early (invalid UTF-8)
        self.reach = 0  # the longest value decoded so far: extend before one may not fit
        self._handle = handle
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._tool = tool
        self._path = path
        self._scan_once = scan_once
        self._scanstring = scanstring

    # ------------------------------------------------------------------ the window

    def _more(self) -> None:
        """Drop what is consumed and append the next chunk (at least doubling the rest)."""
        if self.eof:
            raise AssertionError("read past the end")  # pragma: no cover: callers check eof
        rest = self.text[self.pos :]
        self.dropped += self.pos
        self.text, self.pos = "", 0  # freed before the next chunk is read: a flat peak
        try:
            data = self._handle.read(max(CHUNK_SIZE, len(rest)))
        except OSError as exc:
            raise _unreadable(self._tool, self._path, exc) from None
        self.eof = not data
        try:
            decoded = self._decoder.decode(data, final=self.eof)
        except UnicodeDecodeError as exc:
            # Keep the valid text before it: the error is reported where the walk
            # reaches it, and nothing after it is ever read.
            decoded = exc.object[: exc.start].decode("utf-8")
            self.broken = f"invalid UTF-8 ({exc.reason})"
            self.eof = True
        del data
        self.text = rest + decoded if rest else decoded
        self.pos = 0

    def _peek(self) -> str:
        """The next character that is not whitespace ('' at the end of the file)."""
        while True:
            text, pos = self.text, self.pos
            if pos < len(text):
                if text[pos] not in _WHITESPACE:
                    return text[pos]
                pos = self.pos = _skip(text, pos).end()  # type: ignore[union-attr]
                if pos < len(text):
                    return text[pos]
            if self.eof:
                if self.broken:
                    raise _Refused(self.broken)
                return ""
            self._more()

    def _scan(self) -> Any:
        """Decode the value at ``pos`` whole."""
        while True:
            text, pos = self.text, self.pos
            if len(text) - pos < self.reach and not self.eof:
                self._more()  # the value may not fit: extend now rather than fail and retry
                text, pos = self.text, self.pos
            try:
                value, end = self._scan_once(text, pos)
            except StopIteration as exc:  # no value at exc.value (nested ones too)
                self._cut_or_fail("Expecting value", exc.value)
                continue
            except json.decoder.JSONDecodeError as exc:
                self._cut_or_fail(exc.msg, exc.pos)
                continue
            except RecursionError:
                raise _too_deep(self._tool) from None
            except _Constant as exc:
                self._fail(str(exc), pos)
            except ValueError as exc:  # an integer past Python's digit limit
                if not self.eof:
                    self._more()
                    continue
                self._fail(str(exc), pos)
            if end > len(text) - _CUT_MARGIN and not self.eof:
                self._more()  # a number may go on past the end: "1" of "12", "1.5" of "1.5e3"
                continue
            if end - pos > self.reach:
                self.reach = min(end - pos, CHUNK_SIZE)
            self.pos = end
            return value

    def _key(self) -> str:
        """The member name at ``pos`` (``\\u`` escapes decoded), and its ``:``."""
        if self._peek() != '"':
            self._fail("expecting a property name in double quotes", self.pos)
        while True:
            text, pos = self.text, self.pos
            try:
                key, end = self._scanstring(text, pos + 1, True)
            except json.decoder.JSONDecodeError as exc:
                self._cut_or_fail(exc.msg, exc.pos)
                continue
            break
        self.pos = end
        if self._peek() != ":":
            self._fail("expecting ':' delimiter", self.pos)
        self.pos += 1
        self._peek()
        return str(key)

    def _next(self, closer: str) -> bool:
        """After a value: True at a ``,`` (consumed), False at ``closer`` (consumed)."""
        char = self._peek()
        self.pos += 1
        if char == ",":
            self._peek()
            return True
        if char == closer:
            return False
        self.pos -= 1
        self._fail(f"expecting ',' delimiter or {closer!r}", self.pos)

    def _cut_or_fail(self, message: str, pos: int) -> None:
        """Extend the window when the error at ``pos`` may come from its end; else refuse."""
        if not self.eof and (
            pos >= len(self.text) - _CUT_MARGIN or message.startswith("Unterminated")
        ):
            self._more()
            return
        self._fail(message[:1].lower() + message[1:], pos)

    def _fail(self, why: str, pos: int) -> NoReturn:
        if self.broken and pos >= len(self.text) - _CUT_MARGIN:
            raise _Refused(self.broken)  # the text ended there because the bytes did
        raise _Refused(f"{why} at character {self.dropped + pos}")

    # ------------------------------------------------------------------ the walk

    def document(self, tree: _Tree) -> dict[str, Any]:
        try:
            first = self._peek()
        except _Refused:  # not text at all
            first = "?"
        if not first:
            raise ScannerError(f"{self._tool} report is empty: {self._path}")
        if first != "{":
            raise ScannerError(f"{self._tool} report is not a JSON object: {self._path}")
        root: dict[str, Any] = {}
        self._members(root, tree, (), "")
        if self._peek():
            self._fail("extra data after the JSON object", self.pos)
        return root

    def _members(self, obj: dict[str, Any], tree: _Tree, parents: Parents, where: str) -> None:
        """Fill ``obj`` from the object at ``pos``, streaming the arrays of ``tree``."""
        inner = (*parents, obj)
        self.pos += 1  # the "{"
        if self._peek() == "}":
            self.pos += 1
            return
        while True:
            key = self._key()
            node = tree.get(key)
            if node is None:
                obj[key] = self._scan()
            else:
                self._value(node, obj.__setitem__, key, inner, f"{where}.{key}" if where else key)
            if not self._next("}"):
                return

    def _value(
        self,
        node: _Node,
        put: Callable[[Any, Any], None],
        key: Any,
        parents: Parents,
        where: str,
    ) -> None:
        """The value at ``pos`` on a streamed path: an array or object, or null (absent)."""
        char = self._peek()
        if isinstance(node, _Leaf):
            if char == "[":
                put(key, [])  # present, and empty: its elements go to the sink
                self._stream(node.sink, parents)
                return
            expected = "an array"
        elif set(node) == {"item"}:
            if char == "[":
                items: list[Any] = []
                put(key, items)
                self._elements(node["item"], items, parents, where)
                return
            expected = "an array"
        else:
            if char == "{":
                obj: dict[str, Any] = {}
                put(key, obj)
                self._members(obj, node, parents, where)
                return
            expected = "an object"
        value = self._scan()
        if value is not None:
            place = f"`{where}`" if where else "the root"
            raise ScannerError(f"{self._tool} report is malformed: {place} is not {expected}")
        put(key, None)

    def _elements(self, node: _Node, items: list[Any], parents: Parents, where: str) -> None:
        """The elements of an array on a streamed path (``Results``), each kept in ``items``."""
        self.pos += 1  # the "["
        if self._peek() == "]":
            self.pos += 1
            return

        def append(_: Any, value: Any) -> None:
            items.append(value)

        while True:
            self._value(node, append, None, parents, f"{where}[{len(items)}]")
            if not self._next("]"):
                return

    def _stream(self, sink: Sink | None, parents: Parents) -> None:
        """Each element of the array at ``pos`` to ``sink``, as soon as it is decoded.

        The hot loop of a report: ~50,000 turns, so the common case (a ``,`` right after
        the element, and the next one's first character in the window) is inlined; a
        ``]`` there is not skipped, so ``[1, ]`` fails in ``scan`` as it should.
        """
        self.pos += 1  # the "["
        if self._peek() == "]":
            self.pos += 1
            return
        scan = self._scan
        while True:
            value = scan()
            if sink is not None:
                sink(value, parents)
            text, pos = self.text, self.pos + 1
            if pos < len(text) and text[pos - 1] == ",":
                if text[pos] in _WHITESPACE:  # Trivy indents: ",\n      {"
                    pos = _skip(text, pos).end()  # type: ignore[union-attr]
                if pos < len(text):
                    self.pos = pos
                    continue
            if not self._next("]"):
                return


def _unreadable(tool: str, path: Path, exc: OSError) -> ScannerError:
    return ScannerError(f"cannot read {tool} report {path}: {exc.strerror or exc}")


def _too_deep(tool: str) -> ScannerError:
    return ScannerError(f"{tool} report is malformed: nested deeper than {MAX_DEPTH} levels")


def stream_report(path: Path, *, tool: str, arrays: Mapping[str, Sink | None]) -> dict[str, Any]:
    """Parse the JSON object in ``path`` in one pass, streaming the arrays named in ``arrays``.

    ``arrays`` maps dotted paths (``item`` is "each element of an array") that each end at
    an **array-valued key**, e.g. ``"matches"``, ``"Results.item.Vulnerabilities"``, to a
    sink. Every element of that array is passed to the sink exactly once, in document
    order, as soon as it is decoded. A ``None`` sink discards the elements (arrays the
    gate never reads, such as Grype's ``ignoredMatches`` or Trivy's ``Misconfigurations``),
    so they cannot accumulate.

    Returns the root object with everything else intact; each streamed array is left in
    place but empty (so "present" and "absent" can still be told apart). A ``null``
    where an array or object is expected counts as absent.

    Raises ``ScannerError`` (one-line message naming ``tool``) when the file cannot be
    read, is empty, is not one JSON object, is truncated or has trailing garbage, nests
    past the scanner's recursion limit, or when a named path holds the wrong type (e.g.
    ``"Results": {}``). Exceptions raised by a sink propagate unchanged.
    """
    with gc_paused():
        return _stream(path, tool, arrays)


def _stream(path: Path, tool: str, arrays: Mapping[str, Sink | None]) -> dict[str, Any]:
    backend, scan_once, scanstring = _backend()
    tree = _compile(arrays)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise _unreadable(tool, path, exc) from None
    with handle:
        parser = _Parser(handle, tool, path, scan_once, scanstring)
        try:
            return parser.document(tree)
        except _Refused as exc:
            raise ScannerError(
                f"{tool} report is not valid JSON (parse error: {exc.args[0]}): {path}",
                detail=f"(parser: json, {backend} scanner)",
            ) from None
