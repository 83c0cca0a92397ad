"""moby/sys/user's ``GetExecUser`` rules, as ``gate.oci.users`` mirrors them.

Each row states a rule; ``test_every_row_is_what_get_exec_user_answers`` holds the table
itself to the real Go code, so a row cannot state a rule the runtimes do not follow.
"""

from __future__ import annotations

import base64

import pytest

from gate.oci.users import (
    ERR_RANGE,
    ExecUser,
    Refusal,
    atoi,
    needs_files,
    resolve_exec_user,
    scan_lines,
    trim_space,
)
from tests.support.gobuild import oracle

APP = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n"
GROUPS = b"root:x:0:\nstaff:x:50:app\napp:x:1000:\n"
NO_USER = "unable to find user {}: no matching entries in passwd file"

ROWS: list[tuple[str, str, bytes | None, bytes | None, ExecUser | str]] = [
    ("a signed zero is uid 0", "+0", APP, GROUPS, ExecUser(0, 0)),
    ("minus zero is uid 0", "-0", APP, GROUPS, ExecUser(0, 0)),
    ("leading zeros are a number", "0001000", APP, GROUPS, ExecUser(1000, 1000, (50,))),
    ("a numeric user is a uid even if a name", "1000", b"1000:x:0:0\n", None, ExecUser(1000, 0)),
    ("+0 is uid 0, not the name +0", "+0", b"+0:x:1000:1000\n", None, ExecUser(0, 0)),
    ("0x0 is a name (Atoi has no prefixes)", "0x0", b"0x0:x:7:7\n", None, ExecUser(7, 7)),
    ("1_000 is a name (no underscores)", "1_000", APP, None, NO_USER.format("1_000")),
    ("a leading space makes a name", " 1000", APP, None, NO_USER.format(" 1000")),
    ("a trailing space makes a name", "1000 ", b"1000 :x:0:0\n", None, ExecUser(0, 0)),
    ("a carriage return makes a name", "1000\r", APP, None, NO_USER.format("1000\r")),
    ("2147483647 is the largest uid", "2147483647", None, None, ExecUser(2147483647, 0)),
    ("2147483648 is refused", "2147483648", APP, None, ERR_RANGE),
    ("4294967296 is refused (CVE-2024-40635)", "4294967296", APP, None, ERR_RANGE),
    ("-1 is refused", "-1", APP, None, ERR_RANGE),
    ("Atoi overflow is refused", "99999999999999999999", None, None, ERR_RANGE),
    ("overflow before a letter too", "99999999999999999999x", None, None, ERR_RANGE),
    ("a group id out of range refuses", "app:2147483648", APP, GROUPS, ERR_RANGE),
    ("\\r alone ends no line", "app", b"x:x:1:1\rapp:x:1000:1000\napp:x:0:0\n", None, ExecUser(0, 0)),
    ("\\r before \\n is dropped", "app", b"app:x:0:0:\r\n", None, ExecUser(0, 0)),
    ("\\x0b ends no line", "app", b"x:x:1:1\x0bapp:x:1000:1000\napp:x:0:0\n", None, ExecUser(0, 0)),
    (
        "U+2028 ends no line",
        "app",
        "x:x:1:1\u2028app:x:1000:1000\napp:x:0:0\n".encode(),
        None,
        ExecUser(0, 0),
    ),
    ("an indented line is trimmed", "app", b"  app:x:0:0\napp:x:1000:1\n", None, ExecUser(0, 0)),
    ("NBSP is trimmed", "app", "\xa0app:x:0:0\n".encode(), None, ExecUser(0, 0)),
    ("\\x1c is not Go space", "app", b"\x1capp:x:0:0\n", None, NO_USER.format("app")),
    ("the first matching line wins", "app", b"app:x:5:5\napp:x:0:0\n", None, ExecUser(5, 5)),
    ("passwd has no comments", "#app", b"#app:x:9:9\n", None, ExecUser(9, 9)),
    ("a bad uid field reads as 0", "app", b"app:x:1e3:1000\n", None, ExecUser(0, 1000)),
    ("a short line reads uid 0", "app", b"app:x\n", None, ExecUser(0, 0)),
    ("a huge uid field is clipped", "app", b"app:x:99999999999999999999:1\n", None,
     ExecUser(2**63 - 1, 1)),
    ("no passwd: a name is refused", "app", None, None, NO_USER.format("app")),
    ("no passwd: a uid is used as given", "1000", None, None, ExecUser(1000, 0)),
    ("names are bytes", "\xe9", b"\xe9:x:3:3\n\xc3\xa9:x:4:4\n", None, ExecUser(4, 4)),
    ("an empty user is uid 0", ":staff", APP, GROUPS, ExecUser(0, 50)),
    ("a third part is ignored", "app:staff:whatever", APP, GROUPS, ExecUser(1000, 50)),
    ("a group name must exist", "app:ghosts", APP, GROUPS,
     "unable to find group ghosts: no matching entries in group file"),
    ("a numeric gid need not exist", "app:77", APP, GROUPS, ExecUser(1000, 77)),
    ("group comments are skipped", "app:#g", APP, b"#g:x:5:\n",
     "unable to find group #g: no matching entries in group file"),
    ("a matched name gets its groups", "app", APP, GROUPS, ExecUser(1000, 1000, (50,))),
    ("a passwd line of 64 KiB is an error", "1000", b"a" * 65536, None,
     "unable to find user 1000: bufio.Scanner: token too long"),
    ("one byte less is read", "1000", b"a" * 65535, None, ExecUser(1000, 0)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "passwd", "group", "expected"),
    [row[1:] for row in ROWS],
    ids=[row[0] for row in ROWS],
)
def test_get_exec_user_rules(
    spec: str, passwd: bytes | None, group: bytes | None, expected: ExecUser | str
) -> None:
    result = resolve_exec_user(spec, passwd, group)
    assert result == (Refusal(expected) if isinstance(expected, str) else expected)


def test_every_row_is_what_get_exec_user_answers() -> None:
    def b64(data: bytes | None) -> str | None:
        return None if data is None else base64.b64encode(data).decode()

    with oracle("user") as o:
        for name, spec, passwd, group, expected in ROWS:
            answer = o.ask({"user": spec, "passwd": b64(passwd), "group": b64(group)})
            if isinstance(expected, str):
                assert answer == {"error": expected}, name
            else:
                wanted = {"uid": expected.uid, "gid": expected.gid}
                assert answer == wanted | (
                    {"sgids": list(expected.sgids)} if expected.sgids else {}
                ), name


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (b"0", (0, None)),
        (b"+7", (7, None)),
        (b"-7", (-7, None)),
        (b"", (0, "syntax")),
        (b"+", (0, "syntax")),
        (b"1_0", (0, "syntax")),
        (b" 1", (0, "syntax")),
        (b"9223372036854775807", (2**63 - 1, None)),
        (b"9223372036854775808", (2**63 - 1, "range")),
        (b"-9223372036854775808", (-(2**63), None)),
        (b"-9223372036854775809", (-(2**63), "range")),
        (b"99999999999999999999x", (2**63 - 1, "range")),
        (b"9999999999999999999x", (0, "syntax")),
    ],
)
def test_atoi_is_gos(field: bytes, expected: tuple[int, str | None]) -> None:
    assert atoi(field) == expected


def test_trim_space_is_gos_unicode_white_space() -> None:
    assert trim_space(" \t\u3000x \u2029".encode()) == b"x"
    assert trim_space(b"\x1cx\x1f") == b"\x1cx\x1f"  # Python's str.strip() would take these
    assert trim_space("\ufeffx\u200b".encode()) == "\ufeffx\u200b".encode()
    assert trim_space(b"\xc2x") == b"\xc2x"  # invalid UTF-8 is not space


def test_scan_lines_splits_on_newline_only() -> None:
    assert scan_lines(b"a\r\nb\rc\n\nd\r", 100) == [b"a", b"b\rc", b"", b"d"]
    assert scan_lines(b"", 100) == []
    assert scan_lines(b"x" * 100, 100) is None


@pytest.mark.parametrize(
    ("spec", "needed"),
    [("", False), (":1000", False), ("0", False), ("+0:1", False), ("4294967296", False),
     ("1000", True), ("app", True), ("root", True), (" 0", True)],
)  # fmt: skip
def test_files_are_read_unless_the_spec_alone_decides(spec: str, needed: bool) -> None:
    assert needs_files(spec) is needed
