"""Fault matrix, policy: a policy that cannot be read exits 2 with FILE:LINE:COL and why.

Each row goes through ``gate check IMAGE --policy FILE``, and the faults the issue names
through ``gate policy validate FILE`` too, which must refuse them with the same message.
The policy is loaded before anything else happens, so these rows need no image, no
registry and no scanner: ``PATH`` is empty, and the image named does not exist. A loader
that let any of these through would reach the image and fail differently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.harness import Row, base_env, check_row, run_cli, run_measured, write_policy

IMAGE = "oci:does-not-exist"
VALID = b"version: 1\nvulnerabilities:\n  fail_on: high\n"

BILLION_LAUGHS = b"version: 1\n" + b"".join(
    b"l%d: &l%d [" % (i, i) + b", ".join([b"*l%d" % (i - 1) if i else b'"lol"'] * 9) + b"]\n"
    for i in range(10)
)
"""Nine-fold aliases ten levels deep: 9**10 (3.5 billion) strings once expanded."""

DEEP = b"version: 1\nvulnerabilities: " + b"[" * 100_000 + b"]" * 100_000 + b"\n"

FAULTS: dict[str, tuple[str, bytes]] = {
    "YAML syntax error": (
        "policy.yml:5:1: YAML syntax error",
        b"version: 1\nvulnerabilities:\n- fail_on: high\n  nope\n",
    ),
    "unclosed flow mapping": (
        "policy.yml:3:1: YAML syntax error",
        b"version: 1\nvulnerabilities: {fail_on: high\n",
    ),
    "tab indentation": ("YAML syntax error", b"version: 1\nvulnerabilities:\n\tfail_on: high\n"),
    "duplicate key": (
        "policy.yml:4:3: duplicate key 'fail_on' (first written at line 3)",
        b"version: 1\nvulnerabilities:\n  fail_on: high\n  fail_on: low\n",
    ),
    "duplicate section": (
        "duplicate key 'vulnerabilities'",
        b"version: 1\nvulnerabilities: {}\nvulnerabilities: {fail_on: low}\n",
    ),
    "wrong type: boolean for a severity": (
        "policy.yml:3:12: vulnerabilities.fail_on",
        b"version: 1\nvulnerabilities:\n  fail_on: true\n",
    ),
    "wrong type: string for a number": (
        "image.max_age_days: expected an integer, got a string",
        b"version: 1\nimage:\n  max_age_days: ninety\n",
    ),
    "wrong type: list for a section": (
        "secrets: expected a mapping, got a list",
        b"version: 1\nsecrets: [fail]\n",
    ),
    "misspelt value": (
        "'hihg' is not allowed; must be one of low, medium, high, critical",
        b"version: 1\nvulnerabilities:\n  fail_on: hihg\n",
    ),
    "unknown key": ("unknown key 'fail_onn'", b"version: 1\nvulnerabilities:\n  fail_onn: high\n"),
    "YAML 1.1 boolean key": (
        "keys must be strings, got 'on'",
        b"version: 1\nsecrets: {}\non: push\n",
    ),
    "impossible date": (
        "'2027-02-30' is not a valid value",
        b"version: 1\nvulnerabilities:\n  exceptions:\n"
        b"    - {id: CVE-2026-0001, reason: r, expires: 2027-02-30}\n",
    ),
    "exception without a reason": (
        "missing required key 'reason'",
        b"version: 1\nvulnerabilities:\n  exceptions:\n"
        b"    - {id: CVE-2026-0001, expires: 2027-03-31}\n",
    ),
    "exception reason left as an import placeholder": (
        "policy.yml:4:35: vulnerabilities.exceptions[0].reason: 'TODO: review' is a placeholder",
        b"version: 1\nvulnerabilities:\n  exceptions:\n"
        b"    - {id: CVE-2026-0001, reason: 'TODO: review', expires: 2027-03-31}\n",
    ),
    "VEX file that does not exist": (
        "policy.yml:3:9: vulnerabilities.vex[0]: file 'app.openvex.json' not found",
        b"version: 1\nvulnerabilities:\n  vex: [app.openvex.json]\n",
    ),
    "VEX attestations without authorities": (
        "vex_attestations: needs a signature section",
        b"version: 1\nvulnerabilities:\n  vex_attestations: true\n",
    ),
    "bad regex": (
        "subject_regex: invalid regular expression",
        b"version: 1\nsignature:\n  authorities:\n    - name: ci\n      keyless:\n"
        b"        issuer: https://token.actions.githubusercontent.com\n"
        b"        subject_regex: '^https://github.com/acme/(app$'\n",
    ),
    "catastrophic regex syntax": (
        "issuer_regex: invalid regular expression",
        b"version: 1\nsignature:\n  authorities:\n    - name: ci\n      keyless:\n"
        b"        issuer_regex: '(?P<x>a)(?P<x>b)'\n        subject: me\n",
    ),
    "key file that does not exist": (
        "file 'cosign.pub' not found",
        b"version: 1\nsignature:\n  authorities:\n    - {name: k, key: cosign.pub}\n",
    ),
    "KMS key URI": (
        "policy.yml:4:22: signature.authorities[0].key: KMS keys are not supported",
        b"version: 1\nsignature:\n  authorities:\n    - {name: k, key: 'awskms:///alias/r'}\n",
    ),
    "Trivy's severity list": (
        "unknown key 'severity' (use vulnerabilities.fail_on: high",
        b"version: 1\nvulnerabilities:\n  severity: HIGH,CRITICAL\n",
    ),
    "tag pattern that names no commit": (
        "policy.yml:3:18: image.tag.pattern: the pattern names no commit",
        b"version: 1\nimage:\n  tag: {pattern: release}\n",
    ),
    "a policy that checks nothing": ("the policy checks nothing", b"version: 1\n"),
    "an empty file": ("the policy must be a mapping of sections", b""),
    "a scalar document": ("the policy must be a mapping of sections", b"just text\n"),
    "version 2": ("version: 2 is not allowed", b"version: 2\nsecrets: {}\n"),
    "YAML anchor": ("YAML anchors (&name) are not allowed", b"version: 1\nsecrets: &s {}\n"),
    "alias bomb": ("YAML anchors (&name) are not allowed", BILLION_LAUGHS),
    "deep nesting": ("nests deeper than", DEEP),
    "10 MB policy": ("bytes; at most 1048576 are allowed", VALID + b"#" * 10_000_000),
    "non-UTF-8 bytes": (
        "policy.yml:3:12: the policy is not valid UTF-8",
        b"version: 1\nvulnerabilities:\n  fail_on: \xff\xfehigh\n",
    ),
    "Latin-1 text": (
        "the policy is not valid UTF-8",
        "version: 1\n# café\nsecrets: {}\n".encode("latin-1"),
    ),
    "NUL byte": ("character U+0000 is not allowed in YAML", VALID + b"\x00\n"),
    "UTF-16 with BOM": ("policy.yml:1:1:", VALID.decode().encode("utf-16")),
    "python tag on a scalar": (
        "could not determine a constructor",
        b"version: 1\nsecrets: !!python/name:os.system ''\n",
    ),
    "python tag on a list": (
        "YAML tags (!!python/object/apply:os.system) are not",
        b"version: 1\nsecrets: !!python/object/apply:os.system [id]\n",
    ),
    "set tag": ("YAML tags (!!set) are not allowed", b"version: 1\nsecrets: !!set {a}\n"),
    "local tag on the document": (
        "YAML tags (!$) are not allowed",
        b"!$ # a comment\nversion: 1\nsecrets: {}\n",
    ),
    "explicit tag on an empty value": (
        "'' is not a valid !!int value",
        b"version: !!int\nsecrets: {}\n",
    ),
    "binary value": ("binary values are not allowed", b"version: !!binary MQ==\nsecrets: {}\n"),
}
"""Each fault the loader must refuse (exit 2): a fragment of its message, and the policy."""

ROWS = [(Row(fault, 2, fragment), policy) for fault, (fragment, policy) in FAULTS.items()]


COMMANDS: dict[str, Callable[[str], tuple[str, ...]]] = {
    "check": lambda path: ("check", IMAGE, "--policy", path),
    "validate": lambda path: ("policy", "validate", path),
}


BOTH_COMMANDS = {
    "YAML syntax error",
    "tab indentation",
    "duplicate key",
    "wrong type: boolean for a severity",
    "wrong type: string for a number",
    "wrong type: list for a section",
    "bad regex",
    "alias bomb",
    "10 MB policy",
    "non-UTF-8 bytes",
}
"""The faults issue 7 names run through ``policy validate`` as well; the rest (which go
through the same loader) through ``check`` only, to keep the matrix fast."""

CASES = [
    pytest.param(row, policy, command, id=f"{row}-{command}")
    for row, policy in ROWS
    for command in sorted(COMMANDS)
    if command == "check" or row.fault in BOTH_COMMANDS
]


@pytest.mark.parametrize(("row", "policy", "command"), CASES)
def test_policy_fault(row: Row, policy: bytes, command: str, tmp_path: Path) -> None:
    path = write_policy(tmp_path, policy)
    outcome = run_cli(*COMMANDS[command](path), env=base_env("", tmp_path))
    check_row(outcome, row)
    assert outcome.stdout == "", "nothing may be judged with a broken policy"
    assert re.match(rf"{re.escape(path)}:\d+:\d+: \S", outcome.stderr), outcome.stderr


def test_every_fault_named_for_both_commands_is_a_row() -> None:
    assert BOTH_COMMANDS.issubset(row.fault for row, _ in ROWS)


HOSTILE = [
    (row, policy)
    for row, policy in ROWS
    if row.fault in ("alias bomb", "deep nesting", "10 MB policy")
]


@pytest.mark.parametrize(("row", "policy"), HOSTILE, ids=[str(r) for r, _ in HOSTILE])
def test_hostile_policy_is_refused_fast_and_in_small_memory(
    row: Row, policy: bytes, tmp_path: Path
) -> None:
    path = write_policy(tmp_path, policy)
    outcome = run_measured("check", IMAGE, "--policy", path, env=base_env("", tmp_path))
    check_row(outcome, row)
    assert outcome.seconds < 1, f"{outcome.seconds:.2f} s"
    # The interpreter and the gate's imports take ~30 MiB; the 10 MB file is never parsed.
    assert outcome.max_rss_mib is not None and outcome.max_rss_mib < 64, outcome.max_rss_mib


def test_the_policy_is_refused_before_the_registry_is_contacted(tmp_path: Path) -> None:
    """An unreachable registry would be exit 2 too: the message proves which came first."""
    path = write_policy(tmp_path, b"version: 1\nsecrets: [\n")
    outcome = run_cli("check", "127.0.0.1:9/app:v1", "--policy", path, env=base_env("", tmp_path))
    check_row(outcome, Row("broken policy, unreachable registry", 2, "YAML syntax error"))
    assert "connect" not in outcome.output
