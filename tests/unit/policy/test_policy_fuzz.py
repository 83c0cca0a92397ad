"""Property: any bytes fed to the policy loader give a ``Policy`` or a ``PolicyError``, nothing else.

And garbage never becomes a policy. Whatever loads is checked independently of the
loader: PyYAML's own safe loader reads the same bytes into a document that jsonschema
accepts against the shipped schema, and that enables at least one check. Every refusal
names ``FILE:LINE:COL`` on each of its lines.

Inputs: arbitrary bytes; text assembled from YAML's sharp edges (anchors, tags, flow
brackets, tabs, BOMs, control characters, YAML 1.1 booleans, impossible dates); the
shipped example policies cut, spliced and corrupted; and JSON documents near the schema's
boundaries written out as YAML, where the loader must agree with jsonschema exactly.
Examples per property come from the Hypothesis profile (tests/conftest.py).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from gate.errors import PolicyError
from gate.policy import Policy, parse_policy
from tests.support.paths import REPO_ROOT
from tests.unit.policy.test_policy_conforms import near_valid

REPO = REPO_ROOT
SCHEMA = json.loads((REPO / "gate" / "policy" / "schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
SECTIONS = ("vulnerabilities", "secrets", "image", "base_image", "signature")
EXAMPLES = [p.read_bytes() for p in sorted((REPO / "policies" / "examples").glob("*.yaml"))]
EXAMPLES.append((REPO / "gate" / "policy" / "default.yaml").read_bytes())
BASE_DIR = Path(tempfile.gettempdir()) / "container-gate-policy-fuzz-no-such-directory"
"""Where relative key files would be looked up: a directory that does not exist, so no
key file named by a fuzzed policy can be found (and nothing is left behind)."""

_POSITION = re.compile(r"policy\.yml:\d+:\d+: \S")


def load(data: bytes) -> Policy | PolicyError:
    try:
        return parse_policy(data, source="policy.yml", base_dir=BASE_DIR)
    except PolicyError as error:
        return error


def independently_valid(data: bytes) -> bool:
    """Does a second reader (``yaml.safe_load`` + jsonschema) accept these bytes?"""
    try:
        document = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        return False
    if not isinstance(document, dict):
        return False
    plain = json.loads(json.dumps(document, default=str))  # dates as YYYY-MM-DD, as the loader
    return VALIDATOR.is_valid(plain) and any(plain.get(s) is not None for s in SECTIONS)


def check(data: bytes) -> Policy | PolicyError:
    """The properties every input must satisfy; returns the outcome for further checks."""
    outcome = load(data)
    if isinstance(outcome, Policy):
        assert independently_valid(data), f"the loader accepted what the schema refuses: {data!r}"
        assert outcome.version == 1
        assert any(getattr(outcome, s) is not None for s in SECTIONS)
    else:
        lines = outcome.message.splitlines()
        assert lines
        assert all(_POSITION.match(line) for line in lines), outcome.message
    return outcome


@given(st.binary(max_size=400))
def test_arbitrary_bytes_give_a_policy_or_a_policy_error(data: bytes) -> None:
    check(data)


FRAGMENTS = st.sampled_from(
    [
        "version: 1\n",
        "version: 2\n",
        "vulnerabilities:\n",
        "  fail_on: high\n",
        "  fail_on: ",
        "secrets: {}\n",
        "secrets:\n  fail: true\n",
        "image:\n  non_root: true\n",
        "  max_age_days: ",
        "  exceptions:\n    - id: CVE-2024-0727\n      reason: r\n      expires: ",
        "2027-03-31",
        "2027-02-30",
        "2027-03-31T10:00:00Z",
        "signature:\n  authorities:\n    - name: ci\n      keyless:\n        issuer: x\n",
        "        subject_regex: ",
        "'(unclosed'",
        "key: cosign.pub",
        "- ",
        "  ",
        "\t",
        "\n",
        ": ",
        "? ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&a ",
        "*a",
        "<<: ",
        "!!binary MQ==",
        "!!python/name:os.system ''",
        "!!int ",
        "!!float ",
        "!!set ",
        "--- ",
        "...\n",
        "%YAML 1.1\n",
        "# comment\n",
        "'",
        '"',
        '"\\x00"',
        "|\n  block\n",
        "on",
        "yes",
        "null",
        "~",
        ".nan",
        ".inf",
        "1e400",
        "99999999999999999999999",
        "0x1F",
        "\ufeff",
        "\x00",
        "\x85",
        "\u2028",
        "é",
    ]
)


@given(st.lists(FRAGMENTS | st.text(max_size=4), max_size=30).map("".join))
def test_yaml_shaped_text_gives_a_policy_or_a_policy_error(text: str) -> None:
    check(text.encode("utf-8", "surrogatepass"))


@given(
    st.sampled_from(EXAMPLES),
    st.lists(
        st.tuples(
            st.sampled_from(["cut", "insert", "delete", "duplicate", "replace"]),
            st.integers(min_value=0, max_value=2000),
            st.integers(min_value=0, max_value=40),
            st.binary(min_size=1, max_size=6) | FRAGMENTS.map(str.encode),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_a_shipped_policy_cut_spliced_or_corrupted_is_handled(
    example: bytes, edits: list[tuple[str, int, int, bytes]]
) -> None:
    data = example
    for action, at, length, text in edits:
        at %= len(data) + 1
        if action == "cut":
            data = data[:at]
        elif action == "insert":
            data = data[:at] + text + data[at:]
        elif action == "delete":
            data = data[:at] + data[at + length :]
        elif action == "duplicate":
            data = data[:at] + data[at : at + length] + data[at:]
        else:
            data = data[:at] + text + data[at + len(text) :]
    check(data)


@given(near_valid())
def test_a_document_loads_exactly_when_the_schema_accepts_it(document: Any) -> None:
    data = yaml.safe_dump(document, sort_keys=False).encode()
    outcome = check(data)
    schema_valid = isinstance(document, dict) and VALIDATOR.is_valid(document)
    needs_more = any(k in data for k in (b"key:", b"_regex:", b"trusted_root:"))
    if not needs_more:  # key files and regexes are checked beyond the schema
        assert isinstance(outcome, Policy) == schema_valid, (document, outcome)


def test_every_shipped_policy_loads() -> None:
    for example in EXAMPLES:
        assert isinstance(check(example), Policy)
