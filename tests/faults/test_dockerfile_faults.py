"""Fault matrix, Dockerfile: a Dockerfile the gate cannot read as BuildKit does exits 2.

Each row is ``gate check oci:LAYOUT --dockerfile FILE`` with a policy that judges bases, on a
real OCI layout, so only the Dockerfile can refuse. The rows are the refusals the BuildKit
port adds: what BuildKit itself rejects, and what only BuildKit could resolve.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.harness import Row, base_env, check_row, run_cli, write_policy
from tests.support.oci import build_image, layer, write_oci_layout

DIGEST = "sha256:" + "ab" * 32

ROWS: dict[Row, str] = {
    Row("FROM names a stage in the wrong case", 2, "must be lowercase"): (
        "FROM alpine AS builder\nFROM BUILDER\n"
    ),
    Row("COPY --from with a variable", 2, "variable expansion is not supported for --from"): (
        "ARG T=busybox\nFROM alpine\nCOPY --from=$T /a /b\n"
    ),
    Row("a stage copying from itself", 2, "circular dependency detected on stage: a"): (
        "FROM alpine AS a\nCOPY --from=a /x /y\n"
    ),
    Row("unknown instruction", 2, "Dockerfile:2: unknown instruction: FOO"): (
        "FROM alpine\nFOO bar\n"
    ),
    Row("unknown flag", 2, "unknown flag: --bogus"): "FROM --bogus=1 alpine\n",
    Row("heredoc never terminated", 2, "unterminated heredoc"): "FROM alpine\nRUN <<EOF\nx\n",
    Row("instruction before the first FROM", 2, "no build stage in current context"): (
        "RUN true\nFROM alpine\n"
    ),
    Row("syntax frontend that is no reference", 2, "syntax frontend"): (
        "# syntax=Bad:Ref\nFROM alpine\n"
    ),
    Row("automatic platform ARG in FROM", 2, "whose value only BuildKit knows"): (
        "FROM golang:1.22-$TARGETARCH\n"
    ),
    Row("platform BuildKit rejects", 2, "platforms BuildKit accepts"): (
        "FROM --platform=a/b/c/d alpine\n"
    ),
    Row("ONBUILD trigger pulling from an image", 2, "ONBUILD trigger that copies"): (
        "FROM alpine\nONBUILD COPY --from=busybox /a /b\n"
    ),
}


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("layout") / "image"
    write_oci_layout(directory, build_image([layer({"app/bin": b"x"})], user="1000"), tag="v1")
    return directory


@pytest.mark.parametrize("row", list(ROWS), ids=str)
def test_dockerfile_fault(row: Row, layout: Path, tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(ROWS[row])
    policy = write_policy(tmp_path, "base_image:\n  require_digest: true\n")
    env = base_env("", tmp_path)
    outcome = run_cli(
        "check", f"oci:{layout}", "--dockerfile", str(dockerfile), "--policy", policy, env=env
    )
    check_row(outcome, row)
