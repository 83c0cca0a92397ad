"""One scanner registry: the CLI, the policy, its schema and the action list the same scanners.

``gate.scanners.SCANNERS`` is the one list; a scanner added there but not to the schema's
enum (or the reverse) fails here, not in a user's pipeline.
"""

from __future__ import annotations

import argparse
import json
import re

import pytest
import yaml

from gate.cli import _build_parser
from gate.facts import scanner_for, scanners_needed
from gate.policy.model import Policy, SecretsPolicy, VulnerabilityPolicy
from gate.scanners import DEFAULT_SCANNERS, SCANNERS
from tests.support.paths import REPO_ROOT

REPO = REPO_ROOT
SCHEMA = json.loads((REPO / "gate" / "policy" / "schema.json").read_text())


def _check_options() -> set[str]:
    parser = _build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(commands.choices["check"]._option_string_actions)


def test_the_policy_schema_lists_exactly_the_registered_scanners() -> None:
    scanners = SCHEMA["properties"]["vulnerabilities"]["properties"]["scanners"]
    assert scanners["items"]["enum"] == list(SCANNERS)
    assert scanners["default"] == list(DEFAULT_SCANNERS)


def test_the_policy_models_default_scanners_are_the_registrys() -> None:
    assert VulnerabilityPolicy().scanners == DEFAULT_SCANNERS
    assert set(DEFAULT_SCANNERS) <= set(SCANNERS)


def test_the_cli_has_one_report_option_per_registered_scanner_and_no_other() -> None:
    reports = {o for o in _check_options() if re.fullmatch(r"--[a-z0-9]+-report", o)}
    assert reports == {entry.report_option for entry in SCANNERS.values()}


def test_the_action_has_one_report_input_per_registered_scanner() -> None:
    inputs = yaml.safe_load((REPO / "action.yml").read_text())["inputs"]
    reports = {name for name in inputs if re.fullmatch(r"[a-z0-9]+-report", name)}
    assert reports == {f"{name}-report" for name in SCANNERS}


@pytest.mark.parametrize("name", list(SCANNERS))
def test_every_registered_scanner_is_built_by_its_name(name: str) -> None:
    scanner = scanner_for(name)
    assert scanner.name == name
    assert scanner_for(name, Policy("test", vulnerabilities=VulnerabilityPolicy(scanners=(name,))))


def test_judging_secrets_adds_a_secret_scanner_when_none_is_listed() -> None:
    policy = Policy(
        "test",
        vulnerabilities=VulnerabilityPolicy(scanners=("grype",)),
        secrets=SecretsPolicy(fail=True),
    )
    assert scanners_needed(policy) == ("grype", "trivy")
    assert any(SCANNERS[n].finds_secrets for n in scanners_needed(policy))
