"""Nothing outside the policy changes the verdict: the scanner-isolation matrix.

Every knob by which a caller can change what Trivy or Grype finds or how it rates it (a
``TRIVY_*``/``GRYPE_*`` variable, a config or ignore file in the working directory, a
user-level config) is planted, one knob per run, and must leave the verdict and every
finding unchanged; the report must name what it ignored, never its value.

Trivy runs for real, end to end: ``python -m gate check`` against the real registry, in a
working directory holding the planted files. Each knob that fooled the gate before (its
*control*: Trivy run as the gate ran it then, environment passed through, in the caller's
directory) is proven live by that control, so no row passes by planting something Trivy
ignores anyway. Trivy takes ~0.2 s on this image; the runs go four at a time (each is
its own process).

Grype needs a vulnerability DB for a real scan; until then its half is proven with the real
binary's own effective configuration (``grype config --load``), run with exactly the argv,
environment and working directory the gate builds (``Grype.invocation``): no planted knob
may show up in it, while the control (the same command the old way) shows every one.
``GRYPE_KNOBS`` is the matrix a DB-backed end-to-end run can reuse.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from gate import policy as policies
from gate.facts import GatherOptions
from gate.model import ScanTarget
from gate.run import ignored_scanner_settings
from gate.scanners.grype import GRYPE_ENV_ALLOWED, Grype, config_args, config_files
from gate.scanners.isolation import Invocation, Workspace, ignored_note, scanner_environment
from gate.scanners.trivy import PINNED_FLAGS, TRIVY_ENV_ALLOWED, WORKDIR_FILES, Trivy
from tests.support.gobuild import cache_root, go_required
from tests.support.oci import build_image, layer, push
from tests.support.paths import REPO_ROOT
from tests.support.rootfs import (
    AWS_SECRET_FILE,
    AWS_SECRET_PATH,
    AWS_SECRET_RULE_IDS,
    debian_rootfs,
)
from tests.support.trivydb import EXPECTED_DEBIAN_FINDINGS, VULNERABLE_DEBIAN_PACKAGES

DIGEST = "sha256:" + "ab" * 32
POLICY = "version: 1\nvulnerabilities:\n  fail_on: low\nsecrets:\n  fail: true\n"
"""Every finding fails (UNKNOWN is judged as high), so any dropped or re-rated one shows."""

EXPECTED_VULNS = frozenset(EXPECTED_DEBIAN_FINDINGS)
EXPECTED_SECRETS = frozenset((rule, AWS_SECRET_PATH) for rule in AWS_SECRET_RULE_IDS)


@dataclass(frozen=True)
class Knob:
    """One setting planted outside the policy.

    ``env`` values and file contents may say ``{aux}``: a directory of helper files
    (ignore lists, VEX, Rego) outside the working directory. ``files`` go into the gate's
    working directory, or under ``$HOME`` (``~/…``) or ``{aux}/…``. ``shown`` is what the
    report must name; ``live`` says the control proves the knob changes the tool's result.
    """

    id: str
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    shown: str | None = None
    live: bool = True

    def __str__(self) -> str:
        return self.id


def _env_knob(name: str, value: str, *, live: bool = True) -> Knob:
    return Knob(f"{name}={value.replace('{aux}/', '')}", env={name: value}, shown=name, live=live)


def _file_knob(name: str, body: str, *, live: bool = True, shown: bool = True) -> Knob:
    label = body.strip().splitlines()[0]
    return Knob(
        f"{name} ({label})", files={name: body}, shown=f"./{name}" if shown else None, live=live
    )


AUX_FILES = {
    "ignore": "CVE-2026-0002\n",
    "vex.json": json.dumps(
        {
            "@context": "https://openvex.dev/ns/v0.2.0",
            "@id": "https://example.org/vex-1",
            "author": "someone",
            "timestamp": "2026-01-01T00:00:00Z",
            "version": 1,
            "statements": [
                {
                    "vulnerability": {"name": "CVE-2026-0002"},
                    "products": [
                        {
                            "@id": "pkg:deb/debian/zlib1g@1.2.13.dfsg-1"
                            "?arch=amd64&distro=debian-12.5&epoch=1"
                        }
                    ],
                    "status": "not_affected",
                    "justification": "vulnerable_code_not_present",
                }
            ],
        }
    ),
    "ignore.rego": "package trivy\nimport rego.v1\ndefault ignore := true\n",
    "trivy.yaml": "severity:\n  - LOW\n",
    "secret.yaml": "disable-rules:\n  - aws-access-key-id\n  - aws-secret-access-key\n",
    "grype.yaml": "only-fixed: true\n",
}

TRIVY_KNOBS = [
    _env_knob("TRIVY_SEVERITY", "LOW"),
    _env_knob("TRIVY_IGNOREFILE", "{aux}/ignore"),
    _env_knob("TRIVY_IGNORE_UNFIXED", "true"),
    _env_knob("TRIVY_IGNORE_STATUS", "affected"),
    _env_knob("TRIVY_SKIP_FILES", "/var/lib/dpkg/status"),
    _env_knob("TRIVY_SKIP_DIRS", "/var/lib/dpkg,/app"),
    _env_knob("TRIVY_PKG_TYPES", "library"),
    _env_knob("TRIVY_VULN_TYPE", "library"),  # the deprecated name of --pkg-types
    _env_knob("TRIVY_PKG_RELATIONSHIPS", "root"),
    _env_knob("TRIVY_VEX", "{aux}/vex.json"),
    _env_knob("TRIVY_IGNORE_POLICY", "{aux}/ignore.rego"),
    _env_knob("TRIVY_DISTRO", "debian/11"),
    _env_knob("TRIVY_VULN_SEVERITY_SOURCE", "nvd"),
    _env_knob("TRIVY_CONFIG", "{aux}/trivy.yaml"),
    _env_knob("TRIVY_SECRET_CONFIG", "{aux}/secret.yaml"),
    _env_knob("TRIVY_EXIT_CODE", "3"),
    _env_knob("TRIVY_SERVER", "http://127.0.0.1:9"),
    _env_knob("TRIVY_DOWNLOAD_DB_ONLY", "true"),
    _env_knob("TRIVY_GENERATE_DEFAULT_CONFIG", "true"),
    _env_knob("TRIVY_DETECTION_PRIORITY", "comprehensive", live=False),
    _env_knob("TRIVY_SBOM_SOURCES", "oci", live=False),
    _env_knob("TRIVY_INSECURE", "true", live=False),
    # Pinned by the gate before this rule too (the controls show them dead):
    _env_knob("TRIVY_SCANNERS", "secret", live=False),
    _env_knob("TRIVY_SECURITY_CHECKS", "secret", live=False),
    _env_knob("TRIVY_LIST_ALL_PKGS", "true", live=False),
    _file_knob(".trivyignore", "CVE-2026-0002\n"),
    _file_knob("trivy.yaml", "severity:\n  - LOW\n"),
    _file_knob("trivy.yaml", "vulnerability:\n  ignore-unfixed: true\n"),
    _file_knob("trivy.yaml", "scan:\n  skip-files:\n    - /var/lib/dpkg/status\n"),
    _file_knob("trivy.yaml", "pkg:\n  types:\n    - library\n"),
    _file_knob("trivy-secret.yaml", AUX_FILES["secret.yaml"]),
    # Not read by Trivy 0.76 unless --ignorefile names it: not reported, still inert.
    _file_knob(
        ".trivyignore.yaml", "vulnerabilities:\n  - id: CVE-2026-0002\n", live=False, shown=False
    ),
    Knob(
        "~/.trivy/modules/broken.wasm",
        files={"~/.trivy/modules/broken.wasm": "not a WASM module"},
        shown="/.trivy/modules",
    ),
]


# --------------------------------------------------------------------------- Trivy end to end


@dataclass(frozen=True)
class Seen:
    """What one run judged: exit code, failing findings, secrets, notes, output."""

    code: int
    vulns: frozenset[tuple[str, str, str]]
    secrets: frozenset[tuple[str, str]]
    notes: tuple[str, ...]
    output: str


def _plant(knob: Knob, root: Path, aux: Path) -> tuple[Path, Path, dict[str, str]]:
    """The knob's working directory, home and variables, under ``root``."""
    cwd, home = root / "cwd", root / "home"
    cwd.mkdir(parents=True, exist_ok=True)
    home.mkdir(exist_ok=True)
    for name, body in knob.files.items():
        path = Path(name.replace("~", str(home), 1).replace("{aux}", str(aux), 1))
        path = path if path.is_absolute() else cwd / path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body.replace("{aux}", str(aux)))
    env = {k: v.replace("{aux}", str(aux)) for k, v in knob.env.items()}
    return cwd, home, env


def _gate_run(image: str, knob: Knob, root: Path, aux: Path, base_env: Mapping[str, str]) -> Seen:
    cwd, home, knob_env = _plant(knob, root, aux)
    (cwd / "container-gate.yml").write_text(POLICY)
    report = root / "report.json"
    env = {**base_env, "HOME": str(home), "PYTHONPATH": str(REPO_ROOT), **knob_env}
    done = subprocess.run(
        [sys.executable, "-m", "gate", "check", image, "--report-json", str(report)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = done.stdout + done.stderr
    if not report.is_file():
        return Seen(done.returncode, frozenset(), frozenset(), (), output)
    data = json.loads(report.read_text())
    checks = {c["id"]: c for c in data["checks"]}
    vulns = frozenset(
        (f["id"], f["package"], f["severity"].upper())
        for f in checks.get("vulnerabilities", {}).get("findings", [])
    )
    secrets = frozenset(
        (f["rule"], f["target"].lstrip("/")) for f in checks.get("secrets", {}).get("findings", [])
    )
    return Seen(done.returncode, vulns, secrets, tuple(data["notes"]), output)


def _control_run(
    image: str, knob: Knob, root: Path, aux: Path, base_env: Mapping[str, str]
) -> Seen:
    """Trivy with the knob, as the gate ran it before: caller's environment and directory."""
    cwd, home, knob_env = _plant(knob, root, aux)
    output = root / "trivy.json"
    argv = [
        *("trivy", "image", "--format", "json", "--output", str(output), "--no-progress"),
        *("--list-all-pkgs=true", "--scanners", "secret,vuln", "--timeout", "120s"),
        *("--cache-backend", "memory", "--image-src", "remote", image),
    ]
    env = {**base_env, "HOME": str(home), **knob_env}
    done = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=180, check=False
    )
    if done.returncode != 0 or not output.is_file():
        return Seen(done.returncode, frozenset(), frozenset(), (), done.stderr)
    results = json.loads(output.read_text()).get("Results") or []
    vulns = frozenset(
        (v["VulnerabilityID"], v["PkgName"], v["Severity"])
        for r in results
        for v in r.get("Vulnerabilities") or []
    )
    secrets = frozenset(
        (s["RuleID"], r["Target"].lstrip("/")) for r in results for s in r.get("Secrets") or []
    )
    return Seen(0, vulns, secrets, (), done.stderr)


@pytest.fixture(scope="module")
def planted_image(registry) -> str:
    files = debian_rootfs(VULNERABLE_DEBIAN_PACKAGES) | {AWS_SECRET_PATH: AWS_SECRET_FILE}
    push(registry.host, "isolation/app", build_image([layer(files)]), "v1")
    return f"{registry.host}/isolation/app:v1"


@pytest.fixture(scope="module")
def trivy_runs(
    planted_image: str, trivy_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Seen, Seen | None]]:
    """Every knob's gate run and (for live knobs) control run, four at a time."""
    root = tmp_path_factory.mktemp("isolation")
    aux = root / "aux"
    aux.mkdir()
    for name, body in AUX_FILES.items():
        (aux / name).write_text(body)
    clean = Knob("no knob", live=False)
    jobs: dict[str, tuple[Callable[[], Seen], Callable[[], Seen] | None]] = {}
    for index, knob in enumerate([clean, *TRIVY_KNOBS]):
        case = root / f"case-{index}"

        def gate_job(k: Knob = knob, c: Path = case) -> Seen:
            return _gate_run(planted_image, k, c / "gate", aux, trivy_env)

        def control_job(k: Knob = knob, c: Path = case) -> Seen:
            return _control_run(planted_image, k, c / "control", aux, trivy_env)

        jobs[knob.id] = (gate_job, control_job if knob.live or knob is clean else None)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            key: (pool.submit(gate), pool.submit(control) if control else None)
            for key, (gate, control) in jobs.items()
        }
        return {
            key: (gate.result(), control.result() if control else None)
            for key, (gate, control) in futures.items()
        }


def test_without_knobs_the_gate_fails_on_every_planted_finding(trivy_runs) -> None:
    gate, control = trivy_runs["no knob"]
    assert gate.code == 1, gate.output
    assert gate.vulns == EXPECTED_VULNS and gate.secrets == EXPECTED_SECRETS
    assert control is not None and (control.vulns, control.secrets) == (gate.vulns, gate.secrets)
    assert not [note for note in gate.notes if "ignored" in note]


@pytest.mark.parametrize("knob", TRIVY_KNOBS, ids=str)
def test_a_trivy_knob_outside_the_policy_changes_nothing(trivy_runs, knob: Knob) -> None:
    gate, control = trivy_runs[knob.id]
    assert gate.code == 1, gate.output
    assert gate.vulns == EXPECTED_VULNS, gate.output
    assert gate.secrets == EXPECTED_SECRETS, gate.output
    if knob.live:  # the knob is real: Trivy run the old way is fooled by it
        assert control is not None
        assert (control.code, control.vulns, control.secrets) != (
            0,
            EXPECTED_VULNS,
            EXPECTED_SECRETS,
        ), f"{knob} does not change Trivy's result even without isolation"
    notes = [note for note in gate.notes if note.startswith("trivy: ignored")]
    if knob.shown is None:
        assert not notes, notes
    else:
        assert len(notes) == 1 and knob.shown in notes[0], gate.notes
        assert "the policy decides" in notes[0]
        assert notes[0] in gate.output  # the terminal shows it too


def test_an_ignored_variable_is_named_but_its_value_never_printed(
    planted_image: str, trivy_env: dict[str, str], tmp_path: Path
) -> None:
    token = "tok-5f0c1e9a-never-print-me"
    knob = Knob("token", env={"TRIVY_TOKEN": token, "TRIVY_SERVER": "http://127.0.0.1:9"})
    seen = _gate_run(planted_image, knob, tmp_path / "run", tmp_path, trivy_env)
    assert seen.code == 1 and seen.vulns == EXPECTED_VULNS, seen.output
    (note,) = [n for n in seen.notes if n.startswith("trivy: ignored")]
    assert "TRIVY_SERVER" in note and "TRIVY_TOKEN" in note
    assert token not in seen.output and token not in (tmp_path / "run" / "report.json").read_text()


@pytest.mark.parametrize("where", ["relative TRIVY_CACHE_DIR", "XDG_CACHE_HOME", "HOME"])
def test_the_users_trivy_cache_keeps_working_from_the_private_directory(
    planted_image: str, trivy_env: dict[str, str], tmp_path: Path, where: str
) -> None:
    """The DB is found where Trivy would find it from the caller's directory and home."""
    db = trivy_env["TRIVY_CACHE_DIR"]
    base = {k: v for k, v in trivy_env.items() if k not in ("TRIVY_CACHE_DIR", "XDG_CACHE_HOME")}
    run = tmp_path / "run"
    (run / "cwd").mkdir(parents=True)
    (run / "home" / ".cache").mkdir(parents=True)
    if where == "relative TRIVY_CACHE_DIR":
        (run / "cwd" / "trivy-cache").symlink_to(db)
        base["TRIVY_CACHE_DIR"] = "trivy-cache"
    elif where == "XDG_CACHE_HOME":
        (tmp_path / "xdg").mkdir()
        (tmp_path / "xdg" / "trivy").symlink_to(db)
        base["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    else:
        (run / "home" / ".cache" / "trivy").symlink_to(db)
    seen = _gate_run(planted_image, Knob(where), run, tmp_path, base)
    assert seen.code == 1 and seen.vulns == EXPECTED_VULNS, seen.output


# Every flag of ``trivy image`` (0.76), by what it can do to the verdict. A Trivy upgrade
# that adds a flag fails test_every_trivy_flag_is_classified until it is placed here.
TRIVY_FLAGS: dict[str, frozenset[str]] = {
    # Decides what is found or how it is rated, or what is scanned: on the gate's command line.
    "pinned": frozenset(
        {
            *("config", "ignorefile", "ignore-policy", "vex", "secret-config", "severity"),
            *("ignore-unfixed", "ignore-status", "skip-files", "skip-dirs", "pkg-types"),
            *("pkg-relationships", "detection-priority", "vuln-severity-source", "distro"),
            *("removed-pkgs", "file-patterns", "image-config-scanners", "sbom-sources"),
            *("enable-modules", "module-dir", "list-all-pkgs", "scanners", "image-src"),
            *("format", "output", "timeout", "no-progress"),
        }
    ),
    # Decided by the gate per target (--input for layouts, --insecure for plain-HTTP hosts,
    # the judged platform): never taken from the environment.
    "per target": frozenset({"input", "insecure", "platform"}),
    # Reaches the cache, the DBs or the registry: passes from the environment.
    "reach": frozenset(
        {
            *("cache-dir", "cache-backend", "cache-ttl", "redis-ca", "redis-cert", "redis-key"),
            *("redis-tls", "db-repository", "java-db-repository", "skip-db-update"),
            *("skip-java-db-update", "skip-check-update", "skip-version-check"),
            *("disable-telemetry", "offline-scan", "username", "password", "registry-token"),
            "cacert",
        }
    ),
    # Stops the scan, changes the report's shape or exit code, or only its display, or
    # sends the scan elsewhere (a server): dropped (a run would fail closed or not change).
    "dropped": frozenset(
        {
            *("download-db-only", "download-java-db-only", "generate-default-config"),
            *("version", "exit-code", "exit-on-eol", "compliance", "report", "template"),
            *("table-mode", "dependency-tree", "output-plugin-arg", "show-suppressed"),
            *("debug", "quiet", "parallel", "max-image-size", "password-stdin", "server"),
            *("token", "token-header", "custom-headers", "docker-host", "podman-host"),
            *("rekor-url", "skip-vex-repo-update"),
        }
    ),
    # Settings of scanners the gate never runs (misconfig, license, Rego): dropped.
    "other scanners": frozenset(
        {
            *("ignored-licenses", "license-confidence-level", "license-full"),
            *("ansible-extra-vars", "ansible-inventory", "ansible-playbook"),
            *("checks-bundle-repository", "config-file-schemas", "helm-api-versions"),
            *("helm-kube-version", "helm-set", "helm-set-file", "helm-set-string"),
            *("helm-values", "include-non-failures", "misconfig-scanners"),
            *("raw-config-scanners", "render-cause", "tf-exclude-downloaded-modules"),
            *("check-namespaces", "config-check", "config-data", "include-deprecated-checks"),
            *("rego-error-limit", "trace-rego"),
        }
    ),
}
_DEPRECATED_ALLOWED = {"TRIVY_SKIP_UPDATE", "TRIVY_SKIP_POLICY_UPDATE"}


def _env_name(flag: str) -> str:
    return "TRIVY_" + flag.upper().replace("-", "_")


def _trivy_help(trivy_env: Mapping[str, str]) -> dict[str, str]:
    """``trivy image --help``: every flag and its type (``""`` for a boolean)."""
    done = subprocess.run(
        ["trivy", "image", "--help"],
        env=dict(trivy_env),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    flags = {}
    for match in re.finditer(r"^\s+(?:-\w, )?--([a-z0-9-]+)(?: (\w+))?", done.stdout, re.M):
        flags[match[1]] = match[2] or ""
    return flags


def test_every_trivy_flag_is_classified(trivy_env: dict[str, str], tmp_path: Path) -> None:
    flags = set(_trivy_help(trivy_env))
    classified = [name for names in TRIVY_FLAGS.values() for name in names]
    assert len(classified) == len(set(classified)), "a flag is in two classes"
    assert flags == set(classified), (flags - set(classified), set(classified) - flags)
    _, run = _trivy_run(tmp_path, {})
    for flag in TRIVY_FLAGS["pinned"]:
        assert any(a == f"--{flag}" or a.startswith(f"--{flag}=") for a in run.argv), flag
    reach = {_env_name(flag) for flag in TRIVY_FLAGS["reach"]}
    assert reach <= TRIVY_ENV_ALLOWED
    assert TRIVY_ENV_ALLOWED - reach == {"TRIVY_NO_PROGRESS", *_DEPRECATED_ALLOWED}


def test_every_trivy_variable_outside_the_allowlist_at_once_changes_nothing(
    planted_image: str, trivy_env: dict[str, str], tmp_path: Path
) -> None:
    """All of them set together (booleans on, the rest junk): any one that got through
    would change the findings or fail the scan."""
    flags = _trivy_help(trivy_env)
    planted = {
        _env_name(flag): "true" if not kind else "planted"
        for flag, kind in flags.items()
        if _env_name(flag) not in TRIVY_ENV_ALLOWED
    }
    assert len(planted) > 70
    seen = _gate_run(planted_image, Knob("all", env=planted), tmp_path / "run", tmp_path, trivy_env)
    assert seen.code == 1, seen.output
    assert (seen.vulns, seen.secrets) == (EXPECTED_VULNS, EXPECTED_SECRETS)
    (note,) = [n for n in seen.notes if n.startswith("trivy: ignored")]
    assert all(name in note for name in planted)


# --------------------------------------------------------------------------- Trivy, pure


def _trivy_run(
    tmp_path: Path, environ: Mapping[str, str], target: ScanTarget | None = None
) -> tuple[Workspace, Invocation]:
    workspace = Workspace.create(tmp_path / "ws")
    target = target or ScanTarget("registry", f"127.0.0.1:5000/app@{DIGEST}")
    return workspace, Trivy().invocation(
        target, workspace, timeout=60, environ=environ, cwd=tmp_path / "caller"
    )


def test_trivy_runs_in_an_empty_private_directory_with_every_verdict_flag_pinned(
    tmp_path: Path,
) -> None:
    workspace, run = _trivy_run(tmp_path, {"PATH": "/usr/bin"})
    assert run.cwd == workspace.cwd and not any(run.cwd.iterdir())
    flags = list(run.argv)
    for flag in PINNED_FLAGS:
        assert flag in flags
    module_dir = Path(flags[flags.index("--module-dir") + 1])
    assert module_dir.is_dir() and not any(module_dir.iterdir())
    assert flags[-1] == f"127.0.0.1:5000/app@{DIGEST}"


def test_only_allowlisted_trivy_variables_reach_trivy(tmp_path: Path) -> None:
    environ = {name: "x" for name in TRIVY_ENV_ALLOWED} | {
        "TRIVY_SEVERITY": "LOW",
        "TRIVY_INSECURE": "true",
        "trivy_ignorefile": "x",  # Go would not read it; dropped all the same
        "HTTPS_PROXY": "http://proxy:3128",
        "HOME": "/home/ci",
    }
    _, run = _trivy_run(tmp_path, environ)
    assert set(run.env) == set(TRIVY_ENV_ALLOWED) | {"HTTPS_PROXY", "HOME"}
    assert run.env["HTTPS_PROXY"] == "http://proxy:3128"


def test_relative_paths_still_point_where_the_caller_meant(tmp_path: Path) -> None:
    caller = tmp_path / "caller"
    environ = {
        "TRIVY_CACHE_DIR": "cache",
        "TRIVY_CACERT": "~/ca.pem",
        "SSL_CERT_FILE": "/etc/ssl/ca.pem",
        "PATH": "bin::/usr/bin",
    }
    _, run = _trivy_run(tmp_path, environ)
    assert run.env["TRIVY_CACHE_DIR"] == str(caller / "cache")
    assert run.env["TRIVY_CACERT"] == "~/ca.pem"  # Trivy expands it, as before
    assert run.env["SSL_CERT_FILE"] == "/etc/ssl/ca.pem"
    assert run.env["PATH"] == os.pathsep.join([str(caller / "bin"), str(caller), "/usr/bin"])


def test_a_cache_backend_the_user_chose_still_passes(tmp_path: Path) -> None:
    _, chosen = _trivy_run(tmp_path / "a", {"TRIVY_CACHE_BACKEND": "fs"})
    _, default = _trivy_run(tmp_path / "b", {})
    assert "--cache-backend" not in chosen.argv and chosen.env["TRIVY_CACHE_BACKEND"] == "fs"
    assert default.argv[default.argv.index("--cache-backend") + 1] == "memory"


def test_trivy_names_every_file_it_would_have_read(tmp_path: Path) -> None:
    for name in (*WORKDIR_FILES, ".trivyignore.yaml"):
        (tmp_path / name).write_text("x")
    modules = tmp_path / "data" / ".trivy" / "modules" / "sub"
    modules.mkdir(parents=True)
    (modules / "m.wasm").write_bytes(b"\0asm")
    environ = {"XDG_DATA_HOME": str(tmp_path / "data"), "TRIVY_SEVERITY": "LOW"}
    assert Trivy().ignored_settings(environ, tmp_path) == [
        "TRIVY_SEVERITY",
        "./trivy.yaml",
        "./.trivyignore",
        "./trivy-secret.yaml",
        str(tmp_path / "data" / ".trivy" / "modules"),
    ]
    assert Trivy().ignored_settings({"TRIVY_CACHE_DIR": "/c"}, tmp_path / "data") == []


# --------------------------------------------------------------------------- Grype


GRYPE_KNOBS = [
    _env_knob("GRYPE_CONFIG", "{aux}/grype.yaml"),
    _env_knob("GRYPE_ONLY_FIXED", "true"),
    _env_knob("GRYPE_ONLY_NOTFIXED", "true"),
    _env_knob("GRYPE_IGNORE_WONTFIX", "fixed,not-fixed,unknown,wont-fix"),
    _env_knob("GRYPE_EXCLUDE", "/var/lib/dpkg/**"),
    _env_knob("GRYPE_SEARCH_SCOPE", "all-layers"),
    _env_knob("GRYPE_DISTRO", "debian:11"),
    _env_knob("GRYPE_BY_CVE", "true"),
    _env_knob("GRYPE_VEX_DOCUMENTS", "{aux}/vex.json"),
    _env_knob("GRYPE_VEX_ADD", "affected"),
    _env_knob("GRYPE_ADD_CPES_IF_NONE", "true"),
    _env_knob("GRYPE_MATCH_STOCK_USING_CPES", "false"),
    _env_knob("GRYPE_MATCH_DPKG_MISSING_EPOCH_STRATEGY", "auto"),
    _env_knob("GRYPE_MATCH_UPSTREAM_KERNEL_HEADERS", "true"),
    _env_knob("GRYPE_FIX_CHANNEL_UBUNTU_ESM_APPLY", "never"),
    _env_knob("GRYPE_EXTERNAL_SOURCES_ENABLE", "true"),
    _env_knob("GRYPE_FROM", "docker"),
    _env_knob("GRYPE_DEFAULT_IMAGE_PULL_SOURCE", "docker"),
    _env_knob("GRYPE_NAME", "something-else"),
    _env_knob("GRYPE_INCLUDE_MATCHER_SUPPRESSIONS", "true"),
    _env_knob("GRYPE_FAIL_ON_SEVERITY", "low"),
    _env_knob("GRYPE_OUTPUT", "table"),
    _env_knob("GRYPE_FILE", "/tmp/elsewhere.json"),
    _file_knob(".grype.yaml", "only-fixed: true\n"),
    _file_knob(".grype.yml", "ignore:\n  - vulnerability: CVE-2026-0002\n"),
    _file_knob(".grype/config.yaml", "exclude:\n  - /var/lib/dpkg/**\n"),
    _file_knob(".grype.json", '{"search": {"scope": "all-layers"}}\n'),
    Knob("~/.grype.yaml", files={"~/.grype.yaml": "only-fixed: true\n"}, shown="/home/.grype.yaml"),
    Knob(
        "~/.config/grype/config.yaml",
        files={"~/.config/grype/config.yaml": "by-cve: true\n"},
        shown="/home/.config/grype/config.yaml",
    ),
    Knob(
        "$XDG_CONFIG_HOME/grype/config.yaml",
        env={"XDG_CONFIG_HOME": "{aux}/xdg-home"},
        files={"{aux}/xdg-home/grype/config.yaml": "distro: debian:11\n"},
        shown="/aux/xdg-home/grype/config.yaml",
    ),
    Knob(
        "$XDG_CONFIG_DIRS/grype/config.yaml",
        env={"XDG_CONFIG_DIRS": "{aux}/xdg-dirs"},
        files={"{aux}/xdg-dirs/grype/config.yaml": "only-notfixed: true\n"},
        shown="/aux/xdg-dirs/grype/config.yaml",
    ),
]


def _real_grype() -> str:
    """Grype v0.120.1 as scripts/go-tools.sh builds it; skip (fail in CI) without it."""
    venv_bin = REPO_ROOT / ".venv" / "bin"
    cached = cache_root() / "tools" / "grype-v0.120.1" / "grype"
    found = shutil.which("grype", path=str(venv_bin)) or shutil.which("grype")
    if found is None and cached.is_file():
        found = str(cached)
    if found is None:
        reason = "no grype binary (run scripts/go-tools.sh)"
        if go_required():
            pytest.fail(reason + " and CONTAINER_GATE_REQUIRE_GO is set", pytrace=False)
        pytest.skip(reason)
    return found


def _effective_config(
    argv: list[str], env: Mapping[str, str], cwd: Path, *, must_load: bool = True
) -> str:
    """What ``grype config --load`` prints; a config Grype refuses is its exit and stderr."""
    done = subprocess.run(
        argv, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 or not must_load, done.stderr
    return done.stdout if done.returncode == 0 else f"exit {done.returncode}: {done.stderr}"


@dataclass(frozen=True)
class GrypeConfigs:
    isolated: str
    control: str
    notes: list[str]


def _grype_case(grype: str, knob: Knob, root: Path) -> GrypeConfigs:
    """``grype config --load`` as the gate runs Grype, and as it ran it before (control)."""
    root.mkdir(parents=True)
    aux = root / "aux"
    aux.mkdir()
    for name, body in AUX_FILES.items():
        (aux / name).write_text(body)
    cwd, home, knob_env = _plant(knob, root, aux)
    environ = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home), **knob_env}
    target = ScanTarget("registry", f"127.0.0.1:5000/app@{DIGEST}")
    workspace = Workspace.create(root / "ws")
    run = Grype(executable=grype).invocation(target, workspace, environ=environ, cwd=cwd)
    assert run.argv[-2:] == config_args(workspace)
    isolated = _effective_config(
        [run.argv[0], "config", "--load", *config_args(workspace)], run.env, run.cwd
    )
    control = _effective_config([grype, "config", "--load"], environ, cwd, must_load=False)
    notes = Grype().ignored_settings(environ, cwd)
    return GrypeConfigs(isolated, control, notes)


@pytest.fixture(scope="module")
def grype_configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, GrypeConfigs]:
    grype = _real_grype()
    root = tmp_path_factory.mktemp("grype-isolation")
    knobs = [Knob("no knob", live=False), *GRYPE_KNOBS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            k.id: pool.submit(_grype_case, grype, k, root / f"case-{i}")
            for i, k in enumerate(knobs)
        }
        return {key: future.result() for key, future in futures.items()}


def test_without_knobs_the_gate_runs_grype_on_its_defaults(grype_configs) -> None:
    clean = grype_configs["no knob"]
    assert clean.isolated == clean.control
    assert "only-fixed: false" in clean.isolated and "ignore: []" in clean.isolated
    assert clean.notes == []


@pytest.mark.parametrize("knob", GRYPE_KNOBS, ids=str)
def test_a_grype_knob_outside_the_policy_does_not_reach_grype(grype_configs, knob: Knob) -> None:
    seen, clean = grype_configs[knob.id], grype_configs["no knob"]
    assert seen.control != clean.control, f"{knob} does not change Grype's configuration at all"
    assert seen.isolated == clean.isolated
    assert knob.shown is not None and any(knob.shown in item for item in seen.notes), seen.notes


def test_only_allowlisted_grype_variables_reach_grype(tmp_path: Path) -> None:
    environ = {name: "x" for name in GRYPE_ENV_ALLOWED} | {
        "GRYPE_ONLY_FIXED": "true",
        "GRYPE_CONFIG": "/etc/grype.yaml",
        "DOCKER_CONFIG": "docker",
        "HOME": "/home/ci",
    }
    workspace = Workspace.create(tmp_path / "ws")
    target = ScanTarget("oci", f"/images/app@{DIGEST}")
    run = Grype().invocation(target, workspace, environ=environ, cwd=tmp_path)
    assert set(run.env) == set(GRYPE_ENV_ALLOWED) | {"DOCKER_CONFIG", "HOME", "NO_COLOR"}
    assert run.env["DOCKER_CONFIG"] == str(tmp_path / "docker")
    assert run.cwd == workspace.cwd and not any(run.cwd.iterdir())
    assert run.argv[1] == "oci-dir:/images/app"
    assert workspace.empty_file.read_bytes() == b""


_GRYPE_AUTH_FROM_ENV = {
    f"GRYPE_REGISTRY_AUTH_{key}"
    for key in ("AUTHORITY", "USERNAME", "PASSWORD", "TOKEN", "TLS_CERT", "TLS_KEY")
}
"""Read by Grype's registry options (``PostLoad``) rather than listed by ``grype config``."""


def _grype_variables(grype: str, tmp_path: Path) -> dict[str, str]:
    """Every ``GRYPE_*`` variable ``grype config`` documents, with its default value."""
    done = subprocess.run(
        [grype, "config"],
        env={"HOME": str(tmp_path), "PATH": os.defpath},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = {}
    for match in re.finditer(r"\(env: (GRYPE_\w+)\)\n\s*[\w-]+: ?(.*)", done.stdout):
        found[match[1]] = match[2].strip().strip("'")
    return found


def test_grypes_allowlist_names_only_real_variables(tmp_path: Path) -> None:
    documented = _grype_variables(_real_grype(), tmp_path)
    assert len(documented) > 60
    assert not GRYPE_ENV_ALLOWED - set(documented) - _GRYPE_AUTH_FROM_ENV


def test_every_grype_variable_outside_the_allowlist_at_once_does_not_reach_grype(
    tmp_path: Path,
) -> None:
    """All of them set together, off their defaults: the effective config stays the default."""
    grype = _real_grype()
    flip = {"true": "false", "false": "true"}
    planted = {
        name: flip.get(default, "planted")
        for name, default in _grype_variables(grype, tmp_path).items()
        if name not in GRYPE_ENV_ALLOWED
    }
    clean = _grype_case(grype, Knob("no knob"), tmp_path / "clean")
    seen = _grype_case(grype, Knob("all", env=planted), tmp_path / "all")
    assert seen.control != clean.control  # Grype run the old way takes them
    assert seen.isolated == clean.isolated
    assert sorted(planted) == [n for n in seen.notes if n.startswith("GRYPE_")]


def test_grypes_config_search_is_the_real_one(tmp_path: Path) -> None:
    """Every location the real binary lists (``grype config locations``) is one the gate checks."""
    grype = _real_grype()
    environ = {"HOME": str(tmp_path / "home"), "PATH": os.environ.get("PATH", os.defpath)}
    done = subprocess.run(
        [grype, "config", "locations"],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    listed = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    assert len(listed) >= 5
    ours = config_files(environ, tmp_path)
    for location in listed:
        path = Path(location) if Path(location).is_absolute() else tmp_path / location
        assert path in ours, location


def test_the_note_names_what_was_ignored_in_one_line() -> None:
    assert ignored_note("grype", []) is None
    note = ignored_note("grype", ["GRYPE_ONLY_FIXED", "./.grype.yaml"])
    assert note is not None and "\n" not in note
    assert note.startswith("grype: ignored GRYPE_ONLY_FIXED, ./.grype.yaml: the policy decides")


def test_scanner_environment_keeps_everything_but_the_dropped_prefix() -> None:
    environ = {"GRYPE_A": "1", "GRYPE_B": "2", "TRIVY_SEVERITY": "LOW", "LANG": "C"}
    env = scanner_environment(
        environ, prefix="GRYPE_", allowed=frozenset({"GRYPE_B"}), paths=frozenset(), cwd=Path("/")
    )
    assert env == {"GRYPE_B": "2", "TRIVY_SEVERITY": "LOW", "LANG": "C"}


def test_settings_are_reported_only_for_scanners_the_gate_runs(tmp_path: Path) -> None:
    base = policies.load_default_policy()
    assert base.vulnerabilities is not None
    both = replace(base, vulnerabilities=replace(base.vulnerabilities, scanners=("trivy", "grype")))
    (tmp_path / ".trivyignore").write_text("CVE-2026-0002\n")
    environ = {"GRYPE_ONLY_FIXED": "true", "HOME": str(tmp_path / "home")}
    notes = ignored_scanner_settings(both, GatherOptions(), environ, tmp_path)
    assert [n.split(":")[0] for n in notes] == ["trivy", "grype"]
    assert "./.trivyignore" in notes[0] and "GRYPE_ONLY_FIXED" in notes[1]
    saved = GatherOptions(reports={"trivy": tmp_path / "trivy.json"})
    assert [n.split(":")[0] for n in ignored_scanner_settings(both, saved, environ, tmp_path)] == [
        "grype"
    ]
