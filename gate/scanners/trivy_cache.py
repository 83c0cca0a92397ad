"""Trivy's reports kept for the next run: an image already scanned by the same Trivy, with the
same DB and the same settings, is not scanned again.

Why: in a monorepo most images are unchanged from one pipeline to the next, and a re-run
job judges the very images it judged before. Trivy's layer cache already spares them the
analysis, but every scan still starts Trivy, opens the DB and detects again, and the answer
cannot differ: a Trivy report is a function of the image's content (pinned by its digest),
Trivy's binary, its two DBs and its settings. The key (``report_key``) holds all four:

- the image as Trivy is told to read it (``repo@sha256:…`` and ``--platform``: only
  registry images are kept, since an archive's path says nothing of its content);
- the executable Trivy runs from (its real path, size and modification time: an upgrade
  replaces the file);
- the vulnerability DB and the Java DB as Trivy reads them from its cache directory: each
  ``metadata.json`` byte for byte, and the size and modification time of the DB file (not
  the inode: the Action restores the cache on a new machine, with the times kept);
- the whole command line except what is this run's own (the report's temporary path, the
  empty module directory, the timeout, where layer analyses are kept), and every
  ``TRIVY_*`` variable Trivy is given except credentials (which decide access, not
  findings; the gate resolves the digest with them itself before any lookup).

Two rules keep a kept report from outliving the DB it was made with:

- **kept** only when the DBs after the scan are the ones before it (a scan that
  downloaded a DB is not kept under the old DB's key);
- **reused** only when a scan now would not update either DB either, as Trivy decides
  (``pkg/db``'s ``NeedsUpdate``): the run skips the update (``TRIVY_SKIP_DB_UPDATE``,
  ``TRIVY_SKIP_JAVA_DB_UPDATE``, read as Go's ``strconv.ParseBool``), or the DB's
  ``NextUpdate`` is still ahead. Trivy also skips an update within an hour of a download;
  the gate does not count on that and scans instead. An absent Java DB is fine: a report
  kept under "no Java DB" came from a scan that did not fetch one, so the image has no
  Java archive to look up.

Where: ``fanal/container-gate/`` in Trivy's cache directory, beside the layer analyses:
``trivy clean --scan-cache`` removes both, the Action caches both under one key, and they
are equally trusted (whoever can write the cache directory can already forge Trivy's
analyses). A kept report is read like a fresh one: schema, types, and the image it names
(``gate.provenance``). Entries are written whole (a temporary file renamed into place),
and those not used for ``MAX_AGE`` are removed. Only runs that keep layer analyses keep
reports: the fs backend (the gate's default), or the local server; not
``TRIVY_CACHE_BACKEND=memory`` or ``redis://``, and not an organisation's server, whose DB
the gate cannot see. ``--rescan`` turns it off for one run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gate import rfc3339

SUBDIRECTORY = ("fanal", "container-gate")
"""Where kept reports live inside Trivy's cache directory."""

KEY_VERSION = "container-gate/trivy-report/1"
MAX_AGE = 7 * 24 * 3600.0
"""Seconds a kept report survives without being used."""

_RUN_OWN_VALUES = frozenset({"--output", "--module-dir", "--timeout", "--server"})
"""Flags whose value belongs to this run, not to what is found: left out of the key."""
_RUN_OWN_FLAGS = frozenset({"--cache-backend"})
"""Where analyses are kept: the same findings either way."""
_CREDENTIALS = frozenset(
    {"TRIVY_USERNAME", "TRIVY_PASSWORD", "TRIVY_REGISTRY_TOKEN", "TRIVY_TOKEN"}
)

_DBS = (("db", "trivy.db"), ("java-db", "trivy-java.db"))
"""Trivy's two DBs: the subdirectory of its cache directory, and the bolt file there."""
_SKIP_VARIABLES = {
    "db": ("TRIVY_SKIP_DB_UPDATE", "TRIVY_SKIP_UPDATE"),
    "java-db": ("TRIVY_SKIP_JAVA_DB_UPDATE",),
}
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
"""What Go's ``strconv.ParseBool`` reads as true (how Trivy's flags read a variable)."""


def cache_directory(env: Mapping[str, str]) -> Path | None:
    """Trivy's cache directory for a scan run with ``env``: ``TRIVY_CACHE_DIR``, else
    ``os.UserCacheDir()/trivy`` as Go computes it on Linux (``$XDG_CACHE_HOME``, else
    ``$HOME/.cache``). None where the gate cannot be sure (another OS, a relative path): no
    report is kept or reused then."""
    explicit = env.get("TRIVY_CACHE_DIR")
    if explicit:
        return Path(explicit) if os.path.isabs(explicit) else None
    if not sys.platform.startswith("linux"):
        return None
    base = env.get("XDG_CACHE_HOME") or (env["HOME"] + "/.cache" if env.get("HOME") else "")
    return Path(base) / "trivy" if os.path.isabs(base) else None


@dataclass(frozen=True)
class DbFiles:
    """One of Trivy's DBs as its cache directory holds it (None: not there)."""

    metadata: bytes | None
    file: tuple[int, int] | None
    """The DB file's size and modification time (ns)."""

    @property
    def present(self) -> bool:
        return self.metadata is not None and self.file is not None

    def field(self, name: str) -> str | None:
        try:
            value = json.loads(self.metadata) if self.metadata else None
        except ValueError:
            return None
        found = value.get(name) if isinstance(value, dict) else None
        return found if isinstance(found, str) and found else None


@dataclass(frozen=True)
class DbState:
    """Trivy's two DBs in one cache directory, read just before or after a scan."""

    vulnerability: DbFiles
    java: DbFiles

    @property
    def updated_at(self) -> str | None:
        """The vulnerability DB's build time (``metadata.json``'s ``UpdatedAt``)."""
        return self.vulnerability.field("UpdatedAt")

    def settled(self, env: Mapping[str, str], now: datetime) -> bool:
        """Whether a Trivy scan now would leave both DBs as they are (``NextUpdate`` still
        ahead, or the update skipped); with a Java DB absent, see the module docstring."""
        for name, files in (("db", self.vulnerability), ("java-db", self.java)):
            if name == "java-db" and files.metadata is None and files.file is None:
                continue
            if not files.present:
                return False
            if any(env.get(v, "") in _GO_TRUE for v in _SKIP_VARIABLES[name]):
                continue
            next_update = rfc3339.parse(files.field("NextUpdate") or "")
            if next_update is None or next_update <= now:
                return False
        return True

    def identity(self) -> dict[str, object]:
        return {
            name: {
                "metadata": f.metadata.decode("utf-8", "replace") if f.metadata else None,
                "file": f.file,
            }
            for name, f in (("db", self.vulnerability), ("java-db", self.java))
        }


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def read_state(cache_dir: Path) -> DbState:
    """The DBs in ``cache_dir`` (``db/metadata.json``, ``db/trivy.db``, and the Java DB's)."""
    vuln, java = (
        DbFiles(_read(cache_dir / sub / "metadata.json"), _stat(cache_dir / sub / name))
        for sub, name in _DBS
    )
    return DbState(vuln, java)


def executable_identity(argv0: str, env: Mapping[str, str]) -> tuple[str, int, int] | None:
    """The file ``argv0`` runs from on ``env``'s PATH (as ``run_tool`` finds it)."""
    found = shutil.which(argv0, path=env.get("PATH", os.defpath))
    if found is None:
        return None
    real = os.path.realpath(found)
    st = _stat(Path(real))
    return None if st is None else (real, *st)


def report_key(
    argv: Sequence[str],
    env: Mapping[str, str],
    executable: tuple[str, int, int],
    state: DbState,
) -> str:
    """The key a report is kept under (see the module docstring for what it holds)."""
    kept: list[str] = []
    skip_value = False
    for arg in argv[1:]:
        if skip_value:
            skip_value = False
            continue
        if arg in _RUN_OWN_VALUES or arg in _RUN_OWN_FLAGS:
            skip_value = True
            continue
        kept.append(arg)
    document = {
        "key": KEY_VERSION,
        "argv": kept,
        "env": sorted(
            (k, v) for k, v in env.items() if k.startswith("TRIVY_") and k not in _CREDENTIALS
        ),
        "executable": executable,
        "dbs": state.identity(),
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class ReportCache:
    """Kept reports, one file per key, in ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def in_trivy_cache(cls, cache_dir: Path) -> ReportCache:
        return cls(cache_dir.joinpath(*SUBDIRECTORY))

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str) -> Path | None:
        """The report kept under ``key``, marked as used now; None if there is none."""
        path = self._path(key)
        try:
            os.utime(path)
        except OSError:  # absent, or a cache mounted read-only (then only read)
            return path if path.is_file() else None
        return path

    def discard(self, key: str) -> None:
        with contextlib.suppress(OSError):
            self._path(key).unlink()

    def put(self, key: str, report: Path) -> None:
        """Keep a copy of ``report`` under ``key``; a cache that cannot be written is skipped
        (it only saves time)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "wb") as out, report.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                os.replace(tmp, self._path(key))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError:
            return
        self.prune()

    def prune(self, now: float | None = None) -> None:
        """Remove reports (and abandoned temporary files) unused for ``MAX_AGE``."""
        cutoff = (time.time() if now is None else now) - MAX_AGE
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.name.endswith(".json") and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
