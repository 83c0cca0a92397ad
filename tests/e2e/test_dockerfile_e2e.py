"""End to end through the CLI: the Dockerfile is read as BuildKit reads it (``--dockerfile``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.test_gate_hygiene_e2e import policy, push_image, report

DIGEST = "sha256:" + "ef" * 32
PIN = "base_image:\n  require_digest: true\n"


def judge(registry, tmp_path: Path, name: str, text: str) -> tuple[int, dict[str, Any]]:
    ref = push_image(registry, name)
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(text)
    return report(tmp_path, ref, "--dockerfile", str(dockerfile), "--policy", policy(tmp_path, PIN))


def test_a_from_hidden_behind_a_fake_heredoc_fails(registry, tmp_path):
    # BuildKit opens no heredoc for <<'' (its lexer yields no word), so line 3 is a stage
    # pulling alpine:latest. A reader that took <<'' for a heredoc saw only the pinned base.
    text = f"FROM debian:12@{DIGEST}\nRUN <<''\nFROM alpine:latest\n\nRUN true\n"
    code, data = judge(registry, tmp_path, "fake-heredoc", text)
    assert code == 1, data
    (check,) = data["checks"]
    assert (check["id"], check["status"]) == ("base-digest", "fail")
    (finding,) = check["findings"]
    assert finding["location"]["line"] == 3
    assert "alpine:latest" in finding["message"]


def test_an_unpinned_syntax_frontend_fails(registry, tmp_path):
    text = f"# syntax=docker/dockerfile:1\nFROM debian:12@{DIGEST}\n"
    code, data = judge(registry, tmp_path, "frontend", text)
    assert code == 1, data
    (check,) = data["checks"]
    (finding,) = check["findings"]
    assert "syntax frontend docker/dockerfile:1 is not pinned" in finding["message"]
    assert check["evidence"]["frontend"] == "docker/dockerfile:1"


def test_a_pinned_frontend_and_pinned_bases_pass(registry, tmp_path):
    text = (
        f"# syntax=docker/dockerfile:1@{DIGEST}\nFROM debian:12@{DIGEST}\nRUN <<EOF\nFROM x\nEOF\n"
    )
    code, data = judge(registry, tmp_path, "all-pinned", text)
    assert code == 0, data


def test_a_dockerfile_buildkit_rejects_is_an_error(registry, tmp_path):
    text = f"FROM debian:12@{DIGEST} AS builder\nFROM BUILDER\n"
    code, data = judge(registry, tmp_path, "bad-stage", text)
    assert code == 2, data
