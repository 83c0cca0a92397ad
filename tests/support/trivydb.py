"""A tiny offline Trivy vulnerability DB (schema v2), written from Python with no network.

Trivy reads ``$TRIVY_CACHE_DIR/db/trivy.db`` (a BoltDB file) and ``db/metadata.json``. The
real DB is hundreds of megabytes and downloaded from ghcr.io; tests instead write one with
just the advisories they assert on, so results are exact and runs stay offline.

Choice of writer: a minimal BoltDB writer of our own (:func:`write_bolt`) rather than PyPI
``boltdb==0.0.2``. That package writes a zero meta checksum which Trivy rejects, so it needs a
post-hoc patch anyway, and it would be one more test dependency. The file format is small
(as in etcd-io/bbolt ``internal/common``): two meta pages, a freelist page, and one leaf page
per bucket; every bucket, nested or not, gets its own page (with overflow pages when large),
so no branch pages or inline buckets are needed. Keys are sorted bytewise, as bbolt's cursor
seeks require.

The DB layout mirrors aquasecurity/trivy-db: bucket ``<platform>`` (``debian 12``) → bucket
``<source package>`` → ``CVE id: {"FixedVersion": ...}``; bucket ``vulnerability`` → ``CVE id:
details``; bucket ``data-source`` → ``<platform>: {"ID": "debian", ...}``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

PAGE_SIZE = 4096
_MAGIC = 0xED0CDAED
_VERSION = 2
_BRANCH, _LEAF, _META, _FREELIST = 0x01, 0x02, 0x04, 0x10
_BUCKET_LEAF_FLAG = 0x01
_HEADER = struct.Struct("<QHHI")  # page id, flags, count, overflow
_ELEMENT = struct.Struct("<IIII")  # flags, pos (relative to element), key size, value size
_BUCKET = struct.Struct("<QQ")  # root page id, sequence

#: A bucket maps keys to values (bytes) or to nested buckets.
Bucket = dict[bytes, Union[bytes, "Bucket"]]

DEBIAN_12 = "debian 12"
SEVERITY_INTS = {"UNKNOWN": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}


def _fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def _meta_page(pgid: int, *, root: int, freelist: int, high_water: int, txid: int) -> bytes:
    meta = struct.pack(
        "<IIIIQQQQQ", _MAGIC, _VERSION, PAGE_SIZE, 0, root, 0, freelist, high_water, txid
    )
    meta += struct.pack("<Q", _fnv1a64(meta))
    return _HEADER.pack(pgid, _META, 0, 0) + meta


class _Pager:
    """Allocates page ids and collects serialised pages."""

    def __init__(self, first_free: int) -> None:
        self.next_id = first_free
        self.pages: dict[int, bytes] = {}

    def write_bucket(self, bucket: Bucket) -> int:
        items = sorted(bucket.items())
        size = _HEADER.size + sum(
            _ELEMENT.size + len(k) + (_BUCKET.size if isinstance(v, dict) else len(v))
            for k, v in items
        )
        npages = -(-size // PAGE_SIZE)
        pgid, self.next_id = self.next_id, self.next_id + npages
        elements, data = b"", b""
        for i, (key, value) in enumerate(items):
            if isinstance(value, dict):
                flags, raw = _BUCKET_LEAF_FLAG, _BUCKET.pack(self.write_bucket(value), 0)
            else:
                flags, raw = 0, value
            pos = _ELEMENT.size * (len(items) - i) + len(data)
            elements += _ELEMENT.pack(flags, pos, len(key), len(raw))
            data += key + raw
        page = _HEADER.pack(pgid, _LEAF, len(items), npages - 1) + elements + data
        self.pages[pgid] = page.ljust(npages * PAGE_SIZE, b"\0")
        return pgid


def write_bolt(path: Path, buckets: Bucket) -> None:
    """Write *buckets* (top level must be buckets only) as a BoltDB file at *path*."""
    if not all(isinstance(v, dict) for v in buckets.values()):
        raise ValueError("BoltDB's root may hold only buckets")
    pager = _Pager(first_free=3)
    root = pager.write_bucket(buckets)
    high_water = pager.next_id
    pages = [
        _meta_page(0, root=root, freelist=2, high_water=high_water, txid=0),
        _meta_page(1, root=root, freelist=2, high_water=high_water, txid=1),
        _HEADER.pack(2, _FREELIST, 0, 0),
    ]
    out = b"".join(p.ljust(PAGE_SIZE, b"\0") for p in pages)
    out += b"".join(pager.pages[i] for i in sorted(pager.pages))
    assert len(out) == high_water * PAGE_SIZE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out)


@dataclass(frozen=True)
class Advisory:
    """One vulnerability affecting a source package on a platform."""

    vuln_id: str
    package: str  # source package name (dpkg ``Source:``, apk ``o:``)
    severity: str  # UNKNOWN | LOW | MEDIUM | HIGH | CRITICAL
    fixed_version: str = ""  # "" means affected, no fix
    platform: str = DEBIAN_12
    title: str = ""
    cvss_score: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def detail(self) -> dict[str, Any]:
        """Value for the ``vulnerability`` bucket (vendor severity wins, as in trivy-db)."""
        source = self.platform.split()[0]
        doc: dict[str, Any] = {
            "Title": self.title or f"{self.package}: test vulnerability {self.vuln_id}",
            "Description": f"Synthetic advisory {self.vuln_id} for container-gate tests.",
            "Severity": self.severity,
            "VendorSeverity": {source: SEVERITY_INTS[self.severity]},
            "References": [f"https://security-tracker.debian.org/tracker/{self.vuln_id}"],
        }
        if self.cvss_score is not None:
            doc["CVSS"] = {
                "nvd": {
                    "V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    "V3Score": self.cvss_score,
                }
            }
        doc.update(self.extra)
        return doc


# Default advisories (platform "debian 12"); tests assert on these ids.
OPENSSL_HIGH = Advisory("CVE-2026-0001", "openssl", "HIGH", "3.0.15-1~deb12u1", cvss_score=7.5)
ZLIB_CRITICAL = Advisory(
    "CVE-2026-0002", "zlib", "CRITICAL", "1:1.2.13.dfsg-1+deb12u1", cvss_score=9.8
)
CURL_MEDIUM_UNFIXED = Advisory("CVE-2026-0003", "curl", "MEDIUM")
BASH_LOW = Advisory("CVE-2026-0004", "bash", "LOW", "5.2.15-2+deb12u1")
TAR_UNKNOWN = Advisory("CVE-2026-0005", "tar", "UNKNOWN", "1.34+dfsg-1.2+deb12u1")
DEFAULT_ADVISORIES = (OPENSSL_HIGH, ZLIB_CRITICAL, CURL_MEDIUM_UNFIXED, BASH_LOW, TAR_UNKNOWN)

#: ``(package, source, version)`` rows for :func:`tests.support.rootfs.debian_rootfs` that
#: are affected by every default advisory, plus one clean package.
VULNERABLE_DEBIAN_PACKAGES = [
    ("libssl3", "openssl", "3.0.11-1~deb12u2"),
    ("openssl", "openssl", "3.0.11-1~deb12u2"),
    ("zlib1g", "zlib", "1:1.2.13.dfsg-1"),
    ("curl", "curl", "7.88.1-10+deb12u5"),
    ("bash", "bash", "5.2.15-2+b2"),
    ("tar", "tar", "1.34+dfsg-1.2"),
    ("base-files", "base-files", "12.4+deb12u5"),
]
#: The same packages at their fixed versions (curl, unfixed upstream, left out): no findings.
CLEAN_DEBIAN_PACKAGES = [
    ("libssl3", "openssl", "3.0.15-1~deb12u1"),
    ("zlib1g", "zlib", "1:1.2.13.dfsg-1+deb12u1"),
    ("bash", "bash", "5.2.15-2+deb12u1"),
    ("tar", "tar", "1.34+dfsg-1.2+deb12u1"),
    ("base-files", "base-files", "12.4+deb12u5"),
]
#: Findings Trivy reports for VULNERABLE_DEBIAN_PACKAGES: (vuln id, binary package, severity).
EXPECTED_DEBIAN_FINDINGS = frozenset(
    {
        ("CVE-2026-0001", "libssl3", "HIGH"),
        ("CVE-2026-0001", "openssl", "HIGH"),
        ("CVE-2026-0002", "zlib1g", "CRITICAL"),
        ("CVE-2026-0003", "curl", "MEDIUM"),
        ("CVE-2026-0004", "bash", "LOW"),
        ("CVE-2026-0005", "tar", "UNKNOWN"),
    }
)

_DATA_SOURCES = {
    "debian": {
        "ID": "debian",
        "Name": "Debian Security Tracker",
        "URL": "https://salsa.debian.org/security-tracker-team/security-tracker",
    },
    "alpine": {"ID": "alpine", "Name": "Alpine Secdb", "URL": "https://secdb.alpinelinux.org/"},
}


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True).encode()


def db_buckets(advisories: Iterable[Advisory], *, with_vulnerability_bucket: bool = True) -> Bucket:
    """The trivy-db v2 bucket tree for *advisories*."""
    platforms: Bucket = {}
    details: Bucket = {}
    sources: Bucket = {}
    for adv in advisories:
        platform = platforms.setdefault(adv.platform.encode(), {})
        assert isinstance(platform, dict)
        package = platform.setdefault(adv.package.encode(), {})
        assert isinstance(package, dict)
        package[adv.vuln_id.encode()] = _json({"FixedVersion": adv.fixed_version})
        details[adv.vuln_id.encode()] = _json(adv.detail())
        family = adv.platform.split()[0]
        sources[adv.platform.encode()] = _json(_DATA_SOURCES.get(family, {"ID": family}))
    buckets: Bucket = {**platforms, b"data-source": sources}
    if with_vulnerability_bucket:
        buckets[b"vulnerability"] = details
    return buckets


def build_trivy_cache(
    cache_dir: Path,
    advisories: Iterable[Advisory] = DEFAULT_ADVISORIES,
    *,
    broken: bool = False,
) -> Path:
    """Write ``cache_dir/db/{trivy.db,metadata.json}``; return *cache_dir* (TRIVY_CACHE_DIR).

    ``broken=True`` omits the ``vulnerability`` bucket: Trivy then panics (exit code 2) as
    soon as it finds an affected package, a ready-made scanner-crash fixture.
    """
    db_dir = Path(cache_dir) / "db"
    write_bolt(db_dir / "trivy.db", db_buckets(advisories, with_vulnerability_bucket=not broken))
    metadata = {
        "Version": 2,
        "NextUpdate": "2036-01-01T00:00:00Z",
        "UpdatedAt": "2026-11-01T00:00:00Z",
        "DownloadedAt": "2026-11-01T00:00:00Z",
    }
    (db_dir / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return Path(cache_dir)
