"""The credentials known to this process, and the one place text leaves it.

What is known: the secret variables of :mod:`gate.redact` in the environment, every
credential in the Docker CLI's ``config.json`` (the one :func:`gate.image.auth.load_credentials`
reads), and what the gate registers at run time (bearer tokens a token service handed the
registry client, credentials passed in explicitly).

Where text leaves: the CLI runs inside :func:`scrubbed_output`, which holds everything
written to ``sys.stdout`` and ``sys.stderr`` and writes it out scrubbed at the end, so a
secret split across two writes is still whole when scrubbed; files go through
:func:`write_file`. A renderer therefore cannot forget to scrub. In GitHub Actions every
known value is also given to the runner's own masker (``::add-mask::``) first.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from gate.redact import (
    SECRET_VARIABLES,
    USERNAME_OF,
    Credential,
    Redactor,
    credentials_from_docker_config,
    credentials_from_environ,
    doc_from_json,
    docker_config_path,
)

_VARIABLES = (*SECRET_VARIABLES, *USERNAME_OF.values())
_lock = threading.Lock()
_registered: set[Credential] = set()
_cache: tuple[object, Redactor] | None = None
_real_write: Callable[[str], object] | None = None
"""The real stdout's ``write`` while :func:`scrubbed_output` holds ``sys.stdout``."""
_real_stderr: TextIO | None = None
"""The real stderr while :func:`scrubbed_output` holds ``sys.stderr``."""
_announced: set[str] = set()


def _config_key(path: Path) -> tuple[str, int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), stat.st_mtime_ns, stat.st_size)


def _from_config(path: Path) -> list[Credential]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return credentials_from_docker_config(doc_from_json(text))


def current(environ: Mapping[str, str] | None = None) -> Redactor:
    """The redactor for every credential known now (rebuilt only when that changes)."""
    global _cache
    env = os.environ if environ is None else environ
    path = docker_config_path(env)
    with _lock:
        registered = frozenset(_registered)
    key = (
        tuple(env.get(name, "") for name in _VARIABLES),
        _config_key(path),
        registered,
    )
    cached = _cache
    if cached is not None and cached[0] == key:
        return cached[1]
    redactor = Redactor([*credentials_from_environ(env), *_from_config(path), *registered])
    _cache = (key, redactor)
    return redactor


def register(secret: str, user: str = "") -> None:
    """Make a secret learned at run time known (and, in GitHub Actions, masked by the runner)."""
    credential = Credential(secret, user)
    with _lock:
        if not secret or credential in _registered:
            return
        _registered.add(credential)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        _add_masks(Redactor([credential]).mask_values())


def scrub(text: str) -> str:
    """*text* with every known credential masked (see :class:`gate.redact.Redactor`)."""
    return current().scrub(text)


def untrusted(text: str) -> str:
    """Text a scanner or registry wrote, scrubbed (or withheld) before it is cut short."""
    return current().untrusted(text)


def _add_masks(values: list[str]) -> None:
    """``::add-mask::`` each value, and each line of a multi-line one (the runner masks
    log lines one at a time; as ``scripts/run-gate.sh`` does)."""
    write = _real_write or sys.stdout.write
    values = [*values, *(line for v in values if "\n" in v for line in v.splitlines() if line)]
    with _lock:
        values = [v for v in values if v not in _announced]
        _announced.update(values)
    for value in values:
        escaped = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        write(f"::add-mask::{escaped}\n")


def announce_masks() -> None:
    """In GitHub Actions, hand every known credential to the runner's masker."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        _add_masks(current().mask_values())


class _LiveStderr:
    """The real stderr, scrubbed write by write: for progress, which must show while the run
    goes on rather than with the verdict. Callers write whole lines, so a secret is never
    split across two writes."""

    @staticmethod
    def _target() -> TextIO:
        return _real_stderr or sys.stderr

    def write(self, text: str) -> int:
        return self._target().write(scrub(text))

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return self._target().isatty()


def live_stderr() -> TextIO:
    """A stream to stderr that is not held until the end, and is still scrubbed."""
    return _LiveStderr()  # type: ignore[return-value]


UNSCRUBBABLE = "ERROR  internal error in container-gate: its output could not be scrubbed of "
UNSCRUBBABLE += "credentials, so it is withheld (this is a bug; please report it)\n"


class Held:
    """What :func:`scrubbed_output` held; ``failed`` when scrubbing it failed (withheld)."""

    failed = False


@contextmanager
def scrubbed_output() -> Iterator[Held]:
    """Hold stdout and stderr for the duration, then write them out scrubbed.

    The gate writes its verdict at the end of a run, so holding the text costs nothing
    a user could see; it means a secret is scrubbed whole even when written in pieces.
    Should the scrub itself fail, nothing held is written, and ``Held.failed`` tells the
    caller to exit with an error.
    """
    global _real_write, _real_stderr
    out, err = sys.stdout, sys.stderr
    held_out, held_err = io.StringIO(), io.StringIO()
    held = Held()
    _real_write, _real_stderr = out.write, err
    sys.stdout, sys.stderr = held_out, held_err
    try:
        yield held
    finally:
        sys.stdout, sys.stderr = out, err
        _real_write, _real_stderr = None, None
        try:
            texts = [scrub(h.getvalue()) if h.getvalue() else "" for h in (held_out, held_err)]
        except Exception:  # a bug in the scrub: fail closed, print nothing it held
            held.failed = True
            texts = ["", UNSCRUBBABLE]
        for stream, text in zip((out, err), texts, strict=True):
            if text:
                stream.write(text)
                stream.flush()


def write_file(path: Path | str, text: str, *, append: bool = False) -> None:
    """Write (or append) *text*, scrubbed; ``OSError`` is the caller's to report."""
    with open(path, "a" if append else "w", encoding="utf-8", newline="\n") as handle:
        handle.write(scrub(text))
