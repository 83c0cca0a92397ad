"""Fault matrix, baselines and VEX: an unusable baseline or VEX document is exit 2.

Never "everything is inherited", never "everything is waived". Each row judges a saved
Trivy report (one critical finding) with no IMAGE, so it needs no registry and no scanner;
only the baseline or the VEX document is broken. The control rows show that the same
report, with a usable baseline or VEX document, reaches its own verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import Row, base_env, check_row, run_cli, write_policy
from tests.unit.scanners.test_scanner_trivy import DIGEST, vuln
from tests.unit.scanners.test_scanner_trivy import report as trivy_report

REPOSITORY = "127.0.0.1:5000/app"


def _baseline_report(**changes: Any) -> dict[str, Any]:
    """A one-image ``--report-json`` with the finding in its inventory."""
    check = {
        "id": "vulnerabilities",
        "status": "fail",
        "evidence": {
            "inventory": [{"id": "CVE-2026-0002", "aliases": [], "package": "zlib1g"}],
            "identity": {"repository": REPOSITORY, "platform": None, "policy_sha256": ""},
            "judged_at": "2026-10-01T00:00:00+00:00",
        },
    }
    check.update(changes)
    image = {"image": {"digest": "sha256:" + "ab" * 32, "repository": REPOSITORY},
             "checks": [check]}  # fmt: skip
    return {"images": [image]}


def _vex(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.test/vex/1",
        "author": "Jane",
        "timestamp": "2026-11-02T10:00:00Z",
        "version": 1,
        "statements": [
            {
                "vulnerability": {"name": "CVE-2026-0002"},
                "products": [{"@id": f"{REPOSITORY}@{DIGEST}"}],
                "status": "not_affected",
                "justification": "component_not_present",
            }
        ],
    }
    doc.update(changes)
    return doc


BASELINE_FAULTS: dict[str, tuple[str, bytes]] = {
    "baseline report that is not JSON": ("is not JSON", b"{nope"),
    "baseline report of two images": (
        "exactly one image",
        json.dumps({"images": _baseline_report()["images"] * 2}).encode(),
    ),
    "baseline whose vulnerabilities check ended in error": (
        "ended in error; its findings are unknown",
        json.dumps(_baseline_report(status="error")).encode(),
    ),
    "baseline report without an inventory": (
        "has no finding inventory",
        json.dumps(_baseline_report(evidence={})).encode(),
    ),
    "baseline inventory entry without a package": (
        "lacks its id, package or aliases",
        json.dumps(_baseline_report(evidence={"inventory": [{"id": "CVE-1"}]})).encode(),
    ),
    "baseline of another repository": (
        "baseline refused: the baseline is for repository 127.0.0.1:5000/other",
        json.dumps(_baseline_report()).replace("5000/app", "5000/other").encode(),
    ),
}

VEX_FAULTS: dict[str, tuple[str, bytes]] = {
    "VEX that is not JSON": ("document: not JSON", b"<vex/>"),
    "VEX with a misspelt status": (
        "statements[0].status: 'notaffected' is not one of",
        json.dumps(_vex()).replace('"not_affected"', '"notaffected"').encode(),
    ),
    "VEX without a context": (
        "document.@context: expected a non-empty string",
        json.dumps({k: v for k, v in _vex().items() if k != "@context"}).encode(),
    ),
    "VEX of another format": (
        "is not an OpenVEX context",
        json.dumps(_vex(**{"@context": "https://cyclonedx.org/vex"})).encode(),
    ),
    "VEX affected without an action statement": (
        "affected needs an action_statement",
        json.dumps(_vex()).replace('"not_affected"', '"affected"').encode(),
    ),
    "VEX statement without products": (
        "statements[0].products: expected a non-empty list",
        json.dumps(_vex(statements=[{**_vex()["statements"][0], "products": []}])).encode(),
    ),
    "VEX larger than 4 MiB": ("larger than 4194304 bytes", b" " * (4 << 20) + b"{}"),
}


def _gate(tmp_path: Path, policy_body: str, *extra: str) -> Any:
    saved = tmp_path / "trivy.json"
    saved.write_text(
        json.dumps(trivy_report([vuln("CVE-2026-0002", "zlib1g", severity="CRITICAL")]))
    )
    policy = write_policy(tmp_path, policy_body)
    return run_cli(
        "check", "--trivy-report", str(saved), "--policy", policy, *extra,
        env=base_env("", tmp_path),
    )  # fmt: skip


@pytest.mark.parametrize(("fault", "content"), [(k, v[1]) for k, v in BASELINE_FAULTS.items()],
                         ids=list(BASELINE_FAULTS))  # fmt: skip
def test_baseline_fault(fault: str, content: bytes, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    baseline.write_bytes(content)
    outcome = _gate(tmp_path, "vulnerabilities:\n  new_only: true\n", "--baseline", str(baseline))
    check_row(outcome, Row(fault, 2, BASELINE_FAULTS[fault][0]))


def test_a_baseline_image_that_cannot_be_resolved_is_an_error(tmp_path: Path) -> None:
    outcome = _gate(
        tmp_path, "vulnerabilities:\n  new_only: true\n", "--baseline", "127.0.0.1:1/app:old"
    )
    check_row(outcome, Row("unreachable baseline image", 2, "baseline image 127.0.0.1:1/app:old"))


@pytest.mark.parametrize(("fault", "content"), [(k, v[1]) for k, v in VEX_FAULTS.items()],
                         ids=list(VEX_FAULTS))  # fmt: skip
def test_vex_fault(fault: str, content: bytes, tmp_path: Path) -> None:
    (tmp_path / "app.openvex.json").write_bytes(content)
    outcome = _gate(tmp_path, "vulnerabilities:\n  vex: [app.openvex.json]\n")
    check_row(outcome, Row(fault, 2, VEX_FAULTS[fault][0]))
    assert "app.openvex.json" in outcome.output


def test_control_usable_baseline_and_vex_reach_the_report_s_own_verdict(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(_baseline_report()))
    inherited = _gate(tmp_path, "vulnerabilities:\n  new_only: true\n", "--baseline", str(baseline))
    assert inherited.code == 0, inherited.output
    (tmp_path / "app.openvex.json").write_text(json.dumps(_vex()))
    waived = _gate(tmp_path, "vulnerabilities:\n  vex: [app.openvex.json]\n")
    assert waived.code == 0, waived.output
    failing = _gate(tmp_path, "vulnerabilities:\n  fail_on: high\n")
    assert failing.code == 1, failing.output
