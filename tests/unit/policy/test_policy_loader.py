"""Loading policies: what loads, and every way a bad policy is refused with FILE:LINE:COL."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gate.errors import PolicyError
from gate.model import Severity
from gate.policy import find_policy, load_default_policy, load_policy, parse_policy, schema_text
from gate.policy.loader import MAX_PROBLEMS
from gate.policy.reference import BEGIN, END, reference_markdown
from tests.support.paths import REPO_ROOT

REPO = REPO_ROOT


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


def test_relative_key_and_trusted_root_resolve_beside_the_policy_file_not_the_cwd(
    tmp_path, monkeypatch
):
    policy_dir = tmp_path / "repo" / ".github"
    (policy_dir / "keys").mkdir(parents=True)
    (policy_dir / "keys" / "cosign.pub").write_text("-----BEGIN PUBLIC KEY-----\n")
    (policy_dir / "root.json").write_text("{}")
    path = policy_dir / "container-gate.yml"
    path.write_text(
        "version: 1\nsignature:\n  trusted_root: root.json\n"
        "  authorities:\n    - {name: k, key: keys/cosign.pub}\n"
    )
    monkeypatch.chdir(tmp_path)
    policy = load_policy(path)
    assert policy.signature is not None
    assert policy.signature.authorities[0].key == (policy_dir / "keys" / "cosign.pub").resolve()
    assert policy.signature.trusted_root == (policy_dir / "root.json").resolve()
    assert policy.source == str(path)


def test_keyless_github_claims_and_signature_defaults_load():
    policy = parse(
        "version: 1\nsignature:\n  authorities:\n    - name: gh\n      keyless:\n"
        "        issuer_regex: '^https://token\\.actions\\.githubusercontent\\.com$'\n"
        "        subject: https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main\n"
        "        github: {repository: acme/app, ref: refs/heads/main, match_git_sha: true}\n"
    )
    assert policy.signature is not None
    assert (policy.signature.required, policy.signature.tlog) == (True, "required")
    assert policy.signature.formats == ("bundle", "legacy")
    (authority,) = policy.signature.authorities
    assert authority.key is None and authority.keyless is not None
    assert authority.keyless.issuer_regex == r"^https://token\.actions\.githubusercontent\.com$"
    assert authority.keyless.github is not None
    assert authority.keyless.github.match_git_sha is True


def test_expires_accepts_a_yaml_date_and_a_quoted_string_alike():
    for written in ("2027-03-31", "'2027-03-31'"):
        rules = parse(
            "version: 1\nvulnerabilities:\n  exceptions:\n"
            f"    - {{id: CVE-1, reason: r, expires: {written}}}\n"
        ).vulnerabilities
        assert rules is not None
        assert rules.exceptions[0].expires == date(2027, 3, 31)


def test_yaml_11_yes_is_a_boolean_where_a_boolean_is_expected():
    policy = parse("version: 1\nimage: {non_root: yes}\n")
    assert policy.image is not None and policy.image.non_root is True


def test_whole_numbers_written_as_floats_become_integers():
    policy = parse("version: 1.0\nimage: {max_age_days: 90.0}\n")
    assert policy.version == 1 and type(policy.version) is int
    assert policy.image is not None and policy.image.max_age_days == 90
    assert type(policy.image.max_age_days) is int


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
    assert policy.vulnerabilities.fail_on is Severity.HIGH


def _properties(node: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, child in node.get("properties", {}).items():
        yield f"{prefix}{name}", child
        target = child.get("items", child) if child.get("type") == "array" else child
        yield from _properties(target, f"{prefix}{name}.")


def test_every_schema_property_has_a_description():
    """The README's reference is generated from these; an undocumented key is a bug."""
    schema = json.loads(schema_text())
    found = dict(_properties(schema))
    assert "signature.authorities.keyless.github.match_git_sha" in found
    undocumented = [path for path, node in found.items() if not node.get("description")]
    assert undocumented == []


def test_schema_forbids_unknown_keys_in_every_mapping():
    schema = json.loads(schema_text())
    mappings = [schema] + [n for _, n in _properties(schema) if n.get("type") == "object"]
    mappings += [
        n["items"]
        for _, n in _properties(schema)
        if n.get("type") == "array" and n["items"].get("type") == "object"
    ]
    assert len(mappings) >= 8
    assert all(node.get("additionalProperties") is False for node in mappings)


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


def test_a_dangling_policy_symlink_is_found_and_fails_to_load_rather_than_skipped(tmp_path):
    """Skipping it would silently judge the image by the built-in policy instead."""
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "container-gate.yml").symlink_to(tmp_path / "gone.yml")
    (tmp_path / "container-gate.yml").write_text("version: 1\nsecrets: {}\n")
    found = find_policy(tmp_path)
    assert found == tmp_path / ".github" / "container-gate.yml"
    assert found is not None
    with pytest.raises(PolicyError, match="cannot read the policy"):
        load_policy(found)


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
            "policy.yml:3:3: vulnerabilities: unknown key 'failon' (did you mean 'fail_on'?); "
            "allowed keys: fail_on, unknown_as, ignore_unfixed, scanners, exceptions",
        ),
        (
            "version: 1\nsecrets: {}\nsignatures: {}\n",
            "policy.yml:3:1: top level: unknown key 'signatures' (did you mean 'signature'?); "
            "allowed keys: version, mode, vulnerabilities, secrets, image, base_image, signature",
        ),
        (
            "version: 1\nvulnerabilities:\n  fail_on: true\n",
            "policy.yml:3:12: vulnerabilities.fail_on: true is not allowed; must be one of low,",
        ),
        (
            "version: 1\nvulnerabilities:\n  scanners: [trivy, snyk]\n",
            "policy.yml:3:21: vulnerabilities.scanners[1]: 'snyk' is not allowed; "
            "must be one of trivy, grype",
        ),
        (
            "version: 1\nvulnerabilities:\n  scanners: [trivy, trivy]\n",
            "policy.yml:3:13: vulnerabilities.scanners: items must not repeat",
        ),
        (
            "version: 1\nvulnerabilities:\n  scanners: []\n",
            "policy.yml:3:13: vulnerabilities.scanners: must not be empty",
        ),
        (
            "version: 1\nimage:\n  mutable_tags: [latest, on]\n",
            "policy.yml:3:26: image.mutable_tags[1]: expected a string, got a boolean "
            "(quote it: YAML reads yes/no/on/off/true/false as booleans)",
        ),
        (
            "version: 1\nimage:\n  tag: immutable\n  mutable_tags: [latest, 1.0]\n",
            "policy.yml:4:26: image.mutable_tags[1]: expected a string, got a number "
            "(quote it to make it a string)",
        ),
        (
            "version: 1\nsecrets:\n",
            "policy.yml:2:9: secrets: expected a mapping, got nothing (null); "
            "write `secrets: {}` to use its defaults",
        ),
        (
            "version: 1\nimage:\n  max_age_days: 0\n",
            "policy.yml:3:17: image.max_age_days: 0 is too small; must be at least 1",
        ),
        (
            "version: 1\nimage:\n  max_age_days: 30.5\n",
            "policy.yml:3:17: image.max_age_days: expected an integer, got a number",
        ),
        (
            "version: 1\nimage:\n  max_size_mb: .nan\n",
            "policy.yml:3:16: image.max_size_mb: nan is not allowed; write a finite number",
        ),
        (
            "version: 1\nimage:\n  max_size_mb: .inf\n",
            "policy.yml:3:16: image.max_size_mb: inf is not allowed; write a finite number",
        ),
        (
            "version: 1\nbase_image:\n  allowed: []\n",
            "policy.yml:3:12: base_image.allowed: must not be empty",
        ),
        (
            "version: 1\nbase_image:\n  dockerfile: []\n",
            "policy.yml:3:15: base_image.dockerfile: expected a path or a non-empty list of paths",
        ),
        (
            "version: 1\nmode: audit\nsecrets: {}\n",
            "policy.yml:2:7: mode: 'audit' is not allowed; must be one of enforce, warn",
        ),
        (
            "secrets: {}\n",
            "policy.yml:1:1: the policy: missing required key 'version'; required: version",
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
            "policy.yml:4:35: '2027-13-45' is not a valid value: month must be in 1..12",
        ),
        (
            "version: 1\nvulnerabilities:\n  exceptions:\n    - {id: X, reason: r, expires: '2027-13-45'}\n",
            "policy.yml:4:35: vulnerabilities.exceptions[0].expires: '2027-13-45' is not a valid "
            "date; write YYYY-MM-DD",
        ),
        (
            "version: 1\nvulnerabilities:\n  exceptions:\n    - {id: X, reason: r, expires: 31/03/2027}\n",
            "policy.yml:4:35: vulnerabilities.exceptions[0].expires: '31/03/2027' is not a valid "
            "date; write YYYY-MM-DD",
        ),
        (
            "version: 1\nvulnerabilities:\n  exceptions:\n    - {id: X, reason: r, expires: 2027-03-31T10:00:00Z}\n",
            "policy.yml:4:35: '2027-03-31T10:00:00Z': expected a date (YYYY-MM-DD), not a time",
        ),
        (
            "version: 1\nvulnerabilities:\n  exceptions:\n    - {id: X, reason: '  ', expires: 2027-01-01}\n",
            "policy.yml:4:23: vulnerabilities.exceptions[0].reason: must not be blank",
        ),
        (
            "version: 1\nvulnerabilities:\n  exceptions:\n    - {id: X, reason: '', expires: 2027-01-01}\n",
            "policy.yml:4:23: vulnerabilities.exceptions[0].reason: must not be empty",
        ),
        (
            "version: 1\nimage:\n  max_size_mb: -1\n",
            "policy.yml:3:16: image.max_size_mb: -1 is too small",
        ),
        (
            "version: 2\nsecrets: {}\n",
            "policy.yml:1:10: version: 2 is not allowed; must be 1",
        ),
        ("version: 1\n", "policy.yml:1:1: the policy checks nothing; add at least one of"),
        (
            "version: 1\nmode: warn\nimage: {}\n",
            "policy.yml:3:1: the policy checks nothing: image switches every check off",
        ),
        (
            "version: 1\nsecrets: {fail: false}\nimage: {non_root: false, tag: any}\n",
            "policy.yml:2:1: the policy checks nothing: secrets, image switch every check off",
        ),
        (
            "version: 1\nbase_image: {require_digest: false}\n",
            "policy.yml:2:1: the policy checks nothing: base_image switches every check off",
        ),
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
            "version: 1\nsignature:\n  authorities:\n    - name: a\n      keyless:\n"
            "        issuer_regex: '(?P<x>a)(?P<x>b)'\n        subject: s\n",
            "policy.yml:6:23: signature.authorities[0].keyless.issuer_regex: invalid regular "
            "expression: redefinition of group name 'x'",
        ),
        (
            "version: 1\nsignature:\n  authorities:\n    - name: a\n      keyless: {issuer: x, issuer_regex: y, subject: s}\n",
            "policy.yml:5:16: signature.authorities[0].keyless: needs exactly one of issuer or "
            "issuer_regex, and exactly one of subject or subject_regex",
        ),
        (
            "version: 1\nsignature:\n  authorities:\n    - {name: a, key: k.pub, keyless: {issuer: x, subject: s}}\n",
            "policy.yml:4:7: signature.authorities[0]: an authority needs exactly one of key or "
            "keyless",
        ),
        (
            "version: 1\nsignature:\n  authorities: []\n",
            "policy.yml:3:16: signature.authorities: must not be empty",
        ),
        (
            "version: 1\nsignature:\n  tlog: required\n",
            "policy.yml:3:3: signature: missing required key 'authorities'",
        ),
        (
            "version: 1\nsignature:\n  authorities:\n    - {name: a, key: missing.pub}\n",
            "policy.yml:4:22: signature.authorities[0].key: file 'missing.pub' not found",
        ),
        (
            "version: 1\nsignature:\n  trusted_root: nowhere/root.json\n  authorities:\n"
            "    - {name: a, keyless: {issuer: x, subject: s}}\n",
            "policy.yml:3:17: signature.trusted_root: file 'nowhere/root.json' not found",
        ),
        ("- just\n- a list\n", "policy.yml:1:1: the policy must be a mapping of sections"),
    ],
)
def test_bad_policy_names_file_line_col_and_what_is_allowed(text, expected):
    message = error_of(text)
    assert message.startswith(expected), message


def test_every_unknown_key_is_reported_at_its_own_position():
    message = error_of("version: 1\nvulnerabilities:\n  failon: high\n  ignoreunfixed: true\n")
    assert [line.split(": unknown key ")[1].split(" ")[0] for line in message.splitlines()] == [
        "'failon'",
        "'ignoreunfixed'",
    ]
    assert message.splitlines()[1].startswith("policy.yml:4:3: vulnerabilities:")


def test_checks_nothing_waits_until_the_other_problems_are_fixed():
    """``non_root: maybe`` also leaves no check enabled; the type error is the real cause."""
    message = error_of("version: 1\nimage:\n  non_root: maybe\n")
    assert message == (
        "policy.yml:3:13: image.non_root: expected a boolean (true or false), got a string"
    )


def test_a_policy_full_of_errors_lists_a_bounded_number_of_them():
    items = "".join(f"    - {n}\n" for n in range(100))
    message = error_of(f"version: 1\nimage:\n  tag: immutable\n  mutable_tags:\n{items}")
    lines = message.splitlines()
    assert len(lines) == MAX_PROBLEMS + 1
    assert lines[0].startswith("policy.yml:5:7: image.mutable_tags[0]: expected a string")
    assert lines[-1] == f"policy.yml:{5 + MAX_PROBLEMS}:7: … and {100 - MAX_PROBLEMS} more problems"


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
    assert message == "policy.yml:1:1: the policy is 10000011 bytes; at most 1048576 are allowed"


def test_ten_megabyte_policy_file_is_refused_by_its_size(tmp_path):
    path = tmp_path / "big.yml"
    with path.open("wb") as file:
        file.write(b"version: 1\n")
        file.truncate(10_000_000)  # sparse: the loader must stop at the size, not read it
    started = time.monotonic()
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert time.monotonic() - started < 0.5
    assert caught.value.message == (
        f"{path}:1:1: the policy is 10000000 bytes; at most 1048576 are allowed"
    )


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_device_is_read_only_up_to_the_cap():
    with pytest.raises(PolicyError, match=r"^/dev/zero:1:1: the policy is more than 1048576 bytes"):
        load_policy(Path("/dev/zero"))


def test_non_utf8_bytes_are_refused_with_their_position():
    assert "policy.yml:2:11: the policy is not valid UTF-8" in error_of(
        b"version: 1\nsecrets: {\xff}\n"
    )


def test_unreadable_policy_file_is_a_policy_error(tmp_path):
    with pytest.raises(PolicyError, match=r"absent\.yml: cannot read the policy: No such file"):
        load_policy(tmp_path / "absent.yml")
    with pytest.raises(PolicyError, match="cannot read the policy: Is a directory"):
        load_policy(tmp_path)


# --------------------------------------------------------------------------- tag patterns


def test_a_tag_pattern_loads_as_the_git_sha_rule():
    policy = parse('version: 1\nimage:\n  tag: {pattern: "sha-{short_sha}"}\n')
    assert policy.image is not None
    assert (policy.image.tag, policy.image.tag_pattern) == ("git-sha", "sha-{short_sha}")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("release", "names no commit"),
        ("sha-{short}", "'{' cannot appear in a tag"),
        ("sha/{sha}", "'/' cannot appear in a tag"),
        ("{short_sha:3}", "N must be 7 to 40"),
        ("{sha:12}", "use {short_sha:N}"),
        ("-{sha}", "cannot start with"),
    ],
)
def test_a_bad_tag_pattern_is_refused_at_its_position(pattern: str, expected: str):
    message = error_of(f'version: 1\nimage:\n  tag:\n    pattern: "{pattern}"\n')
    assert message.startswith("policy.yml:4:14: image.tag.pattern: "), message
    assert expected in message


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("latest", "'latest' is not allowed; must be one of git-sha, immutable, any, or {pattern:"),
        ("{patern: x}", "unknown key 'patern'"),
        ("{pattern: 7}", "pattern: expected a non-empty string, got an integer"),
    ],
)
def test_a_bad_tag_says_what_tag_allows(tag: str, expected: str):
    message = error_of(f"version: 1\nimage:\n  tag: {tag}\n")
    assert message.startswith("policy.yml:3:8: image.tag: "), message
    assert expected in message


# --------------------------------------------------------------------------- migrating


@pytest.mark.parametrize(
    ("severity", "threshold"),
    [("HIGH,CRITICAL", "high"), ("CRITICAL", "critical"), ("[MEDIUM, HIGH, CRITICAL]", "medium")],
)
def test_trivy_severity_points_at_fail_on(severity: str, threshold: str):
    message = error_of(f"version: 1\nvulnerabilities:\n  severity: {severity}\n")
    assert message.startswith("policy.yml:3:3: vulnerabilities: unknown key 'severity'")
    assert f"use vulnerabilities.fail_on: {threshold}" in message


@pytest.mark.parametrize(
    ("flag", "ours"),
    [
        ("certificate-identity", "subject"),
        ("certificate-identity-regexp", "subject_regex"),
        ("certificate-oidc-issuer", "issuer"),
        ("certificate-oidc-issuer-regexp", "issuer_regex"),
    ],
)
def test_cosign_flags_point_at_the_keyless_keys(flag: str, ours: str):
    message = error_of(
        "version: 1\nsignature:\n  authorities:\n    - name: ci\n"
        f"      keyless:\n        issuer: https://token.actions.githubusercontent.com\n"
        f"        subject: x\n        {flag}: y\n"
    )
    assert f"unknown key {flag!r} (cosign's --{flag} is {ours} in a keyless authority" in message


@pytest.mark.parametrize(
    "uri", ["awskms:///alias/release", "gcpkms://projects/p/keyRings/r", "azurekms://v.vault",
            "hashivault://transit", "k8s://ns/secret"],
)  # fmt: skip
def test_a_kms_key_uri_is_refused_as_unsupported(uri: str):
    message = error_of(f"version: 1\nsignature:\n  authorities:\n    - name: k\n      key: {uri}\n")
    assert message.startswith("policy.yml:5:12: signature.authorities[0].key: KMS keys are not")
    assert "cosign public-key --key" in message


def test_ignore_unfixed_spelled_as_trivys_flag_says_what_the_gate_does():
    message = error_of("version: 1\nvulnerabilities:\n  ignore-unfixed: true\n")
    assert "write vulnerabilities.ignore_unfixed: true: findings with no fixed version" in message


@pytest.mark.parametrize("word", ["HIGH", "High", "critical", "LOW"])
def test_upper_case_severities_are_accepted(word: str):
    policy = parse(f"version: 1\nvulnerabilities:\n  fail_on: {word}\n  unknown_as: {word}\n")
    assert policy.vulnerabilities is not None
    assert policy.vulnerabilities.fail_on is Severity[word.upper()]
    assert policy.vulnerabilities.unknown_as is Severity[word.upper()]


def test_a_missing_key_file_says_where_it_was_looked_for(tmp_path):
    message = error_of(
        "version: 1\nsignature:\n  authorities:\n    - {name: k, key: keys/cosign.pub}\n",
        base_dir=tmp_path,
    )
    assert "relative paths are relative to the policy file" in message
    assert str(tmp_path / "keys" / "cosign.pub") in message
