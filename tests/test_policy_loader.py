"""Loading policies: what loads, and every way a bad policy is refused with FILE:LINE:COL."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from gate.errors import PolicyError
from gate.model import Severity
from gate.policy import find_policy, load_default_policy, load_policy, parse_policy, schema_text
from gate.policy.reference import BEGIN, END, reference_markdown

REPO = Path(__file__).resolve().parent.parent


def parse(text: str | bytes, base_dir: Path = REPO):
    data = text.encode() if isinstance(text, str) else text
    return parse_policy(data, source="policy.yml", base_dir=base_dir)


def error_of(text: str | bytes, base_dir: Path = REPO) -> str:
    with pytest.raises(PolicyError) as caught:
        parse(text, base_dir)
    return caught.value.message


# --------------------------------------------------------------------------- what loads


def test_full_policy_loads_into_frozen_dataclasses(tmp_path):
    (tmp_path / "cosign.pub").write_text("-----BEGIN PUBLIC KEY-----\n")
    policy = parse(
        """version: 1
mode: warn
vulnerabilities:
  fail_on: critical
  ignore_unfixed: true
  scanners: [trivy, grype]
  exceptions:
    - id: CVE-2024-0727
      package: openssl
      reason: not reachable
      expires: 2027-03-31
secrets: {fail: true}
image: {non_root: true, tag: git-sha, max_age_days: 90, max_size_mb: 400}
base_image: {dockerfile: [a/Dockerfile, b/Dockerfile], allowed: [docker.io/library/*]}
signature:
  authorities:
    - {name: k, key: cosign.pub}
    - name: gh
      keyless: {issuer: https://token.actions.githubusercontent.com, subject_regex: '^x$'}
""",
        tmp_path,
    )
    assert policy.mode == "warn"
    assert policy.vulnerabilities is not None
    assert policy.vulnerabilities.fail_on is Severity.CRITICAL
    assert policy.vulnerabilities.scanners == ("trivy", "grype")
    (exc,) = policy.vulnerabilities.exceptions
    assert (exc.id, exc.package, exc.expires, exc.line) == (
        "CVE-2024-0727",
        "openssl",
        date(2027, 3, 31),
        8,
    )
    assert policy.image is not None and policy.image.tag == "git-sha"
    assert policy.base_image is not None and policy.base_image.dockerfiles == (
        "a/Dockerfile",
        "b/Dockerfile",
    )
    assert policy.signature is not None
    assert policy.signature.authorities[0].key == (tmp_path / "cosign.pub").resolve()
    assert policy.signature.authorities[1].keyless is not None


def test_absent_sections_stay_absent():
    policy = parse("version: 1\nsecrets: {}\n")
    assert policy.secrets is not None and policy.secrets.fail is True
    assert policy.vulnerabilities is None and policy.image is None and policy.signature is None


def test_defaults_apply_inside_a_section():
    policy = parse("version: 1\nvulnerabilities: {}\n")
    assert policy.vulnerabilities is not None
    assert policy.vulnerabilities.fail_on is Severity.HIGH
    assert policy.vulnerabilities.unknown_as is Severity.HIGH
    assert policy.vulnerabilities.scanners == ("trivy",)


def test_builtin_default_policy_loads_and_is_marked_builtin():
    policy = load_default_policy()
    assert policy.builtin and "default.yaml" in policy.source
    assert policy.vulnerabilities is not None


@pytest.mark.parametrize("name", ["schema.json", "default.yaml"])
def test_shipped_copies_under_policies_are_identical(name):
    assert (REPO / "policies" / name).read_bytes() == (REPO / "gate" / "policy" / name).read_bytes()


def test_schema_text_is_the_shipped_schema():
    assert schema_text() == (REPO / "policies" / "schema.json").read_text()


@pytest.mark.parametrize(
    "path", sorted((REPO / "policies" / "examples").glob("*.yaml")), ids=lambda p: p.name
)
def test_every_example_policy_validates(path):
    assert load_policy(path).source == str(path)


def test_readme_policy_reference_matches_the_schema():
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index(BEGIN) : readme.index(END) + len(END)]
    assert block == reference_markdown(), "run: python -m gate.policy.reference README.md"


def test_default_locations_are_github_dir_then_repo_root(tmp_path):
    assert find_policy(tmp_path) is None
    (tmp_path / "container-gate.yml").write_text("version: 1\n")
    assert find_policy(tmp_path) == tmp_path / "container-gate.yml"
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "container-gate.yml").write_text("version: 1\n")
    assert find_policy(tmp_path) == tmp_path / ".github" / "container-gate.yml"


# --------------------------------------------------------------------------- what is refused


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "version: 1\nvulnerabilities:\n  fail_on: hihg\n",
            "policy.yml:3:12: vulnerabilities.fail_on: 'hihg' is not allowed; must be one of low, medium, high, critical",
        ),
        (
            "version: 1\nvulnerabilities:\n  failon: high\n",
            "policy.yml:3:3: vulnerabilities: unknown key 'failon'; allowed keys: fail_on,",
        ),
        (
            "version: 1\nvulnerabilities:\n  ignore_unfixed: maybe\n",
            "policy.yml:3:19: vulnerabilities.ignore_unfixed: expected a boolean (true or false), got a string",
        ),
        (
            "version: 1\nvulnerabilities:\n  exceptions:\n    - id: CVE-1\n      expires: 2027-01-01\n",
            "policy.yml:4:7: vulnerabilities.exceptions[0]: missing required key 'reason'",
        ),
        (
            "version: 1\nvulnerabilities:\n  exceptions:\n    - id: CVE-1\n      reason: r\n",
            "policy.yml:4:7: vulnerabilities.exceptions[0]: missing required key 'expires'",
        ),
        (
            "version: 1\nvulnerabilities:\n  exceptions:\n    - {id: X, reason: r, expires: 2027-13-45}\n",
            "policy.yml:4:35:",
        ),
        (
            "version: 1\nimage:\n  max_size_mb: -1\n",
            "policy.yml:3:16: image.max_size_mb: -1 is too small",
        ),
        (
            "version: 2\nsecrets: {}\n",
            "policy.yml:1:10: version: 2 is not allowed; must be one of 1",
        ),
        ("version: 1\n", "policy.yml:1:1: the policy checks nothing"),
        ("version: 1\nsecrets: {fail: true\n", "policy.yml:3:1: YAML syntax error"),
        (
            "version: 1\nsecrets: {}\nsecrets: {}\n",
            "policy.yml:3:1: duplicate key 'secrets' (first written at line 2)",
        ),
        ("version: 1\non: {}\n", "policy.yml:2:1: keys must be strings"),
        (
            "version: 1\nsignature:\n  authorities:\n    - {name: a}\n",
            "policy.yml:4:7: signature.authorities[0]: an authority needs exactly one of key or keyless",
        ),
        (
            "version: 1\nsignature:\n  authorities:\n    - name: a\n      keyless: {issuer: x}\n",
            "policy.yml:5:16: signature.authorities[0].keyless: needs exactly one of issuer or issuer_regex",
        ),
        (
            "version: 1\nsignature:\n  authorities:\n    - name: a\n      keyless: {issuer: x, subject_regex: '(['}\n",
            "policy.yml:5:43: signature.authorities[0].keyless.subject_regex: invalid regular expression",
        ),
        (
            "version: 1\nsignature:\n  authorities:\n    - {name: a, key: missing.pub}\n",
            "policy.yml:4:22: signature.authorities[0].key: file 'missing.pub' not found",
        ),
        ("- just\n- a list\n", "policy.yml:1:1: the policy must be a mapping of sections"),
    ],
)
def test_bad_policy_names_file_line_col_and_what_is_allowed(text, expected):
    assert expected in error_of(text)


def test_several_problems_are_all_reported_in_line_order():
    message = error_of("version: 1\nimage:\n  tag: latest\n  non_root: yes\n  size: 3\n")
    lines = message.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("policy.yml:3:8: image.tag: 'latest' is not allowed")
    assert lines[1].startswith("policy.yml:5:3: image: unknown key 'size'")


def test_alias_bomb_is_refused_fast():
    lol = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
    started = time.monotonic()
    assert "anchors (&name) are not allowed" in error_of("version: 1\n" + lol)
    assert time.monotonic() - started < 1.0


def test_ten_megabyte_policy_is_refused_before_parsing():
    message = error_of(b"version: 1\n" + b"# padding\n" * 1_000_000)
    assert "at most 1048576 are allowed" in message


def test_non_utf8_bytes_are_refused_with_their_position():
    assert "policy.yml:2:11: the policy is not valid UTF-8" in error_of(
        b"version: 1\nsecrets: {\xff}\n"
    )


def test_unreadable_policy_file_is_a_policy_error(tmp_path):
    with pytest.raises(PolicyError, match="cannot read the policy"):
        load_policy(tmp_path / "absent.yml")
