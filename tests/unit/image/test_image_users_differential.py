"""``gate.oci.users`` against moby/sys/user's real ``GetExecUser``, on generated inputs.

The oracle (``tests/oracles/user``) runs moby/sys/user v0.4.1, the code runc, containerd and
Docker resolve ``config.User`` with. Hypothesis builds passwd and group files and user
specs from pieces chosen to sit on the rules' edges (Go's white space and ``\\r``, Unicode
line breaks ``\\n`` is not, signs and overflow in Atoi, numeric-looking names, comments,
short lines, duplicates) and both sides must give the same uid, gid and supplementary gids,
or the same error. The non-root check built on the resolver must never pass what the
oracle resolves to uid 0, to an id out of range, or refuses.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gate.checks.non_root import NonRootCheck
from gate.model import Facts, ImageConfig, Status, UserFile, UserFiles
from gate.oci.users import (
    GROUP_MAX_LINE,
    MAX_ID,
    PASSWD_MAX_LINE,
    Refusal,
    resolve_exec_user,
)
from gate.policy.model import ImagePolicy, Policy
from tests.support.facts import NOW, SUBJECT
from tests.support.gobuild import Oracle, oracle

EXAMPLES = max(2000, settings().max_examples)
"""At least 2,000 in CI; more under a longer profile (``HYPOTHESIS_PROFILE=long``)."""

NAMES = [
    "app", "root", "toor", "nobody", "0", "+0", "-0", "00", "1000", "+1000", "01000", "0x0",
    "1_000", "2147483647", "2147483648", "4294967296", "99999999999999999999", "-1", "#app",
    "app ", " app", "a:b", "ünï", "", "staff", "wheel",
]  # fmt: skip
NUMBERS = [
    "0", "1", "1000", "+0", "-0", "+1000", "-1", "007", "", " 0", "0 ", "abc", "1e3", "0x10",
    "1_0", "2147483647", "2147483648", "4294967296", "-4294967296", "9223372036854775807",
    "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
    "99999999999999999999", "99999999999999999999x", "9999999999999999999x", "+", "-",
]  # fmt: skip
SPACE = [
    " ", "\t", "\r", "\x0b", "\x0c", "\x85", "\xa0", "\u1680", "\u2000", "\u200a", "\u200b",
    "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\x1c", "\x1f", "\ufeff", "\u180e",
]  # fmt: skip
BREAK = ["\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\n\n", "\r\r\n"]
RAW = [b"\xff", b"\xc2", b"\xe2\x80", b"\xed\xa0\x80", b"\xc0\xa0"]
"""Bytes that are not UTF-8: Go compares them as they are."""

number = st.sampled_from(NUMBERS) | st.integers(-9, 70_000).map(str)
number |= st.integers(-(2**33), 2**33).map(str)
SPACES = [""] * 40 + [*SPACE, " \t", "\u2028\r", "\x85 "]
"""Mostly none: white space around a name is one edge among many."""


@st.composite
def case(draw: st.DrawFn) -> tuple[str, bytes | None, bytes | None]:
    """A spec and the files, drawing names and ids from one small pool so that they meet."""
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3))
    ids = draw(st.lists(number, min_size=1, max_size=3))
    name, ident = st.sampled_from(names), st.sampled_from(ids)

    space = st.sampled_from(SPACES)
    decoration = st.sampled_from([b""] * 12 + [b"#"] + RAW)
    """A comment mark, or bytes that are not UTF-8 (Go compares names as bytes)."""

    def line(fields: list[st.SearchStrategy[str]]) -> bytes:
        count = draw(st.integers(1, len(fields) + 1))
        parts = [draw(f).encode() for f in fields[:count]] + [b"x"] * (count - len(fields))
        edges = draw(space).encode(), draw(decoration), draw(space).encode()
        return edges[0] + edges[1] + b":".join(parts) + edges[2]

    def file(fields: list[st.SearchStrategy[str]]) -> bytes | None:
        if draw(st.integers(0, 7)) == 0:
            return None
        count = draw(st.integers(0, 5))
        body = b"".join(line(fields) + draw(st.sampled_from(BREAK)).encode() for _ in range(count))
        return body + draw(st.sampled_from([b"", b"", b"\r", b"app:x:0:0", b"\n"]))

    members = st.lists(name, max_size=3).map(",".join)
    passwd = file([name, st.just("x"), ident, ident, st.just(""), st.just("/")])
    group = file([name, st.just("x"), ident, members])
    user = draw(space) + draw(name | ident | st.sampled_from(NAMES) | number)
    separator = draw(st.sampled_from(["", "", ":", ":", "::"]))
    spec = user + (separator + draw(name | ident | number) if separator else "")
    spec += draw(space) + draw(st.sampled_from([""] * 20 + ["\ud800", "\udc80x"]))
    return spec, passwd, group


@pytest.fixture(scope="module")
def user_oracle() -> Iterator[Oracle]:
    with oracle("user") as running:
        yield running


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def ask(o: Oracle, spec: str, passwd: bytes | None, group: bytes | None) -> dict[str, Any]:
    answer: dict[str, Any] = o.ask({"user": spec, "passwd": _b64(passwd), "group": _b64(group)})
    return answer


def ours(spec: str, passwd: bytes | None, group: bytes | None) -> dict[str, Any]:
    resolved = resolve_exec_user(spec, passwd, group)
    if isinstance(resolved, Refusal):
        return {"error": resolved.message}
    answer: dict[str, Any] = {"uid": resolved.uid, "gid": resolved.gid}
    if resolved.sgids:
        answer["sgids"] = list(resolved.sgids)
    return answer


def verdict(spec: str, passwd: bytes | None, group: bytes | None) -> Status:
    files = UserFiles(UserFile("/etc/passwd", passwd), UserFile("/etc/group", group))
    facts = Facts(SUBJECT, NOW, config=ImageConfig(user=spec), user=files)
    return NonRootCheck().evaluate(Policy("t", image=ImagePolicy(non_root=True)), facts).status


def _kind(answer: dict[str, Any]) -> str:
    """The oracle's answer as a bucket, to show the generated cases reach every outcome."""
    error = answer.get("error", "")
    for fragment in ("in range", "passwd file", "group file", "too long"):
        if fragment in error:
            return f"error {fragment}"
    return "uid 0" if answer.get("uid") == 0 else "uid > 0"


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case())
def test_resolution_matches_get_exec_user(
    user_oracle: Oracle, generated: tuple[str, bytes | None, bytes | None]
) -> None:
    spec, passwd, group = generated
    expected = ask(user_oracle, spec, passwd, group)
    assert ours(spec, passwd, group) == expected
    status = verdict(spec, passwd, group)
    event(f"{_kind(expected)} -> {status.value}")
    if status is Status.PASS:
        assert "error" not in expected
        assert 0 < expected["uid"] <= MAX_ID


@pytest.mark.parametrize(
    ("limit", "passwd_line", "group_line"),
    [
        (PASSWD_MAX_LINE, PASSWD_MAX_LINE - 1, 10),
        (PASSWD_MAX_LINE, PASSWD_MAX_LINE, 10),
        (GROUP_MAX_LINE, 10, GROUP_MAX_LINE - 1),
        (GROUP_MAX_LINE, 10, GROUP_MAX_LINE),
    ],
)
@pytest.mark.parametrize("spec", ["app", "1000", "1000:50", "", "app:staff"])
@pytest.mark.parametrize("newline", [b"", b"\n", b"\r\n"])
def test_the_scanner_line_limit_matches(
    user_oracle: Oracle, limit: int, passwd_line: int, group_line: int, spec: str, newline: bytes
) -> None:
    """bufio.Scanner fails on a line of its buffer's size; one byte less still reads."""
    passwd = b"app:x:1000:1000::/:/bin/sh\n" + b"p" * passwd_line + newline
    group = b"staff:x:50:app\n" + b"#" * group_line + newline
    assert ours(spec, passwd, group) == ask(user_oracle, spec, passwd, group)
