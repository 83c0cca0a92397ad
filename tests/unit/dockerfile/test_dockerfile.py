"""Reading Dockerfiles into the external images a build pulls (gate.dockerfile)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gate.dockerfile import parse_dockerfile, read_base_images
from gate.errors import UsageError
from gate.model import BaseImage, Location

DIGEST = "sha256:" + "ab" * 32


def bases(text: str, **build_args: str) -> list[tuple[str, str, str | None, int | None]]:
    """(reference, repository, digest, line) of each image pulled, frontend first."""
    return [
        (b.reference, b.repository, b.digest, b.location.line if b.location else None)
        for b in parse_dockerfile(text, build_args=build_args)
    ]


def refs(text: str, **build_args: str) -> list[str]:
    return [r for r, _, _, _ in bases(text, **build_args)]


def refused(text: str, match: str, **build_args: str) -> None:
    with pytest.raises(UsageError, match=match):
        parse_dockerfile(text, build_args=build_args)


# --------------------------------------------------------------------------- single stage


def test_single_stage_unpinned_base_is_reported_with_its_line_and_text():
    [base] = parse_dockerfile("# app image\n\nFROM debian:12\nRUN true\n", name="app/Dockerfile")
    assert base == BaseImage(
        reference="debian:12",
        repository="docker.io/library/debian",
        digest=None,
        location=Location("app/Dockerfile", 3),
        text="FROM debian:12",
    )


def test_single_stage_pinned_base_carries_its_digest():
    assert bases(f"FROM debian:12@{DIGEST}\n") == [
        (f"debian:12@{DIGEST}", "docker.io/library/debian", DIGEST, 1)
    ]


def test_registry_repositories_are_kept_and_hub_names_normalised():
    text = "FROM ghcr.io/acme/base:1\nFROM nginx:1.27\nFROM library/redis\n"
    assert [r for _, r, _, _ in bases(text)] == [
        "ghcr.io/acme/base",
        "docker.io/library/nginx",
        "docker.io/library/redis",
    ]


# --------------------------------------------------------------------------- multi-stage


def test_multi_stage_internal_references_are_not_bases():
    text = (
        "FROM golang:1.22 AS build\n"
        "RUN go build -o /app\n"
        "FROM build AS test\n"
        "RUN go test ./...\n"
        f"FROM gcr.io/distroless/static@{DIGEST}\n"
        "COPY --from=build /app /app\n"
        "COPY --from=0 /etc/ssl /etc/ssl\n"
    )
    assert bases(text) == [
        ("golang:1.22", "docker.io/library/golang", None, 1),
        (f"gcr.io/distroless/static@{DIGEST}", "gcr.io/distroless/static", DIGEST, 5),
    ]


def test_stage_names_match_case_insensitively():
    text = "FROM alpine:3.19 AS Builder\nFROM builder\nCOPY --from=BUILDER /a /a\n"
    assert bases(text) == [("alpine:3.19", "docker.io/library/alpine", None, 1)]


def test_from_a_stage_declared_later_is_an_external_image():
    # BuildKit resolves FROM against earlier stages only.
    text = "FROM build\nFROM alpine AS build\n"
    assert [r for r, _, _, _ in bases(text)] == ["build", "alpine"]


def test_copy_from_an_external_image_is_a_base():
    text = "FROM debian:12\nCOPY --from=alpine:3.19 /bin/busybox /busybox\n"
    assert bases(text)[1] == ("alpine:3.19", "docker.io/library/alpine", None, 2)


def test_copy_from_a_stage_declared_later_is_internal():
    text = "FROM debian AS final\nCOPY --from=tools /t /t\nFROM alpine AS tools\n"
    assert [r for r, _, _, _ in bases(text)] == ["debian", "alpine"]


def test_run_mount_from_an_external_image_is_a_base():
    text = (
        "FROM debian AS build\n"
        "FROM build\n"
        "RUN --mount=type=bind,from=busybox:1.36,target=/bb --mount=type=cache,target=/c true\n"
        "RUN --mount=type=bind,from=build,target=/b true\n"
    )
    assert bases(text)[1] == ("busybox:1.36", "docker.io/library/busybox", None, 3)
    assert len(bases(text)) == 2


def test_copy_from_an_invalid_stage_index_is_an_error():
    with pytest.raises(UsageError, match=r"Dockerfile:2: invalid stage index 3"):
        parse_dockerfile("FROM debian\nCOPY --from=3 /a /a\n")


# --------------------------------------------------------------------------- ARG


def test_arg_substituted_base_uses_its_default():
    text = "ARG BASE=debian\nARG TAG=12\nFROM ${BASE}:$TAG\n"
    assert bases(text) == [("debian:12", "docker.io/library/debian", None, 3)]


def test_build_arg_overrides_the_default():
    text = "ARG BASE=debian\nARG TAG=12\nFROM ${BASE}:$TAG\n"
    assert bases(text, TAG=f"12@{DIGEST}") == [
        (f"debian:12@{DIGEST}", "docker.io/library/debian", DIGEST, 3)
    ]


def test_build_arg_for_an_undeclared_arg_is_not_used():
    with pytest.raises(UsageError, match=r"Dockerfile:1: FROM uses \$BASE, but no ARG"):
        parse_dockerfile("FROM $BASE\n", build_args={"BASE": "alpine"})


def test_arg_without_a_value_is_an_error_that_names_the_build_arg():
    with pytest.raises(UsageError, match=r"Dockerfile:2: FROM uses ARG BASE.*--build-arg BASE="):
        parse_dockerfile("ARG BASE\nFROM $BASE\n")


def test_arg_without_a_value_takes_the_build_arg():
    assert bases("ARG BASE\nFROM $BASE\n", BASE="alpine:3.19")[0][0] == "alpine:3.19"


def test_shell_style_defaults_and_alternatives():
    text = "ARG EMPTY=\nARG SET=x\nFROM a${UNSET:-b}${EMPTY:-c}${EMPTY-d}${SET:+e}${UNSET+f}:1\n"
    # :- replaces unset or empty, - only unset; :+ uses the word when set and non-empty.
    assert bases(text)[0][0] == "abce:1"


def test_defaults_may_reference_earlier_args():
    text = 'ARG REGISTRY=ghcr.io/acme\nARG IMAGE="${REGISTRY}/base"\nFROM $IMAGE:1\n'
    assert bases(text)[0][:2] == ("ghcr.io/acme/base:1", "ghcr.io/acme/base")


def test_required_variable_message_is_reported():
    with pytest.raises(UsageError, match="Dockerfile:2: BASE: pass_a_base"):
        parse_dockerfile("ARG BASE\nFROM ${BASE:?pass_a_base}\n")


def test_args_after_the_first_from_do_not_reach_from():
    text = "FROM debian AS one\nARG NEXT=alpine\nFROM $NEXT\n"
    with pytest.raises(UsageError, match=r"Dockerfile:3: FROM uses \$NEXT"):
        parse_dockerfile(text)


def test_copy_from_takes_no_variables():
    # dockerfile2llb toCommand: "variable expansion is not supported for --from".
    text = "ARG TOOLS=busybox:1.36\nFROM debian\nARG TOOLS\nCOPY --from=$TOOLS /bin/sh /sh\n"
    refused(text, r"Dockerfile:4: variable expansion is not supported for --from")


def test_automatic_platform_args_are_not_guessed():
    with pytest.raises(UsageError, match="automatic ARG TARGETARCH"):
        parse_dockerfile("FROM golang:1.22-$TARGETARCH\n")


def test_pattern_substitution_is_an_error_not_a_guess():
    with pytest.raises(UsageError, match="not supported"):
        parse_dockerfile("ARG V=1.2\nFROM debian:${V%.*}\n")


# --------------------------------------------------------------------------- syntax


def test_platform_flag_is_not_part_of_the_image():
    text = (
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nFROM --platform=linux/arm64 alpine\n"
    )
    assert [r for r, _, _, _ in bases(text)] == ["golang:1.22", "alpine"]


def test_scratch_has_nothing_to_pin():
    text = "FROM golang:1.22 AS build\nFROM scratch\nCOPY --from=build /app /app\n"
    assert [r for r, _, _, _ in bases(text)] == ["golang:1.22"]
    assert parse_dockerfile("FROM scratch\nCOPY app /app\n") == ()


def test_lowercase_instructions():
    text = "from debian:12 as build\nfrom build\ncopy --from=alpine /a /a\n"
    assert [r for r, _, _, _ in bases(text)] == ["debian:12", "alpine"]


def test_continuation_lines_report_the_from_line():
    text = (
        "# syntax=docker/dockerfile:1\n"
        "FROM \\\n"
        "  # a comment inside the continuation\n"
        "\n"
        "  debian:12 \\\n"
        "  AS base\n"
        "FROM base\n"
    )
    [frontend, base] = parse_dockerfile(text)
    assert (frontend.reference, frontend.role) == ("docker/dockerfile:1", "frontend")
    assert (base.reference, base.location) == ("debian:12", Location("Dockerfile", 2))
    assert base.text == "FROM debian:12 AS base"


def test_escape_directive_changes_the_continuation_character():
    text = (
        "# escape=`\n"
        "FROM mcr.microsoft.com/windows/servercore:ltsc2022 `\n"
        "  AS build\n"
        "RUN echo C:\\\n"
        "FROM debian\n"
    )
    # With ` as escape, the backslash ends no line: line 5 is its own FROM.
    assert bases(text) == [
        (
            "mcr.microsoft.com/windows/servercore:ltsc2022",
            "mcr.microsoft.com/windows/servercore",
            None,
            2,
        ),
        ("debian", "docker.io/library/debian", None, 5),
    ]


def test_escape_directive_after_a_comment_is_only_a_comment():
    text = "# a comment\n# escape=`\nFROM debian \\\n  AS x\n"
    assert bases(text)[0][0] == "debian"


def test_directive_errors():
    with pytest.raises(UsageError, match="invalid escape token"):
        parse_dockerfile("# escape=x\nFROM debian\n")
    with pytest.raises(UsageError, match="only one escape parser directive"):
        parse_dockerfile("# escape=`\n# escape=\\\nFROM debian\n")


def test_heredoc_bodies_are_not_instructions():
    text = (
        "FROM python:3.12\n"
        "RUN python3 <<EOF\n"
        "from os import path\n"
        "EOF\n"
        "COPY <<-'CONF' /etc/app.conf\n"
        "\tFROM evil\n"
        "\tCONF\n"
        "FROM debian\n"
    )
    assert [(r, line) for r, _, _, line in bases(text)] == [("python:3.12", 1), ("debian", 8)]


def test_unterminated_heredoc_is_an_error():
    with pytest.raises(UsageError, match="unterminated heredoc"):
        parse_dockerfile("FROM debian\nRUN <<EOF\necho hi\n")


def test_crlf_and_byte_order_mark():
    assert bases("\ufeffFROM debian:12\r\nRUN true\r\n") == [
        ("debian:12", "docker.io/library/debian", None, 1)
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "cannot be empty"),
        ("\n# only a comment\n", "no instructions"),
        ("ARG X=1\n", "no stages to build"),
        ("FROM\n", "one or three arguments"),
        ("FROM debian AS\n", "one or three arguments"),
        ("FROM debian AS 1st\n", "invalid name for build stage"),
        ("FROM Debian\n", "lowercase"),
        ("FROM debian@sha256:abc\n", "invalid digest"),
        ("FROM 'debian\n", "matching single-quote"),
        ("FROM ${\n", "missing"),
    ],
)
def test_invalid_dockerfiles_are_usage_errors(text: str, message: str):
    with pytest.raises(UsageError, match=message):
        parse_dockerfile(text)


# --------------------------------------------------------------------------- files


def test_reads_several_dockerfiles_citing_each_path(tmp_path: Path):
    first = tmp_path / "Dockerfile"
    second = tmp_path / "worker.Dockerfile"
    first.write_text(f"FROM debian:12@{DIGEST}\n")
    second.write_text("ARG V=3.19\nFROM alpine:$V\n")
    found = read_base_images([first, second], {"V": "3.20"})
    assert [(b.reference, b.location) for b in found] == [
        (f"debian:12@{DIGEST}", Location(str(first), 1)),
        ("alpine:3.20", Location(str(second), 2)),
    ]


def test_missing_dockerfile_is_a_usage_error(tmp_path: Path):
    with pytest.raises(UsageError, match="cannot read Dockerfile"):
        read_base_images([tmp_path / "nope"])
    with pytest.raises(UsageError, match="cannot read Dockerfile"):
        read_base_images([tmp_path])


def test_a_missing_relative_dockerfile_says_it_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as caught:
        read_base_images([Path("docker/Dockerfile")])
    assert f"(relative to the working directory {tmp_path})" in caught.value.message


def test_non_utf8_dockerfile_is_a_usage_error(tmp_path: Path):
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM debian\n# \xff\xfe\n")
    with pytest.raises(UsageError, match="not UTF-8"):
        read_base_images([path])


# --------------------------------------------------------------------------- robustness

_FRAGMENTS = st.sampled_from(
    [
        "FROM ",
        "from ",
        "ARG ",
        "COPY --from=",
        "RUN --mount=from=",
        "RUN <<",
        "ONBUILD RUN <<",
        " AS ",
        "debian",
        "alpine:3.19",
        f"@{DIGEST}",
        "$",
        "${",
        "}",
        ":-",
        ":?",
        "+",
        "#",
        "%",
        "'",
        '"',
        "\\",
        "`",
        "\n",
        "\r\n",
        " ",
        "\t",
        "EOF",
        "-",
        "=",
        "# escape=`\n",
        "# syntax=x\n",
        "scratch",
        "0",
        "[",
        "]",
        "<<-",
        "\ufeff",
        "build",
    ]
)


@given(st.one_of(st.text(), st.lists(_FRAGMENTS | st.text(max_size=3), max_size=40).map("".join)))
def test_any_text_yields_bases_or_a_usage_error(text: str):
    try:
        found = parse_dockerfile(text)
    except UsageError as error:
        assert error.message
        assert "\n" not in error.message.split(":", 2)[0]
        return
    assert isinstance(found, tuple)
    assert all(isinstance(b, BaseImage) and b.repository for b in found)


def test_json_form_run_opens_no_heredoc():
    text = 'FROM debian\nRUN ["sh", "-c", "cat <<EOF"]\nFROM alpine\n'
    assert [r for r, _, _, _ in bases(text)] == ["debian", "alpine"]


def test_quoted_flag_values_and_other_flags():
    text = "FROM debian\nCOPY --chown=1:1 --link --from='alpine:3.19' /a /a\n"
    assert bases(text)[1][0] == "alpine:3.19"


def test_inline_hash_is_not_a_comment():
    # Dockerfile comments are whole lines; BuildKit rejects this FROM too.
    with pytest.raises(UsageError, match="one or three arguments"):
        parse_dockerfile("FROM debian # base\n")


# --------------------------------------------------------------------------- BuildKit's reading

HIDDEN = "FROM alpine:latest"


@pytest.mark.parametrize(
    ("line", "after"),
    [
        ("RUN <<''", ""),  # the lexer yields no word: no heredoc, so the next line is a FROM
        ('RUN <<""', ""),
        ("RUN <<'EOF' 'unbalanced", "EOF"),  # a lexing error: BuildKit finds no heredoc at all
        ("RUN \uff10<<EOF", "EOF"),  # only ASCII digits may name a file descriptor
        ("RUN x<<EOF${X:-y}", "EOF"),  # the shared word buffer drops "x<<EOF"
        ("CMD <<EOF", "EOF"),  # only RUN, COPY and ADD take heredocs
        ("RUN <<${X:-EOF}", "${X:-EOF}"),  # ${…:-…} resets the word: it no longer starts <<
    ],
)
def test_a_from_buildkit_sees_outside_a_heredoc_is_a_base(line: str, after: str):
    text = (
        f"FROM scratch\n{line}\n{HIDDEN}\n{after}\n"
        if after
        else f"FROM scratch\n{line}\n{HIDDEN}\n\n"
    )
    if after:
        # The terminator is then an instruction BuildKit does not know: refused, never a pass.
        refused(text, "unknown instruction: ")
    else:
        assert refs(text) == ["alpine:latest"]


@pytest.mark.parametrize(
    ("marker", "terminator"),
    [
        ("<<EOF$X", "EOF$X"),  # unset variables stay verbatim in the terminator
        ("<<$EOF", "$EOF"),
        ("<<E\\OF", "EOF"),  # escapes are removed
        ("<<E'O'F", "EOF"),  # quotes are removed
        ("<<-EOF", "\t\tEOF"),  # <<- strips leading tabs from the terminator line
        ("<< EOF", "EOF"),  # spaces after << are allowed
    ],
)
def test_heredoc_terminators_are_read_as_buildkit_lexes_them(marker: str, terminator: str):
    text = f"FROM scratch\nRUN {marker}\n{HIDDEN}\n{terminator}\nFROM debian@{DIGEST}\n"
    assert refs(text) == [f"debian@{DIGEST}"]


def test_from_a_stage_name_in_another_case_is_an_image_buildkit_cannot_pull():
    refused("FROM alpine AS builder\nFROM Builder\n", "must be lowercase")


def test_copy_from_an_index_counts_the_images_met_before():
    text = "FROM alpine\nCOPY --from=busybox a b\nCOPY --from=1 a b\n"
    assert refs(text) == ["alpine", "busybox"]


def test_buildkit_errors_are_refused():
    refused("FROM alpine\nFOO bar\n", "Dockerfile:2: unknown instruction: FOO")
    refused("FROM alpine AS a\nCOPY --from=a x y\n", "circular dependency")
    refused("FROM --platform=$NOPE alpine\n", r"--platform uses \$NOPE")
    refused("FROM alpine\nCOPY --chmod a b\n", "missing a value on flag: --chmod")


@pytest.mark.parametrize(
    "header",
    [
        "# syntax=docker/dockerfile:1",
        "#syntax=docker/dockerfile:1",
        "# SYNTAX = docker/dockerfile:1 --opt=x",
        "#!/bin/sh\n# syntax=docker/dockerfile:1",
        "\ufeff# syntax=docker/dockerfile:1",
        "# escape=`\n# syntax=docker/dockerfile:1",
    ],
)
def test_syntax_directive_names_the_frontend_image(header: str):
    [frontend, base] = parse_dockerfile(f"{header}\nFROM debian\n")
    assert (frontend.reference, frontend.role, base.role) == (
        "docker/dockerfile:1",
        "frontend",
        "base",
    )


@pytest.mark.parametrize(
    "header",
    ["# a comment\n# syntax=x/y", "  # syntax=x/y", "\n# syntax=x/y", "#\n# syntax=x/y"],
)
def test_a_syntax_comment_after_the_top_is_no_frontend(header: str):
    found = [b.role for b in parse_dockerfile(f"{header}\nFROM debian\n")]
    assert "frontend" not in found


def test_buildkit_syntax_build_arg_overrides_the_directive():
    found = parse_dockerfile(
        "# syntax=docker/dockerfile:1\nFROM debian\n",
        build_args={"BUILDKIT_SYNTAX": f"ghcr.io/acme/frontend@{DIGEST} --opt"},
    )
    assert [(b.reference, b.role) for b in found] == [
        (f"ghcr.io/acme/frontend@{DIGEST}", "frontend"),
        ("debian", "base"),
    ]


def test_source_date_epoch_is_resolved_before_from_as_buildkit_does():
    text = "ARG SOURCE_DATE_EPOCH=007\nFROM alpine:$SOURCE_DATE_EPOCH\n"
    assert refs(text) == ["alpine:7"]
    refused("FROM alpine\n", "SOURCE_DATE_EPOCH='build' naming a stage", SOURCE_DATE_EPOCH="build")
