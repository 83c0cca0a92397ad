"""Trivy as a scanner: run ``trivy image --format json --output FILE``, or read a saved report.

Why these choices:

- **Judge from the JSON, never the exit code alone.** Trivy exits 0 with findings, 1 on
  any fatal error and 2 on a Go panic (``--exit-code`` is never passed). Any non-zero
  exit, a missing or empty report file, invalid or truncated JSON, or a
  ``SchemaVersion`` other than 2 is a ``ScannerError`` carrying Trivy's stderr tail.
- **The target is the resolved digest.** Registry images are fetched by Trivy itself
  (``--image-src remote``: no Docker daemon) as ``repo@sha256:…``, so a moving tag
  cannot swap the image. For a host the gate treats as plain HTTP it passes
  ``--insecure``: go-containerregistry (Trivy's registry client) then falls back to
  ``http://``; loopback hosts already get plain HTTP without it. OCI layouts and docker
  archives go through ``--input``.
- **Nothing outside the policy changes the findings** (``gate.scanners.isolation``).
  Trivy runs in an empty private directory, every setting that decides what is found or
  how it is rated is pinned on the command line (``PINNED_FLAGS``: flags outrank
  ``TRIVY_*`` variables and ``trivy.yaml``), and of Trivy's own variables only
  ``TRIVY_ENV_ALLOWED`` passes: the cache and DB location, mirrors and offline switches,
  registry credentials and TLS trust. Flags are also passed for what the gate decides:
  the output, the scanners, the timeout (Trivy's own default of 5 min would otherwise cut
  a longer ``--scanner-timeout`` short), and ``--list-all-pkgs=true`` (0.76's default,
  pinned): a finding names only its binary package, and ``Packages[]`` is where Trivy
  writes the source package (``SrcName``) that waivers may name.
- **Scanners follow the policy.** ``Trivy(scanners=...)`` defaults to Trivy's own image
  default, ``vuln,secret``; the gate passes ``{"vuln"}`` when the policy has no
  ``secrets`` section, since secret scanning reads every file of the image and a section
  the policy does not have is never gathered.
- **Layer analyses are shared, never locked against each other.** Trivy's default ``fs``
  cache is a bolt database it locks exclusively, giving up after 5 s, so two Trivy runs
  at once failed with "cache may be in use by another process". A ``Trivy`` runs either
  as a client of a Trivy server (``server``: ``--server URL``, the token in
  ``TRIVY_TOKEN``; the server owns the cache, see ``gate.scanners.trivy_server``), or
  alone with ``cache`` ``fs`` (the user's cache, when the gate runs one Trivy at a time)
  or ``memory`` (the default, safe for parallel scans). ``TRIVY_CACHE_BACKEND``, when
  set, is the user's choice and is left alone. A standalone ``fs`` scan that finds the
  cache locked by another process is run again with ``memory``: same findings.
- **Streaming.** Findings are read with ``gate.scanners._stream`` (one pass, memory
  bounded by what is kept). Of ``Packages`` only ``Identifier.UID`` and a ``SrcName``
  that differs from ``Name`` are kept; misconfigurations and licences are discarded unread.
  Trivy writes a result's ``Packages`` before its ``Vulnerabilities``, so each finding is
  built with its source package; only UIDs listed after findings were read are joined
  afterwards, by rebuilding those findings.
- **DB age.** Trivy's JSON has no DB timestamp. After a scan the gate reads
  ``db/metadata.json``'s ``UpdatedAt`` in the cache directory the scan used
  (``trivy_cache.cache_directory``; the scan downloads the DB first, if it does), the file
  ``trivy version`` reports from, without starting Trivy again. Where that directory is not
  known it asks ``trivy version --format json`` once per scanner. A saved report's DB age,
  and that of an organisation's server, is unknown.

The JSON read is Trivy's ``types.Report`` (SchemaVersion 2): ``Trivy.Version``,
``ArtifactName``, ``Metadata{OS{Family,Name}, ImageID, RepoDigests, ImageConfig}`` and
``Results[]{Target, Packages[]{Name, SrcName, Identifier{UID}}, Vulnerabilities[],
Secrets[]}``; a finding's ``PkgIdentifier.UID`` names its package. A field of the wrong type, a
result that is not an object, or a finding without ``VulnerabilityID``/``PkgName`` (or a
secret without ``RuleID``) refuses the whole report: a partial reading would be a silent
pass.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from gate.errors import ScannerError
from gate.model import ScanReport, ScanTarget, Secret, Severity, Vulnerability
from gate.scanners import trivy_cache
from gate.scanners._json import (
    DICT_OR_NONE,
    EMPTY,
    LIST_OR_NONE,
    STR_OR_NONE,
    ReportFields,
)
from gate.scanners._process import read_output, run_tool
from gate.scanners._stream import Parents, stream_report
from gate.scanners.credentials import forwarded_credentials
from gate.scanners.isolation import (
    Invocation,
    Workspace,
    existing_files,
    ignored_variables,
    scanner_environment,
)
from gate.scanners.trivy_server import CACHE_LOCKED, TOKEN_VARIABLE, ServerEndpoint

if TYPE_CHECKING:
    from gate.policy.model import Policy
    from gate.scanners import ScanSettings

NAME = "trivy"
SCHEMA_VERSION = 2
DEFAULT_SCANNERS = frozenset({"vuln", "secret"})
"""Trivy's own default for images; the gate narrows it to what the policy needs."""

KNOWN_SCANNERS = frozenset({"vuln", "secret", "misconfig", "license"})
_FOUND_BY = frozenset({NAME})
_NO_OS = frozenset({"", "none"})
_IGNORED_ARRAYS = ("Misconfigurations", "Licenses", "CustomResources")

ENV_PREFIX = "TRIVY_"
TRIVY_ENV_ALLOWED = frozenset(
    {
        # Where the vulnerability DB and the scan cache live, and how a cache is reached.
        "TRIVY_CACHE_DIR",  # the DB is read from here; offline set-ups pre-fill it
        "TRIVY_CACHE_BACKEND",  # fs, memory or redis://: where layer analyses are kept
        "TRIVY_CACHE_TTL",  # how long a redis cache keeps them
        "TRIVY_REDIS_CA",  # TLS to a redis cache
        "TRIVY_REDIS_CERT",  # TLS to a redis cache
        "TRIVY_REDIS_KEY",  # TLS to a redis cache
        "TRIVY_REDIS_TLS",  # TLS to a redis cache
        # Where the DBs come from, and whether Trivy goes to the network at all.
        "TRIVY_DB_REPOSITORY",  # a mirror of trivy-db (air-gapped and rate-limited CI)
        "TRIVY_JAVA_DB_REPOSITORY",  # a mirror of trivy-java-db
        "TRIVY_SKIP_DB_UPDATE",  # use the DB already in the cache (offline)
        "TRIVY_SKIP_UPDATE",  # the deprecated name of TRIVY_SKIP_DB_UPDATE
        "TRIVY_SKIP_JAVA_DB_UPDATE",  # use the Java DB already in the cache (offline)
        "TRIVY_SKIP_CHECK_UPDATE",  # no fetch of the misconfiguration checks (never run here)
        "TRIVY_SKIP_POLICY_UPDATE",  # the deprecated name of TRIVY_SKIP_CHECK_UPDATE
        "TRIVY_SKIP_VERSION_CHECK",  # no call home for release notices
        "TRIVY_DISABLE_TELEMETRY",  # no call home for usage data
        "TRIVY_OFFLINE_SCAN",  # no Maven Central lookups (jars it cannot name go unmatched)
        # Registry credentials and the TLS roots that reach the registry and the DB.
        "TRIVY_USERNAME",
        "TRIVY_PASSWORD",
        "TRIVY_REGISTRY_TOKEN",
        "TRIVY_CACERT",
        # Display only; the gate passes --no-progress itself.
        "TRIVY_NO_PROGRESS",
    }
)
"""Trivy's own variables that pass to it; every other ``TRIVY_*`` is dropped and reported.

Left out on purpose: ``TRIVY_INSECURE`` (it turns off TLS verification for the DB download
too, so a network attacker could serve an empty DB; use ``--insecure-registry HOST``, or
``TRIVY_CACERT``/``SSL_CERT_FILE`` for a private CA), and ``TRIVY_SERVER``/``TRIVY_TOKEN``
(a Trivy server judges with its own DB; the gate makes a scan a client of one only when
asked on its own command line or in the policy: ``gate.scanners.trivy_server``)."""

_ENV_PATHS = frozenset(
    {"TRIVY_CACHE_DIR", "TRIVY_CACERT", "TRIVY_REDIS_CA", "TRIVY_REDIS_CERT", "TRIVY_REDIS_KEY"}
)

PINNED_FLAGS = (
    "--config=",  # no trivy.yaml (the empty value turns loading off)
    "--ignorefile=",  # no .trivyignore: waivers live in the policy, with reasons and expiry
    "--ignore-policy=",  # no Rego that drops findings
    "--vex=",  # no VEX statements marking findings not_affected
    "--secret-config=",  # Trivy's built-in secret rules, no trivy-secret.yaml
    "--severity=UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL",  # every finding: fail_on judges
    "--ignore-unfixed=false",  # the policy's ignore_unfixed judges
    "--ignore-status=",  # every status: the policy judges not_affected and unfixed
    "--skip-files=",  # the whole image
    "--skip-dirs=",  # the whole image
    "--pkg-types=os,library",  # Trivy's default: OS and language packages
    "--pkg-relationships=unknown,root,workspace,direct,indirect",  # Trivy's default: all
    "--detection-priority=precise",  # Trivy's default
    "--vuln-severity-source=auto",  # Trivy's default: the vendor's rating first
    "--distro=",  # the OS is detected from the image, never asserted
    "--removed-pkgs=false",  # Trivy's default
    "--file-patterns=",  # Trivy's own analyzers decide which files are packages
    "--image-config-scanners=",  # Trivy's default: none
    "--sbom-sources=",  # analyse the image itself, never an SBOM someone attached to it
    "--enable-modules=",  # no WASM module (see --module-dir)
    "--list-all-pkgs=true",  # 0.76's default: Packages[] holds each finding's SrcName
)
"""Every ``trivy image`` flag that decides what is found or how it is rated (Trivy 0.76's
flag list), given explicitly so that no variable or config file can override it; plus
``--module-dir`` (an empty directory: Trivy loads every WASM module in
``~/.trivy/modules``, and a module can rewrite results). The rest of the flag list is
output and display (``--format``, ``--template``…), other scanners' settings (misconfig,
license, Rego: never run here), or reachability, which ``TRIVY_ENV_ALLOWED`` lets pass."""

WORKDIR_FILES = ("trivy.yaml", ".trivyignore", "trivy-secret.yaml")
"""Files Trivy 0.76 reads from its working directory by default (``--config``,
``--ignorefile``, ``--secret-config``). ``.trivyignore.yaml`` is read only when
``--ignorefile`` names it."""

_FIELDS = (
    "id package installed severity fixed aliases title status url purl target found_by"
    " source_packages"
)
"""``Vulnerability``'s fields in order: the hot path passes them by position (keyword
arguments cost 0.6 µs more per finding), so a change to the model fails here, loudly."""
if " ".join(f.name for f in dataclasses.fields(Vulnerability)) != _FIELDS:  # pragma: no cover
    raise ImportError("gate.model.Vulnerability's fields changed; update gate.scanners.trivy")


VERSION_TIMEOUT = 30.0
"""Seconds for ``trivy version``, which only reads the DB's metadata.json."""


def db_updated_at(version_json: str) -> str | None:
    """``VulnerabilityDB.UpdatedAt`` from ``trivy version --format json``; None if absent.

    Display only (the DB's age is shown, never judged), so output that is not the
    expected JSON gives None ("unknown") rather than an error.
    """
    try:
        info = json.loads(version_json)
    except ValueError:
        return None
    db = info.get("VulnerabilityDB") if isinstance(info, dict) else None
    updated = db.get("UpdatedAt") if isinstance(db, dict) else None
    return updated if isinstance(updated, str) and updated else None


_log = logging.getLogger(__name__)
_METADATA_SOURCE = "Trivy's DB metadata (db/metadata.json)"
_VERSION_SOURCE = "trivy version (VulnerabilityDB.UpdatedAt)"


def _cache_backend(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """The backend a standalone scan keeps analyses in: ``--cache-backend``, else
    ``TRIVY_CACHE_BACKEND``, else Trivy's default ``fs``."""
    if "--cache-backend" in argv:
        return argv[argv.index("--cache-backend") + 1]
    return env.get("TRIVY_CACHE_BACKEND") or "fs"


@dataclass(frozen=True)
class _KeptReport:
    """Where one scan's report is kept, and the DBs it would be kept with."""

    cache: trivy_cache.ReportCache
    key: str
    state: trivy_cache.DbState

    def reuse(self, env: Mapping[str, str]) -> ScanReport | None:
        """The kept report, when there is one and a scan now would use the same DBs."""
        if not self.state.settled(env, datetime.now(timezone.utc)):
            return None
        path = self.cache.get(self.key)
        if path is None:
            return None
        try:
            report = parse_report(path)
        except ScannerError as error:
            _log.debug("trivy: kept report %s unreadable (%s); scanning again", path, error)
            self.cache.discard(self.key)  # damaged: scan again, and keep the new one
            return None
        _log.debug("trivy: reusing the report kept in %s", path)
        return report

    def keep(self, report: Path) -> None:
        self.cache.put(self.key, report)


class Trivy:
    """The Trivy scanner (``gate.scanners.interface.Scanner``).

    Holds only immutable settings, so one instance may scan several images at once:
    every scan writes its report into its own temporary directory.
    """

    name = NAME

    def __init__(
        self,
        *,
        scanners: Iterable[str] = DEFAULT_SCANNERS,
        executable: str = "trivy",
        env: Mapping[str, str] | None = None,
        server: ServerEndpoint | None = None,
        cache: Literal["memory", "fs"] = "memory",
        keep_reports: bool = False,
    ) -> None:
        chosen = frozenset(scanners)
        unknown = chosen - KNOWN_SCANNERS
        if not chosen or unknown:
            raise ValueError(f"trivy scanners must be among {sorted(KNOWN_SCANNERS)}")
        self.scanners = chosen
        self._executable = executable
        self._env = dict(env or {})
        self.server = server
        self.cache = cache
        self.keep_reports = keep_reports
        self._version_lock = threading.Lock()
        self._version_answer: str | None = None

    def command(
        self,
        target: ScanTarget,
        output: Path,
        *,
        timeout: float,
        workspace: Workspace,
        environ: Mapping[str, str],
    ) -> list[str]:
        """The argument list that scans ``target`` into ``output`` (no shell, ever)."""
        argv = [
            self._executable,
            "image",
            "--format",
            "json",
            "--output",
            str(output),
            "--no-progress",
            *PINNED_FLAGS,
            "--module-dir",
            str(workspace.empty_dir),
            "--scanners",
            ",".join(sorted(self.scanners)),
            "--timeout",
            f"{max(timeout, 1.0):.0f}s",
        ]
        argv += self._cache_flags(environ)
        if target.platform:
            # The target is already the chosen manifest, which Trivy 0.76 scans whatever
            # --platform says; passed so an index could never be resolved by its default.
            argv += ["--platform", target.platform]
        if target.kind == "registry":
            argv += ["--image-src", "remote"]
            if target.insecure:
                argv.append("--insecure")
            argv.append(target.location)
        elif target.kind in ("oci", "docker-archive"):
            argv += ["--input", target.location]
        else:  # pragma: no cover: ScanTarget.kind is a closed Literal
            raise ValueError(f"unknown scan target kind {target.kind!r}")
        return argv

    def _cache_flags(self, environ: Mapping[str, str]) -> list[str]:
        """Where layer analyses are kept: the server's cache, or the backend chosen here."""
        if self.server is not None:
            return ["--server", self.server.url]  # the token travels in TRIVY_TOKEN
        if environ.get("TRIVY_CACHE_BACKEND"):
            return []
        return ["--cache-backend", self.cache]

    def invocation(
        self,
        target: ScanTarget,
        workspace: Workspace,
        *,
        timeout: float,
        environ: Mapping[str, str],
        cwd: Path,
    ) -> Invocation:
        """How to run Trivy on ``target`` from a gate whose environment is ``environ`` and
        whose working directory is ``cwd`` (pure: the same inputs give the same run)."""
        merged = {**environ, **self._env}
        env = scanner_environment(
            merged, prefix=ENV_PREFIX, allowed=TRIVY_ENV_ALLOWED, paths=_ENV_PATHS, cwd=cwd
        )
        if target.kind == "registry":
            env.update(forwarded_credentials(env, "TRIVY_USERNAME", "TRIVY_PASSWORD"))
        if self.server is not None and self.server.token:
            env[TOKEN_VARIABLE] = self.server.token  # never argv: /proc/PID/cmdline is public
        if self.server is not None and target.insecure and self.server.url.startswith("https:"):
            # Trivy hands --insecure to its server client too (ScannerOption.Insecure).
            raise ScannerError(
                "trivy: an --insecure-registry image cannot be scanned through a remote Trivy "
                "server: Trivy's --insecure would also stop verifying the server's TLS "
                "certificate, and the server decides the findings"
            )
        output = workspace.report(NAME)
        argv = self.command(target, output, timeout=timeout, workspace=workspace, environ=env)
        return Invocation(tuple(argv), env, workspace.cwd)

    def ignored_settings(self, environ: Mapping[str, str], cwd: Path) -> list[str]:
        """What Trivy would have read from outside the policy, and the gate keeps from it."""
        found = ignored_variables(environ, prefix=ENV_PREFIX, allowed=TRIVY_ENV_ALLOWED)
        found += [f"./{p.name}" for p in existing_files(cwd / name for name in WORKDIR_FILES)]
        # Trivy's module directory: $XDG_DATA_HOME/.trivy/modules, else ~/.trivy/modules.
        data_home = environ.get("XDG_DATA_HOME") or environ.get("HOME")
        if data_home:
            modules = Path(data_home) / ".trivy" / "modules"
            if modules.is_dir() and any(modules.rglob("*.wasm")):
                found.append(str(modules))
        return found

    def scan(self, target: ScanTarget, *, timeout: float) -> ScanReport:
        try:
            return self._scan(target, timeout=timeout)
        except ScannerError as error:
            if self.server is not None:  # the token must not reach the report
                raise ScannerError(
                    self.server.scrub(error.message), detail=self.server.scrub(error.detail)
                ) from None
            if self.cache != "fs" or CACHE_LOCKED not in error.detail:
                raise
        # Another Trivy holds the cache's lock: the same scan, without the shared cache.
        alone = Trivy(scanners=self.scanners, executable=self._executable, env=self._env)
        return alone._scan(target, timeout=timeout)

    def _scan(self, target: ScanTarget, *, timeout: float) -> ScanReport:
        with tempfile.TemporaryDirectory(prefix="gate-trivy-") as tmp:
            workspace = Workspace.create(Path(tmp))
            run = self.invocation(
                target, workspace, timeout=timeout, environ=os.environ, cwd=Path.cwd()
            )
            cache_dir = self._local_cache_dir(run)
            kept = self._kept_report(target, run, cache_dir)
            reused = kept.reuse(run.env) if kept is not None else None
            state: trivy_cache.DbState | None
            if kept is not None and reused is not None:
                report, state = dataclasses.replace(reused, reused=True), kept.state
            else:
                if self.server is not None and self.server.ready is not None:
                    self.server.ready()  # a local server still starting up
                done = run_tool(
                    run.argv,
                    tool=NAME,
                    timeout=timeout,
                    env=run.env,
                    inherit_env=False,
                    cwd=run.cwd,
                )
                report = read_output(done, workspace.report(NAME), tool=NAME, parse=parse_report)
                state = trivy_cache.read_state(cache_dir) if cache_dir is not None else None
                if kept is not None and state == kept.state:
                    kept.keep(workspace.report(NAME))
            if state is not None:
                built, source = state.updated_at, _METADATA_SOURCE
            elif self.server is not None and not self.server.local:
                built, source = None, ""  # the server's DB judged; the gate cannot see it
            else:
                built, source = self._version_db_updated_at(run), _VERSION_SOURCE
        return dataclasses.replace(
            report,
            secrets_scanned="secret" in self.scanners,
            db_built=built,
            db_source=source if built else "",
        )

    def _local_cache_dir(self, run: Invocation) -> Path | None:
        """The cache directory whose DB judges this scan, when the gate can read it."""
        if self.server is not None and not self.server.local:
            return None
        return trivy_cache.cache_directory(run.env)

    def _kept_report(
        self, target: ScanTarget, run: Invocation, cache_dir: Path | None
    ) -> _KeptReport | None:
        """Where this scan's report is kept for the next run, when it may be (see
        ``gate.scanners.trivy_cache``: registry images by digest, runs that keep analyses)."""
        if not self.keep_reports or cache_dir is None:
            return None
        if target.kind != "registry" or "@sha256:" not in target.location:
            return None
        if self.server is None and _cache_backend(run.argv, run.env) != "fs":
            return None
        executable = trivy_cache.executable_identity(run.argv[0], run.env)
        if executable is None:
            return None
        state = trivy_cache.read_state(cache_dir)
        if not state.vulnerability.present:
            return None  # Trivy downloads one first (or fails): nothing to key a report by
        key = trivy_cache.report_key(run.argv, run.env, executable, state)
        return _KeptReport(trivy_cache.ReportCache.in_trivy_cache(cache_dir), key, state)

    def _version_db_updated_at(self, run: Invocation) -> str | None:
        """The DB's ``UpdatedAt`` as ``trivy version`` reports it, asked once per scanner
        (every scan of a run reads the same DB); None when it cannot say."""
        with self._version_lock:
            if self._version_answer is None:
                self._version_answer = self._db_updated_at(run)
            return self._version_answer or None

    def _db_updated_at(self, run: Invocation) -> str:
        try:
            done = run_tool(
                (self._executable, "version", "--format", "json"),
                tool=NAME,
                timeout=VERSION_TIMEOUT,
                env=run.env,
                inherit_env=False,
                cwd=run.cwd,
            )
        except ScannerError:
            return ""  # display only: the scan itself succeeded
        return db_updated_at(done.stdout) or ""

    def parse_report(self, path: Path) -> ScanReport:
        return parse_report(path)


def for_policy(policy: Policy | None, settings: ScanSettings) -> Trivy:
    """Trivy told to look only for what the policy judges (without one: its own default),
    and where to scan: through a Trivy server, with which layer cache (``settings``)."""
    server, cache, keep = settings.trivy_server, settings.trivy_cache, settings.keep_reports
    if policy is None:
        return Trivy(server=server, cache=cache, keep_reports=keep)
    kinds = []
    if policy.vulnerabilities is not None and NAME in policy.vulnerabilities.scanners:
        kinds.append("vuln")
    if policy.secrets is not None and policy.secrets.fail:
        kinds.append("secret")
    return Trivy(scanners=kinds, server=server, cache=cache, keep_reports=keep)


# --------------------------------------------------------------------------- parsing


_fields = ReportFields(NAME)
_fail = _fields.fail
_opt = _fields.opt
_strings = _fields.strings


def _split_fixed(text: str) -> tuple[str, ...]:
    """Trivy joins several fixed versions with ", " (one per affected range)."""
    if "," not in text:
        stripped = text.strip()
        return (stripped,) if stripped else ()
    return tuple(filter(None, map(str.strip, text.split(","))))  # in C: no frame per part


class _Reader:
    """Turns streamed findings into model objects, keeping only what the gate judges.

    Statuses, targets and source packages are shared through one table (few distinct
    values). Package names and versions are not: sharing them saved 5 MB on a report of
    2,000 packages, but cost 0.05 s (4% of ``json.load``'s time) where every finding has
    its own package, its table growing to 100,000 entries; peak memory stays near the
    size of the file either way. Results arrive in file order, so the reader follows one
    current result at a time.
    """

    def __init__(self) -> None:
        self.vulnerabilities: list[Vulnerability] = []
        self.secrets: list[Secret] = []
        # Findings read before their result's Target (not Trivy's key order, but valid
        # JSON): (index in the list, the result object) to fill in once it is complete.
        self.untargeted_vulns: list[tuple[int, dict[str, Any]]] = []
        self.untargeted_secrets: list[tuple[int, dict[str, Any]]] = []
        self._shared: dict[str, str] = {}
        # ``_intern(text, text)``: the shared copy of ``text``; a C method, no Python frame.
        self._intern = self._shared.setdefault
        self._severities: dict[str | None, Severity] = {}
        self._schema_checked = False
        self._result: dict[str, Any] | None = None
        self._target: str | None = None
        self._result_start = 0  # index in ``vulnerabilities`` of the result's first finding
        self._secrets_in_result = 0
        # Each finding's PkgIdentifier.UID, in order, and the source package of each UID
        # whose SrcName differs from its Name (as one shared set). Trivy writes a result's
        # Packages before its Vulnerabilities, so a finding is built with its source; UIDs
        # listed (or listed again) once findings were read are joined in ``finish``.
        self._uids: list[str | None] = []
        self._sources: dict[str, frozenset[str]] = {}
        self._late: set[str] = set()

    def _share(self, text: str) -> str:
        return self._intern(text, text)

    def _severity(self, text: str | None) -> Severity:
        if text is None:
            return Severity.UNKNOWN
        found = self._severities.get(text)
        if found is None:
            found = self._severities[text] = Severity.parse(text)
        return found

    def _enter(self, parents: Parents) -> str | None:
        """Follow the result being read; return its Target once the file has shown it."""
        result = parents[-1]
        if result is not self._result:
            root = parents[0]
            if not self._schema_checked and "SchemaVersion" in root:
                _check_schema(root)  # fail fast on a wrong schema, before reading 50 MB
                self._schema_checked = True
            self._result, self._target = result, None
            self._result_start, self._secrets_in_result = len(self.vulnerabilities), 0
        if self._target is None:
            target = _opt(result, "Target", str, self._where(parents))
            if target is not None:
                self._target = self._share(target)
        return self._target

    @staticmethod
    def _where(parents: Parents) -> str:
        results = parents[0].get("Results")
        index = next((i for i, r in enumerate(results or ()) if r is parents[-1]), "?")
        return f"Results[{index}]"

    def vulnerability(self, item: Any, parents: Parents) -> None:
        """One ``Results[].Vulnerabilities[]`` entry (hot path: ~50,000 calls per report).

        Helpers are inlined where they would cost a Python call per finding.
        """
        target = self._target
        if target is None or parents[-1] is not self._result:
            target = self._enter(parents)
        if type(item) is not dict:
            self._explain_vulnerability(item, parents)
        get = item.get
        vid = get("VulnerabilityID")
        package = get("PkgName")
        installed = get("InstalledVersion")
        fixed = get("FixedVersion")
        severity = get("Severity")
        status = get("Status")
        title = get("Title")
        url = get("PrimaryURL")
        vendor_ids = get("VendorIDs")
        identifier = get("PkgIdentifier")
        if type(identifier) is dict:
            purl, uid = identifier.get("PURL"), identifier.get("UID")
        else:
            purl = uid = None
        if not (
            type(vid) is str
            and vid
            and type(package) is str
            and package
            and type(installed) in STR_OR_NONE
            and type(fixed) in STR_OR_NONE
            and type(severity) in STR_OR_NONE
            and type(status) in STR_OR_NONE
            and type(title) in STR_OR_NONE
            and type(url) in STR_OR_NONE
            and type(purl) in STR_OR_NONE
            and type(uid) in STR_OR_NONE
            and type(identifier) in DICT_OR_NONE
            and type(vendor_ids) in LIST_OR_NONE
        ):
            self._explain_vulnerability(item, parents)
        aliases = EMPTY
        if vendor_ids:
            for alias in vendor_ids:
                if type(alias) is not str:
                    self._explain_vulnerability(item, parents)
            aliases = frozenset(vendor_ids)
            if vid in aliases:
                aliases = aliases - {vid}
        if target is None:
            self.untargeted_vulns.append((len(self.vulnerabilities), parents[-1]))
        level = self._severities.get(severity)
        if level is None:
            level = self._severity(severity)
        fixes: tuple[str, ...] = ()
        if fixed:
            if "," in fixed:
                fixes = _split_fixed(fixed)
            elif fixed.strip():
                fixes = (fixed.strip(),)
        intern = self._intern
        self._uids.append(uid)
        sources = self._sources.get(uid, EMPTY) if uid and self._sources else EMPTY
        if sources and package in sources:
            sources = EMPTY  # named like the package itself: as if Trivy had not said it
        self.vulnerabilities.append(
            Vulnerability(  # positional: 30 ms less per 50,000 (order pinned: _FIELDS)
                vid,
                package,
                installed or "",
                level,
                fixes,
                aliases,
                title or "",
                intern(status, status) if status else "",
                url or "",
                purl or "",
                target or "",
                _FOUND_BY,
                sources,
            )
        )

    def _explain_vulnerability(self, item: Any, parents: Parents) -> NoReturn:
        """The slow path: say precisely what is wrong with a finding the hot path refused."""
        index = len(self.vulnerabilities) - self._result_start
        where = f"{self._where(parents)}.Vulnerabilities[{index}]"
        if not isinstance(item, dict):
            _fail(f"`{where}` is not an object")
        for key in ("VulnerabilityID", "PkgName"):
            if not _opt(item, key, str, where):
                _fail(f"`{where}` has no {key}")
        for key in ("InstalledVersion", "FixedVersion", "Severity", "Status", "Title"):
            _opt(item, key, str, where)
        _opt(item, "PrimaryURL", str, where)
        _strings(item, "VendorIDs", where)
        identifier = _opt(item, "PkgIdentifier", dict, where) or {}
        _opt(identifier, "PURL", str, f"{where}.PkgIdentifier")
        _opt(identifier, "UID", str, f"{where}.PkgIdentifier")
        _fail(f"`{where}` is not a Trivy finding")  # pragma: no cover: one check above fails

    def package(self, item: Any, parents: Parents) -> None:
        """One ``Results[].Packages[]`` entry: remember its source package, if another.

        Thousands per image: the well-typed entry is read inline, and only a mistyped one
        builds its position for the error.
        """
        if type(item) is dict:
            name, source, identifier = item.get("Name"), item.get("SrcName"), item.get("Identifier")
            uid = identifier.get("UID") if type(identifier) is dict else None
            if (
                type(name) in STR_OR_NONE
                and type(source) in STR_OR_NONE
                and type(identifier) in DICT_OR_NONE
                and type(uid) in STR_OR_NONE
            ):
                if uid and source and source != name:
                    self._sources[uid] = frozenset({self._share(source)})
                    if self.vulnerabilities:
                        self._late.add(uid)
                return
        where = f"{self._where(parents)}.Packages[]"
        if not isinstance(item, dict):
            _fail(f"`{where}` is not an object")
        for key in ("Name", "SrcName"):
            _opt(item, key, str, where)
        _opt(_opt(item, "Identifier", dict, where) or {}, "UID", str, f"{where}.Identifier")
        _fail(f"`{where}` is not a Trivy package")  # pragma: no cover: one check above fails

    def secret(self, item: Any, parents: Parents) -> None:
        """One ``Results[].Secrets[]`` entry (few per image; clarity over speed)."""
        target = self._enter(parents)
        where = f"{self._where(parents)}.Secrets[{self._secrets_in_result}]"
        if not isinstance(item, dict):
            _fail(f"`{where}` is not an object")
        rule = _opt(item, "RuleID", str, where)
        if not rule:
            _fail(f"`{where}` has no RuleID")
        if target is None:
            self.untargeted_secrets.append((len(self.secrets), parents[-1]))
        self._secrets_in_result += 1
        self.secrets.append(
            Secret(
                rule_id=rule,
                title=_opt(item, "Title", str, where) or "",
                severity=self._severity(_opt(item, "Severity", str, where)),
                target=target or "",
                line=_opt(item, "StartLine", int, where),
                category=_opt(item, "Category", str, where) or "",
            )
        )

    def finish(self) -> tuple[tuple[Vulnerability, ...], tuple[Secret, ...]]:
        """Fill in the targets that came after their findings in the file, and the source
        package of each finding whose package Trivy listed with another ``SrcName``."""
        late, sources = self._late, self._sources
        if late:
            found = self.vulnerabilities
            for index, uid in enumerate(self._uids):
                if uid in late:
                    source = sources[uid]
                    if found[index].package in source:
                        source = EMPTY
                    if found[index].source_packages != source:
                        found[index] = dataclasses.replace(found[index], source_packages=source)
        for index, result in self.untargeted_vulns:
            target = _opt(result, "Target", str, "Results[]") or ""
            self.vulnerabilities[index] = dataclasses.replace(
                self.vulnerabilities[index], target=target
            )
        for index, result in self.untargeted_secrets:
            target = _opt(result, "Target", str, "Results[]") or ""
            self.secrets[index] = dataclasses.replace(self.secrets[index], target=target)
        return tuple(self.vulnerabilities), tuple(self.secrets)


def _check_schema(root: Mapping[str, Any]) -> None:
    version = root.get("SchemaVersion")
    if type(version) is not int or version != SCHEMA_VERSION:
        shown = "missing" if version is None else repr(version)
        raise ScannerError(
            f"trivy report has SchemaVersion {shown}; the gate reads SchemaVersion 2 (Trivy ≥ 0.20)"
        )


def _os(metadata: Mapping[str, Any]) -> str | None:
    """``"debian 12.5"``; None when Trivy detected no OS (``Family`` none or missing)."""
    os_info = _opt(metadata, "OS", dict, "Metadata") or {}
    family = _opt(os_info, "Family", str, "Metadata.OS") or ""
    if family.strip().lower() in _NO_OS:
        return None
    name = _opt(os_info, "Name", str, "Metadata.OS") or ""
    return f"{family} {name}".strip()


def parse_report(path: Path) -> ScanReport:
    """Read a Trivy JSON report (``trivy … --format json``) into a ``ScanReport``, or raise.

    Image and non-image reports (``ArtifactType`` ``repository``, ``filesystem``) are
    read alike; the latter simply have no OS, digests or image config.
    """
    reader = _Reader()
    arrays: dict[str, Any] = {
        "Results.item.Packages": reader.package,
        "Results.item.Vulnerabilities": reader.vulnerability,
        "Results.item.Secrets": reader.secret,
    }
    arrays.update({f"Results.item.{key}": None for key in _IGNORED_ARRAYS})
    root = stream_report(path, tool=NAME, arrays=arrays)
    _check_schema(root)
    vulnerabilities, secrets = reader.finish()
    metadata = _opt(root, "Metadata", dict, "") or {}
    tool_info = _opt(root, "Trivy", dict, "") or {}
    image_config = _opt(metadata, "ImageConfig", dict, "Metadata")
    return ScanReport(
        scanner=NAME,
        version=_opt(tool_info, "Version", str, "Trivy") or "",
        artifact=_opt(root, "ArtifactName", str, "") or "",
        image_id=_opt(metadata, "ImageID", str, "Metadata") or None,
        digests=tuple(d for d in _strings(metadata, "RepoDigests", "Metadata") if d),
        os=_os(metadata),
        vulnerabilities=vulnerabilities,
        secrets=secrets,
        image_config=image_config,
    )
