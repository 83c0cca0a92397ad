"""Grype as a scanner: run ``grype <source> -o json --file FILE``, or read a saved report.

Why these choices:

- **Never ``--fail-on``.** Grype exits 2 when the threshold is exceeded, and a Go panic
  also exits 2, so a crash would read as "vulnerable" at best. The gate judges from the
  JSON alone and treats every non-zero exit as a failure (fail closed).
- **The source names the resolved digest:** ``registry:host/repo@sha256:…``,
  ``oci-dir:DIR``, or ``docker-archive:FILE`` (the source schemes of Grype's CLI). For
  a plain-HTTP registry the child gets ``GRYPE_REGISTRY_INSECURE_USE_HTTP=true``; every
  other ``GRYPE_*`` variable (``GRYPE_DB_CACHE_DIR``, ``GRYPE_DB_AUTO_UPDATE``, …) passes
  through from the gate's environment, so offline and mirror set-ups work.
- **Streaming.** Reports list one entry per (vulnerability, package, location) and reach
  tens of megabytes; ``matches`` is streamed through ``gate.scanners._stream`` and only
  the fields the gate judges on are kept. ``ignoredMatches`` is discarded unread.

The JSON mirrored is Grype's presenter model (``grype/presenter/models``): ``matches[]``
of ``{vulnerability{id, severity, fix{versions, state}, urls, dataSource},
relatedVulnerabilities[]{id}, artifact{name, version, purl, locations[]{path},
upstreams[]{name}}}``, plus
``source.target{userInput, imageID, repoDigests, manifestDigest, config}``, ``distro{name,
version}`` and ``descriptor{name, version, db}``.

Severity: ``gate.model.Severity.parse``; Grype's ``Negligible`` counts as LOW, and a
missing or unrecognised severity is UNKNOWN (judged at the policy's ``unknown_as``).

A report is refused (``ScannerError``) when it has no ``matches`` array, is not from
Grype (``descriptor.name``), or when a match lacks its vulnerability id, package name or
version or holds a field of the wrong type: a partial reading would be a silent pass.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.model import ScanReport, ScanTarget, Severity, Vulnerability
from gate.oci.digests import is_digest
from gate.scanners._json import (
    DICT_OR_NONE,
    EMPTY,
    LIST_OR_NONE,
    STR_OR_NONE,
    ReportFields,
)
from gate.scanners._stream import Parents, stream_report
from gate.scanners.credentials import forwarded_credentials
from gate.scanners.isolation import (
    Invocation,
    Workspace,
    existing_files,
    ignored_variables,
    run_isolated,
    scanner_environment,
)

if TYPE_CHECKING:
    from gate.policy.model import Policy
    from gate.scanners import ScanSettings

NAME = "grype"
_FOUND_BY = frozenset({NAME})
_SCHEMES = {"registry": "registry:", "oci": "oci-dir:", "docker-archive": "docker-archive:"}

ENV_PREFIX = "GRYPE_"
GRYPE_ENV_ALLOWED = frozenset(
    {
        # Where the vulnerability DB lives and where it comes from.
        "GRYPE_DB_CACHE_DIR",  # the DB is read from here; offline set-ups pre-fill it
        "GRYPE_DB_UPDATE_URL",  # a mirror of the DB listing (air-gapped CI)
        "GRYPE_DB_CA_CERT",  # TLS roots for that download
        # Whether Grype goes to the network, and which DB it accepts.
        "GRYPE_DB_AUTO_UPDATE",  # false: use the DB already in the cache (offline)
        "GRYPE_DB_REQUIRE_UPDATE_CHECK",  # fail when the update check fails (stricter)
        "GRYPE_DB_UPDATE_AVAILABLE_TIMEOUT",  # slow networks
        "GRYPE_DB_UPDATE_DOWNLOAD_TIMEOUT",  # slow networks
        "GRYPE_DB_MAX_UPDATE_CHECK_FREQUENCY",  # how often it asks for a newer DB
        "GRYPE_DB_VALIDATE_BY_HASH_ON_START",  # checksum the DB file before use
        "GRYPE_DB_VALIDATE_AGE",  # a pre-filled offline DB may be older than 5 days
        "GRYPE_DB_MAX_ALLOWED_BUILT_AGE",  # likewise; the report shows the DB's build time
        "GRYPE_CHECK_FOR_APP_UPDATE",  # no call home for release notices
        # Registry credentials and TLS. The image is fetched by digest and its content
        # checked against it, so these reach the registry without choosing what is judged.
        "GRYPE_REGISTRY_AUTH_AUTHORITY",
        "GRYPE_REGISTRY_AUTH_USERNAME",
        "GRYPE_REGISTRY_AUTH_PASSWORD",
        "GRYPE_REGISTRY_AUTH_TOKEN",
        "GRYPE_REGISTRY_AUTH_TLS_CERT",
        "GRYPE_REGISTRY_AUTH_TLS_KEY",
        "GRYPE_REGISTRY_CA_CERT",
        "GRYPE_REGISTRY_INSECURE_SKIP_TLS_VERIFY",
        "GRYPE_REGISTRY_INSECURE_USE_HTTP",
    }
)
"""Grype's own variables that pass to it; every other ``GRYPE_*`` is dropped and reported
(``GRYPE_CONFIG``, ``GRYPE_ONLY_FIXED``, ``GRYPE_IGNORE_*``, ``GRYPE_EXCLUDE``,
``GRYPE_VEX_*``, ``GRYPE_SEARCH_SCOPE``, ``GRYPE_DISTRO``, ``GRYPE_MATCH_*``,
``GRYPE_EXTERNAL_SOURCES_*``, ``GRYPE_FIX_CHANNEL_*``, ``GRYPE_LOG_*``…)."""

_ENV_PATHS = frozenset(
    {
        "GRYPE_DB_CACHE_DIR",
        "GRYPE_DB_CA_CERT",
        "GRYPE_REGISTRY_AUTH_TLS_CERT",
        "GRYPE_REGISTRY_AUTH_TLS_KEY",
        "GRYPE_REGISTRY_CA_CERT",
    }
)

_CONFIG_EXTENSIONS = (
    *("json", "toml", "yaml", "yml", "properties", "props", "prop"),
    *("hcl", "tfvars", "dotenv", "env", "ini"),
)
"""viper's ``SupportedExts`` (v1.21): the extensions fangs tries at every config location."""


def config_files(environ: Mapping[str, str], cwd: Path) -> list[Path]:
    """Where Grype looks for config when ``-c`` is not given, in its order (fangs'
    ``FindInCwd``, ``FindInAppNameSubdir``, ``FindInHomeDir``, ``FindInXDG``; the XDG
    directories as adrg/xdg reads them)."""
    dirs = [(cwd, ".grype"), (cwd / ".grype", "config")]
    home = environ.get("HOME")
    if home:
        dirs.append((Path(home), ".grype"))
    config_home = environ.get("XDG_CONFIG_HOME") or (str(Path(home) / ".config") if home else "")
    config_dirs = (environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep)
    dirs += [(Path(d) / NAME, "config") for d in (config_home, *config_dirs) if d]
    return [d / f"{base}.{ext}" for d, base in dirs for ext in _CONFIG_EXTENSIONS]


class Grype:
    """The Grype scanner (``gate.scanners.interface.Scanner``).

    Holds only immutable settings, so one instance may scan from several threads at once:
    each scan writes to its own temporary directory.
    """

    name = NAME

    def __init__(self, *, executable: str = "grype", env: Mapping[str, str] | None = None) -> None:
        self._executable = executable
        self._env = dict(env or {})

    def invocation(
        self,
        target: ScanTarget,
        workspace: Workspace,
        *,
        environ: Mapping[str, str],
        cwd: Path,
    ) -> Invocation:
        """How to run Grype on ``target`` from a gate whose environment is ``environ`` and
        whose working directory is ``cwd`` (pure: the same inputs give the same run)."""
        merged = {**environ, **self._env}
        if target.kind == "registry" and target.insecure:
            merged["GRYPE_REGISTRY_INSECURE_USE_HTTP"] = "true"
        env = scanner_environment(
            merged, prefix=ENV_PREFIX, allowed=GRYPE_ENV_ALLOWED, paths=_ENV_PATHS, cwd=cwd
        )
        # Grype colours its ERROR lines even on a pipe; the stderr tail becomes the error
        # detail in terminals, JSON and GitHub annotations, so ask for plain text (clio
        # honours NO_COLOR).
        env["NO_COLOR"] = "1"
        if target.kind == "registry":
            forwarded = forwarded_credentials(
                env, "GRYPE_REGISTRY_AUTH_USERNAME", "GRYPE_REGISTRY_AUTH_PASSWORD"
            )
            if forwarded:  # Grype keys credentials by registry host
                forwarded["GRYPE_REGISTRY_AUTH_AUTHORITY"] = target.location.split("/", 1)[0]
            env.update(forwarded)
        output = workspace.report(NAME)
        argv = (
            self._executable,
            source_for(target),
            "-o",
            "json",
            "--file",
            str(output),
            *config_args(workspace),
        )
        if target.platform:
            # stereoscope then also checks the chosen manifest's config against it
            argv += ("--platform", target.platform)
        return Invocation(argv, env, workspace.cwd)

    def ignored_settings(self, environ: Mapping[str, str], cwd: Path) -> list[str]:
        """What Grype would have read from outside the policy, and the gate keeps from it."""
        found = ignored_variables(environ, prefix=ENV_PREFIX, allowed=GRYPE_ENV_ALLOWED)
        for path in existing_files(config_files(environ, cwd)):
            inside = path.is_relative_to(cwd)
            found.append(f"./{path.relative_to(cwd)}" if inside else str(path))
        return found

    def scan(self, target: ScanTarget, *, timeout: float) -> ScanReport:
        archive = target.kind == "docker-archive"
        return run_isolated(
            NAME,
            timeout=timeout,
            invocation=lambda workspace, environ, cwd: self.invocation(
                target, workspace, environ=environ, cwd=cwd
            ),
            parse=lambda p: parse_report(p, archive=archive),
        )

    def parse_report(self, path: Path) -> ScanReport:
        return parse_report(path)


def for_policy(policy: Policy | None, settings: ScanSettings) -> Grype:
    """Grype has one kind of finding; the policy changes nothing in how it runs."""
    return Grype()


def config_args(workspace: Workspace) -> tuple[str, ...]:
    """``-c EMPTY``: an explicit config file replaces Grype's whole config search, so no
    ``.grype.yaml`` (here, in ``~``, in the XDG dirs) is read; the file itself is empty."""
    return ("-c", str(workspace.empty_file))


def source_for(target: ScanTarget) -> str:
    """Grype's source argument for ``target``, with an explicit scheme (no guessing).

    An OCI layout target is ``DIR@sha256:…`` (Trivy selects the entry by digest); Grype's
    ``oci-dir:`` takes the directory alone. The gate then checks that the report's
    manifest digest is the judged one, so a layout holding several images cannot swap it.
    """
    location = target.location
    if target.kind == "oci":
        location = location.rpartition("@")[0] or location
    return _SCHEMES[target.kind] + location


# --------------------------------------------------------------------------- parsing


def parse_report(path: Path, *, archive: bool = False) -> ScanReport:
    """Read a Grype JSON report (``grype -o json``) into a ``ScanReport``, or raise.

    ``archive``: the report is of a ``docker-archive:`` scan (see ``_digests``).
    """
    found: list[Vulnerability] = []
    severities: dict[object, Severity] = {}
    shared: dict[str, str] = {}  # one copy of each repeated string (package, version, …)

    def sink(match: Any, _parents: Parents) -> None:
        found.append(
            _match(match, severities, shared.setdefault) or _vulnerability(match, len(found))
        )

    root = stream_report(path, tool=NAME, arrays={"matches": sink, "ignoredMatches": None})
    if not isinstance(root.get("matches"), list):
        _fail("no `matches` array")
    descriptor = _opt(root, "descriptor", dict, "") or {}
    if descriptor.get("name") != NAME:
        _fail("`descriptor.name` is not grype; is this a Grype JSON report?")
    source = _opt(root, "source", dict, "") or {}
    target = source.get("target")
    return ScanReport(
        scanner=NAME,
        version=_opt(descriptor, "version", str, "descriptor") or "",
        db_built=_db_built(descriptor),
        db_source="grype report (descriptor.db)" if _db_built(descriptor) else "",
        artifact=_artifact(target),
        digests=_digests(target, archive=archive),
        image_id=_image_id(target),
        os=_os(_opt(root, "distro", dict, "") or {}),
        vulnerabilities=tuple(found),
        image_config=_image_config(target),
        secrets_scanned=False,  # Grype never looks for secrets
    )


_fields = ReportFields(NAME)
_fail = _fields.fail
_opt = _fields.opt
_strings = _fields.strings


def _match(
    match: Any, severities: dict[object, Severity], intern: Callable[[str, str], str]
) -> Vulnerability | None:
    """The hot path for one ``matches[]`` entry (~50,000 per big report): well-typed only.

    It reads exactly what ``_vulnerability`` reads, with type checks inlined and no
    position strings built; anything it does not accept (a missing or mistyped field)
    returns None, and ``_vulnerability`` then reads the entry again, either building the
    same finding or raising with the precise position. Strings that repeat from match to
    match (a package's name, version, purl and location, the fix state) are shared
    through ``intern`` (``dict.setdefault``), which keeps a big report's findings well
    under the size of the file.
    """
    if type(match) is not dict:
        return None
    vuln, art, related = (
        match.get("vulnerability"),
        match.get("artifact"),
        match.get("relatedVulnerabilities"),
    )
    if type(vuln) is not dict or type(art) is not dict:
        return None
    vid, fix, urls, source = (
        vuln.get("id"),
        vuln.get("fix"),
        vuln.get("urls"),
        vuln.get("dataSource"),
    )
    name, version, purl, locations, upstreams = (
        art.get("name"),
        art.get("version"),
        art.get("purl"),
        art.get("locations"),
        art.get("upstreams"),
    )
    if not (
        type(vid) is str
        and vid
        and type(name) is str
        and name
        and type(version) is str
        and type(source) in STR_OR_NONE
        and type(purl) in STR_OR_NONE
        and type(fix) in DICT_OR_NONE
        and type(urls) in LIST_OR_NONE
        and type(locations) in LIST_OR_NONE
        and type(related) in LIST_OR_NONE
        and type(upstreams) in LIST_OR_NONE
    ):
        return None
    sources = EMPTY
    if upstreams:
        for entry in upstreams:
            if type(entry) is not dict or type(entry.get("name")) not in STR_OR_NONE:
                return None
        sources = _sources(upstreams, name)
    versions = state = None
    if fix:
        versions, state = fix.get("versions"), fix.get("state")
        if type(versions) not in LIST_OR_NONE or type(state) not in STR_OR_NONE:
            return None
    aliases = EMPTY
    if related:
        ids = []
        for entry in related:
            rid = entry.get("id") if type(entry) is dict else None
            if type(rid) is not str:
                return None
            if rid and rid != vid:
                ids.append(rid)
        aliases = frozenset(ids)
    if versions:
        for item in versions:
            if type(item) is not str:
                return None
        fixed = tuple(versions)
    else:
        fixed = ()
    url = source
    if not url and urls:
        for item in urls:
            if type(item) is not str:
                return None
        url = urls[0]
    elif urls:
        for item in urls:
            if type(item) is not str:
                return None
    path = None
    if locations and type(locations[0]) is dict:
        path = locations[0].get("path")
    severity = vuln.get("severity")
    level = severities.get(severity) if type(severity) is str else None
    if level is None:
        level = Severity.parse(severity)
        if type(severity) is str:
            severities[severity] = level
    return Vulnerability(
        id=vid,
        package=intern(name, name),
        installed=intern(version, version),
        severity=level,
        fixed=fixed,
        aliases=aliases,
        title="",
        status=intern(state, state) if state else "",
        url=url or "",
        purl=intern(purl, purl) if purl else "",
        target=intern(path, path) if type(path) is str else "",
        found_by=_FOUND_BY,
        source_packages=sources,
    )


def _sources(upstreams: list[dict[str, Any]], name: str) -> frozenset[str]:
    """``artifact.upstreams[].name`` other than the package itself (Grype lists ``bash``
    as the upstream of ``bash``): the source package(s) it was built from."""
    return frozenset(u["name"] for u in upstreams if u.get("name") and u["name"] != name)


def _vulnerability(match: Any, n: int) -> Vulnerability:
    """One ``matches[n]`` entry, keeping only what the gate judges on."""
    where = f"matches[{n}]"
    if not isinstance(match, dict):
        _fail(f"`{where}` is not an object")
    vuln = _opt(match, "vulnerability", dict, where)
    art = _opt(match, "artifact", dict, where)
    if vuln is None or art is None:
        _fail(f"`{where}` has no vulnerability or no artifact")
    vid = _opt(vuln, "id", str, f"{where}.vulnerability")
    name = _opt(art, "name", str, f"{where}.artifact")
    version = _opt(art, "version", str, f"{where}.artifact")
    if not vid or not name or version is None:
        _fail(f"`{where}` lacks a vulnerability id, a package name or a version")

    fix = _opt(vuln, "fix", dict, f"{where}.vulnerability") or {}
    aliases = set()
    for related in _opt(match, "relatedVulnerabilities", list, where) or []:
        rid = related.get("id") if isinstance(related, dict) else None
        if not isinstance(rid, str):
            _fail(f"`{where}.relatedVulnerabilities` holds an entry without an id")
        if rid and rid != vid:
            aliases.add(rid)
    urls = _strings(vuln, "urls", f"{where}.vulnerability")
    locations = _opt(art, "locations", list, f"{where}.artifact") or []
    first = locations[0] if locations and isinstance(locations[0], dict) else {}
    path = first.get("path")
    upstreams = _opt(art, "upstreams", list, f"{where}.artifact") or []
    for entry in upstreams:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str | None):
            _fail(f"`{where}.artifact.upstreams` holds an entry that is not {{name}}")
    return Vulnerability(
        id=vid,
        package=name,
        installed=version,
        severity=Severity.parse(vuln.get("severity")),
        fixed=_strings(fix, "versions", f"{where}.vulnerability.fix"),
        aliases=frozenset(aliases),
        status=_opt(fix, "state", str, f"{where}.vulnerability.fix") or "",
        url=_opt(vuln, "dataSource", str, f"{where}.vulnerability") or (urls[0] if urls else ""),
        purl=_opt(art, "purl", str, f"{where}.artifact") or "",
        target=path if isinstance(path, str) else "",
        found_by=_FOUND_BY,
        source_packages=_sources(upstreams, name),
    )


def _db_built(descriptor: Mapping[str, Any]) -> str | None:
    """The DB build time: ``db.built`` (schema ≤ v5) or ``db.status.built`` (v6)."""
    db = descriptor.get("db")
    if not isinstance(db, dict):
        return None
    for holder in (db, db.get("status")):
        built = holder.get("built") if isinstance(holder, dict) else None
        if isinstance(built, str) and built:
            return built
    return None


def _artifact(target: Any) -> str:
    if isinstance(target, str):  # directory and file sources give the path as a string
        return target
    if isinstance(target, dict):
        user_input = target.get("userInput")
        return user_input if isinstance(user_input, str) else ""
    return ""


def _is_digest(text: object) -> bool:
    return isinstance(text, str) and is_digest(text.rpartition("@")[2])


def _digests(target: Any, *, archive: bool = False) -> tuple[str, ...]:
    """``repoDigests`` (``repo@sha256:…``), then the bare ``manifestDigest``.

    Only well-formed sha256/sha512 digests count: redacted or placeholder values
    (``REDACTED``, ``sha256:test``) name no image. The manifest digest is left out for
    ``docker-archive:`` inputs, where Grype's library (stereoscope) synthesises a manifest
    whose digest no registry ever served. Grype 0.120 no longer keeps the scheme in
    ``userInput`` (it holds the bare path), so for its own scans the gate says so
    (``archive``); a saved report is recognised by the older ``docker-archive:`` prefix.
    """
    if not isinstance(target, dict):
        return ()
    repo_digests = target.get("repoDigests")
    listed = repo_digests if isinstance(repo_digests, list) else []
    digests: list[str] = [d for d in listed if _is_digest(d)]
    manifest = target.get("manifestDigest")
    user_input = target.get("userInput")
    archive = archive or (isinstance(user_input, str) and user_input.startswith("docker-archive:"))
    known = {d.rpartition("@")[2] for d in digests}
    if isinstance(manifest, str) and _is_digest(manifest) and not archive and manifest not in known:
        digests.append(manifest)
    return tuple(digests)


def _image_id(target: Any) -> str | None:
    """``source.target.imageID``: the config digest of the image Grype read."""
    image_id = target.get("imageID") if isinstance(target, dict) else None
    return image_id if _is_digest(image_id) and "@" not in str(image_id) else None


def _os(distro: Mapping[str, Any]) -> str | None:
    name, version = distro.get("name"), distro.get("version")
    if not isinstance(name, str) or not name:
        return None
    if isinstance(version, str) and version:
        return f"{name} {version}"
    return name


def _image_config(target: Any) -> Mapping[str, Any] | None:
    """The OCI image config Grype embeds as base64 (``source.target.config``).

    It names the image's user (``config.User``), which feeds the non-root check when
    only reports are given. An embedded config that does not decode is refused rather
    than dropped, so a damaged report cannot quietly lose that evidence.
    """
    if not isinstance(target, dict):
        return None
    raw = target.get("config")
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        _fail("`source.target.config` is not a base64 string")
    try:
        config = json.loads(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        _fail("`source.target.config` is not base64-encoded JSON")
    if not isinstance(config, dict):
        _fail("`source.target.config` is not a JSON object")
    return config
