"""Grype JSON builders shaped like grype 0.8x/0.9x output (field for field from its presenter
model), including the base64 image config and manifest. Used by the stub-Grype tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

DIGEST = "sha256:" + hashlib.sha256(b"manifest").hexdigest()
INDEX_DIGEST = "sha256:" + hashlib.sha256(b"index").hexdigest()
REPO = "127.0.0.1:5000/app"


def b64json(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def grype_match(
    vid: str,
    package: str = "openssl",
    version: str = "3.0.11-1~deb12u2",
    severity: str | None = "High",
    *,
    fixed: tuple[str, ...] = (),
    state: str | None = None,
    related: tuple[str, ...] = (),
    path: str = "/var/lib/dpkg/status",
) -> dict[str, Any]:
    """One ``matches[]`` entry as grype prints it for a Debian package."""
    vulnerability: dict[str, Any] = {
        "id": vid,
        "dataSource": f"https://security-tracker.debian.org/tracker/{vid}",
        "namespace": "debian:distro:debian:12",
        "urls": [f"https://security-tracker.debian.org/tracker/{vid}"],
        "cvss": [],
        "fix": {"versions": list(fixed), "state": state or ("fixed" if fixed else "not-fixed")},
        "advisories": [],
    }
    if severity is not None:
        vulnerability["severity"] = severity
    return {
        "vulnerability": vulnerability,
        "relatedVulnerabilities": [
            {
                "id": r,
                "dataSource": f"https://nvd.nist.gov/vuln/detail/{r}",
                "namespace": "nvd:cpe",
                "severity": severity or "Unknown",
                "urls": [],
                "description": "An advisory.",
                "cvss": [
                    {
                        "source": "nvd@nist.gov",
                        "type": "Primary",
                        "version": "3.1",
                        "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
                        "metrics": {
                            "baseScore": 7.5,
                            "exploitabilityScore": 3.9,
                            "impactScore": 3.6,
                        },
                        "vendorMetadata": {},
                    }
                ],
            }
            for r in related
        ],
        "matchDetails": [
            {
                "type": "exact-indirect-match",
                "matcher": "dpkg-matcher",
                "searchedBy": {
                    "distro": {"type": "debian", "version": "12"},
                    "namespace": "debian:distro:debian:12",
                    "package": {"name": package, "version": version},
                },
                "found": {"vulnerabilityID": vid, "versionConstraint": "< 3.0.13-1 (deb)"},
            }
        ],
        "artifact": {
            "id": hashlib.sha256(f"{package}{version}{path}".encode()).hexdigest()[:16],
            "name": package,
            "version": version,
            "type": "deb",
            "locations": [{"path": path, "layerID": "sha256:" + "1" * 64}],
            "language": "",
            "licenses": ["Apache-2.0"],
            "cpes": [f"cpe:2.3:a:{package}:{package}:{version}:*:*:*:*:*:*:*"],
            "purl": f"pkg:deb/debian/{package}@{version}?arch=amd64&distro=debian-12",
            "upstreams": [],
        },
    }


def grype_report(
    matches: list[Any],
    *,
    user: str | None = "1001",
    db: str = "v6",
    user_input: str = f"{REPO}@{DIGEST}",
    repo_digests: tuple[str, ...] = (f"{REPO}@{INDEX_DIGEST}",),
) -> dict[str, Any]:
    """A whole ``grype -o json`` document for an image scanned from a registry."""
    config: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-11-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/app"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "2" * 64]},
    }
    if user is not None:
        config["config"]["User"] = user
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 1},
        "layers": [],
    }
    db_status: dict[str, Any]
    if db == "v6":
        db_status = {
            "status": {
                "schemaVersion": "v6.0.2",
                "from": "https://grype.anchore.io/databases/v6/vulnerability-db_v6.0.2.tar.zst",
                "built": "2026-11-01T04:36:17Z",
                "path": "/home/ci/.cache/grype/db/6/vulnerability.db",
                "valid": True,
            },
            "providers": {"debian": {"captured": "2026-11-01T01:00:00Z"}},
        }
    else:
        db_status = {
            "built": "2024-02-22T01:23:26Z",
            "schemaVersion": 5,
            "location": "/home/ci/.cache/grype/db/5",
            "checksum": "sha256:" + "3" * 64,
            "error": None,
        }
    return {
        "matches": matches,
        "ignoredMatches": [
            {"match": "ignored entries are never judged", "appliedIgnoreRules": []},
        ],
        "source": {
            "type": "image",
            "target": {
                "userInput": user_input,
                "imageID": "sha256:" + hashlib.sha256(json.dumps(config).encode()).hexdigest(),
                "manifestDigest": DIGEST,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "tags": [],
                "imageSize": 1234,
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": "sha256:" + "2" * 64,
                        "size": 1234,
                    }
                ],
                "manifest": b64json(manifest),
                "config": b64json(config),
                "repoDigests": list(repo_digests),
                "architecture": "amd64",
                "os": "linux",
            },
        },
        "distro": {"name": "debian", "version": "12", "idLike": []},
        "descriptor": {
            "name": "grype",
            "version": "0.86.1",
            "configuration": {"output": ["json"], "file": "/tmp/out.json"},
            "db": db_status,
            "timestamp": "2026-11-28T12:00:00Z",
        },
    }
