"""Bound how deeply a JSON report may nest, chunk by chunk, before the parser sees it.

Why: ijson keeps one prefix string per open level (``Results.item.item.item…``), so
its memory grows with the *square* of the nesting depth. A 20 KB report nested 10,000
levels deep costs ~260 MiB, and a 400 KB one can exhaust any machine. Real reports nest
fewer than 10 levels (Trivy: ``Results[].Vulnerabilities[].CVSS.nvd``; Grype:
``matches[].matchDetails[].searchedBy.distro``), so anything past ``MAX_DEPTH`` is
refused as malformed.

How, at C speed (about 0.1 s per 70 MB, against ~1 s for ``json.load``): drop the two
escapes that hide a quote from a naive scan (``\\\\`` and ``\\"``), keep only quotes and
brackets, delete adjacent quote pairs (that keeps the parity of the quotes before every
bracket, so no bracket changes side), split what is left at its quotes to drop the
brackets inside strings, then cancel matched ``[]``/``{}`` pairs
replace by replace: each peels at most one level, so their count bounds the depth
within the chunk. The state carried between chunks is whether a string is open and the
depth so far.

The bound is conservative, never optimistic (it may count a level up to three times,
never zero times); a chunk is refused as soon as the count passes the limit, and invalid
JSON is left for the parser to reject.
"""

from __future__ import annotations

import re

MAX_DEPTH = 256
"""Deepest nesting accepted: far above any real report, and cheap for ijson (~160 KB)."""

_ESCAPES = re.compile(rb'\\[\\"]')
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'[]{}"')


class TooDeep(ValueError):
    """The input nests deeper than ``MAX_DEPTH``."""


class NestingGuard:
    """Tracks the nesting depth of a JSON text fed to ``check`` in consecutive chunks.

    Chunks must not end inside an escape: a reader extends a chunk that ends in a
    backslash by a byte (repeatedly), so every ``\\X`` pair lies within one chunk.
    """

    def __init__(self, limit: int = MAX_DEPTH) -> None:
        self.limit = limit
        self.depth = 0
        self.in_string = False

    def check(self, chunk: bytes) -> None:
        """Account for ``chunk``; raise ``TooDeep`` if it nests past the limit."""
        if b"\\" in chunk:
            chunk = _ESCAPES.sub(b"", chunk)
        marks = chunk.translate(None, _NOT_STRUCTURE)
        quotes = marks.count(b'"')
        if quotes:
            marks = marks.replace(b'""', b"")
        if self.in_string or b'"' in marks:
            outside = 1 if self.in_string else 0
            marks = b"".join(marks.split(b'"')[outside::2])
        self.in_string ^= quotes % 2 == 1
        levels = 0
        while True:
            before = len(marks)
            for pair in (b"[]", b"{}"):
                shorter = marks.replace(pair, b"")
                if len(shorter) < len(marks):
                    marks = shorter
                    levels += 1  # one replace peels at most one level: never an undercount
                    if self.depth + levels > self.limit:
                        raise TooDeep(self.limit)
            if len(marks) == before:
                break
        # What is left: closers of levels opened earlier, then openers still open.
        openers = marks.lstrip(b"]}")
        closers = len(marks) - len(openers)
        if b"]" in openers or b"}" in openers:
            peak = self.depth + levels + len(openers)  # mismatched: not JSON, the parser says so
        else:
            peak = max(self.depth, self.depth - closers + len(openers)) + levels
        if peak > self.limit:
            raise TooDeep(self.limit)
        self.depth = max(0, self.depth - closers + len(openers))


__all__ = ["MAX_DEPTH", "NestingGuard", "TooDeep"]
