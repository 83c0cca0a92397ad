"""RFC 3339 timestamps, the one parser of the gate (image ``created``, trust root ``validFor``).

The grammar is RFC 3339 §5.6 as Go's ``time.RFC3339Nano`` writes it: up to nine fractional
digits (Python keeps six), ``Z`` or a ``±hh:mm`` offset; the lower-case ``t``/``z`` and the
space separator its §5.6 note allows are accepted too. Python 3.10's ``fromisoformat``
takes neither ``Z`` nor nine digits, hence this parser.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)


def parse(text: str) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime, or None when it is not one."""
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    if zone in ("Z", "z"):
        tz = timezone.utc
    else:
        sign = -1 if zone[0] == "-" else 1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            return None
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=tz
        )
    except ValueError:
        return None
