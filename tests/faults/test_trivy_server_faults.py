"""Fault matrix, Trivy server: every way a Trivy server can fail a scan ends in exit 2.

The image is real (pushed to the loopback ``registry``), Trivy is the real binary with
the tests' offline DB, and the server is the real ``trivy server`` (``trivy_server``)
except for the one fault it cannot produce on cue: a server that dies in the middle of a
scan is a loopback HTTP server that answers ``/healthz`` and hangs up on every scan
request. The control row shows the same set-up reaching the image's own verdict.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.faults.harness import Row, base_env, check_row, run_cli, write_policy
from tests.support.httpserver import LoopbackServer
from tests.support.oci import build_image, layer, push
from tests.support.registry import RunningRegistry, free_port
from tests.support.rootfs import debian_rootfs
from tests.support.stubs import Stub, StubBin
from tests.support.trivydb import VULNERABLE_DEBIAN_PACKAGES
from tests.support.trivyserver import RunningTrivyServer

POLICY = "vulnerabilities:\n  fail_on: high\n"


class DyingServer(LoopbackServer):
    """Healthy on ``/healthz``; every scan request is read, then the connection dropped."""

    quiet_errors = True

    def request_handler(self) -> type[BaseHTTPRequestHandler]:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.close_connection = True
                self.connection.shutdown(2)  # as a server killed mid-request

        return Handler


@pytest.fixture(scope="module")
def image(registry: RunningRegistry) -> str:
    built = build_image([layer(debian_rootfs(VULNERABLE_DEBIAN_PACKAGES))], user="1000")
    digest = push(registry.host, "faults/trivy-server", built, "v1")
    return f"{registry.host}/faults/trivy-server@{digest}"


def env_for(trivy_env: dict[str, str], token: str | None) -> dict[str, str]:
    env = {k: v for k, v in trivy_env.items() if k not in ("GITHUB_ACTIONS", "TRIVY_TOKEN")}
    if token is not None:
        env["TRIVY_TOKEN"] = token
    return env


def test_control_a_client_of_the_real_server_reaches_the_image_s_verdict(
    image: str, trivy_env: dict[str, str], trivy_server: RunningTrivyServer, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path, POLICY)
    outcome = run_cli(
        "check", image, "--policy", policy, "--trivy-server", trivy_server.url,
        env=env_for(trivy_env, trivy_server.token),
    )  # fmt: skip
    assert outcome.code == 1, outcome.output
    assert "CVE-2026-0002" in outcome.output
    assert "client of the Trivy server at" in outcome.output
    assert trivy_server.token not in outcome.output
    assert "ignored TRIVY_TOKEN" not in outcome.output  # it is the server's token


@pytest.mark.parametrize(
    "row",
    [
        Row("server unreachable", 2, "trivy exited with code 1"),
        Row("wrong token", 2, "trivy exited with code 1"),
        Row("server dies mid-scan", 2, "trivy exited with code 1"),
        Row("plain http to a remote server", 2, "plain HTTP is accepted for a loopback"),
    ],
    ids=str,
)
def test_a_trivy_server_fault_is_an_error(
    row: Row,
    image: str,
    trivy_env: dict[str, str],
    trivy_server: RunningTrivyServer,
    tmp_path: Path,
) -> None:
    policy = write_policy(tmp_path, POLICY)
    token = trivy_server.token

    def gate(url: str, token: str | None) -> None:
        args = ("check", image, "--policy", policy, "--trivy-server", url)
        outcome = run_cli(*args, env=env_for(trivy_env, token))
        check_row(outcome, row)
        if token:
            assert token not in outcome.output

    if row.fault == "server unreachable":
        gate(f"http://127.0.0.1:{free_port()}", token)
    elif row.fault == "wrong token":
        gate(trivy_server.url, "wrong-" + token)
    elif row.fault == "server dies mid-scan":
        with DyingServer() as dying:
            gate(dying.url, token)
    else:
        gate("http://trivy.example.com:4954", token)


def test_a_local_server_that_does_not_start_is_an_error_for_every_image(
    registry: RunningRegistry, image: str, tmp_path: Path
) -> None:
    """Two images at once go through a local ``trivy server``; a Trivy that cannot serve
    (here one that exits 1 on every command) fails every image's scan: exit 2."""
    built = build_image([layer({"app/two.txt": b"2"})], user="1000")
    other = (
        f"{registry.host}/faults/trivy-server@{push(registry.host, 'faults/trivy-server', built)}"
    )
    bin_dir = StubBin(tmp_path)
    bin_dir.install("trivy", Stub(exit_code=1, stderr="FATAL cannot listen\n"))
    env = base_env(bin_dir.path_alone(), tmp_path)
    policy = write_policy(tmp_path, POLICY)
    outcome = run_cli("check", image, other, "--policy", policy, "--parallel", "2", env=env)
    check_row(
        outcome, Row("local server does not start", 2, "local trivy server exited with code 1")
    )
    assert outcome.output.count("local trivy server exited with code 1") >= 2
