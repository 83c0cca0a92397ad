"""Read Dockerfiles into the external images a build pulls: ``FROM``, ``COPY --from``, mounts.

Why a small hand parser and not ``dockerfile-parse`` (2.0.1): tried against the cases
below, its ``parent_images`` returns internal stage names (``FROM build``) as if they were
images, has no notion of ``COPY --from``, expands ``debian:${V:-11}`` to ``debian::-11}``,
turns an undefined variable into an empty string (``debian:``), always escapes with ``\\``
even under ``# escape=```, loses the base entirely when a continuation holds an empty
line, and knows nothing of heredocs, so ``from os import path`` inside
``RUN python3 <<EOF`` comes back as a base image ``os``. Each would misjudge a real
Dockerfile, some towards a pass. The subset of BuildKit needed here is small, so this
module mirrors BuildKit's ``frontend/dockerfile`` rules directly:

- ``parser/parser.go``: lines split on ``\\n`` only (a trailing ``\\r`` dropped, a UTF-8 BOM
  ignored); parser directives only before anything else (``syntax``, ``escape``, ``check``);
  the escape token (``\\`` or `````) at the end of a line continues it, unless itself
  escaped; comment lines and empty lines inside a continuation are skipped; instruction
  keywords are case-insensitive; heredocs (``<<EOF``, ``<<-EOF``, quoted terminators) on
  ``RUN``/``COPY``/``ADD`` (also under ``ONBUILD``) swallow their body.
- ``split_command.go``: leading ``--flag[=value]`` words are flags.
- ``instructions/parse.go``: ``FROM [--platform=…] image [AS name]``, stage names matched
  case-insensitively; ``ARG`` takes ``name[=value]`` words.
- ``dockerfile2llb``: ``FROM`` expands only the ARGs declared before the first ``FROM``, a
  ``--build-arg`` overriding a declared ARG's default; a later ``FROM name`` naming an
  *earlier* stage is internal; ``COPY --from`` and ``RUN --mount=…,from=`` name a stage (by
  name or index, anywhere in the file) or else an external image; ``scratch`` is no image.
- ``shell/lex.go``: quotes, the escape token, ``$VAR``, ``${VAR}``, ``${VAR:-word}``,
  ``${VAR-word}``, ``${VAR:+word}``, ``${VAR+word}``, ``${VAR:?msg}`` and ``${VAR?msg}``.

Deliberate strictness (fail closed): a reference that uses an ARG with no value, or one
never declared, is a ``UsageError`` naming the line and the ``--build-arg`` to pass. BuildKit
would substitute an empty string and build something else or fail later. The automatic
platform ARGs (``TARGETARCH``, …) count as undeclared for the same reason: the gate cannot
know which platform was built. Pattern substitutions (``${VAR#…}``, ``%``, ``/``) are not
supported and are an error, never a guess.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gate.errors import GateError, UsageError
from gate.image.reference import parse_reference
from gate.model import BaseImage, Location

SCRATCH = "scratch"
_DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[ \t\n\f\r]*=[ \t\n\f\r]*(.+?)[ \t\n\f\r]*")
_KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_FIELD_SPLIT = re.compile(r"[\t\v\f\r ]+")
_STAGE_NAME = re.compile(r"[a-z][a-z0-9_.-]*")
_HEREDOC = re.compile(r"(\d*)<<(-?)\s*([^<]*)", re.DOTALL)
_INDEX = re.compile(r"[+-]?[0-9]+")
_HEREDOC_COMMANDS = frozenset({"run", "copy", "add"})
_MAX_NESTING = 32
_TEXT_MAX = 300
#: Go's unicode.IsSpace; Python's str.isspace() also counts \\x1c-\\x1f.
_GO_SPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)


class _SyntaxError(Exception):
    """A lexing problem inside one instruction; the caller adds file and line."""


def _lstrip(text: str) -> str:
    index = 0
    while index < len(text) and text[index] in _GO_SPACE:
        index += 1
    return text[index:]


def _strip(text: str) -> str:
    end = len(text)
    while end and text[end - 1] in _GO_SPACE:
        end -= 1
    return _lstrip(text[:end])


def _is_comment(line: str) -> bool:
    return _lstrip(line).startswith("#")


# --------------------------------------------------------------------------- lines


@dataclass(frozen=True)
class _Instruction:
    keyword: str  # lowercase
    flags: tuple[str, ...]  # "--name=value" / "--name", quotes already removed
    args: str
    line: int  # 1-based line the instruction starts on
    text: str  # the logical line, whitespace collapsed, for reports


class _Directives:
    """Parser directives, as BuildKit's DirectiveParser: only at the very top of the file."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.escape = "\\"
        self.done = False
        self.seen: set[str] = set()
        self._continuation = self._compile()

    def _compile(self) -> re.Pattern[str]:
        e = re.escape(self.escape)
        return re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")

    def offer(self, token: str, line: int) -> None:
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
            raise UsageError(f"{self.name}:{line}: only one {key} parser directive can be used")
        self.seen.add(key)
        if key == "escape":
            value = match.group(2)
            if value not in ("\\", "`"):
                raise UsageError(
                    f"{self.name}:{line}: invalid escape token {value!r}; allowed: ` or \\"
                )
            self.escape = value
            self._continuation = self._compile()

    def trim_continuation(self, token: str) -> tuple[str, bool]:
        """The token without its continuation mark, and whether the instruction ends here."""
        if self._continuation.search(token):
            return self._continuation.sub(r"\1", token, count=1), False
        return token, True


def _split_flags(rest: str) -> tuple[tuple[str, ...], str]:
    """Leading ``--flag`` words and the remaining arguments (extractBuilderFlags)."""
    flags: list[str] = []
    pos = 0
    while True:
        while pos < len(rest) and rest[pos] in _GO_SPACE:
            pos += 1
        if not rest.startswith("--", pos):
            return tuple(flags), rest[pos:]
        word: list[str] = []
        quote = ""
        while pos < len(rest):
            ch = rest[pos]
            if quote:
                if ch == quote:
                    quote = ""
                elif ch == "\\" and pos + 1 < len(rest):
                    pos += 1
                    word.append(rest[pos])
                elif ch != "\\":
                    word.append(ch)
            elif ch in _GO_SPACE:
                break
            elif ch in "'\"":
                quote = ch
            elif ch == "\\":
                if pos + 1 < len(rest):
                    pos += 1
                    word.append(rest[pos])
            else:
                word.append(ch)
            pos += 1
        text = "".join(word)
        if text == "--":
            return tuple(flags), rest[pos:].lstrip()
        flags.append(text)


def _raw_words(text: str, escape: str, *, heredoc: bool = False) -> list[str]:
    """Split on unquoted whitespace, keeping quotes and escapes (line_parsers.go's parseWords).

    With ``heredoc``, whitespace right after ``<<`` stays in the word, as BuildKit's lexer does.
    """
    words: list[str] = []
    word: list[str] = []
    in_word = False
    quote = ""
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if quote:
            word.append(ch)
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'" and pos + 1 < len(text):
                pos += 1
                word.append(text[pos])
        elif ch in _GO_SPACE:
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        else:
            in_word = True
            if ch in "'\"":
                quote = ch
                word.append(ch)
            elif ch == escape:
                if pos + 1 < len(text):
                    word.append(ch)
                    pos += 1
                    word.append(text[pos])
            elif heredoc and text.startswith("<<", pos):
                word.append("<<")
                pos += 2
                while pos < len(text) and text[pos] in " \t":
                    word.append(text[pos])
                    pos += 1
                continue
            else:
                word.append(ch)
        pos += 1
    if in_word:
        words.append("".join(word))
    return words


def _is_json_array(args: str) -> bool:
    if not args.startswith("["):
        return False
    try:
        value = json.loads(args)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _split_command(line: str) -> tuple[str, tuple[str, ...], str]:
    parts = _FIELD_SPLIT.split(_strip(line), maxsplit=1)
    keyword = parts[0].lower()
    if len(parts) == 1:
        return keyword, (), ""
    flags, args = _split_flags(parts[1])
    return keyword, flags, _strip(args)


def _heredoc_terminators(keyword: str, args: str, line: str) -> list[tuple[str, bool]]:
    """``(terminator, chomp)`` for each heredoc the instruction opens (heredocsFromLine)."""
    if keyword == "onbuild":
        keyword, _, args = _split_command(args)
    if keyword not in _HEREDOC_COMMANDS or "<<" not in line or _is_json_array(args):
        return []
    found: list[tuple[str, bool]] = []
    for word in _raw_words(line, "\\", heredoc=True):
        match = _HEREDOC.fullmatch(word)
        if match is None or not match.group(3):
            continue
        names = _raw_words(match.group(3), "\\")
        if len(names) != 1:
            continue
        found.append((_Lexer(names[0], {}, "\\", keep_unset=True).word(), match.group(2) == "-"))
    return found


def _instructions(text: str, name: str) -> tuple[list[_Instruction], str]:
    """The logical instructions of a Dockerfile, and its escape token (parser.go's Parse)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    directives = _Directives(name)
    found: list[_Instruction] = []
    index = 0
    while index < len(lines):
        token = _lstrip(lines[index].rstrip("\r\n"))
        index += 1
        start = index
        directives.offer(token, start)
        if _is_comment(token):
            token = ""
        token, ended = directives.trim_continuation(token)
        if ended and token == "":
            continue
        parts = [token]
        while not ended and index < len(lines):
            raw = lines[index].rstrip("\r\n")
            index += 1
            directives.offer(raw, index)
            if _is_comment(raw) or _lstrip(raw) == "":
                continue
            raw, ended = directives.trim_continuation(raw)
            parts.append(raw)
        logical = "".join(parts)
        if not _strip(logical):
            continue
        keyword, flags, args = _split_command(logical)
        try:
            heredocs = _heredoc_terminators(keyword, args, logical)
        except _SyntaxError as error:
            raise UsageError(f"{name}:{start}: {error}") from None
        for terminator, chomp in heredocs:
            while True:
                if index >= len(lines):
                    raise UsageError(f"{name}:{start}: unterminated heredoc (<<{terminator})")
                body = lines[index].rstrip("\r\n")
                index += 1
                if (body.lstrip("\t") if chomp else body) == terminator:
                    break
        summary = " ".join(_FIELD_SPLIT.split(_strip(logical)))
        if len(summary) > _TEXT_MAX:
            summary = summary[: _TEXT_MAX - 1] + "…"
        found.append(_Instruction(keyword, flags, args, start, summary))
    return found, directives.escape


# --------------------------------------------------------------------------- words


class _Lexer:
    """Expand one word as BuildKit's shell lexer does for FROM, ARG and flag values.

    ``env`` maps declared names to values; ``None`` is a declared ARG with no value. Names
    expanded while unset are collected in ``unset`` (``keep_unset`` leaves them verbatim).
    """

    def __init__(
        self,
        text: str,
        env: Mapping[str, str | None],
        escape: str,
        *,
        keep_unset: bool = False,
    ) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape
        self.keep_unset = keep_unset
        self.unset: list[str] = []
        self.depth = 0

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _next(self) -> str:
        ch = self._peek()
        if ch:
            self.pos += 1
        return ch

    def word(self) -> str:
        return self._until("")

    def _until(self, stop: str) -> str:
        out: list[str] = []
        while True:
            ch = self._peek()
            if ch == "":
                if stop:
                    raise _SyntaxError(f"missing {stop!r} in {self.text!r}")
                return "".join(out)
            if stop and ch == stop:
                self._next()
                return "".join(out)
            if ch == "'":
                out.append(self._single())
            elif ch == '"':
                out.append(self._double())
            elif ch == "$":
                out.append(self._dollar())
            elif ch == self.escape:
                self._next()
                out.append(self._next())  # an escape at the very end is dropped
            else:
                out.append(self._next())

    def _single(self) -> str:
        self._next()
        out: list[str] = []
        while True:
            ch = self._next()
            if ch == "":
                raise _SyntaxError(f"unterminated single quote in {self.text!r}")
            if ch == "'":
                return "".join(out)
            out.append(ch)

    def _double(self) -> str:
        self._next()
        out: list[str] = []
        while True:
            ch = self._peek()
            if ch == "":
                raise _SyntaxError(f"unterminated double quote in {self.text!r}")
            if ch == '"':
                self._next()
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
                continue
            self._next()
            if ch == self.escape:
                following = self._peek()
                if following == "":
                    continue
                if following in ('"', "$", self.escape):
                    ch = self._next()
            out.append(ch)

    def _name(self) -> str:
        ch = self._peek()
        if ch.isdecimal():
            start = self.pos
            while self._peek().isdecimal():
                self._next()
            return self.text[start : self.pos]
        if ch and ch in "@*#?-$!":
            return self._next()
        start = self.pos
        while (c := self._peek()) and (c.isalpha() or c.isdecimal() or c == "_"):
            self._next()
        return self.text[start : self.pos]

    def _lookup(self, name: str, raw: str) -> str:
        value = self.env.get(name)
        if value is None:
            if self.keep_unset:
                return raw
            self.unset.append(name)
            return ""
        return value

    def _dollar(self) -> str:
        self._next()
        if self._peek() != "{":
            name = self._name()
            return self._lookup(name, "$" + name) if name else "$"
        self._next()
        ch = self._peek()
        if ch == "":
            raise _SyntaxError(f"missing '}}' in {self.text!r}")
        if ch in "{}:":
            raise _SyntaxError(f"bad substitution in {self.text!r}")
        name = self._name()
        ch = self._next()
        if ch == "}":
            return self._lookup(name, "${" + name + "}")
        colon = ch == ":"
        modifier = self._next() if colon else ch
        if modifier and modifier in "#%/":
            raise _SyntaxError(
                f"pattern substitution ${{{name}{modifier}…}} is not supported; "
                "pass the resulting value with --build-arg"
            )
        if modifier == "" or modifier not in "-+?":
            raise _SyntaxError(f"unsupported modifier {modifier!r} in substitution of {name}")
        self.depth += 1
        if self.depth > _MAX_NESTING:
            raise _SyntaxError("substitutions nested too deeply")
        word = self._until("}")
        self.depth -= 1
        value = self.env.get(name)
        present = value is not None and (value != "" or not colon)
        if modifier == "-":
            return value if present and value is not None else word
        if modifier == "+":
            return word if present else ""
        if not present:
            raise _SyntaxError(f"{name}: {word or 'is not allowed to be unset'}")
        return value or ""


# --------------------------------------------------------------------------- stages


_AUTOMATIC_ARGS = frozenset(
    f"{prefix}{part}"
    for prefix in ("TARGET", "BUILD")
    for part in ("PLATFORM", "OS", "ARCH", "VARIANT")
)


def _expand_strict(
    word: str, env: Mapping[str, str | None], escape: str, where: str, what: str
) -> str:
    """Expand a reference; any variable without a value is an error, never an empty string."""
    lexer = _Lexer(word, env, escape)
    try:
        value = lexer.word()
    except _SyntaxError as error:
        raise UsageError(f"{where}: {error}") from None
    for name in lexer.unset:
        if name in env:
            raise UsageError(
                f"{where}: {what} uses ARG {name}, which has no value; pass --build-arg {name}=…"
            )
        if name in _AUTOMATIC_ARGS:
            raise UsageError(
                f"{where}: {what} uses the automatic ARG {name}, whose value the gate cannot "
                f"know; declare ARG {name} before the first FROM and pass --build-arg {name}=…"
            )
        scope = "before the first FROM" if what == "FROM" else "in this stage"
        raise UsageError(f"{where}: {what} uses ${name}, but no ARG {scope} declares it")
    return value


def _declare_args(
    args: str,
    scope: dict[str, str | None],
    outer: Mapping[str, str | None],
    build_args: Mapping[str, str],
    escape: str,
    where: str,
) -> None:
    """Apply one ARG instruction: ``--build-arg`` beats a default, which beats the outer value."""
    for word in _raw_words(args, escape):
        key, has_default, default = word.partition("=")
        if not key:
            raise UsageError(f"{where}: ARG names cannot be blank")
        if key in build_args:
            scope[key] = build_args[key]
        elif has_default:
            lexer = _Lexer(default, scope, escape)
            try:
                scope[key] = lexer.word()
            except _SyntaxError as error:
                raise UsageError(f"{where}: {error}") from None
        elif key in outer:
            scope[key] = outer[key]
        else:
            scope.setdefault(key, None)


def _external(reference: str, where: str, location: Location, text: str) -> BaseImage:
    try:
        parsed = parse_reference(reference)
    except GateError as error:
        raise UsageError(f"{where}: {error.message}") from None
    return BaseImage(
        reference=reference,
        repository=parsed.name,
        digest=parsed.digest,
        location=location,
        text=text,
    )


def _stage_names(instructions: list[_Instruction], name: str) -> list[str | None]:
    """The name of each stage (``FROM … AS name``, lowercased), in order."""
    names: list[str | None] = []
    for instruction in instructions:
        if instruction.keyword != "from":
            continue
        words = _FIELD_SPLIT.split(instruction.args) if instruction.args else []
        where = f"{name}:{instruction.line}"
        if len(words) == 3 and words[1].lower() == "as":
            stage = words[2].lower()
            if not _STAGE_NAME.fullmatch(stage):
                raise UsageError(
                    f"{where}: invalid stage name {words[2]!r}: a letter, then letters, "
                    "digits, '-', '_' or '.'"
                )
            names.append(stage)
        elif len(words) == 1:
            names.append(None)
        else:
            raise UsageError(f"{where}: FROM requires either one or three arguments")
    return names


def parse_dockerfile(
    text: str, *, name: str = "Dockerfile", build_args: Mapping[str, str] | None = None
) -> tuple[BaseImage, ...]:
    """The external images a Dockerfile's build pulls, in file order.

    Raises ``UsageError`` (``NAME:LINE: …``) for anything BuildKit would reject or the gate
    cannot resolve with certainty.
    """
    given = dict(build_args or {})
    instructions, escape = _instructions(text, name)
    stages = _stage_names(instructions, name)
    if not stages:
        raise UsageError(f"{name}: no FROM instruction; not a Dockerfile?")

    meta: dict[str, str | None] = {}
    scope: dict[str, str | None] = {}
    stage = -1  # index of the current stage; -1 before the first FROM
    bases: list[BaseImage] = []

    for instruction in instructions:
        where = f"{name}:{instruction.line}"
        location = Location(name, instruction.line)
        if instruction.keyword == "arg":
            if stage < 0:
                _declare_args(instruction.args, meta, {}, given, escape, where)
            else:
                _declare_args(instruction.args, scope, meta, given, escape, where)
        elif instruction.keyword == "from":
            stage += 1
            scope = {}
            image = _FIELD_SPLIT.split(instruction.args)[0]
            reference = _expand_strict(image, meta, escape, where, "FROM")
            if not reference:
                raise UsageError(f"{where}: FROM names no image after substitution")
            if reference != SCRATCH and reference.lower() not in stages[:stage]:
                bases.append(_external(reference, where, location, instruction.text))
        elif stage >= 0:
            for source in _sources(instruction):
                reference = _expand_strict(
                    source, scope, escape, where, instruction.keyword.upper()
                )
                if reference and not _is_stage(reference, stages, where):
                    bases.append(_external(reference, where, location, instruction.text))
    return tuple(bases)


def _is_stage(reference: str, stages: list[str | None], where: str) -> bool:
    """``COPY --from``/mount ``from``: a stage by index or by name (any stage), or scratch."""
    if reference == SCRATCH:
        return True
    if _INDEX.fullmatch(reference):
        if len(reference) <= 6 and 0 <= int(reference) < len(stages):
            return True
        raise UsageError(f"{where}: invalid stage index {reference}")
    return reference.lower() in stages


def _sources(instruction: _Instruction) -> list[str]:
    """Image names a non-FROM instruction pulls: ``COPY --from=`` and ``RUN --mount=…,from=``."""
    found: list[str] = []
    for flag in instruction.flags:
        key, _, value = flag[2:].partition("=")
        key = key.lower()
        if instruction.keyword == "copy" and key == "from":
            found.append(value)
        elif instruction.keyword == "run" and key == "mount":
            try:
                fields = next(csv.reader([value]), [])
            except csv.Error:
                continue
            for field in fields:
                field_key, _, field_value = field.partition("=")
                if field_key.strip().lower() == "from":
                    found.append(field_value)
    return found


def read_base_images(
    paths: Iterable[Path], build_args: Mapping[str, str] | None = None
) -> tuple[BaseImage, ...]:
    """The external images of every Dockerfile, each cited as ``PATH:LINE``.

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
