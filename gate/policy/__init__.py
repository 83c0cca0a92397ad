"""The policy: one YAML file per repository, validated by the JSON Schema shipped here."""

from gate.policy.loader import (
    find_policy,
    load_default_policy,
    load_policy,
    parse_policy,
    schema_text,
)
from gate.policy.model import Policy

__all__ = [
    "Policy",
    "find_policy",
    "load_default_policy",
    "load_policy",
    "parse_policy",
    "schema_text",
]
