"""The gate reads Dockerfiles as BuildKit does, held against BuildKit itself (differential).

``tests/oracles/dockerfile`` runs BuildKit v0.34.2's own parser, instruction parser and shell
lexer over the same text and names the images the build pulls. Hypothesis writes Dockerfiles
from tricky pieces: heredocs with every kind of marker (``$`` in it, quotes, escapes, ``<<-``,
a file descriptor), escapes and ``# escape=``, continuations with comments and blank lines,
directives, ARG and FROM combinations, stage references in any case, ``COPY --from``, CRLF
and a BOM; a second generator strews shell-lexer characters around one ``<<``, a third builds
ARG defaults and FROM words from expansions. Wherever the gate answers, its images (frontend, bases, ``--from`` sources) must
be BuildKit's; wherever BuildKit fails, the gate must refuse. The gate may refuse more only
for the documented reasons below, counted and kept rare.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.dockerfile import parse_dockerfile
from gate.errors import UsageError
from tests.support.gobuild import Oracle, oracle

DIGEST = "sha256:" + "cd" * 32
EXAMPLES = int(os.environ.get("CONTAINER_GATE_DOCKERFILE_EXAMPLES", "2000"))

#: Why the gate may refuse a Dockerfile BuildKit builds (see gate/dockerfile.py).
DOCUMENTED = (
    "whose value only BuildKit knows",  # automatic platform ARGs
    "which has no value",  # an ARG with no value, expanded in FROM
    "before the first FROM declares it",  # an undeclared variable in FROM
    "is not supported by the gate",  # shell patterns, RUN --device
    "ONBUILD trigger that copies or mounts",
    "the gate reads only os/arch",
)

MARKERS = [
    "<<EOF",
    "<<-EOF",
    '<<"EOF"',
    "<<'EOF'",
    "<<-'EOF'",
    "<<$EOF",
    "<<EOF$X",
    "<<${X}",
    "<<${X:-EOF}",
    "<<EOF${X:-y}",
    "<< EOF",
    "<<\tEOF",
    "<<E\\OF",
    "<<\\EOF",
    "<<E'O'F",
    "<<EOF'",
    '<<""',
    "<<''",
    "<<",
    "<<<EOF",
    "<<E<OF",
    "2<<EOF",
    "x<<EOF",
    "'<<EOF'",
    '"<<EOF"',
    "\\<<EOF",
    "`<<EOF",
    "$X<<EOF",
    "${X:-<<EOF}",
    "<<EOF <<END",
    "<<EOF\\",
]
BODY = [
    "FROM alpine:latest",
    f"FROM alpine@{DIGEST}",
    "COPY --from=evil:1 /a /b",
    "EOF",
    "\tEOF",
    "EOF ",
    "END",
    "EOF$X",
    "$EOF",
    "${X}",
    "${X:-EOF}",
    "EOF${X:-y}",
    "E\\OF",
    "\\EOF",
    "E'O'F",
    "EOF'",
    '"EOF"',
    "E<OF",
    "",
    "echo hi",
    "# comment",
]
IMAGES = [
    "alpine",
    "alpine:3.19",
    f"alpine@{DIGEST}",
    f"ghcr.io/acme/base:1@{DIGEST}",
    "$X",
    "${X}:$TAG",
    "${X:-busybox}",
    "${UNSET:-debian}:12",
    "${X:+a}lpine",
    "$TAG",
    "build",
    "Build",
    "BUILD",
    "scratch",
    "'alpine'",
    '"alpine:$TAG"',
    "alp\\ine",
    "alp`ine",
    "Alpine",
    "$TARGETARCH",
    "alpine:${TAG%.*}",
    "alpine:$SOURCE_DATE_EPOCH",
    "${",
]
FROM_FLAGS = [
    "",
    "--platform=linux/amd64 ",
    "--platform=$BUILDPLATFORM ",
    "--platform=${TARGETOS}/${TARGETARCH} ",
    "--platform=$P ",
    "--platform=linux ",
    "--platform=foo/bar/baz/qux ",
    "--platform= ",
    "--PLATFORM=linux/arm64 ",
    "--bogus=1 ",
]
STAGE_NAMES = ["", " AS build", " as Build", " AS b.1", " AS 1x", " AS scratch", " AS"]
COPY_FROM = [
    "",
    "--from=build ",
    "--from=BUILD ",
    "--from=0 ",
    "--from=1 ",
    "--from=2 ",
    "--from=3 ",
    "--from=-1 ",
    "--from=007 ",
    "--from=busybox:1.36 ",
    f"--from=busybox@{DIGEST} ",
    "--from=$X ",
    "--from='build' ",
    "--from=scratch ",
    "--from=Evil ",
    "--link --chown=1:1 ",
    "--bogus ",
]
RUN_FLAGS = [
    "",
    "--mount=type=cache,target=/c ",
    "--mount=from=busybox,target=/b ",
    "--mount=type=bind,from=build,target=/b ",
    "--mount=from=$X,target=/b ",
    "--network=none ",
    "--network=bogus ",
]
DIRECTIVES = [
    "# syntax=docker/dockerfile:1",
    f"# syntax=docker/dockerfile:1.7@{DIGEST}",
    "#syntax = ghcr.io/acme/frontend:2 --opt",
    "# SYNTAX=Bad:Ref",
    "# escape=`",
    "# escape=\\",
    "#escape = `",
    "# escape=x",
    "# check=skip=all",
    "#!/bin/sh",
    "// syntax=docker/dockerfile:1",
    "  # syntax=indented/frontend",
]
ARGS = [
    "ARG X=alpine",
    "ARG X",
    "ARG TAG=3.19",
    "ARG TAG",
    'ARG X="busy box"',
    "ARG E=",
    "ARG B=${X:-debian} C=$TAG",
    "ARG TARGETARCH",
    "ARG P=linux/arm64",
    "ARG SOURCE_DATE_EPOCH=007",
    "ARG =x",
    "ARG",
]
OTHER = [
    "FOO bar",
    "CMD <<EOF",
    "ENV A=b",
    "ENV A",
    "LABEL a=b c=d",
    "WORKDIR /app",
    "USER 1000",
    "ONBUILD RUN <<EOF",
    "ONBUILD COPY --from=busybox /a /b",
    "ONBUILD FROM x",
    "SHELL sh -c",
    'SHELL ["sh", "-c"]',
    "HEALTHCHECK NONE",
    'RUN ["sh", "-c", "cat <<EOF"]',
    "RUN [1] <<EOF",
    "COPY <<EOF /dst",
    "COPY src <<EOF",
    "ADD <<EOF /x",
    "RUN echo C:\\",
    "RUN \\",
    "RUN `",
    "MAINTAINER",
]


def often(valid: list[str], rare: list[str]) -> st.SearchStrategy[str]:
    """Mostly a piece BuildKit accepts, sometimes one it rejects."""
    return st.one_of(st.sampled_from(valid), st.sampled_from(valid), st.sampled_from(valid + rare))


VALID_IMAGES = [i for i in IMAGES if i not in ("Build", "BUILD", "Alpine", "${", "$TARGETARCH")]
VALID_ARGS = [a for a in ARGS if a not in ("ARG =x", "ARG")]
TERMINATORS = [
    "EOF",
    "EOF",
    "EOF",
    "EOF",
    "END",
    "\tEOF",
    "EOF ",
    "EOF$X",
    "$EOF",
    "${X:-EOF}",
    "E\\OF",
    '"EOF"',
]


#: The terminators a shell would expect for a marker (BuildKit may disagree: that is the test).
NATURAL = {
    "<<EOF$X": ["EOF$X"],
    "<<$EOF": ["$EOF"],
    "<<${X}": ["${X}"],
    "<<${X:-EOF}": ["${X:-EOF}"],
    "<<EOF${X:-y}": ["EOF${X:-y}"],
    "<<-EOF": ["\tEOF"],
    "<<-'EOF'": ["\t\tEOF"],
    "<<EOF <<END": ["EOF", "END"],
    "<<E<OF": ["E<OF"],
    "<<E\\OF": ["EOF"],
    "<<E'O'F": ["EOF"],
    "<<''": [""],
    '<<""': [""],
}


@st.composite
def from_line(draw: st.DrawFn) -> str:
    return (
        draw(st.sampled_from(["FROM ", "FROM ", "from ", "From\t"]))
        + draw(often(FROM_FLAGS[:4], FROM_FLAGS[4:]))
        + draw(often(VALID_IMAGES, IMAGES))
        + draw(often(STAGE_NAMES[:4], STAGE_NAMES[4:]))
    )


@st.composite
def heredoc_block(draw: st.DrawFn) -> list[str]:
    """A line that may open heredocs, a body that may hide instructions, and terminators."""
    prefix = draw(
        st.sampled_from(["RUN ", "run ", "ONBUILD RUN ", "RUN echo ", "RUN cat ", "COPY ", "ADD "])
    )
    flags = draw(often([""], RUN_FLAGS if prefix.startswith(("RUN", "run")) else COPY_FROM))
    marker = draw(st.sampled_from(MARKERS))
    suffix = draw(st.sampled_from(["", " && true", " 'x", ' "y', " | sh", " /dst"]))
    if prefix in ("COPY ", "ADD "):
        suffix = " /dst"
    body = draw(st.lists(st.sampled_from(BODY), max_size=3))
    natural = NATURAL.get(marker, ["EOF"])
    ends = draw(
        st.one_of(
            st.just(natural),
            st.just(natural),
            st.lists(st.sampled_from(TERMINATORS), min_size=1, max_size=2),
        )
    )
    return [prefix + flags + marker + suffix, *body, *ends]


@st.composite
def continued(draw: st.DrawFn) -> list[str]:
    """An instruction split over lines, with comments and blank lines inside."""
    head = draw(st.sampled_from(["FROM \\", "RUN echo \\", "FROM `", "COPY --from=build \\"]))
    middle = draw(
        st.lists(st.sampled_from(["# inside", "", "  ", "  a \\", "  <<EOF \\"]), max_size=3)
    )
    tail = draw(often(["  alpine:3.19", "  AS build", "  /src /dst", "  busybox"], BODY))
    return [head, *middle, tail]


@st.composite
def block(draw: st.DrawFn) -> list[str]:
    kind = draw(
        st.sampled_from(["heredoc", "heredoc", "copy", "run", "cont", "other", "comment", "from"])
    )
    if kind == "heredoc":
        return draw(heredoc_block())
    if kind == "cont":
        return draw(continued())
    if kind == "from":
        return [draw(from_line())]
    if kind == "copy":
        return ["COPY " + draw(often(COPY_FROM[:10], COPY_FROM[10:])) + "src /dst"]
    if kind == "run":
        return ["RUN " + draw(often(RUN_FLAGS[:4], RUN_FLAGS[4:])) + "make"]
    if kind == "other":
        return [draw(st.sampled_from(OTHER))]
    return [draw(st.sampled_from(["# comment", "  # indented", "#", "# FROM evil", "", "\t"]))]


@st.composite
def dockerfiles(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    lines = [
        d
        for d in draw(
            st.lists(often(DIRECTIVES[1:2] + DIRECTIVES[4:5], DIRECTIVES), max_size=2, unique=True)
        )
    ]
    if sum("yntax" in d or "YNTAX" in d for d in lines) > 1 and draw(st.booleans()):
        lines = lines[:1]
    lines += draw(st.lists(often(VALID_ARGS, ARGS), max_size=3))
    for _ in range(draw(st.integers(1, 3))):
        lines.append(draw(from_line()))
        for part in draw(st.lists(block(), max_size=4)):
            lines += part
    endings = draw(
        st.lists(st.sampled_from(["\n"] * 6 + ["\r\n"]), min_size=len(lines), max_size=len(lines))
    )
    text = "".join(line + end for line, end in zip(lines, endings, strict=True))
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    if draw(st.integers(0, 9)) == 0:
        text = "\ufeff" + text
    args = draw(
        st.dictionaries(
            st.sampled_from(
                ["X", "TAG", "P", "TARGETARCH", "BUILDKIT_SYNTAX", "E", "SOURCE_DATE_EPOCH"]
            ),
            st.sampled_from(
                ["alpine", "3.20", "0042", "linux/arm64", f"docker/dockerfile@{DIGEST}", ""]
            ),
            max_size=2,
        )
    )
    return text, args


def expected(answer: dict[str, Any]) -> list[str]:
    """The images BuildKit pulls, by the oracle: frontend, external bases, --from sources."""
    images = [answer["syntax"]] if answer["syntax"] else []
    images += [s["base"] for s in answer["stages"] if not s["stage"] and s["base"] != "scratch"]
    return sorted(images + answer["copy_from"])


@pytest.fixture(scope="module")
def buildkit() -> Iterator[Oracle]:
    with oracle("dockerfile") as running:
        yield running


def judge(buildkit: Oracle, text: str, args: dict[str, str], stats: Counter[str]) -> None:
    answer = buildkit.ask({"dockerfile": text, "build_args": args})
    try:
        images = parse_dockerfile(text, build_args=args)
    except UsageError as error:
        if answer.get("error"):
            stats["both refuse"] += 1
            return
        reason = next((r for r in DOCUMENTED if r in error.message), None)
        assert reason is not None, (
            f"gate refused what BuildKit builds, for no documented reason:\n{text!r} {args}\n"
            f"gate: {error.message}\nbuildkit: {answer}"
        )
        stats["documented refusal"] += 1
        return
    assert not answer.get("error"), (
        f"gate answered where BuildKit fails:\n{text!r} {args}\n"
        f"gate: {[i.reference for i in images]}\nbuildkit: {answer['error']}"
    )
    assert sorted(i.reference for i in images) == expected(answer), f"{text!r} {args}\n{answer}"
    stats["same images"] += 1


def test_gate_reads_the_images_buildkit_pulls(buildkit: Oracle) -> None:
    stats: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(dockerfiles())
    def run(case: tuple[str, dict[str, str]]) -> None:
        judge(buildkit, *case, stats)

    run()
    total = sum(stats.values())
    print(f"differential Dockerfile cases: {dict(stats)}")
    assert total >= EXAMPLES * 0.9
    assert stats["same images"] >= total * 0.05, stats
    assert stats["documented refusal"] <= total * 0.05, stats


LEX_PIECES = [*"<<<<-'\"\\`${}:EOF EOF\t019#%/+?@*", "\ufeff", "\x85", "\xa0", "à", "\r"]
LEX_PIECES += ["<<", "EOF", "${X", ":-", "<<-"]
lex_word = st.lists(st.sampled_from(LEX_PIECES), max_size=14).map("".join)


@st.composite
def heredoc_lines(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    """One line of shell-lexer characters, a hidden FROM, candidate terminators, a pinned FROM."""
    command = draw(
        st.sampled_from(["RUN ", "COPY ", "ONBUILD RUN ", "run --network=none ", "ADD "])
    )
    escape = draw(st.sampled_from(["", "# escape=`\n"]))
    ends = "\n".join(draw(st.lists(lex_word, max_size=3)))
    text = (
        f"{escape}FROM scratch\n{command}{draw(lex_word)} /d\nFROM alpine:latest\n{ends}\n"
        f"FROM busybox@{DIGEST}\n"
    )
    return text, draw(st.dictionaries(st.just("X"), st.just("EOF"), max_size=1))


def test_heredoc_lexing_matches_buildkit(buildkit: Oracle) -> None:
    """Random shell-lexer characters around ``<<``: the hidden FROM is seen exactly when
    BuildKit sees it."""
    stats: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES // 2,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(heredoc_lines())
    def run(case: tuple[str, dict[str, str]]) -> None:
        judge(buildkit, *case, stats)

    run()
    print(f"differential heredoc cases: {dict(stats)}")
    assert stats["same images"] >= sum(stats.values()) * 0.1, stats
    assert stats["documented refusal"] == 0, stats


EXPANSIONS = ["$X", "${X}", ":", "$TAG", "${TAG:-2}", "${E:-b}", "${E-b}", "${X:+x}", "'", '"']
EXPANSIONS += ["${UNSET:-busybox}", "\\", "a", "${X:?m}", "${E:?m}", "${TAG+q}", "${E+q}", "$D"]
EXPANSIONS += ["`", "$$", "${X-", "}", f"@{DIGEST}"]
expansion = st.lists(st.sampled_from(EXPANSIONS), max_size=12).map("".join)


@st.composite
def expanded_froms(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    """ARG defaults and FROM words built of expansions, quotes and escapes."""
    escape = draw(st.sampled_from(["", "# escape=`\n"]))
    text = (
        f"{escape}ARG X=alpine\nARG TAG=1\nARG E=\nARG D={draw(expansion)}\n"
        f"FROM {draw(expansion)}\nFROM $D\n"
    )
    values = st.sampled_from(["alpine", "", "b c"])
    return text, draw(st.dictionaries(st.sampled_from(["X", "TAG"]), values, max_size=1))


def test_from_expansion_matches_buildkit(buildkit: Oracle) -> None:
    stats: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES // 4,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(expanded_froms())
    def run(case: tuple[str, dict[str, str]]) -> None:
        judge(buildkit, *case, stats)

    run()
    print(f"differential FROM expansion cases: {dict(stats)}")
    assert stats["same images"] >= sum(stats.values()) * 0.03, stats


@pytest.mark.parametrize(
    "text",
    [
        # Each of these once made the gate and BuildKit disagree.
        "FROM scratch\nRUN <<''\nFROM alpine:latest\n\n",
        "FROM scratch\nRUN <<'EOF' 'x\nFROM alpine:latest\nEOF\n",
        "FROM scratch\nRUN \uff10<<EOF\nFROM alpine:latest\nEOF\n",
        "FROM scratch\nRUN x<<EOF${X:-y}\nFROM alpine:latest\nEOF\n",
        "FROM scratch\nCMD <<EOF\nFROM alpine:latest\nEOF\n",
        "FROM alpine AS builder\nFROM BUILDER\n",
        "FROM alpine\nCOPY --from=busybox a b\nCOPY --from=1 a b\n",
        "FROM alpine AS a\nCOPY --from=a x y\n",
        "FROM alpine\nFOO bar\n",
        "FROM --platform=$NOPE alpine\n",
        f"# syntax=docker/dockerfile:1@{DIGEST}\nFROM alpine\n",
        "FROM --platform= alpine\n",
        "FROM alpine\nCOPY --from=busybox a b\nCOPY --from=1 a b\nCOPY --from=2 a b\n",
        "FROM alpine\nRUN --mount=type=cache,target=/c true\nCOPY --from=1 a b\n",
        "FROM --platform=$TARGETOS/$TARGETARCH alpine\n",
    ],
)
def test_known_disagreements_now_agree(buildkit: Oracle, text: str) -> None:
    stats: Counter[str] = Counter()
    judge(buildkit, text, {}, stats)
    assert stats["same images"] + stats["both refuse"] == 1, stats
