"""Trivy in client/server mode, against the real ``trivy server`` and the tests' offline DB.

The rule held here: a scan through a server finds exactly what a standalone scan finds
(same JSON findings, generated images), the local server the gate starts listens on
loopback only, demands its token, never shows it, and is gone when the run is.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.errors import ScannerError, UsageError
from gate.model import ScanTarget
from gate.run import uses_local_server
from gate.scanners.isolation import Workspace
from gate.scanners.trivy import Trivy
from gate.scanners.trivy_server import LocalServer, ServerEndpoint, healthy, server_url
from tests.support import oci, rootfs, trivydb
from tests.support.paths import REPO_ROOT
from tests.support.trivyserver import RunningTrivyServer

ALL_PACKAGES = trivydb.VULNERABLE_DEBIAN_PACKAGES + trivydb.CLEAN_DEBIAN_PACKAGES


def layout(directory: Path, packages: list[tuple[str, str, str]], secret: bool) -> ScanTarget:
    files = rootfs.debian_rootfs(packages, passwd=rootfs.APP_PASSWD)
    layers = [oci.layer(files)]
    if secret:
        layers.append(oci.layer({rootfs.AWS_SECRET_PATH: rootfs.AWS_SECRET_FILE}))
    image = oci.build_image(layers, user="app")
    return ScanTarget("oci", str(oci.write_oci_layout(directory, image, "v1")))


def raw_findings(trivy: Trivy, target: ScanTarget, env: dict[str, str], tmp: Path) -> object:
    """The JSON ``Results`` the real Trivy writes, run exactly as the gate runs it."""
    tmp.mkdir()
    workspace = Workspace.create(tmp)
    run = trivy.invocation(target, workspace, timeout=120, environ=env, cwd=Path.cwd())
    subprocess.run(run.argv, env=run.env, cwd=run.cwd, check=True, capture_output=True)
    return json.loads((workspace.root / "trivy.json").read_text())["Results"]


EXAMPLES = max(5, settings().max_examples // 10)
"""Each example is four real Trivy runs: a tenth of the profile's count."""


@settings(max_examples=EXAMPLES)
@given(
    packages=st.lists(
        st.sampled_from(ALL_PACKAGES), min_size=1, max_size=8, unique_by=lambda p: p[0]
    ),
    secret=st.booleans(),
)
def test_a_client_of_a_server_finds_exactly_what_trivy_alone_finds(
    packages: list[tuple[str, str, str]],
    secret: bool,
    trivy_env: dict[str, str],
    trivy_server: RunningTrivyServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    tmp = tmp_path_factory.mktemp("differential")
    target = layout(tmp / "image", packages, secret)
    alone = Trivy(env=trivy_env)
    client = Trivy(env=trivy_env, server=trivy_server.endpoint)
    assert raw_findings(client, target, trivy_env, tmp / "client") == raw_findings(
        alone, target, trivy_env, tmp / "alone"
    )
    through_server = client.scan(target, timeout=120)
    assert through_server.vulnerabilities == alone.scan(target, timeout=120).vulnerabilities


def test_every_pinned_flag_is_accepted_by_a_client_and_the_token_is_not_on_its_command_line(
    trivy_env: dict[str, str], trivy_server: RunningTrivyServer, tmp_path: Path
) -> None:
    target = layout(tmp_path / "image", trivydb.VULNERABLE_DEBIAN_PACKAGES, secret=True)
    client = Trivy(env=trivy_env, server=trivy_server.endpoint)
    run = client.invocation(
        target, Workspace.create(tmp_path / "w"), timeout=60, environ=trivy_env, cwd=tmp_path
    )
    assert ("--server", trivy_server.url) in zip(run.argv, run.argv[1:], strict=False)
    assert trivy_server.token not in " ".join(run.argv)
    assert run.env["TRIVY_TOKEN"] == trivy_server.token
    assert "--cache-backend" not in run.argv  # the server's cache, not one of its own
    report = client.scan(target, timeout=120)
    assert {(v.id, v.package, v.severity.name) for v in report.vulnerabilities} == (
        trivydb.EXPECTED_DEBIAN_FINDINGS
    )
    assert {s.rule_id for s in report.secrets} == rootfs.AWS_SECRET_RULE_IDS


def test_a_wrong_token_is_a_scanner_error_that_never_shows_the_token(
    trivy_env: dict[str, str], trivy_server: RunningTrivyServer, tmp_path: Path
) -> None:
    target = layout(tmp_path / "image", trivydb.CLEAN_DEBIAN_PACKAGES, secret=False)
    wrong = ServerEndpoint(trivy_server.url, "not-the-token-" + "x" * 20)
    with pytest.raises(ScannerError) as caught:
        Trivy(env=trivy_env, server=wrong).scan(target, timeout=120)
    shown = caught.value.message + caught.value.detail
    assert "exited with code 1" in caught.value.message
    assert "401" in shown or "unauthorized" in shown.lower() or "token" in shown.lower()
    assert wrong.token is not None and wrong.token not in shown


def test_an_unreachable_server_is_a_scanner_error(
    trivy_env: dict[str, str], tmp_path: Path
) -> None:
    from tests.support.registry import free_port

    target = layout(tmp_path / "image", trivydb.CLEAN_DEBIAN_PACKAGES, secret=False)
    nobody = ServerEndpoint(f"http://127.0.0.1:{free_port()}", "t" * 32)
    with pytest.raises(ScannerError, match="exited with code 1"):
        Trivy(env=trivy_env, server=nobody).scan(target, timeout=120)


def test_the_local_server_listens_on_loopback_demands_its_token_and_is_gone_after_the_run(
    trivy_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**trivy_env, "TRIVY_CACHE_DIR": str(tmp_path / "cache")}
    del env["TRIVY_CACHE_BACKEND"]  # the default: the fs cache in TRIVY_CACHE_DIR
    os.makedirs(env["TRIVY_CACHE_DIR"])
    for entry in Path(trivy_env["TRIVY_CACHE_DIR"]).iterdir():
        if entry.is_dir():
            os.symlink(entry, Path(env["TRIVY_CACHE_DIR"]) / entry.name)
    target = layout(tmp_path / "image", trivydb.VULNERABLE_DEBIAN_PACKAGES, secret=False)
    server = LocalServer(environ=env, cwd=tmp_path)
    with server as endpoint:
        assert endpoint.url.startswith("http://127.0.0.1:") and endpoint.local
        assert endpoint.token and len(endpoint.token) >= 32
        assert healthy(endpoint.url)
        proc = server._proc
        assert proc is not None
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()
        assert endpoint.token not in cmdline and "127.0.0.1:" in cmdline
        assert "--config=" in cmdline.split("\0")
        found = Trivy(env=env, server=endpoint).scan(target, timeout=120)
        assert {(v.id, v.package) for v in found.vulnerabilities} == {
            (i, p) for i, p, _ in trivydb.EXPECTED_DEBIAN_FINDINGS
        }
        tokenless = ServerEndpoint(endpoint.url, None)
        with pytest.raises(ScannerError):
            Trivy(env=env, server=tokenless).scan(target, timeout=120)
        pid = proc.pid
    assert not healthy(endpoint.url)
    assert not Path(f"/proc/{pid}").exists()
    # The layer analyses stay in the user's cache directory for the next run.
    assert (Path(env["TRIVY_CACHE_DIR"]) / "fanal" / "fanal.db").is_file()


def test_a_launched_server_starts_only_when_a_scan_needs_it_and_outlives_that_scan_s_thread(
    trivy_env: dict[str, str], tmp_path: Path
) -> None:
    server = LocalServer(environ=trivy_env, cwd=tmp_path)
    try:
        endpoint = server.launch()
        assert server._proc is None and not healthy(endpoint.url)  # all reused: none started
        assert endpoint.ready is not None
        first_scan = threading.Thread(target=endpoint.ready)
        first_scan.start()
        first_scan.join()
        time.sleep(0.3)  # a parent-death signal would have killed it by now
        assert healthy(endpoint.url)
    finally:
        server.stop()
    assert not healthy(endpoint.url)


def test_a_local_server_that_cannot_start_is_a_scanner_error(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    with pytest.raises(ScannerError, match="trivy not found"):
        LocalServer(environ=env, cwd=tmp_path).start()


def test_the_server_drops_scanner_variables_outside_the_allowlist(tmp_path: Path) -> None:
    server = LocalServer(
        environ={"TRIVY_SKIP_DB_UPDATE": "true", "TRIVY_SEVERITY": "CRITICAL", "TRIVY_TOKEN": "x"},
        cwd=tmp_path,
    )
    env = server.server_env("the-token")
    assert env == {"TRIVY_SKIP_DB_UPDATE": "true", "TRIVY_TOKEN": "the-token"}
    argv = server.server_argv(4954, Workspace.create(tmp_path / "w"))
    assert argv[argv.index("--listen") + 1] == "127.0.0.1:4954"
    assert "--enable-modules=" in argv and "--config=" in argv


@pytest.mark.parametrize(
    "url",
    ["http://trivy.example.com", "http://10.0.0.5:4954", "ftp://trivy.example.com", "trivy:4954"],
)
def test_a_server_that_is_not_https_or_loopback_is_refused(url: str) -> None:
    with pytest.raises(UsageError):
        server_url(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://trivy.example.com/", "https://trivy.example.com"),
        ("http://127.0.0.1:4954", "http://127.0.0.1:4954"),
        ("http://localhost:4954", "http://localhost:4954"),
        ("http://[::1]:4954", "http://[::1]:4954"),
    ],
)
def test_https_and_loopback_servers_are_accepted(url: str, expected: str) -> None:
    assert server_url(url) == expected


def test_a_token_in_the_url_is_refused() -> None:
    with pytest.raises(UsageError, match="no credentials"):
        server_url("https://user:secret@trivy.example.com")


@pytest.mark.parametrize(
    ("scans", "parallel", "expected"),
    [(0, 2, False), (1, 2, False), (2, 1, False), (2, 2, True), (20, 4, True)],
)
def test_a_local_server_runs_only_when_two_trivy_scans_can_overlap(
    scans: int, parallel: int, expected: bool
) -> None:
    assert uses_local_server(scans, parallel) is expected


def test_the_token_never_shows_in_the_endpoints_repr() -> None:
    endpoint = ServerEndpoint("http://127.0.0.1:1", "s3cr3t-token")
    assert "s3cr3t" not in repr(endpoint)
    assert endpoint.scrub("auth s3cr3t-token failed") == "auth *** failed"


def test_the_policy_refuses_a_plain_http_server_off_loopback_at_its_line() -> None:
    from gate.errors import PolicyError
    from gate.policy.loader import parse_policy

    body = b"version: 1\nvulnerabilities: {}\ntrivy:\n  server: http://trivy.example.com\n"
    with pytest.raises(PolicyError, match=r"p\.yml:4:.*plain HTTP is accepted for a loopback"):
        parse_policy(body, source="p.yml", base_dir=Path.cwd())
    https = body.replace(b"http://", b"https://") + b"  token_env: ORG_TOKEN\n"
    loaded = parse_policy(https, source="p.yml", base_dir=Path.cwd()).trivy
    assert loaded is not None
    assert (loaded.server, loaded.token_env) == ("https://trivy.example.com", "ORG_TOKEN")


def test_a_cache_another_trivy_holds_is_not_an_error_only_not_shared(
    trivy_env: dict[str, str], tmp_path: Path
) -> None:
    """Trivy's fs cache is locked by whichever process opened it (bolt, 5 s timeout):
    a second gate on the same machine falls back to an in-memory cache, same findings."""
    cache = tmp_path / "cache"
    import shutil

    shutil.copytree(trivy_env["TRIVY_CACHE_DIR"], cache)
    env = {k: v for k, v in trivy_env.items() if k != "TRIVY_CACHE_BACKEND"}
    env["TRIVY_CACHE_DIR"] = str(cache)
    target = layout(tmp_path / "image", trivydb.VULNERABLE_DEBIAN_PACKAGES, secret=False)
    expected = {(i, p) for i, p, _ in trivydb.EXPECTED_DEBIAN_FINDINGS}
    with RunningTrivyServer(tmp_path / "holder", env):  # holds cache/fanal/fanal.db
        notes: list[str] = []
        server = LocalServer(environ=env, cwd=tmp_path)
        server.on_note = notes.append
        with server as endpoint:
            found = Trivy(env=env, server=endpoint).scan(target, timeout=120)
        assert {(v.id, v.package) for v in found.vulnerabilities} == expected
        assert len(notes) == 1 and "in use by another Trivy process" in notes[0]
        alone = Trivy(env=env, cache="fs").scan(target, timeout=120)
        assert {(v.id, v.package) for v in alone.vulnerabilities} == expected


def test_an_insecure_registry_image_is_not_sent_through_a_remote_https_server(
    tmp_path: Path,
) -> None:
    """Trivy passes ``--insecure`` to its server client as well (``ScannerOption.Insecure``),
    so a plain-HTTP registry would switch off TLS verification of the server."""
    target = ScanTarget("registry", "registry.corp:5000/app@sha256:" + "a" * 64, insecure=True)
    remote = Trivy(server=ServerEndpoint("https://trivy.example.com", "t"))
    with pytest.raises(ScannerError, match="stop verifying the server's TLS certificate"):
        remote.invocation(
            target, Workspace.create(tmp_path / "w"), timeout=60, environ={}, cwd=tmp_path
        )
    loopback = Trivy(server=ServerEndpoint("http://127.0.0.1:4954", "t", local=True))
    run = loopback.invocation(
        target, Workspace.create(tmp_path / "l"), timeout=60, environ={}, cwd=tmp_path
    )
    assert "--insecure" in run.argv


def test_the_local_server_dies_with_a_gate_killed_by_sigkill(
    trivy_env: dict[str, str], tmp_path: Path
) -> None:
    """No ``finally`` runs on SIGKILL (a CI runner cancelling the job): the server was
    started with ``PR_SET_PDEATHSIG``, so the kernel kills it with the gate."""
    import signal
    import sys
    import time

    script = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from gate.scanners.trivy_server import LocalServer\n"
        "server = LocalServer(cwd=Path(sys.argv[1]))\n"
        "server.start()\n"
        "print(server._proc.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**trivy_env, "PYTHONPATH": str(REPO_ROOT)}
    gate = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert gate.stdout is not None
    server_pid = int(gate.stdout.readline())
    assert Path(f"/proc/{server_pid}").exists()
    gate.send_signal(signal.SIGKILL)
    gate.wait(timeout=10)
    stat = Path(f"/proc/{server_pid}/stat")

    def gone() -> bool:  # exited, or a zombie waiting for init to reap it
        try:
            return ") Z " in stat.read_text()
        except OSError:
            return True

    deadline = time.monotonic() + 10
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert gone()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server_pid, signal.SIGKILL)  # an orphan, should the rule ever break
