"""Run a scanner so that nothing outside the policy changes what it finds or how it rates it.

Besides its command line, each scanner reads settings that can drop or downgrade findings
without a trace in its report: Trivy reads ``trivy.yaml``, ``.trivyignore`` and
``trivy-secret.yaml`` from its working directory, WASM modules from ``~/.trivy/modules``,
and a ``TRIVY_<FLAG>`` variable for every flag; Grype searches ``.grype.yaml``,
``.grype/config.yaml``, ``~/.grype.yaml`` and ``<XDG config dir>/grype/config.yaml`` and
reads ``GRYPE_*`` variables. So every scan:

- runs in a **private, empty working directory** (a fresh temporary directory per run);
- gets every setting that decides findings **on its command line**, which both scanners
  rank above variables and config files (viper's order: flag, env, config, default), and
  an explicit empty config, which stops the config file search;
- sees none of its own variables except an **allowlist** (``TRIVY_ENV_ALLOWED``,
  ``GRYPE_ENV_ALLOWED``) of what is needed to reach the vulnerability DB and the registry.

``HOME`` and ``XDG_*`` are left as they are: the registry keychain both scanners use
(go-containerregistry's ``authn.DefaultKeychain``: ``~/.docker/config.json``,
``$XDG_CONFIG_HOME/containers/auth.json``), credential helpers and cloud SDK logins read
them. Nothing under them reaches the verdict once the flags above are pinned: Grype's
user-level configs are part of the search ``-c`` replaces, Trivy's WASM modules are
loaded from ``--module-dir`` only, and the other home lookups in Trivy's source (``~/.m2``,
``~/.gradle``, ``GOPATH``…) belong to lock-file analyzers that ``trivy image`` turns off.
What was set but ignored is named in the report (never its value: it may be a secret), so
a config that used to "work" does not stop working silently.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from gate.scanners._process import read_output, run_tool

T = TypeVar("T")

_PATH_VARIABLES = frozenset({"SSL_CERT_FILE", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE"})
"""Non-scanner variables holding one path the scanner reads to reach a registry or a DB."""

_PATH_LIST_VARIABLES = frozenset({"PATH", "SSL_CERT_DIR"})
"""Non-scanner variables holding a ``:``-separated list of paths (an empty entry is ``.``)."""


@dataclass(frozen=True)
class Invocation:
    """Everything a scanner run depends on besides the image: argv, environment, directory.

    Built by a pure function per scanner, so tests can hand exactly this to the real tool.
    ``env`` is the child's *whole* environment, not a layer over the gate's.
    """

    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path


@dataclass(frozen=True)
class Workspace:
    """A scan's private directory: its report, its empty working directory, empty inputs."""

    root: Path

    @classmethod
    def create(cls, root: Path) -> Workspace:
        """Lay out ``root`` (a temporary directory the caller owns and removes)."""
        (root / "cwd").mkdir(parents=True)
        (root / "empty").mkdir()
        (root / "empty.yaml").write_bytes(b"")
        return cls(root)

    @property
    def cwd(self) -> Path:
        """The scanner's working directory: empty, so it finds no config file there."""
        return self.root / "cwd"

    @property
    def empty_dir(self) -> Path:
        """An empty directory, for settings that name a directory to load things from."""
        return self.root / "empty"

    def report(self, tool: str) -> Path:
        """Where ``tool`` writes its JSON report."""
        return self.root / f"{tool}.json"

    @property
    def empty_file(self) -> Path:
        """An empty config file: passing it explicitly stops a scanner's config search."""
        return self.root / "empty.yaml"


def run_isolated(
    tool: str,
    *,
    timeout: float,
    invocation: Callable[[Workspace, Mapping[str, str], Path], Invocation],
    parse: Callable[[Path], T],
) -> T:
    """Run ``tool`` in a fresh private workspace and parse the report it wrote there.

    ``invocation(workspace, environ, cwd)`` is the scanner's pure description of the run
    (from the gate's environment and working directory); the report is
    ``workspace.report(tool)``. The workspace is removed afterwards, whatever happens.
    """
    with tempfile.TemporaryDirectory(prefix=f"gate-{tool}-") as tmp:
        workspace = Workspace.create(Path(tmp))
        run = invocation(workspace, os.environ, Path.cwd())
        done = run_tool(
            run.argv, tool=tool, timeout=timeout, env=run.env, inherit_env=False, cwd=run.cwd
        )
        return read_output(done, workspace.report(tool), tool=tool, parse=parse)


def _absolute(value: str, base: Path) -> str:
    """``value`` made absolute against ``base`` (the gate's working directory).

    The scanner runs elsewhere, so a relative path would silently point into its empty
    directory. ``~`` paths are left for the scanner to expand, as before.
    """
    if value.startswith("~") or os.path.isabs(value):
        return value
    return os.path.join(base, value) if value else str(base)


def _is_scanner_variable(name: str, prefix: str) -> bool:
    # Go reads variables case-sensitively; any case variant is still dropped, to be safe.
    return name.upper().startswith(prefix)


def scanner_environment(
    environ: Mapping[str, str],
    *,
    prefix: str,
    allowed: frozenset[str],
    paths: frozenset[str],
    cwd: Path,
) -> dict[str, str]:
    """The child's environment: ``environ`` without the scanner's own non-allowlisted variables.

    Every variable that does not start with ``prefix`` passes (proxies, ``HOME``,
    ``DOCKER_CONFIG``, ``SSL_CERT_FILE``, cloud credentials…). Path-valued ones
    (``paths`` and the few general ones) are made absolute against ``cwd``.
    """
    env: dict[str, str] = {}
    for name, value in environ.items():
        if _is_scanner_variable(name, prefix) and name not in allowed:
            continue
        if name in paths or name in _PATH_VARIABLES:
            value = _absolute(value, cwd) if value else value
        elif name in _PATH_LIST_VARIABLES:
            value = os.pathsep.join(_absolute(part, cwd) for part in value.split(os.pathsep))
        env[name] = value
    return env


def ignored_variables(
    environ: Mapping[str, str], *, prefix: str, allowed: frozenset[str]
) -> list[str]:
    """The names (never the values) of the scanner's variables the gate drops, sorted."""
    return sorted(n for n in environ if _is_scanner_variable(n, prefix) and n not in allowed)


def existing_files(candidates: Iterable[Path]) -> list[Path]:
    """The candidates that exist, in order, each once."""
    seen: list[Path] = []
    for path in candidates:
        if path not in seen and path.is_file():
            seen.append(path)
    return seen


def ignored_note(tool: str, ignored: Iterable[str]) -> str | None:
    """The report line naming what was ignored, or None when nothing was."""
    names = list(ignored)
    if not names:
        return None
    return (
        f"{tool}: ignored {', '.join(names)}: the policy decides what is found and how it is "
        f"rated; only settings that reach the vulnerability DB and the registry pass to {tool}"
    )
