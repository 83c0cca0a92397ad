"""The check interface: one pure judgement over gathered facts.

A check never does I/O. It states which facts it needs (so the gate gathers only
those), and turns them into a ``CheckResult``. Reading a fact with ``gate.model.need``
raises ``MissingFact`` when gathering failed; the core turns that into an ``error``
status, so a check cannot pass on a fact it never saw.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from gate.model import CheckResult, Facts, Need
from gate.policy.model import Policy


class Check(Protocol):
    id: ClassVar[str]

    def needs(self, policy: Policy) -> frozenset[Need] | None:
        """The facts this check reads, or None when the policy does not ask for it."""
        ...

    def evaluate(self, policy: Policy, facts: Facts) -> CheckResult: ...
