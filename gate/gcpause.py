"""Pause Python's cyclic garbage collector around bulk work on findings.

A 50,000-finding report allocates hundreds of thousands of short-lived dicts while the
list of kept findings grows, and merging and judging build as many new objects again.
Each collection those allocations trigger rescans everything still alive, which made
reading a big report ~25% slower and merging plus judging it about twice as slow
(measured here: 0.44 s against 0.21 s). Nothing built there forms a reference cycle
(the JSON scanner builds trees; the sinks, the merge and the checks build frozen dataclasses, dicts
and tuples), so reference counting frees everything and the collector would find nothing.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_pausers = 0
_was_enabled = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block (thread-safe, nestable).

    It is resumed by the last pauser to finish, and only if it was enabled before the
    first one started, so concurrent images and scanners cannot leave it off, nor turn
    it on for a caller that had disabled it.
    """
    global _pausers, _was_enabled
    with _lock:
        if _pausers == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pausers += 1
    try:
        yield
    finally:
        with _lock:
            _pausers -= 1
            if _pausers == 0 and _was_enabled:
                gc.enable()
