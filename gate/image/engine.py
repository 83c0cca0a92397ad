"""A minimal Docker Engine API client: inspect an image and export it as a docker archive.

The engine is found as the docker CLI finds it without a context: ``DOCKER_HOST``, else
``unix:///var/run/docker.sock`` (docker/cli ``opts.ParseHost``). Podman's service speaks the
same API. Only two transports are spoken, both plain HTTP:

* ``unix:///PATH``: a local socket, whose file permissions are the access control;
* ``tcp://HOST:PORT`` with a loopback HOST. A remote engine would need TLS
  (``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``), which is not supported: refused, never
  downgraded to plain HTTP across the network.

Paths carry no API version: an unversioned request is served at the engine's own version,
and Docker ≥ 29 refuses anything older than v1.44 while Podman 4 offers v1.41. Both calls
read stable fields only (``Id``; the ``docker save`` tar). Every read has a stall timeout
and a size cap; every failure is an :class:`EngineError` naming ``DOCKER_HOST``.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from gate.errors import EngineError, UsageError
from gate.image.registry import is_loopback, seconds_from
from gate.redact import docker_config_path

_log = logging.getLogger(__name__)

DEFAULT_HOST = "unix:///var/run/docker.sock"
TIMEOUT_VARIABLE = "CONTAINER_GATE_ENGINE_TIMEOUT"
MAX_BYTES_VARIABLE = "CONTAINER_GATE_ENGINE_MAX_BYTES"
DEFAULT_TIMEOUT = 60.0
#: Largest export accepted (bytes of the uncompressed ``docker save`` tar) unless overridden.
DEFAULT_MAX_ARCHIVE_BYTES = 32 << 30
_MAX_JSON_BYTES = 4 << 20
_MAX_ERROR_BYTES = 64 << 10
_CHUNK = 1 << 20


@dataclass(frozen=True)
class EngineAddress:
    """Where the engine listens: a unix socket path, or a loopback ``host:port``."""

    url: str
    socket_path: str | None = None
    host: str | None = None
    port: int | None = None


def engine_address(environ: Mapping[str, str]) -> EngineAddress:
    """Parse ``DOCKER_HOST`` (default ``unix:///var/run/docker.sock``); refuse the rest."""
    url = environ.get("DOCKER_HOST", "").strip()
    if not url:
        context, origin = _current_context(environ)
        if context not in ("", "default"):
            raise UsageError(
                f"docker context {context!r} is selected ({origin}), and contexts are not "
                "read; set DOCKER_HOST to its address (`docker context inspect` shows it)"
            )
        url = DEFAULT_HOST
    parts = urlsplit(url)
    if parts.scheme == "unix":
        path = parts.netloc + parts.path
        if not path.startswith("/") or parts.query or parts.fragment:
            raise UsageError(f"DOCKER_HOST={url!r}: expected unix:///absolute/path")
        return EngineAddress(url, socket_path=path)
    if parts.scheme == "tcp":
        try:
            port = parts.port
        except ValueError:
            port = None
        host = parts.hostname
        if not host or port is None or "@" in parts.netloc or parts.path.strip("/") or parts.query:
            raise UsageError(f"DOCKER_HOST={url!r}: expected tcp://127.0.0.1:PORT")
        if any(environ.get(v, "") for v in ("DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")):
            raise UsageError(
                f"DOCKER_HOST={url!r} with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH: TLS to the engine "
                "is not supported; reach it over a unix socket (or an SSH tunnel to one), "
                "or `docker save` the image and pass docker-archive:FILE"
            )
        if not is_loopback(host):
            raise UsageError(
                f"DOCKER_HOST={url!r}: plain HTTP is spoken to a loopback engine only, and TLS "
                "is not supported; use a unix socket, or `docker save` the image and pass "
                "docker-archive:FILE"
            )
        return EngineAddress(url, host=host, port=port)
    raise UsageError(
        f"DOCKER_HOST={url!r}: only unix:///PATH and tcp://127.0.0.1:PORT are supported"
    )


def _current_context(environ: Mapping[str, str]) -> tuple[str, str]:
    """The docker context the CLI would use without DOCKER_HOST, and where it was chosen.

    As docker/cli's ``resolveContextName``: ``DOCKER_CONTEXT``, else ``currentContext`` in
    ``config.json``. A context other than ``default`` names another engine than the socket.
    """
    context = environ.get("DOCKER_CONTEXT", "").strip()
    if context:
        return context, "DOCKER_CONTEXT"
    path = docker_config_path(environ)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "", ""
    except (OSError, ValueError, RecursionError):
        raise UsageError(f"cannot read {path} to see which docker context is selected") from None
    current = doc.get("currentContext") if isinstance(doc, dict) else None
    return (current, f"currentContext in {path}") if isinstance(current, str) else ("", "")


def engine_timeout(environ: Mapping[str, str]) -> float:
    """How long one read from the engine may stall: ``CONTAINER_GATE_ENGINE_TIMEOUT``, else 60."""
    return seconds_from(environ, TIMEOUT_VARIABLE, DEFAULT_TIMEOUT)


def max_archive_bytes(environ: Mapping[str, str]) -> int:
    """The export cap: ``CONTAINER_GATE_ENGINE_MAX_BYTES``, else 32 GiB."""
    text = environ.get(MAX_BYTES_VARIABLE, "").strip()
    if not text:
        return DEFAULT_MAX_ARCHIVE_BYTES
    if not text.isdigit() or int(text) <= 0:
        raise UsageError(f"{MAX_BYTES_VARIABLE}={text!r}: expected a positive number of bytes")
    return int(text)


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket: ``http.client`` with ``connect`` swapped for ``AF_UNIX``."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    if isinstance(error, http.client.IncompleteRead):
        return f"the answer was cut off after {len(error.partial)} bytes"
    return type(error).__name__


class Engine:
    """One engine at *address*; each call opens its own connection (no keep-alive state)."""

    def __init__(self, address: EngineAddress, *, timeout: float, max_bytes: int) -> None:
        self.address = address
        self.timeout = timeout
        self.max_bytes = max_bytes

    @property
    def where(self) -> str:
        return f"the engine at DOCKER_HOST={self.address.url}"

    def _failed(self, path: str, error: BaseException) -> EngineError:
        return EngineError(f"{self.where} failed to answer GET {path}: {_reason(error)}")

    def _connection(self) -> http.client.HTTPConnection:
        if self.address.socket_path is not None:
            return _UnixConnection(self.address.socket_path, self.timeout)
        assert self.address.host is not None
        return http.client.HTTPConnection(
            self.address.host, self.address.port, timeout=self.timeout
        )

    def _get(
        self, path: str, name: str
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """``GET path``: the open connection and a 200 response; anything else raises."""
        connection = self._connection()
        _log.debug("GET %s%s", self.where, path)
        try:
            connection.request("GET", path, headers={"Host": "docker"})
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise EngineError(
                f"cannot reach {self.where}: {_reason(error)}; start the engine or set "
                "DOCKER_HOST to its address"
            ) from None
        try:
            response = connection.getresponse()
            if response.status == 200:
                return connection, response
            body = response.read(_MAX_ERROR_BYTES)
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise self._failed(path, error) from None
        connection.close()
        message = _error_message(body)
        if response.status == 404:
            raise EngineError(f"image {name!r} not found in {self.where}: {message}")
        raise EngineError(f"{self.where} answered HTTP {response.status} to GET {path}: {message}")

    def inspect(self, name: str) -> Mapping[str, Any]:
        """``GET /images/NAME/json``: the engine's record of the image."""
        path = f"/images/{name}/json"
        connection, response = self._get(path, name)
        try:
            body = response.read(_MAX_JSON_BYTES + 1)
        except (OSError, http.client.HTTPException) as error:
            raise self._failed(path, error) from None
        finally:
            connection.close()
        if len(body) > _MAX_JSON_BYTES:
            raise EngineError(f"{self.where}: GET {path} is larger than {_MAX_JSON_BYTES} bytes")
        if response.length:  # http.client returns what came before an early EOF
            raise EngineError(f"{self.where}: the answer to GET {path} was cut off")
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            doc = None
        if not isinstance(doc, dict):
            raise EngineError(f"{self.where}: GET {path} is not a JSON object")
        return doc

    def export(self, name: str, out: BinaryIO) -> int:
        """``GET /images/NAME/get`` (NAME: the image id): stream the ``docker save`` tar into
        *out*; return its size."""
        path = f"/images/{name}/get"
        connection, response = self._get(path, name)
        written = 0
        try:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (OSError, http.client.HTTPException) as error:
                    raise EngineError(
                        f"{self.where} failed while exporting {name!r} after {written} bytes: "
                        f"{_reason(error)}"
                    ) from None
                if not chunk:
                    if response.length:  # http.client returns b"" at an early EOF
                        raise EngineError(
                            f"{self.where} failed while exporting {name!r} after {written} "
                            f"bytes: the answer was cut off {response.length} bytes short"
                        )
                    return written
                written += len(chunk)
                if written > self.max_bytes:
                    raise EngineError(
                        f"{self.where}: the export of {name!r} is larger than {self.max_bytes} "
                        f"bytes ({MAX_BYTES_VARIABLE} raises the cap)"
                    )
                try:
                    out.write(chunk)
                except OSError as error:
                    raise EngineError(
                        f"cannot write the export of {name!r} to a temporary file: {_reason(error)}"
                    ) from None
        finally:
            connection.close()


def _error_message(body: bytes) -> str:
    """The engine's ``{"message": …}``, else the start of the body, on one line."""
    text = body.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        text = doc["message"]
    text = " ".join(text.split())
    return (text[:500] + "…") if len(text) > 500 else (text or "(no message)")


def connect(environ: Mapping[str, str], *, timeout: float | None = None) -> Engine:
    """The engine ``DOCKER_HOST`` names, with its timeout and export cap from *environ*."""
    return Engine(
        engine_address(environ),
        timeout=engine_timeout(environ) if timeout is None else timeout,
        max_bytes=max_archive_bytes(environ),
    )


__all__ = ["Engine", "EngineAddress", "connect", "engine_address"]
