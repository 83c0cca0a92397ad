"""A small OCI distribution API client: manifests, blobs and referrers, verified by digest.

What it guarantees, so callers do not have to:

* every byte returned or streamed is checked against the digest that named it, and a
  manifest fetched by tag is checked against ``Docker-Content-Digest`` (as containerd's
  resolver does);
* authentication follows the registry's ``WWW-Authenticate`` challenge: the bearer-token
  flow of the distribution token spec (anonymous, or with basic credentials), or basic auth;
* retries with exponential backoff on 429 (honouring ``Retry-After``, capped), on 5xx and on
  connection failures, a bounded number of times; every request has a timeout;
* plain HTTP only for loopback hosts and hosts the user declared insecure (as Docker's
  ``insecure-registries``); HTTPS otherwise;
* errors are ``RegistryError`` with one precise line, never carrying a credential: what a
  registry sends back is scrubbed (``gate.masking``) before it is cut short, and bearer
  tokens are registered there as soon as they arrive.

``requests`` is imported inside the constructor: the CLI's cold start must not pay for it.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import logging
import os
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gate import __version__
from gate.errors import RegistryContentError, RegistryError, UsageError
from gate.image.auth import Challenge, Credentials, load_credentials, parse_challenge, token_from
from gate.masking import register, untrusted
from gate.oci import mediatypes
from gate.oci.digests import VerifyingReader, compute, is_digest, verify
from gate.oci.manifest import MAX_MANIFEST_BYTES

_log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import requests

_MAX_REFERRER_PAGES = 50
DEFAULT_TIMEOUT = 30.0
TIMEOUT_VARIABLE = "CONTAINER_GATE_REGISTRY_TIMEOUT"
"""Seconds each registry request may take (connect, and each read); default 30."""
_LOOPBACK_NAMES = frozenset({"localhost"})


def hostname(host: str) -> str:
    """``host[:port]`` or ``[v6]:port`` without the port, lowercased and unbracketed."""
    host = host.lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    name = hostname(host)
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def uses_plain_http(host: str, insecure_hosts: Collection[str] = ()) -> bool:
    """Plain HTTP for loopback hosts and for hosts given as insecure (``host`` or ``host:port``)."""
    if is_loopback(host):
        return True
    wanted = {
        h.lower().removeprefix("http://").removeprefix("https://").rstrip("/")
        for h in insecure_hosts
    }
    return host.lower() in wanted or hostname(host) in wanted


@dataclass(frozen=True)
class Fetched:
    """A manifest or index as served: exact bytes, media type, digest, and the parsed JSON."""

    body: bytes
    media_type: str
    digest: str
    document: Mapping[str, Any]

    @property
    def is_index(self) -> bool:
        return self.media_type in mediatypes.INDEXES


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _error_codes(response: requests.Response) -> str:
    """``CODE: message`` pairs of a distribution error body (or its first line).

    Scrubbed of credentials before it is cut short: a registry may echo what it was sent.
    """
    try:
        head = next(response.iter_content(1 << 16), b"")
    except Exception:  # the body of an error response is best effort
        head = b""
    try:
        doc = json.loads(head)
    except (ValueError, RecursionError):
        doc = None
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if isinstance(errors, list):
        codes = "; ".join(
            f"{e.get('code', '?')}: {e.get('message', '')}" for e in errors if isinstance(e, dict)
        )
        return untrusted(codes)[:500]
    text = untrusted(head.decode("utf-8", "replace")).strip().splitlines()
    return "".join(c for c in text[0] if c.isprintable())[:300] if text else ""


def _guess_media_type(doc: Mapping[str, Any]) -> str:
    if "manifests" in doc:
        return mediatypes.OCI_INDEX
    return mediatypes.OCI_MANIFEST if "layers" in doc else ""


class RegistryClient:
    """Talk to one registry host (``host[:port]``, API root ``/v2/``)."""

    def __init__(
        self,
        host: str,
        *,
        insecure: bool = False,
        credentials: Credentials | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = 3,
        backoff: float = 0.5,
        max_delay: float = 10.0,
    ) -> None:
        import requests

        self._requests = requests
        self.host = host
        self.plain_http = insecure or is_loopback(host)
        self.base = f"{'http' if self.plain_http else 'https'}://{host}"
        self.credentials = credentials
        if credentials is not None:
            register(credentials.password, credentials.username)
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_delay = max_delay
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"container-gate/{__version__}"
        self._auth: dict[str, str] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ transport

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        *,
        stream: bool = False,
        params: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One logical request: retried on 429, 5xx and connection failures, bounded."""
        requests = self._requests
        target = urlsplit(url).netloc or self.host
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            _log.debug(
                "%s %s%s (attempt %d)",
                method,
                url,
                f" {dict(params)}" if params else "",
                attempt + 1,
            )
            try:
                response = self._session.request(
                    method,
                    url,
                    headers=dict(headers),
                    params=params,
                    timeout=self.timeout,
                    stream=stream,
                    allow_redirects=True,
                )
            except requests.Timeout:
                if last:
                    raise RegistryError(
                        f"timed out after {self.timeout:g}s talking to {target} "
                        f"({self.retries + 1} attempts)"
                    ) from None
                self._sleep(attempt, None)
                continue
            except requests.ConnectionError as error:
                if last:
                    raise RegistryError(
                        f"cannot connect to {target}: {_connection_reason(error, self.plain_http)}",
                        detail=untrusted(str(error))[:500],
                    ) from None
                self._sleep(attempt, None)
                continue
            except (requests.RequestException, ValueError) as error:
                # Not retried: a redirect loop, or a redirect to a URL that cannot be followed.
                raise RegistryError(
                    f"request to {target} failed: {type(error).__name__}",
                    detail=untrusted(str(error))[:500],
                ) from None
            _log.debug(
                "%s %s: HTTP %d in %.3f s",
                method,
                response.url,
                response.status_code,
                response.elapsed.total_seconds(),
            )
            if response.status_code == 429 or response.status_code >= 500:
                if last:
                    detail = _error_codes(response)
                    response.close()
                    raise RegistryError(
                        f"{target} answered HTTP {response.status_code} "
                        f"{'(rate limited) ' if response.status_code == 429 else ''}"
                        f"after {self.retries + 1} attempts",
                        detail=detail,
                    )
                delay = _retry_after(response.headers.get("Retry-After"))
                response.close()
                self._sleep(attempt, delay)
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _sleep(self, attempt: int, retry_after: float | None) -> None:
        delay = retry_after if retry_after is not None else self.backoff * (2**attempt)
        time.sleep(min(max(delay, 0.0), self.max_delay))

    # ------------------------------------------------------------------ authentication

    def _request(
        self,
        method: str,
        repo: str,
        path: str,
        *,
        what: str,
        accept: Sequence[str] = (),
        stream: bool = False,
        params: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """A request to ``/v2/<path>`` that answers the registry's auth challenge once."""
        url = f"{self.base}/v2/{path}"
        scope = f"repository:{repo}:pull"
        headers = {"Accept": ", ".join(accept)} if accept else {}
        sent = self._auth.get(scope) or self._auth.get("*")
        if sent:
            headers["Authorization"] = sent
        response = self._send(method, url, headers, stream=stream, params=params)
        if response.status_code != 401:
            return response
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        response.close()
        fresh = self._authenticate(challenge, scope, what)
        if fresh == sent:
            raise self._unauthorized(what)
        headers["Authorization"] = fresh
        response = self._send(method, url, headers, stream=stream, params=params)
        if response.status_code == 401:
            response.close()
            raise self._unauthorized(what)
        return response

    def _authenticate(self, challenge: Challenge | None, scope: str, what: str) -> str:
        if challenge is None or challenge.scheme not in ("bearer", "basic"):
            scheme = challenge.scheme if challenge else "none"
            raise RegistryError(
                f"{self.host} requires authentication for {what} with an unsupported "
                f"scheme ({scheme}); bearer and basic are supported"
            )
        with self._lock:
            if challenge.scheme == "basic":
                if self.credentials is None:
                    raise self._unauthorized(what)
                self._auth["*"] = self.credentials.basic_header()
                return self._auth["*"]
            token_scope = challenge.params.get("scope") or scope
            header = f"Bearer {self._fetch_token(challenge, token_scope, what)}"
            self._auth[scope] = header
            return header

    def _fetch_token(self, challenge: Challenge, scope: str, what: str) -> str:
        """The distribution token flow: GET realm?service=…&scope=…, basic creds if any."""
        realm = challenge.params.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RegistryError(f"{self.host} sent a bearer challenge without a usable realm")
        if (
            parts.scheme == "http"
            and self.credentials
            and not (self.plain_http or is_loopback(parts.netloc))
        ):
            raise RegistryError(
                f"refusing to send credentials to the plain-HTTP token service {parts.netloc}"
            )
        headers = {"Authorization": self.credentials.basic_header()} if self.credentials else {}
        params = {"scope": scope}
        if "service" in challenge.params:
            params["service"] = challenge.params["service"]
        response = self._send("GET", realm, headers, params=params)
        if response.status_code in (401, 403):
            response.close()
            raise self._unauthorized(what)
        if response.status_code != 200:
            response.close()
            raise RegistryError(
                f"token service {parts.netloc} answered HTTP {response.status_code} for {what}"
            )
        body = self._read(response, MAX_MANIFEST_BYTES, f"token response from {parts.netloc}")
        try:
            token = token_from(json.loads(body))
        except (ValueError, RecursionError):
            token = None
        if token is None:
            raise RegistryError(f"token service {parts.netloc} sent no token for {what}")
        register(token)
        return token

    def _unauthorized(self, what: str) -> RegistryError:
        if self.credentials is None:
            return RegistryError(
                f"authentication required for {what}: "
                "set REGISTRY_USERNAME/REGISTRY_PASSWORD or docker login"
            )
        return RegistryError(
            f"credentials were rejected by {self.host} for {what} (from {self.credentials.source})"
        )

    # ------------------------------------------------------------------ responses

    def _check(self, response: requests.Response, what: str, *, not_found: str) -> None:
        code = response.status_code
        if 200 <= code < 300:
            return
        detail = _error_codes(response)
        response.close()
        if code == 404:
            raise RegistryError(not_found, detail=detail)
        if code == 403:
            who = (
                f"the credentials from {self.credentials.source}"
                if self.credentials
                else "anonymous access"
            )
            raise RegistryError(f"access denied to {what} (HTTP 403) for {who}", detail=detail)
        raise RegistryError(f"{self.host} answered HTTP {code} for {what}", detail=detail)

    def _read(self, response: requests.Response, limit: int, what: str) -> bytes:
        """The whole body, at most *limit* bytes; the response is closed afterwards."""
        try:
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > limit:
                raise RegistryContentError(f"{what} is larger than {limit} bytes")
            body = bytearray()
            for chunk in response.iter_content(1 << 16):
                body += chunk
                if len(body) > limit:
                    raise RegistryContentError(f"{what} is larger than {limit} bytes")
            return bytes(body)
        except self._requests.RequestException as error:
            raise RegistryError(
                f"reading {what} from {self.host} failed: "
                f"{_connection_reason(error, self.plain_http)}"
            ) from None
        finally:
            response.close()

    # ------------------------------------------------------------------ API

    def get_manifest(
        self, repo: str, reference: str, accept: Sequence[str] = mediatypes.ALL_MANIFESTS
    ) -> Fetched:
        """GET a manifest or index by tag or digest, verified.

        By digest, the body must hash to it. By tag, the body must hash to the
        ``Docker-Content-Digest`` the registry sent (when it sent one), and the returned
        digest is the sha256 of the bytes actually received: that is what gets judged.
        """
        sep = "@" if is_digest(reference) else ":"
        what = f"{self.host}/{repo}{sep}{reference}"
        response = self._request(
            "GET", repo, f"{repo}/manifests/{reference}", what=what, accept=accept, stream=True
        )
        self._check(response, what, not_found=f"image not found: {what}")
        header = response.headers.get("Docker-Content-Digest", "").strip()
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        body = self._read(response, MAX_MANIFEST_BYTES, f"manifest {what}")
        if is_digest(reference):
            verify(body, reference, what=f"manifest {what}", error=RegistryContentError)
            digest = reference
        else:
            digest = compute(body)
        if header:
            if not is_digest(header):
                raise RegistryError(f"{self.host} sent an invalid Docker-Content-Digest for {what}")
            verify(
                body,
                header,
                what=f"manifest {what} (Docker-Content-Digest)",
                error=RegistryContentError,
            )
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
            document = None
        if not isinstance(document, dict):
            raise RegistryContentError(f"the manifest for {what} is not a JSON object")
        media_type = self._media_type(content_type, document, what)
        if media_type not in accept:
            raise RegistryContentError(
                f"{what} has media type {media_type or '(none)'}, "
                f"expected one of {', '.join(accept)}"
            )
        return Fetched(body=body, media_type=media_type, digest=digest, document=document)

    @staticmethod
    def _media_type(content_type: str, document: Mapping[str, Any], what: str) -> str:
        declared = document.get("mediaType")
        declared = declared if isinstance(declared, str) else ""
        known = set(mediatypes.ALL_MANIFESTS)
        if content_type in known:
            if declared and declared != content_type:
                raise RegistryContentError(
                    f"{what} is served as {content_type} but declares mediaType {declared}"
                )
            return content_type
        return declared or _guess_media_type(document) or content_type

    def resolve(self, repo: str, tag: str) -> str:
        """The digest *tag* points to now: one HEAD (a GET when no digest header comes back)."""
        what = f"{self.host}/{repo}:{tag}"
        response = self._request(
            "HEAD", repo, f"{repo}/manifests/{tag}", what=what, accept=mediatypes.ALL_MANIFESTS
        )
        self._check(response, what, not_found=f"image not found: {what}")
        header = response.headers.get("Docker-Content-Digest", "").strip()
        response.close()
        if is_digest(header):
            return header
        return self.get_manifest(repo, tag).digest

    def get_blob(self, repo: str, digest: str, max_bytes: int) -> bytes:
        """A whole blob (config, signature payload), at most *max_bytes*, verified."""
        what = f"blob {self.host}/{repo}@{digest}"
        response = self._request("GET", repo, f"{repo}/blobs/{digest}", what=what, stream=True)
        self._check(response, what, not_found=f"blob not found: {self.host}/{repo}@{digest}")
        body = self._read(response, max_bytes, what)
        verify(body, digest, what=what, error=RegistryContentError)
        return body

    def open_blob(self, repo: str, digest: str, *, size: int | None = None) -> VerifyingReader:
        """A streaming reader of a blob (a layer) that verifies digest and size at EOF."""
        what = f"blob {self.host}/{repo}@{digest}"
        response = self._request("GET", repo, f"{repo}/blobs/{digest}", what=what, stream=True)
        self._check(response, what, not_found=f"blob not found: {self.host}/{repo}@{digest}")
        return VerifyingReader(
            self._chunks(response, what),
            digest,
            what=what,
            error=RegistryContentError,
            size=size,
            on_close=response.close,
        )

    def _chunks(self, response: requests.Response, what: str) -> Iterator[bytes]:
        try:
            yield from response.iter_content(1 << 16)
        except self._requests.RequestException as error:
            raise RegistryError(
                f"reading {what} failed: {_connection_reason(error, self.plain_http)}"
            ) from None

    def get_referrers(
        self, repo: str, digest: str, artifact_type: str | None = None
    ) -> list[dict[str, Any]] | None:
        """Descriptors from the OCI referrers API, or None when the registry lacks it (404).

        The filter is applied here too when the registry did not report applying it
        (``OCI-Filters-Applied``), as the distribution spec allows. Pages (``Link:
        rel="next"``) are followed, a bounded number of times.
        """
        what = f"referrers of {self.host}/{repo}@{digest}"
        params = {"artifactType": artifact_type} if artifact_type else None
        path = f"{repo}/referrers/{digest}"
        found: list[dict[str, Any]] = []
        for _page in range(_MAX_REFERRER_PAGES):
            response = self._request(
                "GET",
                repo,
                path,
                what=what,
                accept=(mediatypes.OCI_INDEX,),
                stream=True,
                params=params,
            )
            if response.status_code == 404 and not found:
                response.close()
                return None
            self._check(response, what, not_found=f"{what}: not found")
            filtered = "artifacttype" in response.headers.get("OCI-Filters-Applied", "").lower()
            next_link = response.links.get("next", {}).get("url")
            body = self._read(response, MAX_MANIFEST_BYTES, what)
            try:
                doc = json.loads(body)
            except (ValueError, RecursionError):
                doc = None
            manifests = doc.get("manifests") if isinstance(doc, dict) else None
            if not isinstance(manifests, list) or not all(isinstance(m, dict) for m in manifests):
                raise RegistryError(f"the {what} are not an OCI index")
            found += [
                m
                for m in manifests
                if filtered or artifact_type is None or m.get("artifactType") == artifact_type
            ]
            if not next_link:
                return found
            path, params = _next_path(next_link, repo), None
        raise RegistryError(f"{what} span more than {_MAX_REFERRER_PAGES} pages")


def _next_path(link: str, repo: str) -> str:
    """The ``/v2/``-relative path of a pagination link (same host only)."""
    parts = urlsplit(link)
    path = parts.path
    if not path.startswith("/v2/"):
        raise RegistryError(f"unexpected pagination link for {repo}: {untrusted(link)[:200]}")
    return path[len("/v2/") :] + (f"?{parts.query}" if parts.query else "")


def _connection_reason(error: Exception, plain_http: bool) -> str:
    """A short, credential-free reason for a transport failure."""
    text = str(error)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "timed out" in lowered or "timeout" in lowered:
        return "timed out"
    if (
        "name or service not known" in lowered
        or "nodename nor servname" in lowered
        or ("name resolution" in lowered)
    ):
        return "unknown host"
    if "ssl" in lowered or "certificate" in lowered:
        hint = "" if plain_http else " (a plain-HTTP registry needs --insecure-registry HOST)"
        return f"TLS error{hint}"
    if "reset" in lowered:
        return "connection reset"
    return type(error).__name__


def registry_timeout(environ: Mapping[str, str] | None = None) -> float:
    """The per-request timeout: ``CONTAINER_GATE_REGISTRY_TIMEOUT`` seconds, else 30."""
    return seconds_from(environ, TIMEOUT_VARIABLE, DEFAULT_TIMEOUT)


def seconds_from(environ: Mapping[str, str] | None, variable: str, default: float) -> float:
    """A positive number of seconds from *variable* (default ``os.environ``), else *default*."""
    text = (os.environ if environ is None else environ).get(variable, "").strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise UsageError(f"{variable}={text!r}: expected a positive number of seconds")
    return seconds


def connect(
    registry: str,
    *,
    insecure_hosts: Collection[str] = (),
    timeout: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> RegistryClient:
    """A client for *registry* with its credentials loaded and HTTP/HTTPS decided.

    ``timeout`` defaults to :func:`registry_timeout` (the environment, else 30 s).
    """
    return RegistryClient(
        registry,
        insecure=uses_plain_http(registry, insecure_hosts),
        credentials=load_credentials(registry, environ=environ),
        timeout=registry_timeout(environ) if timeout is None else timeout,
    )
