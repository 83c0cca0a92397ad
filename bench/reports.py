"""Big, realistic scanner reports for the benchmark, written without holding them in memory.

Realistic in shape, not only in fields: an image has a few thousand packages, each
installed at one version and affected by many CVEs (here 2,000 packages, 25 CVEs each), so
the merge sees what it sees in real reports: many findings per (package, version).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.grype import grype_match, grype_report

_SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL", "UNKNOWN")


PACKAGES = 2000


def _version(i: int) -> str:
    """The one installed version of package ``i % PACKAGES``."""
    return f"1.{i % PACKAGES % 50}.0-1"


def _trivy_finding(i: int) -> dict[str, object]:
    package = f"lib{i % PACKAGES}"
    vid = f"CVE-2026-{i:05d}"
    return {
        "VulnerabilityID": vid,
        "VendorIDs": [f"DSA-{5000 + i % 900}-1"],
        "PkgID": f"{package}@{_version(i)}",
        "PkgName": package,
        "PkgIdentifier": {
            "PURL": f"pkg:deb/debian/{package}@{_version(i)}?arch=amd64&distro=debian-12.5",
            "UID": f"{i:016x}",
        },
        "InstalledVersion": _version(i),
        "FixedVersion": _version(i).replace(".0-1", ".1-1") if i % 3 else "",
        "Status": "fixed" if i % 3 else "affected",
        "Layer": {"Digest": "sha256:" + "a" * 64, "DiffID": "sha256:" + "b" * 64},
        "SeveritySource": "debian",
        "PrimaryURL": f"https://avd.aquasec.com/nvd/{vid.lower()}",
        "DataSource": {
            "ID": "debian",
            "Name": "Debian Security Tracker",
            "URL": "https://salsa.debian.org/security-tracker-team/security-tracker",
        },
        "Title": f"{package}: buffer overflow in the parser of component {i % 97}",
        "Description": "A flaw was found in the parser. " * 8,
        "Severity": _SEVERITIES[i % len(_SEVERITIES)],
        "CweIDs": ["CWE-787"],
        "VendorSeverity": {"debian": 1 + i % 4, "nvd": 1 + (i + 1) % 4},
        "CVSS": {
            "nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "V3Score": 9.8}
        },
        "References": [
            f"https://security-tracker.debian.org/tracker/{vid}",
            f"https://nvd.nist.gov/vuln/detail/{vid}",
        ],
        "PublishedDate": "2026-01-01T00:00:00Z",
        "LastModifiedDate": "2026-02-01T00:00:00Z",
    }


def write_trivy_report(path: Path, findings: int) -> Path:
    head = {
        "SchemaVersion": 2,
        "CreatedAt": "2026-11-28T00:00:00Z",
        "ArtifactName": "bench/app:v1",
        "ArtifactType": "container_image",
        "Metadata": {
            "OS": {"Family": "debian", "Name": "12.5"},
            "ImageConfig": {"config": {"User": "1000"}},
        },
    }
    targets = 10
    with path.open("w") as out:
        out.write(json.dumps(head)[:-1] + ', "Results": [')
        for t in range(targets):
            out.write(
                ("," if t else "")
                + json.dumps({"Target": f"target {t}", "Class": "os-pkgs", "Type": "debian"})[:-1]
            )
            out.write(', "Vulnerabilities": [')
            per = range(t * findings // targets, (t + 1) * findings // targets)
            out.write(",".join(json.dumps(_trivy_finding(i)) for i in per))
            out.write("]}")
        out.write("]}")
    return path


def write_grype_report(path: Path, target_bytes: int) -> Path:
    """A Grype report of about ``target_bytes``: realistic matches repeated to that size."""
    doc = grype_report([])
    head, _, tail = json.dumps(doc).partition('"matches": []')
    written = 0
    with path.open("w") as out:
        out.write(head + '"matches": [')
        i = 0
        while written < target_bytes:
            match = grype_match(
                f"CVE-2026-{i:05d}",
                f"lib{i % PACKAGES}",
                _version(i),
                ("Negligible", "Low", "Medium", "High", "Critical")[i % 5],
                fixed=(_version(i).replace(".0-1", ".1-1"),) if i % 3 else (),
                related=(f"GHSA-{i:04x}-aaaa-bbbb",),
            )
            text = ("," if i else "") + json.dumps(match)
            out.write(text)
            written += len(text)
            i += 1
        out.write("]" + tail)
    return path
