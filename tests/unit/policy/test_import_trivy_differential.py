"""Differential: ``policy import --trivyignore`` against real Trivy's ``--ignorefile``.

Hypothesis writes ``.trivyignore`` files (ids of findings the image has and of others,
misconfiguration and secret ids, ``exp:`` in the past, the future or unparsable, comments,
trailing text); Trivy scans the image with each, and the findings it drops must be exactly
those the imported exceptions waive today (placeholders filled, as a reviewer would).
"""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.findings import merge
from gate.policy.importers import import_trivyignore
from gate.scanners.trivy import parse_report
from tests.support.oci import build_image, layer, push
from tests.support.rootfs import APP_PASSWD, debian_rootfs
from tests.support.trivydb import VULNERABLE_DEBIAN_PACKAGES

EXAMPLES = 25
IDS = ["CVE-2026-0001", "CVE-2026-0002", "CVE-2026-0004", "CVE-2026-0099", "AVD-DS-0002"]
EXPIRY = ["", " exp:2020-01-01", " exp:2099-12-31", " exp:2099-13-01", " # until fixed"]


@pytest.fixture(scope="module")
def image(registry, trivy_env, tmp_path_factory) -> tuple[str, Path, set[tuple[str, str]]]:
    built = build_image(
        [layer(debian_rootfs(VULNERABLE_DEBIAN_PACKAGES, passwd=APP_PASSWD))], user="app"
    )
    push(registry.host, "ignorediff/app", built, "v1")
    pinned = f"{registry.host}/ignorediff/app@{built.digest}"
    root = tmp_path_factory.mktemp("ignorediff")
    every = _scan(trivy_env, pinned, root / "plain.json")
    return pinned, root, every


def _scan(env: dict[str, str], pinned: str, output: Path, *extra: str) -> set[tuple[str, str]]:
    subprocess.run(
        ["trivy", "image", "--quiet", "--scanners", "vuln", "--format", "json",
         "--output", str(output), *extra, pinned],
        env=env, check=True, timeout=120, capture_output=True,
    )  # fmt: skip
    return {(f.id, f.package) for f in merge([parse_report(output)]).findings}


lines = st.one_of(
    st.builds(lambda i, e: i + e, st.sampled_from(IDS), st.sampled_from(EXPIRY)),
    st.sampled_from(["", "# a comment", "   "]),
)


def test_imported_exceptions_waive_exactly_what_trivy_ignores(image, trivy_env) -> None:
    pinned, root, every = image
    today = date.today()
    outcomes = {"some ignored": 0, "none ignored": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(lines, min_size=1, max_size=6))
    def differential(body: list[str]) -> None:
        text = "\n".join(body) + "\n"
        ignorefile = root / ".trivyignore"
        ignorefile.write_text(text)
        kept = _scan(trivy_env, pinned, root / "ignored.json", "--ignorefile", str(ignorefile))
        ignored_by_trivy = every - kept
        imported, _ = import_trivyignore(text)
        waived = {
            (fid, package)
            for fid, package in every
            for item in imported
            if item.id == fid and (item.expires is None or today <= item.expires)
        }
        assert waived == ignored_by_trivy, text
        outcomes["some ignored" if ignored_by_trivy else "none ignored"] += 1

    differential()
    assert outcomes["some ignored"] >= 3 and outcomes["none ignored"] >= 3, outcomes
