"""``policy import``: existing ignore files become exceptions to review, never read silently.

Through the real CLI: the written YAML must be refused by ``policy validate`` until every
TODO is filled, and then load as the exceptions the ignore file meant.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from gate.policy import load_policy
from tests.support.cli import run_gate

ENV = dict(os.environ)

TRIVYIGNORE = """\
# Accepted: the vulnerable inflate path is not reachable from our service.
CVE-2026-0002 exp:2027-03-31
CVE-2026-0001

# Secret and misconfiguration rules share the file in Trivy.
aws-access-key-id
AVD-DS-0002
GHSA-abcd-efgh-ijkl exp:2027-13-01
"""

TRIVYIGNORE_YAML = """\
vulnerabilities:
  - id: CVE-2026-0002
    statement: zlib inflate is never called with untrusted input
    expired_at: 2027-03-31
  - id: CVE-2026-0001
    purls:
      - "pkg:deb/debian/libssl3?distro=debian-12"
      - "pkg:deb/debian/openssl@3.0.11-1~deb12u2"
  - id: CVE-2026-0005
    paths:
      - "usr/lib/**"
misconfigurations:
  - id: AVD-DS-0002
secrets:
  - id: aws-access-key-id
    paths: ["app/config/deploy.env"]
"""

GRYPE_YAML = """\
ignore:
  - vulnerability: CVE-2026-0002
    reason: zlib inflate path unused
  - vulnerability: CVE-2026-0001
    package:
      name: libssl3
  - vulnerability: CVE-2026-0003
    fix-state: not-fixed
  - vulnerability: CVE-2026-0004
    package:
      name: bash
      version: 5.2.15-2+b2
  - package:
      type: npm
  - vulnerability: CVE-2026-0005
    package:
      location: "/usr/lib/**"
"""


def _import(tmp_path: Path, flag: str, name: str, content: str) -> tuple[Path, str]:
    source = tmp_path / name
    source.write_text(content)
    out = tmp_path / "imported.yml"
    result = run_gate("policy", "import", flag, str(source), "--output", str(out), env=ENV)
    assert result.returncode == 0, result.stderr
    return out, result.stderr


def _fill_todos(path: Path) -> None:
    text = path.read_text()
    text = text.replace('"TODO-YYYY-MM-DD"', "2027-01-31")
    text = text.replace("TODO: why is", "reviewed: accepted risk for")
    path.write_text(text)


def test_trivyignore_imports_ids_with_the_last_day_trivy_still_ignores(tmp_path):
    out, stderr = _import(tmp_path, "--trivyignore", ".trivyignore", TRIVYIGNORE)
    validate = run_gate("policy", "validate", str(out), env=ENV)
    assert validate.returncode == 2
    # The placeholder is refused with its position.
    assert f"{out}:15:16: vulnerabilities.exceptions[1].expires" in validate.stderr
    assert "# comment there: Accepted: the vulnerable inflate path" in out.read_text()
    assert "not imported: aws-access-key-id: not a vulnerability id" in stderr
    assert ".trivyignore:7: not imported: AVD-DS-0002" in stderr
    assert "GHSA-abcd-efgh-ijkl: exp:2027-13-01 is not a date; Trivy skips it" in stderr
    _fill_todos(out)
    policy = load_policy(out)
    assert policy.vulnerabilities is not None
    by_id = {e.id: e for e in policy.vulnerabilities.exceptions}
    assert set(by_id) == {"CVE-2026-0001", "CVE-2026-0002"}
    # Trivy drops the rule at midnight UTC of exp:, so its last whole day is the day before.
    assert by_id["CVE-2026-0002"].expires == date(2027, 3, 30)
    assert by_id["CVE-2026-0001"].expires == date(2027, 1, 31)


def test_a_todo_reason_is_refused_with_its_position(tmp_path):
    out, _ = _import(tmp_path, "--trivyignore", ".trivyignore", "CVE-2026-0001 exp:2027-01-01\n")
    validate = run_gate("policy", "validate", str(out), env=ENV)
    assert validate.returncode == 2
    assert f"{out}:9:15: vulnerabilities.exceptions[0].reason: " in validate.stderr
    assert "is a placeholder; write why the finding is acceptable" in validate.stderr


def test_trivyignore_yaml_keeps_statements_and_unversioned_purls(tmp_path):
    out, stderr = _import(tmp_path, "--trivyignore", ".trivyignore.yaml", TRIVYIGNORE_YAML)
    assert "CVE-2026-0005: limited to paths" in stderr
    assert "names version 3.0.11-1~deb12u2" in stderr
    assert ".trivyignore.yaml:13: not imported: AVD-DS-0002: a misconfigurations rule" in stderr
    assert "aws-access-key-id: a secrets rule" in stderr
    _fill_todos(out)
    policy = load_policy(out)
    assert policy.vulnerabilities is not None
    rows = {(e.id, e.package, e.reason, e.expires) for e in policy.vulnerabilities.exceptions}
    assert rows == {
        (
            "CVE-2026-0002",
            None,
            "zlib inflate is never called with untrusted input",
            date(2027, 3, 30),
        ),
        ("CVE-2026-0001", "libssl3", "reviewed: accepted risk for CVE-2026-0001 acceptable here?",
         date(2027, 1, 31)),
    }  # fmt: skip


def test_grype_config_imports_id_and_package_and_reports_narrower_rules(tmp_path):
    out, stderr = _import(tmp_path, "--grype-config", ".grype.yaml", GRYPE_YAML)
    assert "CVE-2026-0003: narrowed by fix-state" in stderr
    assert "CVE-2026-0004: narrowed by package.version" in stderr
    assert "no vulnerability id (package.type)" in stderr
    assert "CVE-2026-0005: narrowed by package.location" in stderr
    assert run_gate("policy", "validate", str(out), env=ENV).returncode == 2
    _fill_todos(out)
    policy = load_policy(out)
    assert policy.vulnerabilities is not None
    rows = {(e.id, e.package, e.reason) for e in policy.vulnerabilities.exceptions}
    assert rows == {
        ("CVE-2026-0002", None, "zlib inflate path unused"),
        ("CVE-2026-0001", "libssl3", "reviewed: accepted risk for CVE-2026-0001 acceptable here?"),
    }
    assert run_gate("policy", "validate", str(out), env=ENV).returncode == 0


def test_an_unreadable_or_malformed_ignore_file_is_an_error(tmp_path):
    missing = run_gate("policy", "import", "--trivyignore", str(tmp_path / "nope"), env=ENV)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    bad = tmp_path / ".grype.yaml"
    bad.write_text("ignore: {vulnerability: CVE-1}\n")
    result = run_gate("policy", "import", "--grype-config", str(bad), env=ENV)
    assert result.returncode == 2 and "ignore must be a list" in result.stderr
