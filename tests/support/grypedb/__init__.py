"""A tiny offline Grype vulnerability DB (schema v6), written by Grype's own code.

Grype reads ``$GRYPE_DB_CACHE_DIR/6/vulnerability.db`` (SQLite) and validates it against
``6/import.json`` (an xxh64 digest) before every scan. The published DB is hundreds of
megabytes and downloaded from grype.anchore.io; tests instead build one holding just the
advisories they assert on, the same ones as the Trivy DB (:mod:`tests.support.trivydb`), so
both scanners find the same thing.

How, with no SQL of ours:

1. each :class:`~tests.support.trivydb.Advisory` becomes the record vunnel's OS providers
   emit (:func:`vunnel_record`, ``{"Vulnerability": {Name, NamespaceName, Severity,
   FixedIn[]…}}``), the input ``grype-db build`` reads;
2. the Go program ``mkdb`` in this directory (its own module, requiring
   ``github.com/anchore/grype`` at the version of the real binary, so it shares Go's build
   cache with it) runs those records through Grype's OS processor and transformer and its
   v6 writer (``grype/db/v6/build``), which leaves ``vulnerability.db`` as published
   (indexes dropped, vacuumed). It is built once per source change by
   :func:`tests.support.gobuild.build`;
3. the real ``grype db import`` installs it into the cache directory, hydrating it (indexes)
   and writing the ``import.json`` digest, and ``grype db status`` must then say ``valid``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.gobuild import build
from tests.support.trivydb import DEFAULT_ADVISORIES, Advisory

MODULE = Path(__file__).resolve().parent
#: When the test providers' data was "captured" (``descriptor.db.providers`` in reports).
CAPTURED = "2026-11-01T00:00:00Z"

#: Trivy platform family -> (vunnel provider, Grype version format).
_FAMILIES = {"debian": ("debian", "dpkg"), "alpine": ("alpine", "apk")}
_LINKS = {
    "debian": "https://security-tracker.debian.org/tracker/{}",
    "alpine": "https://security.alpinelinux.org/vuln/{}",
}


def vunnel_record(advisory: Advisory, *, aliases: Iterable[str] = ()) -> dict[str, Any]:
    """The vunnel OS record for *advisory* (one source package on one platform).

    ``fixed_version=""`` (affected, no fix) is an empty ``Version``, which Grype's
    transformer stores as ``not-fixed``. *aliases* go to ``Metadata.CVE``, which Grype
    reports as ``relatedVulnerabilities``.
    """
    family, _, release = advisory.platform.partition(" ")
    if family not in _FAMILIES or not release:
        raise ValueError(f"no vunnel provider for platform {advisory.platform!r}")
    namespace = f"{family}:{release}"
    link = _LINKS[family].format(advisory.vuln_id)
    return {
        "Vulnerability": {
            "Name": advisory.vuln_id,
            "NamespaceName": namespace,
            "Severity": advisory.severity.title(),  # vunnel's spelling: High, Unknown, …
            "Link": link,
            "Description": f"Synthetic advisory {advisory.vuln_id} for container-gate tests.",
            "CVSS": [],
            "FixedIn": [
                {
                    "Name": advisory.package,
                    "NamespaceName": namespace,
                    "Version": advisory.fixed_version,
                    "VersionFormat": _FAMILIES[family][1],
                    "VendorAdvisory": {"AdvisorySummary": [], "NoAdvisory": False},
                }
            ],
            "Metadata": {
                "CVE": [
                    {"Name": a, "Link": f"https://nvd.nist.gov/vuln/detail/{a}"} for a in aliases
                ]
            },
        }
    }


def mkdb_request(
    advisories: Iterable[Advisory], aliases: Mapping[str, Iterable[str]] | None = None
) -> dict[str, Any]:
    """``mkdb``'s input: the records of *advisories*, grouped by vunnel provider."""
    providers: dict[str, list[dict[str, Any]]] = {}
    for adv in advisories:
        provider = _FAMILIES.get(adv.platform.partition(" ")[0], ("?", ""))[0]
        record = vunnel_record(adv, aliases=(aliases or {}).get(adv.vuln_id, ()))
        providers.setdefault(provider, []).append(record)
    return {
        "captured": CAPTURED,
        "providers": [{"name": name, "records": recs} for name, recs in providers.items()],
    }


def _run(argv: list[str], what: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, **kwargs)
    if done.returncode != 0:
        pytest.fail(f"{what} failed ({done.returncode}):\n{done.stderr[-4000:]}", pytrace=False)
    return done


def build_grype_db(
    cache_dir: Path,
    env: Mapping[str, str],
    advisories: Iterable[Advisory] = DEFAULT_ADVISORIES,
    *,
    aliases: Mapping[str, Iterable[str]] | None = None,
) -> Path:
    """Install a DB of *advisories* into *cache_dir* (``GRYPE_DB_CACHE_DIR``); return it.

    *env* is the environment ``grype`` runs in (its ``PATH`` finds the real binary); the
    import and the status check run with ``GRYPE_DB_CACHE_DIR`` set to *cache_dir*.
    """
    mkdb = build("mkdb", module=MODULE)
    request = json.dumps(mkdb_request(advisories, aliases))
    grype_env = {**env, "GRYPE_DB_CACHE_DIR": str(cache_dir)}
    with tempfile.TemporaryDirectory(prefix="grypedb-") as tmp:
        _run([str(mkdb), tmp], "mkdb (Grype's v6 DB writer)", input=request)
        db_file = str(Path(tmp) / "vulnerability.db")
        _run(["grype", "-q", "db", "import", db_file], "grype db import", env=grype_env)
    status = json.loads(
        _run(["grype", "db", "status", "-o", "json"], "grype db status", env=grype_env).stdout
    )
    if status.get("valid") is not True:
        pytest.fail(f"grype does not accept the test DB: {status}", pytrace=False)
    return Path(cache_dir)
