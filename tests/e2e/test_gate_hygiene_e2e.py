"""End to end through the CLI: hygiene checks and signatures on images pushed to the real registry.

No scanner runs here: the policies have no vulnerabilities section, which also proves a
policy's absent sections cost nothing (no Trivy on PATH is needed).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import pki as P
from tests.support.cli import run_gate
from tests.support.oci import build_image, layer, push
from tests.support.paths import REPO_ROOT
from tests.support.rootfs import APP_PASSWD, ROOT_PASSWD

SHA = "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
REALWORLD_TRIVY = REPO_ROOT.parent / "shared" / "realworld" / "trivy"


def gate(*args: str, cwd: Path | None = None, extra_env: dict[str, str] | None = None):
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_SHA", "GITHUB_ACTIONS")}
    env["PATH"] = os.path.dirname(sys.executable)  # no trivy, no grype, no git: nothing else runs
    env.update(extra_env or {})
    return run_gate("check", *args, env=env, cwd=cwd)


def policy(tmp_path: Path, body: str) -> str:
    path = tmp_path / "policy.yml"
    path.write_text("version: 1\n" + body)
    return str(path)


def report(tmp_path: Path, *args: str, **kwargs) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "report.json"
    result = gate(*args, "--report-json", str(out), **kwargs)
    assert "Traceback" not in result.stdout + result.stderr
    return result.returncode, json.loads(out.read_text()) if out.exists() else {}


def push_image(registry, name: str, *, tag: str = "v1", **config) -> str:
    files = config.pop("files", {"etc/passwd": APP_PASSWD.encode()})
    image = build_image([layer(files)], **config)
    push(registry.host, f"hygiene/{name}", image, tag)
    return f"{registry.host}/hygiene/{name}:{tag}"


@pytest.mark.parametrize(
    ("user", "files", "expected"),
    [
        (None, {"etc/passwd": ROOT_PASSWD.encode()}, "fail"),
        ("root", {"etc/passwd": ROOT_PASSWD.encode()}, "fail"),
        ("0:0", {"etc/passwd": ROOT_PASSWD.encode()}, "fail"),
        ("1000", {}, "pass"),
        ("1000:0", {}, "pass"),
        ("app", {"etc/passwd": APP_PASSWD.encode()}, "pass"),
        ("toor", {"etc/passwd": (ROOT_PASSWD + "toor:x:0:0::/root:/bin/sh\n").encode()}, "fail"),
        ("ghost", {"etc/passwd": APP_PASSWD.encode()}, "fail"),
        ("app", {"app/bin": b"no passwd at all"}, "fail"),
    ],
)
def test_non_root_judges_the_effective_user(registry, tmp_path, user, files, expected):
    name = f"user-{user or 'empty'}-{len(files)}".replace(":", "-")
    ref = push_image(registry, name, user=user, files=files)
    code, data = report(tmp_path, ref, "--policy", policy(tmp_path, "image:\n  non_root: true\n"))
    (check,) = data["checks"]
    assert (check["id"], check["status"]) == ("non-root", expected), check
    assert code == (0 if expected == "pass" else 1)


@pytest.mark.parametrize(
    ("name", "user", "passwd", "uid"),
    [
        pytest.param("plus-zero", "+0", b"+0:x:1000:1000::/:/bin/sh\n", 0, id="+0-is-uid-0"),
        pytest.param(
            "carriage-return",
            "app",
            b"x:x:1:1:\rapp:x:1000:1000::/:/bin/sh\napp:x:0:0::/:/bin/sh\n",
            0,
            id="cr-ends-no-line",
        ),
        pytest.param("indented", "app", b"  app:x:0:0\napp:x:1000:1000\n", 0, id="indented"),
        pytest.param("trailing-space", "1000 ", b"1000 :x:0:0::/:/bin/sh\n", 0, id="1000-space"),
        pytest.param("wraps", "4294967296", b"", None, id="4294967296-refused"),
        pytest.param("no-group", "app:ghosts", APP_PASSWD.encode(), None, id="absent-group"),
    ],
)
def test_non_root_resolves_the_user_as_the_runtime_does(
    registry, tmp_path, name, user, passwd, uid
):
    """Each of these passed before the gate mirrored moby/sys/user's GetExecUser."""
    ref = push_image(registry, f"runtime-{name}", user=user, files={"etc/passwd": passwd})
    code, data = report(tmp_path, ref, "--policy", policy(tmp_path, "image:\n  non_root: true\n"))
    (check,) = data["checks"]
    assert (code, check["status"], check["evidence"]["uid"]) == (1, "fail", uid), check


@pytest.mark.parametrize(
    ("name", "upper_files", "whiteouts", "uid"),
    [
        pytest.param(
            "replaced",
            {"etc/passwd": (ROOT_PASSWD + "app:x:0:0::/:/bin/sh\n").encode()},
            [],
            0,
            id="replaced-with-app-as-uid-0",
        ),
        pytest.param(
            "whiteout", {"app/x": b"x"}, ["etc/passwd"], None, id="deleted-cannot-prove-non-root"
        ),
    ],
)
def test_passwd_in_an_upper_layer_decides(registry, tmp_path, name, upper_files, whiteouts, uid):
    lower = layer({"etc/passwd": APP_PASSWD.encode()})
    upper = layer(upper_files, whiteouts=whiteouts)
    push(registry.host, f"hygiene/{name}", build_image([lower, upper], user="app"), "v1")
    code, data = report(
        tmp_path,
        f"{registry.host}/hygiene/{name}:v1",
        "--policy",
        policy(tmp_path, "image:\n  non_root: true\n"),
    )
    (check,) = data["checks"]
    assert (code, check["status"], check["evidence"]["uid"]) == (1, "fail", uid)


@pytest.mark.parametrize(
    ("tag", "sha_source", "expected"),
    [
        (SHA, "flag", 0),
        (SHA[:7], "flag", 0),
        ("0123456", "flag", 1),
        ("latest", "flag", 1),
        (SHA[:12], "env", 0),
    ],
)
def test_tag_must_be_the_git_sha(registry, tmp_path, tag, sha_source, expected):
    ref = push_image(registry, "tagged", tag=tag)
    args = [ref, "--policy", policy(tmp_path, "image:\n  tag: git-sha\n")]
    extra = {"GITHUB_SHA": SHA} if sha_source == "env" else {}
    if sha_source == "flag":
        args += ["--git-sha", SHA]
    code, data = report(tmp_path, *args, extra_env=extra)
    assert code == expected, data


def test_digest_only_reference_has_no_tag_to_check(registry, tmp_path):
    ref = push_image(registry, "digest-only")
    _, data = report(tmp_path, ref, "--policy", policy(tmp_path, "image:\n  non_root: true\n"))
    by_digest = f"{ref.rsplit(':', 1)[0]}@{data['image']['digest']}"
    code, data = report(
        tmp_path,
        by_digest,
        "--git-sha",
        SHA,
        "--policy",
        policy(tmp_path, "image:\n  tag: git-sha\n"),
    )
    assert code == 1
    assert "digest" in data["checks"][0]["summary"]


def test_no_git_sha_known_is_an_error(registry, tmp_path):
    ref = push_image(registry, "no-sha", tag=SHA[:7])
    result = gate(ref, "--policy", policy(tmp_path, "image:\n  tag: git-sha\n"), cwd=tmp_path)
    assert result.returncode == 2
    assert "--git-sha" in result.stdout


def test_old_image_fails_the_age_limit_and_big_image_fails_the_size_limit(registry, tmp_path):
    old = push_image(registry, "old", created="2020-01-01T00:00:00Z")
    code, data = report(tmp_path, old, "--policy", policy(tmp_path, "image:\n  max_age_days: 90\n"))
    assert code == 1 and data["checks"][0]["id"] == "age"
    big = push_image(registry, "big", files={"blob": os.urandom(3_000_000)})
    code, data = report(tmp_path, big, "--policy", policy(tmp_path, "image:\n  max_size_mb: 1\n"))
    assert code == 1 and data["checks"][0]["id"] == "size"


def test_unpinned_base_in_the_dockerfile_is_cited_by_line(registry, tmp_path):
    ref = push_image(registry, "based")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("# syntax=docker/dockerfile:1\nFROM debian:12 AS build\nFROM build\n")
    code, data = report(
        tmp_path,
        ref,
        "--dockerfile",
        str(dockerfile),
        "--policy",
        policy(tmp_path, "base_image:\n  require_digest: true\n"),
    )
    assert code == 1
    frontend, base = data["checks"][0]["findings"]
    assert frontend["location"] == {"file": str(dockerfile), "line": 1}  # the syntax frontend
    assert base["location"] == {"file": str(dockerfile), "line": 2}


def test_realworld_trivy_report_with_a_numeric_user_passes_non_root(tmp_path):
    report_file = REALWORLD_TRIVY / "alpine-distroless.json"
    if not report_file.exists():
        pytest.skip("../shared/realworld is not present")
    code, data = report(
        tmp_path,
        "--trivy-report",
        str(report_file),
        "--policy",
        policy(tmp_path, "image:\n  non_root: true\n"),
    )
    assert code == 0, data
    assert data["checks"][0]["status"] == "pass"


def test_signed_image_passes_and_unsigned_image_fails(signature_registry, tmp_path):
    registry = signature_registry
    signed = push_image(registry, "signed", files={"app/signed": b"1"})
    unsigned = push_image(registry, "unsigned", files={"app/unsigned": b"1"})
    pki = P.TestPKI.create()
    root = pki.write_trusted_root(tmp_path / "trusted_root.json")
    key = P.new_key()
    key_file = tmp_path / "cosign.pub"
    key_file.write_bytes(P.public_pem(key))
    _, data = report(
        tmp_path,
        signed,
        "--policy",
        policy(tmp_path, "image:\n  non_root: false\n  tag: any\n  max_age_days: 3650\n"),
    )
    digest = data["image"]["digest"]
    P.push_legacy(registry.host, "hygiene/signed", digest, [P.legacy_signature(pki, digest, key)])
    rules = policy(
        tmp_path,
        "signature:\n  trusted_root: trusted_root.json\n  authorities:\n"
        "    - name: release-key\n      key: cosign.pub\n",
    )
    assert root.exists()
    code, data = report(tmp_path, signed, "--policy", rules)
    assert code == 0, data
    assert data["checks"][0]["evidence"]["signatures"][0]["accepted_by"] == "release-key"
    code, data = report(tmp_path, unsigned, "--policy", rules)
    assert code == 1
    assert data["checks"][0]["status"] == "fail"
