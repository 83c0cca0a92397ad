"""``--verbose`` logs each step on stderr; every record is scrubbed and kept on one line."""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gate import masking
from gate.log import configure
from tests.support.cli import run_gate
from tests.support.oci import build_image, layer, push
from tests.support.registry import RunningRegistry

TOKEN = "tok-8f3a9c2e71d4b5a6"


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure(verbose=True, stream=stream)
    yield stream
    configure(verbose=False, stream=io.StringIO())


def test_a_known_credential_in_a_logged_url_is_masked(logged: io.StringIO) -> None:
    masking.register(TOKEN)
    logging.getLogger("gate.image.registry").debug("GET https://u:%s@ghcr.io/v2/", TOKEN)
    assert TOKEN not in logged.getvalue()
    assert "GET https://u:***@ghcr.io/v2/" in logged.getvalue()


def test_an_unknown_password_in_a_url_is_masked_by_its_shape(logged: io.StringIO) -> None:
    logging.getLogger("gate.run").debug("GET https://bob:hunter2-never-seen@example.test/")
    assert "hunter2-never-seen" not in logged.getvalue()


def test_a_logged_newline_cannot_start_a_workflow_command(logged: io.StringIO) -> None:
    logging.getLogger("gate.scanners").debug("stderr said: %s", "x\n::error::pwned\r\n::y::")
    lines = logged.getvalue().splitlines()
    assert len(lines) == 1
    assert not any(line.lstrip().startswith("::") for line in lines)


def test_without_verbose_nothing_is_logged() -> None:
    stream = io.StringIO()
    configure(verbose=False, stream=stream)
    logging.getLogger("gate.facts").debug("resolve")
    logging.getLogger("gate.facts").info("resolve")
    assert stream.getvalue() == ""


def test_verbose_shows_urls_steps_and_timings_but_no_credential(
    registry: RunningRegistry, tmp_path: Path
) -> None:
    image = build_image([layer({"srv/app": b"1"})], user="1000")
    push(registry.host, f"logs/{TOKEN}", image, "v1")
    policy = tmp_path / "policy.yml"
    policy.write_text("version: 1\nimage:\n  max_age_days: 36500\n")
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "GITHUB_SHA")}
    env.update(
        PATH=os.path.dirname(sys.executable), REGISTRY_USERNAME="ci", REGISTRY_PASSWORD=TOKEN
    )
    image_ref = f"{registry.host}/logs/{TOKEN}:v1"
    quiet = run_gate("check", image_ref, "--policy", str(policy), env=env)
    done = run_gate("check", image_ref, "--policy", str(policy), "--verbose", env=env)
    assert (quiet.returncode, done.returncode) == (0, 0), done.stdout + done.stderr
    assert "gate.run:" not in quiet.stderr
    assert f"GET http://{registry.host}/v2/logs/***/manifests/v1" in done.stderr
    assert "gate.facts: config: done in" in done.stderr
    assert "timings" in done.stderr
    assert TOKEN not in done.stderr + done.stdout
