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


_LONG_TEXT = (
    'In the "parser" component, a crafted input can trigger an out-of-bounds write '
    "when the length field exceeds the buffer.\nAn attacker who controls the input "
    "could execute code or crash the process; see the advisory for affected versions. "
)


def _wide_finding(i: int) -> dict[str, object]:
    """A finding of the other shape: its own package, long text, 1 in 5 critical."""
    package = f"pkg-{i}-{'x' * (i % 17)}"
    version = f"{i % 97}.{i % 13}.{i % 7}-{i % 5}"
    vid = f"CVE-2025-{i + 10000}"
    finding = _trivy_finding(i)
    finding.update(
        {
            "VulnerabilityID": vid,
            "VendorIDs": [f"GHSA-{i:04x}-{i % 9973:04x}-abcd", f"DLA-{3000 + i}-1"],
            "PkgID": f"{package}@{version}",
            "PkgName": package,
            "PkgIdentifier": {"PURL": f"pkg:npm/{package}@{version}", "UID": f"{i:016x}"},
            "InstalledVersion": version,
            "FixedVersion": f"{i % 97}.{i % 13 + 1}.0, {i % 97 + 1}.0.0" if i % 4 else "",
            "Status": "fixed" if i % 4 else "affected",
            "PrimaryURL": f"https://avd.aquasec.com/nvd/{vid.lower()}",
            "Title": f"{package}: {_LONG_TEXT[:160]} (variant {i})",
            "Description": _LONG_TEXT * 6 + f"Tracking id {i}.",
            "Severity": "CRITICAL" if i % 5 == 0 else _SEVERITIES[i % 4 if i % 4 != 3 else 2],
            "References": [f"https://example.org/advisories/{vid}/{k}" for k in range(10)],
        }
    )
    return finding


SHAPES = {"deep": _trivy_finding, "wide": _wide_finding}
"""``deep``: few packages with many CVEs each, as real images (the benchmark's first
shape). ``wide``: every finding in its own package, descriptions of ~3 KB with escapes,
titles of ~200 characters, and 1 in 5 findings critical (10,000 of 50,000 failing)."""


def write_trivy_report(path: Path, findings: int, shape: str = "deep") -> Path:
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
            out.write(",".join(json.dumps(SHAPES[shape](i)) for i in per))
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
