"""The gate's severity scale, on its own: the policy reads it without the fact model.

``gate policy validate`` and the CLI's start-up import only this, not ``gate.model``'s
dataclasses; ``gate.model`` re-exports it as part of the gate's vocabulary.
"""

from __future__ import annotations

import enum


class Severity(enum.IntEnum):
    """The gate's severity scale. UNKNOWN sorts lowest but is never ignored (see Policy)."""

    UNKNOWN = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: object) -> Severity:
        """Map a scanner's severity word onto the scale.

        Grype's ``Negligible`` counts as LOW: it is still a known weakness, just the
        least one, and ranking it below LOW would hide it from ``fail_on: low``.
        Anything unrecognised (missing, empty, a new word) is UNKNOWN, which the
        vulnerability check judges at ``unknown_as``, so it cannot silently pass.
        """
        if not isinstance(text, str):
            return cls.UNKNOWN
        word = text.strip().upper()
        if word == "NEGLIGIBLE":
            return cls.LOW
        try:
            return cls[word]
        except KeyError:
            return cls.UNKNOWN

    @property
    def label(self) -> str:
        return _SEVERITY_LABELS[int(self)]


_SEVERITY_LABELS = tuple(s.name.lower() for s in Severity)
