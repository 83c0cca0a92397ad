"""``gate.scanners._stream``: one streaming pass that is exact, bounded, and fails closed.

Shared by the Trivy and Grype parsers. Reads are forced into tiny chunks here so that
findings straddle chunk boundaries, which is where a streaming reader goes wrong.
"""

from __future__ import annotations

import gc
import json
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from gate.errors import ScannerError
from gate.scanners import _stream
from gate.scanners._stream import Parents, backend_name, stream_report

DOC: dict[str, Any] = {
    "SchemaVersion": 2,
    "Results": [
        {"Target": "a", "Vulnerabilities": [{"id": 1, "refs": [1, 2]}, {"id": 2}], "n": None},
        {"Target": "b", "Packages": [{"p": 1}] * 5, "Vulnerabilities": []},
        {"Vulnerabilities": [{"id": 3, "nested": {"deep": [{"x": "}]"}]}}], "Target": "c"},
    ],
    "Metadata": {"OS": {"Family": "debian"}, "RepoDigests": ["r@sha256:00"]},
    "matches": ["s1", "s2", {"m": 3}],
}


@pytest.fixture(params=["c", "python"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on both of ``json``'s scanners, in reads of 7 bytes."""
    monkeypatch.setattr(_stream, "BACKENDS", (request.param,))
    monkeypatch.setattr(_stream, "CHUNK_SIZE", 7)
    name: str = request.param
    return name


def write(tmp_path: Path, doc: Any, *, indent: int | None = 2) -> Path:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(doc, indent=indent))
    return path


def collect(
    path: Path, *paths: str, drop: tuple[str, ...] = ()
) -> tuple[dict[str, Any], dict[str, list[tuple[Any, list[str]]]]]:
    """Each streamed element with its parents' ``Target`` (read once the file is done:
    a parent may still lack the keys that come after the element)."""
    calls: dict[str, list[tuple[Any, Parents]]] = {p: [] for p in paths}

    def sink_for(name: str) -> Any:
        def sink(item: Any, parents: Parents) -> None:
            calls[name].append((item, parents))

        return sink

    arrays: dict[str, Any] = {p: sink_for(p) for p in paths}
    arrays.update({p: None for p in drop})
    root = stream_report(path, tool="trivy", arrays=arrays)
    seen = {
        name: [(item, [str(p.get("Target", "root")) for p in parents]) for item, parents in got]
        for name, got in calls.items()
    }
    return root, seen


def test_the_c_scanner_is_preferred_when_installed() -> None:
    assert backend_name() == "c"


def test_elements_arrive_whole_in_order_with_their_parents(backend: str, tmp_path: Path) -> None:
    root, seen = collect(
        write(tmp_path, DOC),
        "Results.item.Vulnerabilities",
        "matches",
        drop=("Results.item.Packages",),
    )
    assert seen["Results.item.Vulnerabilities"] == [
        ({"id": 1, "refs": [1, 2]}, ["root", "a"]),
        ({"id": 2}, ["root", "a"]),
        ({"id": 3, "nested": {"deep": [{"x": "}]"}]}}, ["root", "c"]),
    ]
    assert [item for item, _ in seen["matches"]] == ["s1", "s2", {"m": 3}]
    # Everything not streamed is kept whole; streamed arrays stay, empty.
    assert root["SchemaVersion"] == 2
    assert root["Metadata"] == DOC["Metadata"]
    assert root["matches"] == []
    assert [r.get("Vulnerabilities") for r in root["Results"]] == [[], [], []]
    assert root["Results"][1]["Packages"] == []
    assert root["Results"][0]["n"] is None


@pytest.mark.parametrize("indent", [None, 2])
def test_the_streamed_elements_equal_what_json_load_reads(
    backend: str, tmp_path: Path, indent: int | None
) -> None:
    doc = {
        "Results": [
            {"Target": f"t{r}", "Vulnerabilities": [{"i": i, "s": "x" * i} for i in range(40)]}
            for r in range(3)
        ]
    }
    path = write(tmp_path, doc, indent=indent)
    _, seen = collect(path, "Results.item.Vulnerabilities")
    expected = [(v, ["root", r["Target"]]) for r in doc["Results"] for v in r["Vulnerabilities"]]
    assert seen["Results.item.Vulnerabilities"] == expected


def test_null_where_an_array_is_expected_counts_as_absent(backend: str, tmp_path: Path) -> None:
    root, seen = collect(write(tmp_path, {"matches": None}), "matches")
    assert root == {"matches": None} and seen["matches"] == []


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"matches": {}}, "`matches` is not an array"),
        ({"Results": "x"}, "`Results` is not an array"),
        ({"Results": [[]]}, "`Results[0]` is not an object"),
        ({"Results": [{"Vulnerabilities": 1}]}, "`Results[0].Vulnerabilities` is not an array"),
    ],
)
def test_a_wrong_type_on_a_streamed_path_is_malformed(
    backend: str, tmp_path: Path, doc: Any, where: str
) -> None:
    with pytest.raises(ScannerError) as caught:
        collect(write(tmp_path, doc), "matches", "Results.item.Vulnerabilities")
    assert str(caught.value) == f"trivy report is malformed: {where}"


def test_truncation_at_any_byte_is_an_error_never_a_shorter_list(
    backend: str, tmp_path: Path
) -> None:
    data = json.dumps(DOC).encode()
    path = tmp_path / "report.json"
    for cut in range(len(data)):
        path.write_bytes(data[:cut])
        with pytest.raises(ScannerError) as caught:
            collect(path, "Results.item.Vulnerabilities", "matches")
        assert str(caught.value).startswith(
            ("trivy report is empty", "trivy report is not valid JSON")
        ), (cut, str(caught.value))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "trivy report is empty"),
        (b"\n\t ", "trivy report is empty"),
        (b"[1, 2]", "trivy report is not a JSON object"),
        (b'"text"', "trivy report is not a JSON object"),
        (b"null", "trivy report is not a JSON object"),
        (b"{}{}", "trivy report is not valid JSON"),
        (b"{} trailing", "trivy report is not valid JSON"),
        (b'{"a": NaN}', "trivy report is not valid JSON"),
        (b'{"a": "\xc3\x28"}', "trivy report is not valid JSON"),
        (b"{'single': 1}", "trivy report is not valid JSON"),
    ],
)
def test_anything_but_one_json_object_is_refused(
    backend: str, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "report.json"
    path.write_bytes(content)
    with pytest.raises(ScannerError) as caught:
        stream_report(path, tool="trivy", arrays={"matches": None})
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_an_error_raised_by_a_sink_propagates_unchanged(backend: str, tmp_path: Path) -> None:
    def sink(item: Any, parents: Parents) -> None:
        raise ValueError("sink says no")

    with pytest.raises(ValueError, match="sink says no"):
        stream_report(write(tmp_path, DOC), tool="grype", arrays={"matches": sink})


def test_overlapping_or_bad_paths_are_a_programming_error(tmp_path: Path) -> None:
    path = write(tmp_path, DOC)
    for arrays in ({"a.item": None}, {"": None}, {"a": None, "a.item.b": None}, {"a..b": None}):
        with pytest.raises(ValueError, match="stream path"):
            stream_report(path, tool="trivy", arrays=arrays)


def test_memory_stays_flat_while_a_big_array_streams(tmp_path: Path) -> None:
    finding = {"VulnerabilityID": "CVE-2026-0001", "Description": "d" * 300, "Refs": ["r"] * 5}
    doc = {"SchemaVersion": 2, "Results": [{"Target": "t", "Vulnerabilities": [finding] * 20000}]}
    path = write(tmp_path, doc)
    size = path.stat().st_size
    count = 0

    def sink(item: Any, parents: Parents) -> None:
        nonlocal count
        count += 1

    tracemalloc.start()
    try:
        stream_report(path, tool="trivy", arrays={"Results.item.Vulnerabilities": sink})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20000
    assert size > 8_000_000
    assert peak < size / 10, f"peak {peak} bytes for a {size}-byte report"


def test_the_garbage_collector_is_restored_after_reading(tmp_path: Path) -> None:
    assert gc.isenabled()
    stream_report(write(tmp_path, DOC), tool="trivy", arrays={"matches": None})
    assert gc.isenabled()
    (tmp_path / "bad.json").write_text('{"matches": [')
    with pytest.raises(ScannerError):
        stream_report(tmp_path / "bad.json", tool="trivy", arrays={"matches": None})
    assert gc.isenabled()
    gc.disable()
    try:
        stream_report(write(tmp_path, DOC), tool="trivy", arrays={"matches": None})
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()


def test_concurrent_readers_each_get_their_own_findings(tmp_path: Path) -> None:
    paths = []
    for n in range(4):
        doc = {"matches": [{"n": n, "i": i} for i in range(3000)]}
        path = tmp_path / f"r{n}.json"
        path.write_text(json.dumps(doc))
        paths.append(path)
    results: dict[int, list[Any]] = {n: [] for n in range(4)}

    def read(n: int) -> None:
        def sink(item: Any, _parents: Parents) -> None:
            results[n].append(item)

        stream_report(paths[n], tool="grype", arrays={"matches": sink})

    threads = [threading.Thread(target=read, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n in range(4):
        assert results[n] == [{"n": n, "i": i} for i in range(3000)]
    assert gc.isenabled()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ('{"matches": [%s]}', 2),  # a streamed element: inside the root and its array
        ('{"Metadata": %s}', 1),  # a value kept whole
        ('{"Results": [{"Vulnerabilities": [%s]}]}', 4),
    ],
)
def test_nesting_up_to_the_limit_is_accepted(
    backend: str, tmp_path: Path, text: str, depth: int
) -> None:
    path = tmp_path / "report.json"
    path.write_text(text % nested(_stream.MAX_DEPTH - depth))
    _, seen = collect(path, "matches", "Results.item.Vulnerabilities")
    assert len(seen["matches"] + seen["Results.item.Vulnerabilities"]) == (depth != 1)


def test_nesting_far_past_the_limit_is_refused_before_it_is_built(
    backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "report.json"
    path.write_text('{"matches": [' + nested(100_000) + "]}")
    with pytest.raises(ScannerError, match="nested deeper than 256 levels"):
        stream_report(path, tool="grype", arrays={"matches": None})


def test_brackets_in_strings_and_many_containers_side_by_side_are_not_depth(
    backend: str, tmp_path: Path
) -> None:
    element = {"refs": [[{}] for _ in range(400)], "deep": nested(200)}
    path = write(tmp_path, {"matches": [element]})
    _, seen = collect(path, "matches")
    assert [item for item, _ in seen["matches"]] == [element]
