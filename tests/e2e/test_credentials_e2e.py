"""End to end: no credential reaches any output, whoever echoes it.

The real CLI and the real Trivy. A registry that echoes what it was sent
(``tests/support/fakeregistry.py``: the gate's own client is served the image, Trivy is
answered with a 403 quoting its ``Authorization`` header, the decoded password and a
``user:password@`` URL) makes Trivy print the credentials on stderr, and the gate shows
that stderr. Credentials come from the environment or from a Docker ``config.json``.
Every output is then searched: stdout, stderr, ``--report-json``, ``--sarif``,
``$GITHUB_STEP_SUMMARY`` and ``$GITHUB_OUTPUT``, for the secret and for any 8
characters of its base64 encoding. The real registry shows the same in a passing run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gate.redact import BASE64_RUN, WITHHELD, base64_cores
from tests.support import oci
from tests.support.cli import run_gate
from tests.support.fakeregistry import FakeRegistry, Reply, Seen, error_reply, manifest_reply
from tests.support.registry import RunningRegistry

IMAGE = oci.build_image([oci.layer({"app/server.py": b"print('hi')\n"})], user="1000")
USER = "ci-bot"
PASSWORD = "s3cret-Pa55word!/+%é"
GITHUB_TOKEN = "ghs_runnerTokenValue0123456789abcdef"
POLICY = "version: 1\nvulnerabilities:\n  fail_on: high\n"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True)
class Outputs:
    code: int
    stdout: str
    stderr: str
    files: dict[str, str]

    def everything(self) -> dict[str, str]:
        return {"stdout": self.stdout, "stderr": self.stderr, **self.files}


def leaks(text: str, secret: str, user: str = "") -> list[str]:
    """The pieces of *secret* (raw, or 8 characters of a base64 form) found in *text*."""
    found = [secret] if secret in text else []
    payloads = [secret.encode()] + ([f"{user}:{secret}".encode()] if user else [])
    for payload in payloads:
        for core in base64_cores(payload):
            found += [
                core[i : i + BASE64_RUN]
                for i in range(len(core) - BASE64_RUN + 1)
                if core[i : i + BASE64_RUN] in text
            ]
    return found


def assert_no_leak(outputs: Outputs, secret: str, user: str = "") -> None:
    for name, text in outputs.everything().items():
        if name == "stdout":  # the runner's masker is handed each secret, and only that
            text = "\n".join(
                line for line in text.splitlines() if not line.startswith("::add-mask::")
            )
        assert not leaks(text, secret, user), (name, leaks(text, secret, user), text[-3000:])


def check(
    image: str, env: dict[str, str], tmp_path: Path, *, actions: bool = True, rules: str = POLICY
) -> Outputs:
    """``gate check IMAGE`` with every output requested (as in GitHub Actions)."""
    policy = tmp_path / "policy.yml"
    policy.write_text(rules, encoding="utf-8")
    files = {
        "report": tmp_path / "report.json",
        "sarif": tmp_path / "report.sarif",
        "summary": tmp_path / "summary.md",
        "output": tmp_path / "output.txt",
    }
    env = dict(env)
    if actions:
        env |= {
            "GITHUB_ACTIONS": "true",
            "GITHUB_STEP_SUMMARY": str(files["summary"]),
            "GITHUB_OUTPUT": str(files["output"]),
        }
    done = run_gate(
        "check",
        image,
        "--policy",
        str(policy),
        "--report-json",
        str(files["report"]),
        "--sarif",
        str(files["sarif"]),
        env=env,
    )
    written = {name: path.read_text() for name, path in files.items() if path.exists()}
    assert {"report", "sarif"} <= written.keys(), done.stderr
    return Outputs(done.returncode, done.stdout, done.stderr, written)


def echoing_registry(fake: FakeRegistry, user: str, password: str) -> None:
    """Basic auth for everyone; the image for the gate, an echoing 403 for anyone else."""
    wanted = basic(user, password)
    challenge = error_reply(401, "UNAUTHORIZED", "auth", **{"WWW-Authenticate": 'Basic realm="x"'})
    digest = "sha256:" + hashlib.sha256(IMAGE.manifest).hexdigest()

    def route(served: Reply) -> object:
        def answer(seen: Seen) -> Reply:
            sent = seen.headers.get("Authorization", "")
            if sent != wanted:
                return challenge
            if seen.headers.get("User-Agent", "").startswith("container-gate/"):
                return served
            echo = f"denied: you sent {sent} ({user}:{password}) via http://{user}:{password}@x/"
            return error_reply(403, "DENIED", echo)

        return answer

    fake.handle("/v2/", route(Reply(200, b"{}")))  # type: ignore[arg-type]
    manifest = manifest_reply(IMAGE.manifest, IMAGE.media_type)
    for path in ("/v2/app/manifests/v1", f"/v2/app/manifests/{digest}"):
        fake.handle(path, route(manifest))  # type: ignore[arg-type]
    for blob_digest, blob in IMAGE.blobs.items():
        fake.handle(f"/v2/app/blobs/{blob_digest}", route(Reply(200, blob)))  # type: ignore[arg-type]


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as server:
        yield server


@pytest.fixture
def clean_env(trivy_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Real Trivy, offline; no ambient credentials, an empty Docker config directory."""
    drop = ("GITHUB_ACTIONS", "REGISTRY_USERNAME", "REGISTRY_PASSWORD", "GITHUB_TOKEN")
    env = {k: v for k, v in trivy_env.items() if k not in drop}
    (tmp_path / "docker").mkdir()
    env["DOCKER_CONFIG"] = str(tmp_path / "docker")
    return env


def assert_trivy_echo_shown_masked(outputs: Outputs) -> None:
    """The control: Trivy's stderr, with the echo in it, did reach the outputs."""
    assert outputs.code == 2, outputs.stdout + outputs.stderr
    assert "trivy exited with code 1" in outputs.stdout
    assert "DENIED: denied: you sent Basic ***" in outputs.stdout


def test_credentials_from_the_environment_never_reach_any_output(
    fake: FakeRegistry, clean_env: dict[str, str], tmp_path: Path
) -> None:
    echoing_registry(fake, USER, PASSWORD)
    env = clean_env | {
        "REGISTRY_USERNAME": USER,
        "REGISTRY_PASSWORD": PASSWORD,
        "GITHUB_TOKEN": GITHUB_TOKEN,
    }
    outputs = check(f"{fake.host}/app:v1", env, tmp_path)
    assert_trivy_echo_shown_masked(outputs)
    assert_no_leak(outputs, PASSWORD, USER)
    assert_no_leak(outputs, GITHUB_TOKEN)
    masks = {line for line in outputs.stdout.splitlines() if line.startswith("::add-mask::")}
    assert "::add-mask::" + PASSWORD.replace("%", "%25") in masks
    assert f"::add-mask::{GITHUB_TOKEN}" in masks
    first = outputs.stdout.splitlines()[0]
    assert first.startswith("::add-mask::"), "the runner must learn the secrets first"


def test_credentials_from_a_docker_config_never_reach_any_output(
    fake: FakeRegistry, clean_env: dict[str, str], tmp_path: Path
) -> None:
    """Trivy reads the same ``config.json`` itself; the gate knows every entry in it."""
    echoing_registry(fake, USER, PASSWORD)
    auths = {
        fake.host: {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()},
        "ghcr.io": {"username": "other", "password": "another-registry-password"},
    }
    config = Path(clean_env["DOCKER_CONFIG"]) / "config.json"
    config.write_text(json.dumps({"auths": auths}), encoding="utf-8")
    outputs = check(f"{fake.host}/app:v1", clean_env, tmp_path)
    assert_trivy_echo_shown_masked(outputs)
    assert_no_leak(outputs, PASSWORD, USER)
    assert_no_leak(outputs, auths[fake.host]["auth"])


def test_real_grype_which_masks_the_password_but_echoes_the_basic_token_leaks_neither(
    fake: FakeRegistry, clean_env: dict[str, str], tmp_path: Path
) -> None:
    """Grype masks a password it prints, but not the base64 ``Authorization`` it quotes.

    The gate hands Grype its credentials (``GRYPE_REGISTRY_AUTH_*``); Grype fails (no
    vulnerability DB offline) and quotes the registry's echo on stderr.
    """
    if shutil.which("grype", path=clean_env["PATH"]) is None:
        if os.environ.get("CONTAINER_GATE_REQUIRE_GO") == "1":
            pytest.fail("grype is not installed: run scripts/go-tools.sh")
        pytest.skip("grype is not installed (scripts/go-tools.sh builds it)")
    echoing_registry(fake, USER, PASSWORD)
    (tmp_path / "grype-db").mkdir()
    env = clean_env | {
        "REGISTRY_USERNAME": USER,
        "REGISTRY_PASSWORD": PASSWORD,
        "GRYPE_DB_AUTO_UPDATE": "false",
        "GRYPE_DB_CACHE_DIR": str(tmp_path / "grype-db"),
        "GRYPE_CHECK_FOR_APP_UPDATE": "false",
    }
    rules = POLICY + "  scanners: [grype]\n"
    outputs = check(f"{fake.host}/app:v1", env, tmp_path, rules=rules)
    assert outputs.code == 2 and "grype exited with code 1" in outputs.stdout
    assert "DENIED: denied: you sent Basic ***" in outputs.stdout
    assert_no_leak(outputs, PASSWORD, USER)


def test_a_password_too_short_to_mask_withholds_the_scanner_stderr(
    fake: FakeRegistry, clean_env: dict[str, str], tmp_path: Path
) -> None:
    short = "pw!"
    echoing_registry(fake, USER, short)
    env = clean_env | {"REGISTRY_USERNAME": USER, "REGISTRY_PASSWORD": short}
    outputs = check(f"{fake.host}/app:v1", env, tmp_path, actions=False)
    assert outputs.code == 2 and "trivy exited with code 1" in outputs.stdout
    assert WITHHELD in outputs.stdout
    for text in outputs.everything().values():
        assert "pw!" not in text and f"{USER}:pw" not in text
        assert base64.b64encode(f"{USER}:{short}".encode()).decode()[:-4] not in text


def test_a_passing_run_in_actions_masks_first_and_writes_no_credential(
    registry: RunningRegistry, clean_env: dict[str, str], tmp_path: Path
) -> None:
    """The real registry (no auth) and real Trivy: the verdict passes, the runner is handed
    every credential the gate knows, and no file or stream carries one."""
    oci.push(registry.host, "credentials/clean", IMAGE, "v1")
    config = Path(clean_env["DOCKER_CONFIG"]) / "config.json"
    config.write_text(
        json.dumps({"auths": {"quay.io": {"identitytoken": "quay-identity-token-0123"}}}),
        encoding="utf-8",
    )
    env = clean_env | {
        "REGISTRY_USERNAME": USER,
        "REGISTRY_PASSWORD": PASSWORD,
        "GITHUB_TOKEN": GITHUB_TOKEN,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "oidc-request-token-0123456789",
    }
    outputs = check(f"{registry.host}/credentials/clean:v1", env, tmp_path)
    assert outputs.code == 0, outputs.stdout + outputs.stderr
    masked = outputs.stdout.split("::stop-commands::")[0]
    for secret in (GITHUB_TOKEN, "oidc-request-token-0123456789", "quay-identity-token-0123"):
        assert f"::add-mask::{secret}" in masked
        assert_no_leak(outputs, secret)
    assert_no_leak(outputs, PASSWORD, USER)
    assert "verdict" in outputs.files["output"] and outputs.files["summary"]
