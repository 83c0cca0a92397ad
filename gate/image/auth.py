"""Registry credentials and ``WWW-Authenticate`` challenges.

Credentials come from ``REGISTRY_USERNAME``/``REGISTRY_PASSWORD``, else from the Docker CLI's
``config.json`` (``$DOCKER_CONFIG/config.json``, default ``~/.docker/config.json``), reading
the ``auths`` entries as the Docker CLI writes them (base64 ``auth`` of ``user:password``).
Credential helpers (``credsStore``/``credHelpers``) are not run.

Nothing here ever puts a username, password or token into a message: errors name only
where the credentials came from.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gate.errors import UsageError
from gate.redact import docker_config_path

ENV_USERNAME = "REGISTRY_USERNAME"
ENV_PASSWORD = "REGISTRY_PASSWORD"  # noqa: S105 (a variable name, not a password)
_HUB_KEYS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


@dataclass(frozen=True)
class Credentials:
    """A username and password, and where they came from (for messages; never the values)."""

    username: str = field(repr=False)
    password: str = field(repr=False)
    source: str = ""

    def basic_header(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"


def _auth_key(key: str) -> str:
    """An ``auths`` key or registry host without scheme or path; Docker Hub as docker.io."""
    host = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", key.strip()).split("/", 1)[0].lower()
    return "docker.io" if host in _HUB_KEYS else host


def _from_docker_config(path: Path, registry: str) -> Credentials | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise UsageError(f"{path} is not valid JSON") from None
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        return None
    wanted = _auth_key(registry)
    for key, entry in auths.items():
        if _auth_key(str(key)) != wanted or not isinstance(entry, dict):
            continue
        encoded = entry.get("auth")
        if isinstance(encoded, str) and encoded:
            try:
                decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            username, sep, password = decoded.partition(":")
            if not sep or not username:
                raise UsageError(f"{path}: the auth entry for {key} is not base64 of user:password")
            return Credentials(username, password, source=str(path))
        user, secret = entry.get("username"), entry.get("password")
        if isinstance(user, str) and isinstance(secret, str) and user:
            return Credentials(user, secret, source=str(path))
    return None


def load_credentials(
    registry: str, *, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """Credentials for *registry* (``host[:port]``), or None for anonymous access."""
    env = os.environ if environ is None else environ
    username, password = env.get(ENV_USERNAME, ""), env.get(ENV_PASSWORD, "")
    if username or password:
        if not (username and password):
            missing = ENV_PASSWORD if username else ENV_USERNAME
            raise UsageError(f"{missing} is not set, but its partner is; set both or neither")
        return Credentials(username, password, source=f"{ENV_USERNAME}/{ENV_PASSWORD}")
    return _from_docker_config(docker_config_path(env), registry)


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: ``scheme`` lowercased, parameters by lowercase name."""

    scheme: str
    params: Mapping[str, str]


_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*,?')


def parse_challenge(header: str) -> Challenge | None:
    """Parse ``Bearer realm="…",service="…",scope="…"`` (RFC 7235) or ``Basic realm="…"``.

    Quoted values may hold commas (``scope="repository:a:pull,push"``) and escapes.
    Returns None for an empty or unparsable header.
    """
    match = re.match(r"\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s+|$)", header)
    if not match:
        return None
    params: dict[str, str] = {}
    rest = header[match.end() :]
    position = 0
    while position < len(rest):
        found = _PARAM.match(rest, position)
        if not found or found.end() == position:
            break
        quoted, bare = found.group(2), found.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
        params[found.group(1).lower()] = value
        position = found.end()
    return Challenge(scheme=match.group(1).lower(), params=params)


def token_from(doc: object) -> str | None:
    """The bearer token in a token-service response (``token``, or OAuth2's ``access_token``)."""
    if not isinstance(doc, dict):
        return None
    for key in ("token", "access_token"):
        value = doc.get(key)
        if isinstance(value, str) and value:
            return value
    return None
