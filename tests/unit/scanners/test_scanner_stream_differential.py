"""Differential: the streaming reader against a plain ``json.loads`` reading of the same bytes.

``gate.scanners._stream`` walks a report's outer structure itself and decodes each value
with ``json``'s scanner over a window of the file. The reference here reads the whole file
with ``json.loads`` (keeping repeated keys, through ``object_pairs_hook``) and walks the
decoded document with the same rules, written plainly: each streamed array's elements to
its sink in document order, every other member kept (the last of a repeated key), null
on a streamed path as absence, a wrong type there as malformed. Reports are generated as JSON *text*, so the cases a hand-written
walk gets wrong come up: whitespace wherever JSON allows it, any character of a string or
key escaped (``"Descr\\u0069ption"`` is the key ``Description``), escaped quotes and
backslashes, key names and brackets inside strings, repeated keys, multi-byte UTF-8 split
by the tiny windows drawn here, values nested as deep as always accepted or far past
what the parser takes; then sometimes cut, padded with trailing data or given a wrong byte.

When ``json.loads`` accepts the bytes, both readings must agree exactly (the same sink
calls, the same root, or the same error); when it refuses them, so must the reader (with
any message: a streaming reader may meet a malformed finding before the syntax error).
The Trivy test runs Trivy's own parser over both readings. Examples per property come
from the Hypothesis profile (tests/conftest.py): 100 in CI.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import example, given
from hypothesis import strategies as st

from gate.errors import ScannerError
from gate.scanners import _stream, trivy
from gate.scanners._stream import MAX_DEPTH, Parents, Sink

# --------------------------------------------------------------------------- the reference


class _Pairs(list[tuple[str, Any]]):
    """An object's members in file order, repeated keys kept."""


def _plain(value: Any) -> Any:
    if type(value) is _Pairs:
        return {key: _plain(item) for key, item in value}
    if type(value) is list:
        return [_plain(item) for item in value]
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def reference_stream(path: Path, *, tool: str, arrays: Mapping[str, Sink | None]) -> dict[str, Any]:
    """``stream_report``'s contract, read with ``json.loads`` and a plain recursive walk."""
    data = path.read_bytes()
    start = data.lstrip(b" \t\r\n")
    if not start:
        raise ScannerError(f"{tool} report is empty: {path}")
    if not start.startswith(b"{"):
        raise ScannerError(f"{tool} report is not a JSON object: {path}")
    try:
        doc = json.loads(
            data.decode("utf-8"), object_pairs_hook=_Pairs, parse_constant=_no_constant
        )
    except (ValueError, RecursionError) as exc:
        raise ScannerError(f"{tool} report is not valid JSON (reference: {exc}): {path}") from None
    root: dict[str, Any] = {}
    _Walk(tool).members(doc, root, _stream._compile(arrays), (), "")
    return root


class _Walk:
    def __init__(self, tool: str) -> None:
        self.tool = tool

    def members(
        self,
        pairs: _Pairs,
        obj: dict[str, Any],
        tree: Any,
        parents: Parents,
        where: str,
    ) -> None:
        inner = (*parents, obj)
        for key, value in pairs:
            node = tree.get(key)
            if node is None:
                obj[key] = _plain(value)
            else:

                def put(item: Any, key: str = key) -> None:
                    obj[key] = item

                self.value(node, value, put, inner, f"{where}.{key}" if where else key)

    def value(
        self,
        node: Any,
        value: Any,
        put: Callable[[Any], None],
        parents: Parents,
        where: str,
    ) -> None:
        if isinstance(node, _stream._Leaf):
            if type(value) is list:
                put([])
                for element in value:
                    if node.sink is not None:
                        node.sink(_plain(element), parents)
                return
            expected = "an array"
        elif set(node) == {"item"}:
            if type(value) is list:
                items: list[Any] = []
                put(items)
                for index, element in enumerate(value):
                    self.value(node["item"], element, items.append, parents, f"{where}[{index}]")
                return
            expected = "an array"
        else:
            if type(value) is _Pairs:
                obj: dict[str, Any] = {}
                put(obj)
                self.members(value, obj, node, parents, where)
                return
            expected = "an object"
        if value is not None:
            raise ScannerError(f"{self.tool} report is malformed: `{where}` is not {expected}")
        put(None)


# --------------------------------------------------------------------------- JSON text


class _Obj:
    """An object to write: members in order, a key may repeat."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


_WS = st.sampled_from(["", "", "", " ", "\n", "\t", "\r\n    ", "  "])
_SHORT = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
_SHORT |= {"\r": "\\r", "\t": "\\t"}


def _char(draw: st.DrawFn, char: str) -> str:
    """``char`` as JSON writes it in a string: plain when allowed, or escaped either way."""
    code = ord(char)
    must = char in '"\\' or code < 0x20
    how = draw(st.sampled_from(["plain", "plain", "plain", "u", "short"]))
    if how == "short" and char in _SHORT:
        return _SHORT[char]
    if how == "u" or must:
        if code > 0xFFFF:  # a surrogate pair
            code -= 0x10000
            return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04X}"
        return f"\\u{code:04x}"
    return char


def _text(draw: st.DrawFn, value: str) -> str:
    return '"' + "".join(_char(draw, c) for c in value) + '"'


def write(draw: st.DrawFn, value: Any) -> str:
    """``value`` as JSON text, with whitespace and escapes drawn."""

    def ws() -> str:
        return draw(_WS)

    if isinstance(value, _Raw):
        return value.text
    if isinstance(value, _Obj):
        if not value.pairs:
            return "{" + ws() + "}"
        members = (
            ws() + _text(draw, k) + ws() + ":" + ws() + write(draw, v) + ws()
            for k, v in value.pairs
        )
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        if not value:
            return "[" + ws() + "]"
        return "[" + ",".join(ws() + write(draw, v) + ws() for v in value) + "]"
    if isinstance(value, str):
        return _text(draw, value)
    if isinstance(value, float):
        return draw(st.sampled_from([repr(value), f"{value:e}", f"{value:E}"]))
    return json.dumps(value)


# Text that a naive byte scan would misread: quotes, backslashes, brackets, key names,
# multi-byte and astral characters, control characters (escaped when written).
_PIECES = [*'ab "\\{}[]:,/é€\u2028😀\x00\n\t', '"Vulnerabilities": [', '"Results":', "\\u0022"]
_TRICKY = st.lists(st.sampled_from(_PIECES), max_size=8).map("".join)
_SCALAR: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    _TRICKY,
)


def _json_values(leaves: int) -> st.SearchStrategy[Any]:
    return st.recursive(
        _SCALAR,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.lists(st.tuples(_TRICKY | st.sampled_from(_KEYS), inner), max_size=3).map(_Obj)
        ),
        max_leaves=leaves,
    )


class _Raw:
    """Text written as it is (a value too deep for a recursive writer)."""

    def __init__(self, text: str) -> None:
        self.text = text


def _nested(depth: int) -> _Raw:
    """``depth`` containers, arrays and objects in turn, around a string."""
    opening = "".join('{"n": ' if level % 2 else "[" for level in range(depth))
    closing = "".join("}" if level % 2 else "]" for level in reversed(range(depth)))
    return _Raw(opening + '"bottom"' + closing)


_KEYS = [
    "SchemaVersion", "Results", "Target", "Vulnerabilities", "Packages", "Secrets",
    "Misconfigurations", "VulnerabilityID", "PkgName", "InstalledVersion", "FixedVersion",
    "Severity", "Status", "Title", "PrimaryURL", "VendorIDs", "PkgIdentifier", "PURL", "UID",
    "Name", "SrcName", "Identifier", "RuleID", "Description", "References", "CVSS", "matches",
    "Metadata", "OS", "Family", "RepoDigests", "ImageConfig", "ArtifactName",
]  # fmt: skip


_UNREAD = ["Description", "References", "CVSS", "Layer", "DataSource", "CweIDs", "x", "Target"]
"""Finding members the Trivy parser never reads (and a key it reads elsewhere)."""


@st.composite
def _finding(draw: st.DrawFn, broken: bool) -> _Obj:
    fields: list[tuple[str, Any]] = [
        ("VulnerabilityID", draw(st.sampled_from(["CVE-2026-0001", "CVE-2026-0002", "GHSA-x"]))),
        ("PkgName", draw(st.sampled_from(["openssl", "libssl3", "zlib"]))),
        ("InstalledVersion", draw(st.sampled_from(["1.0", "1.0-1"]))),
        ("FixedVersion", draw(st.sampled_from(["", "1.1", "1.1, 2.0"]))),
        ("Severity", draw(st.sampled_from(["LOW", "HIGH", "CRITICAL", "UNKNOWN"]))),
        ("Status", draw(st.sampled_from(["fixed", "affected"]))),
        ("Title", draw(_TRICKY)),
        ("VendorIDs", draw(st.lists(st.sampled_from(["DSA-1", "GHSA-y", "CVE-2026-0001"]), max_size=2))),
        ("PkgIdentifier", _Obj([("PURL", "pkg:deb/x"), ("UID", draw(st.sampled_from(["u1", "u2"])))])),
        ("Description", draw(_TRICKY)),
        ("References", draw(st.lists(_TRICKY, max_size=2))),
        ("CVSS", _Obj([("nvd", _Obj([("V3Score", 9.8)]))])),
    ]  # fmt: skip
    fields = draw(st.permutations(fields))
    keys = st.sampled_from(_UNREAD) | _TRICKY | (st.sampled_from(_KEYS) if broken else st.nothing())
    extra = draw(st.lists(st.tuples(keys, _json_values(6)), max_size=2))
    at = draw(st.integers(0, len(fields)))
    return _Obj(fields[:at] + extra + fields[at:])


@st.composite
def _package(draw: st.DrawFn) -> _Obj:
    uid = draw(st.sampled_from(["u1", "u2"]))
    source = draw(st.sampled_from(["openssl", "zlib", "libssl3"]))
    return _Obj([("Name", "libssl3"), ("SrcName", source), ("Identifier", _Obj([("UID", uid)]))])


@st.composite
def _result(draw: st.DrawFn, broken: bool) -> Any:
    pairs = [
        ("Target", draw(st.sampled_from(["debian", "app/package-lock.json"]))),
        ("Class", "os-pkgs"),
        ("Vulnerabilities", draw(st.lists(_finding(broken), max_size=4))),
        ("Packages", draw(st.lists(_package(), max_size=2))),
        ("Misconfigurations", draw(st.lists(_json_values(4), max_size=2))),
    ]
    pairs = draw(st.permutations(pairs))
    if draw(st.booleans()):  # a repeated key: Target, or a second list of findings
        pairs.append(draw(st.sampled_from(pairs)))
    if not broken:
        return _Obj(pairs)
    return draw(st.sampled_from([_Obj(pairs), None, [], "x", _Obj([("Vulnerabilities", {})])]))


@st.composite
def trivy_documents(draw: st.DrawFn) -> bytes:
    """A Trivy report as bytes, sometimes broken in one of the ways streaming gets wrong.

    About half are well-formed reports (the part where both readings must give the same
    findings); the others have wrong types on the streamed path, values nested as deep as
    always accepted or far deeper, or bytes cut, added or changed."""
    broken = draw(st.sampled_from([False, False, True]))
    root: list[tuple[str, Any]] = [
        ("SchemaVersion", draw(st.sampled_from([2, 1, "2", 2.0])) if broken else 2),
        ("ArtifactName", draw(_TRICKY)),
        ("Metadata", _Obj([("OS", _Obj([("Family", "debian"), ("Name", "12")]))])),
        ("Results", draw(st.lists(_result(broken), max_size=3))),
        ("CreatedAt", draw(_json_values(4))),
        ("matches", draw(st.lists(_SCALAR, max_size=4))),
    ]
    root = draw(st.permutations(root))
    if broken and draw(st.booleans()):  # deeply nested, on or off the streamed path
        depth = draw(st.sampled_from([MAX_DEPTH - 4, 5000]))
        root.insert(
            draw(st.integers(0, len(root))),
            (draw(st.sampled_from(["Deep", "Results"])), [_nested(depth)]),
        )
    text = draw(_WS) + write(draw, _Obj(root)) + draw(_WS)
    data = text.encode("utf-8", "surrogatepass")
    mutation = draw(st.sampled_from(["none", "cut", "trail", "byte", "nan"])) if broken else "none"
    if mutation == "cut":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif mutation == "trail":
        data += draw(st.sampled_from([b"x", b"{}", b" 1", b"\x00", b"\xff", b" ]"]))
    elif mutation == "byte" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = (
            data[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"}", b'"', b"\\", b",", b"\x0c"]))
            + data[at + 1 :]
        )
    elif mutation == "nan":
        data = data.replace(b"9.8", b"NaN", 1)
    return data


# --------------------------------------------------------------------------- the properties


def _outcome(read: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", read())
    except ScannerError as exc:
        return ("error", str(exc))


def _both(
    data: bytes, window: int, read: Callable[[Path], Any]
) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """``read`` of ``data`` by the streaming reader (in windows of ``window`` bytes) and by
    the reference."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.json"
        path.write_bytes(data)
        with mock.patch.object(_stream, "CHUNK_SIZE", window):
            fast = _outcome(lambda: read(path))
        with (
            mock.patch.object(trivy, "stream_report", reference_stream),
            mock.patch.object(_stream, "stream_report", reference_stream),
        ):
            slow = _outcome(lambda: read(path))
    return fast, slow


def _agree(fast: tuple[str, Any], slow: tuple[str, Any]) -> None:
    if slow[0] == "error" and "(reference: " in slow[1]:
        assert fast[0] == "error", fast  # json.loads refuses the bytes: so must the reader
    else:
        assert fast == slow


_PATHS = ("Results.item.Vulnerabilities", "Results.item.Packages", "matches")


def _record(path: Path) -> tuple[dict[str, Any], list[Any]]:
    """Every sink call (the path, the element, each parent's keys at that moment)."""
    calls: list[Any] = []

    def sink_for(name: str) -> Sink:
        return lambda item, parents: calls.append((name, item, [list(p) for p in parents]))

    arrays: dict[str, Sink | None] = {name: sink_for(name) for name in _PATHS}
    arrays["Results.item.Misconfigurations"] = None
    root = _stream.stream_report(path, tool="trivy", arrays=arrays)
    return root, calls


@given(trivy_documents(), st.integers(1, 64))
@example(b'{"Results": [{"Vulnerabilit\\u0069es": [{"a": "\\"]"}], "Target": "t"}]}', 3)
@example(b'{"matches": [1, 2] , "matches" : [3]}', 5)
@example(b'{"matches": [12', 3)
@example('{"a": "😀é", "matches": [1.5e3, true, "\\ud83d\\ude00"]}'.encode(), 1)
def test_the_stream_reads_what_json_loads_reads(data: bytes, window: int) -> None:
    fast, slow = _both(data, window, _record)
    _agree(fast, slow)


@given(trivy_documents(), st.integers(1, 64))
def test_trivy_findings_are_those_of_a_json_loads_reading(data: bytes, window: int) -> None:
    fast, slow = _both(data, window, trivy.parse_report)
    _agree(fast, slow)
