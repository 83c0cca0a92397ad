"""Keep every credential the gate knows out of everything it prints or writes.

Pure: a :class:`Redactor` is built from :class:`Credential` values (see
:func:`credentials_from_environ`, :func:`credentials_from_docker_config`) and scrubs text.
Where the credentials come from at run time, and where text leaves the process, is
``gate.masking``.

A secret is masked (``***``) in every form a registry, a scanner or a renderer can give it:

- **raw**, and **escaped** as the places it passes through escape it: percent-encoding
  (``quote``, ``quote_plus``, Go's ``url.UserPassword``, any mix of escaped and plain
  characters, either hex case), JSON (``\\"``, ``\\uXXXX``, surrogate pairs), Go's ``%q``
  (``\\a``, ``\\xXX``, ``\\UXXXXXXXX``), markdown backslash escapes and HTML character
  references (the step summary), workflow-command escapes (``%25``, ``%3A``, ``%2C``);
- as ``user:secret``; in hex; and as **base64** of the secret and of ``user:secret``
  (standard and URL-safe alphabets): whole, and as **any run of 8 or more characters** of
  the encoding at each of the three byte alignments, so a token cut short by a tool, or
  embedded in a longer base64 blob (a whole ``config.json`` encoded), is still caught;
- generic shapes whose value the gate cannot know (a token Trivy obtained itself):
  ``Authorization:`` header values, ``Bearer``/``Basic`` credentials, the password in a
  URL's ``user:password@``.

Usernames alone are not secrets (an identity such as ``AWS`` or ``oauth2accesstoken``);
they are masked only together with their secret.

**Minimum length.** A secret shorter than :data:`MIN_SECRET_LENGTH` characters cannot be
masked on its own without destroying the output: it occurs by chance in digests, words and
numbers (a 3-character password is a common English trigram). Its longer forms
(``user:secret``, base64) are still masked, and :meth:`Redactor.untrusted` withholds text
the gate did not write (a scanner's stderr, a registry's error body) entirely, since that
is where an echo of it would come from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

MASK = "***"
MIN_SECRET_LENGTH = 6
"""Secrets shorter than this are not masked alone (see the module docstring)."""
BASE64_RUN = 8
"""No run of this many characters of a secret's base64 encoding survives."""

WITHHELD = (
    "(withheld: a configured credential is shorter than "
    f"{MIN_SECRET_LENGTH} characters, so it could not be masked in this text)"
)

SECRET_VARIABLES = (
    "REGISTRY_PASSWORD",
    "TRIVY_PASSWORD",
    "TRIVY_REGISTRY_TOKEN",
    "TRIVY_TOKEN",
    "GRYPE_REGISTRY_AUTH_PASSWORD",
    "GRYPE_REGISTRY_AUTH_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
)
"""Variables whose value is a secret: the gate's registry credentials, what it forwards to
the scanners (and their own token variables), and the tokens a GitHub runner provides."""

USERNAME_OF = {
    "REGISTRY_PASSWORD": "REGISTRY_USERNAME",
    "TRIVY_PASSWORD": "TRIVY_USERNAME",
    "GRYPE_REGISTRY_AUTH_PASSWORD": "GRYPE_REGISTRY_AUTH_USERNAME",
}
"""The username variable that goes with each password variable (for ``user:secret``)."""


class Credential:
    """A secret, and the username it is sent with (for ``user:secret`` and basic auth).

    A plain class, not a dataclass: the CLI imports this module first thing, and
    ``dataclasses`` (with ``inspect``) would double the start-up time of ``--version``.
    """

    __slots__ = ("secret", "user")

    def __init__(self, secret: str, user: str = "") -> None:
        self.secret, self.user = secret, user

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Credential) and (self.secret, self.user) == (
            other.secret,
            other.user,
        )

    def __hash__(self) -> int:
        return hash((self.secret, self.user))

    def __repr__(self) -> str:
        return "Credential(***)"


def docker_config_path(environ: Mapping[str, str]) -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json`` (as the Docker CLI)."""
    directory = environ.get("DOCKER_CONFIG")
    if directory:
        return Path(directory) / "config.json"
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".docker" / "config.json"


def credentials_from_environ(environ: Mapping[str, str]) -> list[Credential]:
    """The secrets in :data:`SECRET_VARIABLES`, paired with their username variable."""
    found = []
    for name in SECRET_VARIABLES:
        secret = environ.get(name, "")
        if secret:
            found.append(Credential(secret, environ.get(USERNAME_OF.get(name, ""), "")))
    return found


def credentials_from_docker_config(doc: object) -> list[Credential]:
    """Every credential in a Docker CLI ``config.json`` document, for every registry.

    ``auths.*``: ``auth`` (base64 of ``user:password``, also kept whole as a secret),
    ``username``/``password``, ``identitytoken`` and ``registrytoken``; as the Docker CLI's
    ``configfile`` writes them. Anything malformed is skipped: this only collects.
    """
    import base64  # only with credentials to read: the CLI's start-up does not pay for it

    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        return []
    found = []
    for entry in auths.values():
        if not isinstance(entry, dict):
            continue
        user = entry.get("username")
        user = user if isinstance(user, str) else ""
        encoded = entry.get("auth")
        if isinstance(encoded, str) and encoded:
            found.append(Credential(encoded))
            try:
                decoded = base64.b64decode(encoded).decode("utf-8", "replace")
            except ValueError:
                decoded = ""
            name, sep, password = decoded.partition(":")
            if sep and password:
                found.append(Credential(password, name))
        for key in ("password", "identitytoken", "registrytoken"):
            value = entry.get(key)
            if isinstance(value, str) and value:
                found.append(Credential(value, user if key == "password" else ""))
    return found


# --------------------------------------------------------------------------- forms

_HTML_NAMED = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos"}
_SHORT_ESCAPES = {"\a": "a", "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t", "\v": "v"}
"""JSON's and Go's one-letter escapes of control characters."""


def _hex(value: int, width: int) -> str:
    """``value`` in hex as a regex that accepts either case of each digit."""
    digits = f"{value:0{width}x}"
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in digits)


def _char(c: str) -> str:
    """A regex for one character of a secret as any output format may spell it."""
    code = ord(c)
    if c.isascii() and c.isalnum():
        return c  # no format escapes a letter or digit
    alternatives = [re.escape(c)]
    if code < 128:
        # markdown's \_ , JSON's \" \\ \/ (and doubled, when one format nests in another)
        alternatives.append(r"\\{1,3}" + re.escape(c))
    alternatives.append("".join("%" + _hex(b, 2) for b in c.encode("utf-8")))
    if code > 0xFFFF:
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        alternatives.append(rf"\\u{_hex(high, 4)}\\u{_hex(low, 4)}")  # JSON
        alternatives.append(rf"\\U{_hex(code, 8)}")  # Go's strconv.QuoteToASCII
    else:
        alternatives.append(rf"\\u{_hex(code, 4)}")
    if code < 0x80:
        alternatives.append(rf"\\x{_hex(code, 2)}")  # Go's %q of a control character
    if c in _SHORT_ESCAPES:
        alternatives.append(r"\\" + _SHORT_ESCAPES[c])
    if c == " ":
        alternatives.append(r"\+")
    if c in _HTML_NAMED:
        alternatives.append(f"&{_HTML_NAMED[c]};")
    alternatives.append(f"&#0*{code};|&#[xX]0*{_hex(code, 1)};")
    return "(?:" + "|".join(alternatives) + ")"


def spelled(literal: str) -> str:
    """A regex matching *literal* raw, or escaped in any of the ways the module lists."""
    return "".join(_char(c) for c in literal)


def _b64(data: bytes, urlsafe: bool) -> str:
    import base64

    return (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()


def base64_cores(data: bytes) -> list[str]:
    """The base64 characters determined by *data* alone, at each of the 3 byte alignments.

    Inside a longer encoded blob, *data* starts at some byte offset; modulo 3 that is one
    of three alignments, and each gives different characters. Characters that mix in
    bits of neighbouring bytes are left out: those are the same whatever the secret.
    """
    cores = []
    for urlsafe in (False, True):
        for shift in range(3):
            encoded = _b64(b"\0" * shift + data + b"\0\0\0", urlsafe)
            first = -(-shift * 8 // 6)  # first character whose 6 bits are all data bits
            end = (shift + len(data)) * 8 // 6  # past the last such character
            cores.append(encoded[first:end])
    return cores


_QUAD = BASE64_RUN // 2


def _runs(text: str, grams: frozenset[str], quads: frozenset[str]) -> Iterable[str]:
    """Runs of base64 characters in *text* that contain one of the *grams*.

    A quick look first: an 8-character piece of a core starting at offset ``p`` covers the
    4 characters at the next multiple of 4 (``q <= p + 3``), so a token whose 4-character
    pieces at offsets 0, 4, 8, … are none of the cores' *quads* holds no gram. That reads
    a quarter of the token; the full check runs only on the rare token that passes.
    """
    for token in set(re.findall(_BASE64_TOKEN, text)):
        n = len(token)
        pieces = map(slice, range(0, n - _QUAD + 1, _QUAD), range(_QUAD, n + 1, _QUAD))
        if not quads.isdisjoint(map(token.__getitem__, pieces)):
            windows = range(n - BASE64_RUN + 1)
            if any(token[i : i + BASE64_RUN] in grams for i in windows):
                yield token


_BASE64_TOKEN = rf"[A-Za-z0-9+/_-]{{{BASE64_RUN},}}"

_GENERIC = (
    # An Authorization header's value, whatever the scheme (8+ characters, not a word:
    # "Improper Authorization: bypass" in a CVE title is left alone).
    (
        "authorization",
        r"(?i)(\bauthorization\b[\"']?\s*[:=]\s*[\"']?(?:[a-z]+\s+)?)"
        r"(?=[A-Za-z._~-]*[0-9+/=])[^\s\"',;]{8,}",
    ),
    # A Bearer/Basic credential (token68) that looks like one: 8+ characters, not a word.
    *(
        (
            scheme,
            rf"(?i)(\b{scheme}\s+)(?=[A-Za-z._~-]*[0-9+/=])[A-Za-z0-9._~+/-]{{8,}}=*",
        )
        for scheme in ("bearer", "basic")
    ),
    # The password of a URL's user:password@.
    ("://", r"(://[^\s/:@]+:)[^\s/@]+(?=@)"),
)
"""Shapes of credentials whose value the gate cannot know, each with a cheap pre-check.
Compiled on first use (``re``'s cache): ``--version`` must not pay for them."""


def _generic(text: str) -> str:
    lowered = text.lower()
    for needle, pattern in _GENERIC:
        if needle in lowered:
            text = re.sub(pattern, lambda m: m.group(1) + MASK, text)
    return text


def _needle(literal: str) -> str:
    """The longest run of ASCII letters and digits in *literal*: spelled the same everywhere."""
    runs = re.findall(r"[A-Za-z0-9]+", literal)
    return max(runs, key=len) if runs else ""


class Redactor:
    """Scrubs a fixed set of credentials from text (see the module docstring)."""

    def __init__(self, credentials: Iterable[Credential] = ()) -> None:
        literals: set[str] = set()
        cores: set[str] = set()
        self.short = False
        for credential in credentials:
            secret, user = credential.secret, credential.user
            if not secret:
                continue
            if len(secret) < MIN_SECRET_LENGTH:
                self.short = True
            else:
                literals.add(secret)
            payloads = [secret.encode("utf-8", "surrogatepass")]
            if user:
                pair = f"{user}:{secret}"
                if len(pair) >= MIN_SECRET_LENGTH:
                    literals.add(pair)
                payloads.append(pair.encode("utf-8", "surrogatepass"))
            for payload in payloads:
                if len(payload) < MIN_SECRET_LENGTH:
                    continue
                literals.update(_b64(payload, urlsafe) for urlsafe in (False, True))
                literals.update((payload.hex(), payload.hex().upper()))
                cores.update(c for c in base64_cores(payload) if len(c) >= BASE64_RUN)
        self.literals = frozenset(literals)
        self._grams = frozenset(
            core[i : i + BASE64_RUN] for core in cores for i in range(len(core) - BASE64_RUN + 1)
        )
        self._quads = frozenset(
            core[i : i + _QUAD] for core in cores for i in range(len(core) - _QUAD + 1)
        )
        self._literals = [
            (_needle(s), re.compile(spelled(s))) for s in sorted(literals, key=len, reverse=True)
        ]

    def scrub(self, text: str) -> str:
        """*text* with every form of every known credential, and generic ones, masked.

        Repeated until nothing changes, so masking one secret cannot join the pieces
        around it into another; each pass only shortens the text, so this ends.
        """
        while True:
            before = text
            for needle, pattern in self._literals:
                if needle in text:
                    text = pattern.sub(MASK, text)
            if self._grams:
                runs = sorted(_runs(text, self._grams, self._quads), key=len, reverse=True)
                if runs:
                    text = re.sub("|".join(map(re.escape, runs)), self._mask_run, text)
            text = _generic(text)
            if text == before:
                return text

    def _mask_run(self, match: re.Match[str]) -> str:
        """Mask the parts of a base64 run that are 8+ characters of a secret's encoding."""
        token = match.group(0)
        pieces, kept = [], 0  # kept: where the unmasked rest of the token starts
        for i in range(len(token) - BASE64_RUN + 1):
            if token[i : i + BASE64_RUN] in self._grams:
                if i > kept:
                    pieces += [token[kept:i], MASK]
                elif not pieces or pieces[-1] != MASK:
                    pieces.append(MASK)
                kept = i + BASE64_RUN
        return "".join([*pieces, token[kept:]])

    def untrusted(self, text: str) -> str:
        """Text the gate did not write (stderr, an error body), before it is cut short.

        Scrubbed; or withheld whole when a credential too short to mask is known, since
        an echo of it would come from exactly such text.
        """
        if self.short and text.strip():
            return WITHHELD
        return self.scrub(text)

    def mask_values(self) -> list[str]:
        """The values to hand the GitHub runner's own masker (``::add-mask::``)."""
        return sorted(self.literals)


def doc_from_json(text: str) -> object:
    """A ``config.json`` document, or None when it is not JSON (nothing to collect then)."""
    import json

    try:
        doc: object = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return doc
