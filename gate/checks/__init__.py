"""Pure checks, one module per check id. The order here is the order in reports.

A new check is a new module plus one line in ``ALL_CHECKS``.
"""

from __future__ import annotations

from gate.checks.age import AgeCheck
from gate.checks.base_image import BaseAllowedCheck, BaseDigestCheck
from gate.checks.interface import Check
from gate.checks.non_root import NonRootCheck
from gate.checks.secrets import SecretsCheck
from gate.checks.signature import SignatureCheck
from gate.checks.size import SizeCheck
from gate.checks.tag import TagCheck
from gate.checks.vulnerabilities import VulnerabilitiesCheck

ALL_CHECKS: tuple[Check, ...] = (
    VulnerabilitiesCheck(),
    SecretsCheck(),
    NonRootCheck(),
    TagCheck(),
    BaseDigestCheck(),
    BaseAllowedCheck(),
    AgeCheck(),
    SizeCheck(),
    SignatureCheck(),
)

__all__ = ["ALL_CHECKS", "Check"]
