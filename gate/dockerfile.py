"""Read Dockerfiles into the images a build pulls: ``# syntax=``, ``FROM``, ``COPY --from``, mounts.

The gate judges what BuildKit pulls, so it reads a Dockerfile by BuildKit's rules, ported from
``github.com/moby/buildkit`` v0.34.2 ``frontend/dockerfile`` (held to it by a differential test
against that module on generated Dockerfiles):

- ``parser/parser.go`` ``Parse``: lines split on ``\\n`` (trailing ``\\r`` dropped, a UTF-8 BOM
  ignored); parser directives only at the top; the escape token (``\\`` or `````) ending a line
  continues it; comment and blank lines inside a continuation are skipped; heredocs of
  ``RUN``/``COPY``/``ADD`` (also under ``ONBUILD``) are found by running the shell lexer over
  the whole line (``heredocsFromLine``: raw quotes and escapes, always ``\\``, unset variables
  kept), so ``$``, quotes and escapes decide whether ``<<WORD`` opens one and what ends it.
- ``parser/split_command.go`` and ``line_parsers.go``: flags, JSON or shell form, words.
- ``instructions/parse.go``: every instruction's arguments and flags; an unknown one is an error.
- ``dockerfile2llb/convert.go``: ``FROM`` expands the ARGs before the first ``FROM`` (a
  ``--build-arg`` beats a default); ``FROM name`` is internal only for an *earlier* stage named
  exactly so (a stage named ``builder`` is not ``FROM Builder``); ``COPY --from`` and ``RUN
  --mount=…,from=`` name a stage (case-insensitively, or by index among the stages and the
  images met so far) or else pull an image; ``--from`` allows no variables; cycles are errors.
- ``parser/directives.go`` ``DetectSyntax`` and ``builder/build.go``: ``# syntax=IMAGE`` (after
  an optional ``#!`` line; also ``// syntax=`` or a JSON ``{"syntax": …}``), overridden by the
  ``BUILDKIT_SYNTAX`` build-arg, makes BuildKit pull and run IMAGE as the frontend: it is
  judged like a base, with role ``frontend``.

The gate refuses (``UsageError``, exit 2) where BuildKit fails, and also where it cannot know
what BuildKit would pull: an ARG used in ``FROM`` with no value or never declared (BuildKit
substitutes an empty string), the automatic platform ARGs (``TARGETARCH``, …) unless given as
``--build-arg``, shell pattern expansions (``${V%.*}``), ``--platform`` values other than
``os/arch[/variant]``, ``RUN --device``, a ``SOURCE_DATE_EPOCH`` naming a stage or context,
and ``ONBUILD`` triggers that copy or mount from another image or stage. Every stage counts,
not only those ``--target`` reaches. Not mirrored: ``ONBUILD`` triggers inside base images (the
gate does not read their configs), and the checks of ``HEALTHCHECK`` flag values (BuildKit
fails such a build; it names no image).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gate._shlex import GO_SPACE, Lex, LexError, Unknown, Unsupported
from gate.errors import GateError, UsageError
from gate.model import BaseImage, Location
from gate.oci.reference import parse_reference

BUILDKIT_VERSION = "v0.34.2"
SCRATCH = "scratch"
SYNTAX_ARG = "BUILDKIT_SYNTAX"
_MAX_LINE = 64 * 1024 - 1  # bufio.MaxScanTokenSize - 1, with the newline
_TEXT_MAX = 300
_DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*")
_KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_HEREDOC = re.compile(r"([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)")
_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")
_ATOI = re.compile(r"[+-]?[0-9]+")
_HEREDOC_COMMANDS = frozenset({"run", "copy", "add"})
_AUTOMATIC_ARGS = frozenset(
    [f"{p}{s}" for p in ("BUILD", "TARGET") for s in ("PLATFORM", "OS", "OSVERSION", "ARCH")]
    + ["BUILDVARIANT", "TARGETVARIANT", "TARGETSTAGE"]
)
_UNKNOWN = "\0unknown"  # an automatic ARG's value: only BuildKit knows it
_SAMPLES = {
    f"{p}{s}": v
    for p in ("BUILD", "TARGET")
    for s, v in (("PLATFORM", "linux/amd64"), ("OS", "linux"), ("ARCH", "amd64"))
} | {"TARGETSTAGE": "default"}

# instructions/parse.go: the flags each instruction takes ("s" string, "b" bool, "m" repeated).
# None: the instruction never parses its flags (ARG, STOPSIGNAL), so any flag is ignored.
_FLAGS: dict[str, dict[str, str] | None] = {
    "add": {
        "chown": "s",
        "chmod": "s",
        "link": "b",
        "keep-git-dir": "b",
        "checksum": "s",
        "unpack": "b",
        "exclude": "m",
    },
    "arg": None,
    "cmd": {},
    "copy": {"chown": "s", "from": "s", "chmod": "s", "link": "b", "exclude": "m", "parents": "b"},
    "entrypoint": {},
    "env": {},
    "expose": {},
    "from": {"platform": "s"},
    "healthcheck": {
        "interval": "s",
        "timeout": "s",
        "start-period": "s",
        "start-interval": "s",
        "retries": "s",
    },
    "label": {},
    "maintainer": {},
    "onbuild": {},
    "run": {"mount": "m", "network": "s", "security": "s", "device": "m"},
    "shell": {},
    "stopsignal": None,
    "user": {},
    "volume": {},
    "workdir": {},
}
_AT_LEAST_ONE = frozenset(
    {"env", "label", "expose", "volume", "arg", "onbuild", "shell", "healthcheck"}
)
_JSON_LIST = frozenset({"add", "copy", "volume"})
_JSON_CMD = frozenset({"cmd", "entrypoint", "run", "shell"})
_STRING = frozenset({"maintainer", "stopsignal", "user", "workdir"})
_KNOWN_OS = frozenset(
    [
        "aix",
        "android",
        "darwin",
        "dragonfly",
        "freebsd",
        "hurd",
        "illumos",
        "ios",
        "js",
        "linux",
        "nacl",
        "netbsd",
        "openbsd",
        "plan9",
        "solaris",
        "windows",
        "zos",
    ]  # containerd/platforms isKnownOS
)
_KNOWN_ARCH = frozenset(
    [
        "386",
        "amd64",
        "amd64p32",
        "arm",
        "armbe",
        "arm64",
        "arm64be",
        "ppc64",
        "ppc64le",
        "loong64",
        "mips",
        "mipsle",
        "mips64",
        "mips64le",
        "mips64p32",
        "mips64p32le",
        "ppc",
        "riscv",
        "riscv64",
        "s390",
        "s390x",
        "sparc",
        "sparc64",
        "wasm",
    ]
)
_ARCH_ALIASES = {"i386": "386", "x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64"}
_ARCH_ALIASES |= {"armhf": "arm", "armel": "arm"}
_PLATFORM_PART = re.compile(r"[A-Za-z0-9_.-]+")
_PLATFORM_OS = re.compile(r"[A-Za-z0-9_-]+")


class _Refuse(Exception):
    """One instruction's problem; the caller adds ``FILE:LINE``."""


def _lstrip(text: str) -> str:
    index = 0
    while index < len(text) and text[index] in GO_SPACE:
        index += 1
    return text[index:]


def _strip(text: str) -> str:
    end = len(text)
    while end and text[end - 1] in GO_SPACE:
        end -= 1
    return _lstrip(text[:end])


def _go_json_strings(text: str) -> list[str] | None:
    """``parseJSON``: the strings of a JSON array, None when not JSON; error for non-strings."""
    text = _lstrip(text)
    if not text.startswith("["):
        return None

    def reject(constant: str) -> object:
        raise ValueError(constant)  # Go's encoding/json has no NaN or Infinity

    try:
        value = json.loads(text, parse_constant=reject)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise _Refuse("when using JSON array syntax, arrays must be comprised of strings only")
    return value


# --------------------------------------------------------------------------- lines


@dataclass(frozen=True)
class _Heredoc:
    name: str
    chomp: bool


@dataclass
class _Node:
    """One instruction as ``parser.Node``: command, flags, arguments, heredocs."""

    command: str  # as written
    flags: list[str]
    args: list[str]
    json: bool = False
    child: _Node | None = None
    heredocs: list[_Heredoc] = field(default_factory=list)
    line: int = 0
    text: str = ""

    @property
    def keyword(self) -> str:
        return self.command.lower()


class _Directives:
    """``DirectiveParser`` as ``Parse`` drives it: directives only at the very top."""

    def __init__(self) -> None:
        self.escape = "\\"
        self.done = False
        self.seen: set[str] = set()
        self._continuation = self._compile()

    def _compile(self) -> re.Pattern[str]:
        e = re.escape(self.escape)
        return re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")

    def offer(self, token: str) -> None:
        if self.done:
            return
        if not token.startswith("#"):
            self.done = True
            return
        match = _DIRECTIVE.fullmatch(_lstrip(token[1:]))
        key = match.group(1).lower() if match else ""
        if match is None or key not in _KNOWN_DIRECTIVES:
            self.done = True
            return
        if key in self.seen:
            raise _Refuse(f"only one {key} parser directive can be used")
        self.seen.add(key)
        if key == "escape":
            value = match.group(2)
            if value not in ("\\", "`"):
                raise _Refuse(f"invalid escape token {value!r} does not match ` or \\")
            self.escape = value
            self._continuation = self._compile()

    def trim_continuation(self, token: str) -> tuple[str, bool]:
        """The token without its continuation mark, and whether the instruction ends here."""
        if self._continuation.search(token):
            return self._continuation.sub(r"\1", token, count=1), False
        return token, True


def _extract_flags(rest: str, escape: str) -> tuple[list[str], str]:
    """``extractBuilderFlags``: leading ``--flag`` words, read byte by byte as BuildKit does."""
    data = rest.encode("utf-8")
    flags: list[str] = []
    word: list[str] = []
    phase = "spaces"
    quote = 0
    blank_ok = False
    esc = ord(escape)
    pos = 0
    while pos <= len(data):
        ch = data[pos] if pos < len(data) else -1
        if phase == "spaces":
            if pos == len(data):
                break
            if chr(ch) in GO_SPACE:
                pos += 1
                continue
            if ch != 0x2D or pos + 1 == len(data) or data[pos + 1] != 0x2D:
                return flags, _decode(data[pos:])
            phase = "word"
        if phase in ("word", "quote") and pos == len(data):
            text = "".join(word)
            if text != "--" and (blank_ok or text):
                flags.append(text)
            break
        if phase == "word":
            if chr(ch) in GO_SPACE:
                text = "".join(word)
                phase = "spaces"
                if text == "--":
                    return flags, _decode(data[pos:])
                if blank_ok or text:
                    flags.append(text)
                word, blank_ok = [], False
                pos += 1
                continue
            if ch in (0x22, 0x27):
                quote, blank_ok, phase = ch, True, "quote"
                pos += 1
                continue
            if ch == esc:
                if pos + 1 == len(data):
                    pos += 1
                    continue
                pos += 1
                ch = data[pos]
            word.append(chr(ch))
            pos += 1
            continue
        # phase == "quote"
        if ch == quote:
            phase = "word"
            pos += 1
            continue
        if ch == esc:
            if pos + 1 == len(data):
                phase = "word"
                pos += 1
                continue
            pos += 1
            ch = data[pos]
        word.append(chr(ch))
        pos += 1
    return flags, ""


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refuse("instruction flags split a UTF-8 character") from None


def _split_command(line: str, escape: str) -> tuple[str, list[str], str]:
    parts = _WHITESPACE.split(_strip(line), maxsplit=1)
    if len(parts) < 2:
        return parts[0], [], ""
    flags, args = _extract_flags(parts[1], escape)
    return parts[0], flags, _strip(args)


def _parse_words(rest: str, escape: str) -> list[str]:
    """``parseWords``: split on unquoted whitespace, keeping quotes and escapes."""
    words: list[str] = []
    word: list[str] = []
    phase = "spaces"
    quote = ""
    blank_ok = False
    pos = 0
    while pos <= len(rest):
        ch = rest[pos] if pos < len(rest) else ""
        if phase == "spaces":
            if pos == len(rest):
                break
            if ch in GO_SPACE:
                pos += 1
                continue
            phase = "word"
        if pos == len(rest):
            if blank_ok or word:
                words.append("".join(word))
            break
        if phase == "word":
            if ch in GO_SPACE:
                phase = "spaces"
                if blank_ok or word:
                    words.append("".join(word))
                word, blank_ok = [], False
                pos += 1
                continue
            if ch in "'\"":
                quote, blank_ok, phase = ch, True, "quote"
            if ch == escape:
                if pos + 1 == len(rest):
                    pos += 1
                    continue
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
            continue
        if ch == quote:
            phase = "word"
        if ch == escape and quote != "'":
            if pos + 1 == len(rest):
                phase = "word"
                pos += 1
                continue
            word.append(ch)
            pos += 1
            ch = rest[pos]
        word.append(ch)
        pos += 1
    return words


def _name_val(rest: str, key: str, escape: str) -> list[str]:
    """``parseNameVal`` (ENV, LABEL): ``k v`` or ``k=v …`` as triples."""
    words = _parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _Refuse(f"{key} must have two arguments")
        return [parts[0], parts[1], ""]
    args: list[str] = []
    for word in words:
        if "=" not in word:
            raise _Refuse(
                f"Syntax error - can't find = in {word!r}. Must be of the form: name=value"
            )
        name, _, value = word.partition("=")
        args += [name, value, "="]
    return args


def _node(line: str, escape: str) -> _Node:
    """``newNodeFromLine``: split the line and parse its arguments by the command's rule."""
    command, flags, rest = _split_command(line, escape)
    keyword = command.lower()
    node = _Node(command, flags, [])
    if keyword == "onbuild":
        if rest:
            node.child = _node(rest, escape)
            node.args = [node.child.command, *node.child.args]
    elif keyword in _JSON_LIST or keyword in _JSON_CMD:
        if keyword in _JSON_CMD and rest == "":
            return node
        strings = _go_json_strings(rest)
        if strings is not None:
            node.args, node.json = strings, True
        elif keyword in _JSON_LIST:
            node.args = _WHITESPACE.split(rest) if rest else []
        else:
            node.args = [rest]
    elif keyword == "arg":
        node.args = _parse_words(rest, escape)
    elif keyword in ("env", "label"):
        node.args = _name_val(rest, "LABEL" if keyword == "label" else "ENV", escape)
    elif keyword in ("expose", "from"):
        node.args = _WHITESPACE.split(rest) if rest else []
    elif keyword in _STRING:
        node.args = [rest] if rest else []
    elif keyword == "healthcheck":
        sep = next((i for i, ch in enumerate(rest) if ch in GO_SPACE), len(rest))
        if sep:
            command = _lstrip(rest[sep:])
            strings = _go_json_strings(command) if command else None
            node.json = strings is not None
            node.args = [
                rest[:sep],
                *(strings if strings is not None else [command] * bool(command)),
            ]
    return node


def _can_contain_heredoc(node: _Node) -> bool:
    if node.keyword == "onbuild" and node.child is not None:
        node = node.child
    return node.keyword in _HEREDOC_COMMANDS and not node.json


def _parse_heredoc(word: str) -> _Heredoc | None:
    """``ParseHeredoc``: the heredoc a word like ``<<-"EOF"`` opens, if any."""
    match = _HEREDOC.fullmatch(word)
    if match is None or not match.group(3):
        return None
    rest = match.group(3)
    lex = Lex("\\", skip_unset=True)
    try:
        words = lex.words(rest)
    except Unsupported:  # pragma: no cover - patterns are never evaluated with no variables
        raise _Refuse(f"cannot read heredoc word {rest!r}") from None
    if len(words) != 1:
        return None
    raw = Lex("\\", skip_unset=True, raw_quotes=True).words(rest)  # BuildKit lexes it twice
    if len(raw) != len(words):
        raise LexError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    return _Heredoc(words[0], match.group(2) == "-")


def _must_parse_heredoc(word: str) -> _Heredoc | None:
    try:
        return _parse_heredoc(word)
    except LexError:
        return None


def _heredocs_from_line(line: str) -> list[_Heredoc]:
    """``heredocsFromLine``: lex the whole line, raw, and keep the words that open a heredoc."""
    lex = Lex("\\", raw_quotes=True, raw_escapes=True, skip_unset=True)
    try:
        words = lex.words(line)
    except LexError:
        words = []  # BuildKit ignores this error: the line then opens no heredoc
    found: list[_Heredoc] = []
    for word in words:
        try:
            heredoc = _parse_heredoc(word)
        except LexError as error:
            raise _Refuse(str(error)) from None
        if heredoc is not None:
            found.append(heredoc)
    return found


def _nodes(text: str) -> tuple[list[_Node], str]:
    """The instructions of a Dockerfile and its escape token (``parser.Parse``)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    for number, raw in enumerate(lines, 1):
        if len(raw.encode("utf-8")) + 1 > _MAX_LINE + 1:
            raise _Located(number, "dockerfile line greater than max allowed size of 65535")
    directives = _Directives()
    found: list[_Node] = []
    index = 0
    while index < len(lines):
        start = index + 1
        token = _lstrip(lines[index].rstrip("\r\n"))
        index += 1
        try:
            directives.offer(token)
        except _Refuse as error:
            raise _Located(start, str(error)) from None
        if _lstrip(token).startswith("#"):
            token = ""
        token, ended = directives.trim_continuation(token)
        if ended and token == "":
            continue
        parts = [token]
        while not ended and index < len(lines):
            raw = lines[index].rstrip("\r\n")
            index += 1
            if _lstrip(raw).startswith("#") or _lstrip(raw) == "":
                continue
            raw, ended = directives.trim_continuation(raw)
            parts.append(raw)
        logical = "".join(parts)
        try:
            node = _node(logical, directives.escape)
            heredocs = (
                _heredocs_from_line(logical)
                if _can_contain_heredoc(node) and "<<" in logical
                else []
            )
        except _Refuse as error:
            raise _Located(start, str(error)) from None
        for heredoc in heredocs:
            while True:
                if index >= len(lines):
                    raise _Located(start, f"unterminated heredoc (<<{heredoc.name})")
                body = lines[index].rstrip("\r\n")
                index += 1
                if (body.lstrip("\t") if heredoc.chomp else body) == heredoc.name:
                    break
        node.heredocs = heredocs
        node.line = start
        summary = " ".join(_WHITESPACE.split(_strip(logical)))
        node.text = summary if len(summary) <= _TEXT_MAX else summary[: _TEXT_MAX - 1] + "…"
        found.append(node)
    if not found:
        raise _Located(None, "file with no instructions")
    return found, directives.escape


class _Located(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


# --------------------------------------------------------------------------- instructions


def _parse_flags(node: _Node) -> dict[str, list[str]]:
    """``BFlags.Parse``: known flags only, values as each flag's type requires."""
    spec = _FLAGS[node.keyword]
    if spec is None:
        return {}
    used: dict[str, list[str]] = {}
    for flag in node.flags:
        name, has_value, value = flag.partition("=")
        key = name[2:]
        kind = spec.get(key) if name.startswith("--") else None
        if kind is None:
            raise _Refuse(f"unknown flag: {name}")
        if key in used and kind != "m":
            raise _Refuse(f"duplicate flag specified: {name}")
        if kind == "b":
            if has_value and value == "":
                raise _Refuse(f"missing a value on flag: {name}")
            if value.lower() not in ("true", "", "false"):
                raise _Refuse(f"expecting boolean value for flag {name}, not: {value}")
        elif not has_value:
            raise _Refuse(f"missing a value on flag: {name}")
        used.setdefault(key, []).append(value)
    return used


def _csv_fields(line: str) -> list[str]:
    """``csvvalue.Fields`` with a comma and strict quotes."""
    if line.endswith("\r\n"):
        line = line[:-2]
    elif line.endswith("\n"):
        line = line[:-1]
    if not line:
        raise _Refuse("failed to parse csv mounts: EOF")
    fields: list[str] = []
    while True:
        if not line.startswith('"'):
            cell, comma, line = line.partition(",")
            if '"' in cell:
                raise _Refuse('failed to parse csv mounts: bare " in non-quoted-field')
            fields.append(cell)
            if not comma:
                return fields
            continue
        line = line[1:]
        cell = ""
        while True:
            end = line.find('"')
            if end < 0:
                raise _Refuse('failed to parse csv mounts: extraneous or missing " in quoted-field')
            cell += line[:end]
            line = line[end + 1 :]
            if line.startswith('"'):
                cell += '"'
                line = line[1:]
                continue
            if line.startswith(","):
                fields.append(cell)
                line = line[1:]
                break
            if not line:
                fields.append(cell)
                return fields
            raise _Refuse('failed to parse csv mounts: extraneous or missing " in quoted-field')


def _mount_sources(values: list[str]) -> list[str]:
    """``parseMount`` without an expander: each mount's ``from`` (or scratch), raw."""
    sources: list[str] = []
    for value in values:
        source = ""
        for cell in _csv_fields(value):
            key, has_value, text = cell.partition("=")
            if has_value and key.lower() == "from":
                dollar = text.find("$")
                if dollar != -1 and dollar != len(text) - 1:
                    raise _Refuse(
                        "'from' doesn't support variable expansion, define alias stage instead"
                    )
                source = text
        sources.append(source or SCRATCH)
    return sources


def _check(node: _Node) -> dict[str, list[str]]:
    """``ParseInstruction``: the errors BuildKit raises for this instruction; its flags."""
    keyword, args = node.keyword, node.args
    upper = keyword.upper()
    if keyword not in _FLAGS:
        raise _Refuse(f"unknown instruction: {node.command}")
    if keyword in ("maintainer", "workdir", "user", "stopsignal") and len(args) != 1:
        raise _Refuse(f"{upper} requires exactly one argument")
    if not args and keyword in _AT_LEAST_ONE:
        raise _Refuse(f"{upper} requires at least one argument")
    if keyword in ("add", "copy") and len(args) < 2:
        raise _Refuse(f"{upper} requires at least two arguments")
    if keyword == "from":
        if len(args) == 3 and args[1].lower() == "as":
            if not _STAGE_NAME.fullmatch(args[2].lower()):
                raise _Refuse(f"invalid name for build stage: {args[2]!r}")
        elif len(args) != 1:
            raise _Refuse("FROM requires either one or three arguments")
    if keyword == "healthcheck" and args[0].upper() == "NONE":
        if len(args) != 1:
            raise _Refuse("HEALTHCHECK NONE takes no arguments")
        return {}
    flags = _parse_flags(node)
    if keyword == "healthcheck":
        if args[0].upper() != "CMD":
            raise _Refuse(f"Unknown type {args[0].upper()!r} in HEALTHCHECK (try CMD)")
        if len(args) == 1:
            raise _Refuse("Missing command after HEALTHCHECK CMD")
    if keyword in ("env", "label") and any(args[i] == "" for i in range(0, len(args), 3)):
        raise _Refuse(f"{upper} names can not be blank")
    if keyword == "arg" and any(a.partition("=")[0] == "" and "=" in a for a in args):
        raise _Refuse("ARG names can not be blank")
    if keyword == "volume" and any(_strip(a) == "" for a in args):
        raise _Refuse("VOLUME specified can not be an empty string")
    if keyword == "shell" and node.json is False:
        raise _Refuse("SHELL requires the arguments to be in JSON form")
    if keyword in ("add", "copy") and _must_parse_heredoc(args[-1]) is not None:
        raise _Refuse(f"{upper} cannot accept a heredoc as a destination")
    if keyword == "onbuild":
        trigger = _strip(args[0]).upper()
        if trigger == "ONBUILD":
            raise _Refuse("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("MAINTAINER", "FROM"):
            raise _Refuse(f"{trigger} isn't allowed as an ONBUILD trigger")
        child = node.child
        if child is not None and any(f.startswith(("--from", "--mount")) for f in child.flags):
            raise _Refuse(
                "an ONBUILD trigger that copies or mounts from another image or stage is not "
                "supported: the gate cannot tell which images it pulls"
            )
    if keyword == "run":
        if flags.get("network", ["default"])[-1] not in ("default", "none", "host"):
            raise _Refuse(f"invalid network mode {flags['network'][-1]!r}")
        if flags.get("security", ["sandbox"])[-1] not in ("insecure", "sandbox"):
            raise _Refuse(f"security {flags['security'][-1]!r} is not valid")
        if "device" in flags:
            raise _Refuse("RUN --device is not supported by the gate")
        flags["mount"] = _mount_sources(flags.get("mount", []))
    return flags


# --------------------------------------------------------------------------- images


@dataclass(eq=False)
class _State:
    """``dispatchState``, reduced to what decides which images are pulled (compared by identity).

    ``unregistered``: an image met by ``COPY --from`` or a mount, appended to the states so it
    counts for later ``--from=<index>``; naming it again by index appends it again, as
    ``buildStageDependencyGraph`` does.
    """

    base: str
    name: str
    internal: bool = False
    unregistered: bool = False
    deps: list[_State] = field(default_factory=list)


class _Env:
    """BuildKit's global ARGs: automatic platform ARGs, then the ARGs before the first FROM."""

    def __init__(self, build_args: Mapping[str, str]) -> None:
        self.values: dict[str, str] = {
            name: build_args.get(name, _UNKNOWN) for name in _AUTOMATIC_ARGS
        }
        self.declared: set[str] = set()
        self.samples = dict(_SAMPLES)

    def lookup(self, name: str) -> tuple[str, bool]:
        value = self.values.get(name)
        if value is None:
            return "", False
        if value == _UNKNOWN:
            raise Unknown(name)
        return value, True

    def declare(self, word: str, build_args: Mapping[str, str], lex: Lex) -> None:
        """``buildMetaArgs`` for one ``name[=default]``."""
        key, has_default, default = word.partition("=")
        self.declared.add(key)
        if key in build_args:
            self.values[key] = build_args[key]
        elif has_default:
            try:
                self.values[key] = lex.word(default, self.lookup)
            except Unknown:
                self.samples[key] = lex.word(default, self.sample)  # BuildKit's errors count
                self.values[key] = _UNKNOWN

    def source_date_epoch(self, build_args: Mapping[str, str]) -> None:
        """``SOURCE_DATE_EPOCH`` as ``toDispatchState`` resolves it before any ``FROM``.

        A number is normalised (``007`` is ``7``), an empty value unsets it; a stage or
        context name (BuildKit reads the date from there) is refused.
        """
        key = "SOURCE_DATE_EPOCH"
        value = build_args.get(key)
        if value is None:
            value = self.values.get(key) or None
        if value is None:
            return
        if value == "":
            self.values.pop(key, None)
        elif _ATOI.fullmatch(value) and -(2**63) <= int(value) < 2**63:
            if key in self.values:
                self.values[key] = str(int(value))
        else:
            raise _Refuse(f"{key}={value!r} naming a stage or context is not supported by the gate")

    def sample(self, name: str) -> tuple[str, bool]:
        """As :meth:`lookup`, with sample values (a linux/amd64 build) for unknown ones."""
        value = self.values.get(name)
        if value is None:
            return "", False
        return (self.samples.get(name, ""), True) if value == _UNKNOWN else (value, True)


def _expand(lex: Lex, word: str, env: _Env, what: str) -> str:
    """Expand a ``FROM`` or ``--platform`` word; refuse whatever the gate cannot know."""
    try:
        value = lex.word(word, env.lookup)
    except Unknown as unknown:
        raise _Refuse(
            f"{what} uses the automatic ARG {unknown.name}, whose value only BuildKit knows; "
            f"pass --build-arg {unknown.name}=…"
        ) from None
    for name in sorted(lex.plain_unset):
        if name in env.declared:
            raise _Refuse(f"{what} uses ARG {name}, which has no value; pass --build-arg {name}=…")
        raise _Refuse(f"{what} uses ${name}, but no ARG before the first FROM declares it")
    return value


def _check_platform(lex: Lex, word: str, env: _Env) -> None:
    """``--platform``: expanded as BuildKit does and checked as ``platforms.Parse`` would.

    The platform only selects within a reference, so an automatic platform ARG here takes a
    linux/amd64 sample value, just to tell a valid platform expression from an invalid one.
    """
    value = lex.word(word, env.sample)
    if lex.plain_unset:
        _expand(lex, word, env, "--platform")
    if value == "":
        raise _Refuse(f"empty platform value from expression {word}")
    parts = value.split("/", 3)
    valid = "*" not in value and _PLATFORM_OS.fullmatch(parts[0]) is not None
    if len(parts) == 1:
        arch = parts[0].lower()
        valid = valid and (
            arch in _KNOWN_OS | {"macos"} or _ARCH_ALIASES.get(arch, arch) in _KNOWN_ARCH
        )
    else:
        valid = valid and len(parts) <= 3 and all(_PLATFORM_PART.fullmatch(p) for p in parts[1:])
    if not valid:
        raise _Refuse(
            f"platform {value!r}: the gate reads only os/arch[/variant] platforms BuildKit accepts"
        )


def _image(reference: str, role: str, location: Location | None, text: str) -> BaseImage:
    try:
        parsed = parse_reference(reference)
    except GateError as error:
        raise _Refuse(error.message) from None
    return BaseImage(
        reference=reference,
        repository=parsed.name,
        digest=parsed.digest,
        location=location,
        text=text,
        role=role,
    )


def _cycle(states: list[_State]) -> str | None:
    """``validateCircularDependency``: the name of a stage on a dependency cycle, if any."""
    visited: set[_State] = set()
    path: set[_State] = set()

    def visit(state: _State) -> bool:
        if state in visited:
            return False
        visited.add(state)
        path.add(state)
        for dep in state.deps:
            if dep in path or visit(dep):
                return True
        path.discard(state)
        return False

    for state in states:
        if visit(state):
            return state.name
    return None


def _stages(
    nodes: list[_Node], escape: str, build_args: Mapping[str, str], name: str
) -> list[BaseImage]:
    """The external images of the stages, as ``instructions.Parse`` and ``dockerfile2llb``."""
    env = _Env(build_args)
    lex = Lex(escape)
    states: list[_State] = []
    by_name: dict[str, int] = {}
    commands: list[list[tuple[_Node, dict[str, list[str]]]]] = []
    images: list[BaseImage] = []
    external: list[tuple[str, str, Location, str]] = []  # (reference, role, where, text)

    def where(node: _Node) -> Location:
        return Location(name, node.line)

    for node in nodes:
        try:
            flags = _check(node)
            if node.keyword == "arg" and not states:
                for word in node.args:
                    env.declare(word, build_args, lex)
            elif node.keyword == "from":
                if not states:
                    env.source_date_epoch(build_args)
                base = _expand(lex, node.args[0], env, "FROM")
                if base == "":
                    raise _Refuse(f"base name ({node.args[0]}) should not be blank")
                if flags.get("platform", [""])[-1]:
                    _check_platform(lex, flags["platform"][-1], env)
                stage = node.args[2].lower() if len(node.args) == 3 else ""
                state = _State(base, stage, internal=base in by_name)
                states.append(state)
                commands.append([])
                if stage:
                    by_name[stage] = len(states) - 1
                if not state.internal and base != SCRATCH:
                    external.append((base, "base", where(node), node.text))
            elif not states:
                raise _Refuse("no build stage in current context")
            else:
                commands[-1].append((node, flags))
        except (_Refuse, LexError, Unsupported) as error:
            raise _Located(node.line, str(error)) from None
    if not states:
        raise _Located(None, "dockerfile contains no stages to build")

    stage_count = len(states)
    met: set[_State] = set()
    for index in range(stage_count):
        for node, flags in commands[index]:
            try:
                pending = _sources(node, flags, lex, states, by_name)
            except (_Refuse, LexError, Unsupported) as error:
                raise _Located(node.line, str(error)) from None
            for source in pending:
                states[index].deps.append(source)
                if not source.unregistered:
                    continue
                if source not in met and source.base != SCRATCH:
                    external.append((source.base, "copy-from", where(node), node.text))
                met.add(source)
                states.append(source)
    cycle = _cycle(states)
    if cycle is not None:
        raise _Located(None, f"circular dependency detected on stage: {cycle}")
    for reference, role, location, text in external:
        try:
            images.append(_image(reference, role, location, text))
        except _Refuse as error:
            raise _Located(location.line, str(error)) from None
    return images


def _sources(
    node: _Node,
    flags: Mapping[str, list[str]],
    lex: Lex,
    states: list[_State],
    by_name: Mapping[str, int],
) -> list[_State]:
    """``toCommand`` and ``detectRunMount``: the stages and images a command reads."""
    found: list[_State] = []

    def named(source: str) -> _State:
        index = by_name.get(source.lower())
        return _State(source, "", unregistered=True) if index is None else states[index]

    if node.keyword == "copy" and flags.get("from", [""])[-1]:
        source = flags["from"][-1]
        if lex.word(source) != source:
            raise _Refuse(
                "variable expansion is not supported for --from, define a new stage with FROM "
                "using ARG from global scope as a workaround"
            )
        if _ATOI.fullmatch(source) and -(2**63) <= int(source) < 2**63:
            index = int(source)
            if not 0 <= index < len(states):
                raise _Refuse(f"invalid stage index {index}")
            found.append(states[index])
        else:
            found.append(named(source))
    elif node.keyword == "run":
        found += [named(source) for source in flags.get("mount", [])]
    return found


def detect_syntax(text: str, build_args: Mapping[str, str]) -> tuple[str, int] | None:
    """The frontend image and its line, as ``builder/build.go`` and ``DetectSyntax`` choose it."""
    if SYNTAX_ARG in build_args:
        return build_args[SYNTAX_ARG].strip().split(" ", 1)[0], 0
    data = text.removeprefix("\ufeff")
    first, _, rest = data.partition("\n")
    offset = 0
    if first.startswith("#!"):
        data, offset = rest, 1
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for prefix in ("#", "//"):
        seen: set[str] = set()
        for number, line in enumerate(lines, 1 + offset):
            line = line.removesuffix("\r")
            if not line.startswith(prefix):
                break
            match = _DIRECTIVE.fullmatch(_lstrip(line[len(prefix) :]))
            key = match.group(1).lower() if match else ""
            if match is None or key not in _KNOWN_DIRECTIVES or key in seen:
                break
            seen.add(key)
            if key == "syntax":
                return match.group(2).split(" ", 1)[0], number
    try:
        document = json.loads(data, parse_constant=lambda c: _raise(c))
    except (ValueError, RecursionError):
        return None
    if isinstance(document, dict) and isinstance(document.get("syntax"), str):
        return document["syntax"].split(" ", 1)[0], offset
    return None


def _raise(constant: str) -> object:
    raise ValueError(constant)


def parse_dockerfile(
    text: str, *, name: str = "Dockerfile", build_args: Mapping[str, str] | None = None
) -> tuple[BaseImage, ...]:
    """The images a build of this Dockerfile pulls: frontend first, then in file order.

    Raises ``UsageError`` (``NAME:LINE: …``) for anything BuildKit rejects or the gate cannot
    resolve with certainty.
    """
    given = dict(build_args or {})
    images: list[BaseImage] = []
    syntax = detect_syntax(text, given)
    try:
        if syntax is not None:
            frontend, line = syntax
            where = Location(name, line) if line else Location(name, None)
            text_ = f"--build-arg {SYNTAX_ARG}={given[SYNTAX_ARG]}" if not line else ""
            if line:
                text_ = _strip(text.removeprefix("\ufeff").split("\n")[line - 1])
            if not frontend:
                raise _Located(line or None, "the syntax frontend names no image")
            try:
                images.append(_image(frontend, "frontend", where, text_))
            except _Refuse as error:
                raise _Located(line or None, f"syntax frontend: {error}") from None
        if not text:
            raise _Located(None, "the Dockerfile cannot be empty")
        nodes, escape = _nodes(text)
        images.extend(_stages(nodes, escape, given, name))
    except _Located as error:
        prefix = f"{name}:{error.line}" if error.line else name
        raise UsageError(f"{prefix}: {error.message}") from None
    return tuple(images)


def read_base_images(
    paths: Iterable[Path], build_args: Mapping[str, str] | None = None
) -> tuple[BaseImage, ...]:
    """The images of every Dockerfile, each cited as ``PATH:LINE``.

    An unreadable, missing or non-UTF-8 Dockerfile is a ``UsageError``: the user named it.
    """
    bases: list[BaseImage] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as error:
            # Relative Dockerfile paths (--dockerfile, base_image.dockerfile) are the working
            # directory's, as `docker build -f`; say so, since key paths are the policy's.
            where = (
                "" if path.is_absolute() else f" (relative to the working directory {Path.cwd()})"
            )
            raise UsageError(
                f"cannot read Dockerfile {path}{where}: {error.strerror or error}"
            ) from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UsageError(f"{path}: not UTF-8 text (byte {error.start})") from None
        bases.extend(parse_dockerfile(text, name=str(path), build_args=build_args))
    return tuple(bases)
