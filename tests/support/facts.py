"""The fixed image and clock the pure check tests judge: facts in, verdict out, no I/O."""

from __future__ import annotations

from datetime import datetime, timezone

from gate.model import Subject

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
"""The judging time, fixed so that ages and expiry dates are exact."""

SUBJECT = Subject("registry.test/app:abc1234", "sha256:" + "a" * 64, "registry.test/app", "abc1234")
"""The image being judged: a tagged reference and its digest."""
