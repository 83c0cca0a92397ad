"""Errors the gate reports instead of tracebacks.

Every failure the user can cause or the environment can produce is a ``GateError``.
The CLI turns it into one clear line and exit code 2. Anything else escaping is a bug
in the gate, and the CLI still exits 2 (fail closed), but prints the traceback so it
can be reported.
"""

from __future__ import annotations

EXIT_PASS = 0
EXIT_VIOLATION = 1
EXIT_ERROR = 2


class GateError(Exception):
    """A failure that makes the verdict impossible: exit 2, never a pass.

    ``detail`` carries supporting text shown under the one-line message, such as the
    tail of a scanner's stderr.

    Both are scrubbed of every known credential here, when the error is made, before any
    renderer cuts them short (``gate.masking``).
    """

    def __init__(self, message: str, *, detail: str = "") -> None:
        from gate.masking import scrub  # gate.masking imports this module

        message, detail = scrub(message), scrub(detail)
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class UsageError(GateError):
    """Bad command-line input."""


class PolicyError(GateError):
    """A policy file that does not load or does not validate.

    The message is already ``FILE:LINE:COL: what is wrong; what is allowed``.
    """


class RegistryError(GateError):
    """The registry could not be reached, refused us, or sent something invalid."""


class RegistryContentError(RegistryError):
    """The registry answered, but the content fails its checks: its digest, its size cap,
    JSON, or media type. For the image itself that is an error like any other; for one of
    several signatures it is a reason to refuse that signature, not to stop looking."""


class ImageSourceError(GateError):
    """An OCI layout or docker archive that cannot be read."""


class EngineError(ImageSourceError):
    """The container engine (``DOCKER_HOST``) was unreachable, refused, or exported garbage."""


class ScannerError(GateError):
    """A scanner was missing, crashed, timed out, or wrote an unusable report."""


class SignatureError(GateError):
    """Signature material could not be fetched (registry trouble), or a trust root is bad.

    A signature that is merely invalid is *not* an error: it is refused with a reason.
    """
