"""``--verbose``: what the gate does, step by step, on stderr, never a credential.

Modules log to ``logging.getLogger(__name__)`` (children of ``gate``): the URLs a registry
client requests, the argument lists of the scanners it runs, each gathering step and its
timing. Nothing is shown unless ``--verbose`` is given. Every record that reaches the
handler passes through :class:`ScrubFilter` once its arguments are merged into the
message: every credential the gate knows, in every encoding, and the generic shapes
(``Authorization:`` values, ``user:password@`` in URLs) are masked (``gate.masking.scrub``,
built on ``gate.redact``), and the record is kept on one line, so a logged value can
neither leak a secret nor start a line that GitHub Actions would run as a workflow command.
Environments are never logged: a scanner's carries registry credentials.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from gate.masking import scrub

ROOT = "gate"
_FORMAT = "container-gate: %(relativeCreated)7.0f ms %(name)s: %(message)s"


class ScrubFilter(logging.Filter):
    """Masks credentials in a record's final message and keeps it on one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:  # a traceback's text may quote a URL with a token in it
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        message = scrub(message).replace("\r", "\\r").replace("\n", "\\n")
        record.msg, record.args = message, None
        return True


def configure(*, verbose: bool, stream: TextIO | None = None) -> None:
    """Send the gate's log records to ``stream`` (stderr), scrubbed; DEBUG when verbose."""
    logger = logging.getLogger(ROOT)
    for old in list(logger.handlers):
        logger.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(ScrubFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logger.propagate = False
