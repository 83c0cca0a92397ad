"""BuildKit's Dockerfile shell lexer, ported rule for rule (``frontend/dockerfile/shell/lex.go``).

BuildKit runs this one lexer in several modes: to find heredocs in a line (raw quotes, raw
escapes, unset variables kept verbatim), to read a heredoc's terminator, to expand ``FROM``,
``ARG`` defaults and ``--platform``, and to refuse ``COPY --from=$X``. Whether ``<<EOF`` opens
a heredoc depends on its quirks, so they are kept, including two that look like bugs:

- one word buffer is shared by nested ``${…}`` expansions, so ``a${X:-b}`` splits into the
  words of ``${X:-b}`` alone (``processStopOn`` resets ``sw.wordsBuffer``);
- a byte-order mark at the very start of a word is skipped (Go's ``text/scanner``).

Pattern expansions (``${X#p}``, ``${X%p}``, ``${X/p/r}``) are lexed like BuildKit, but
evaluating one raises :class:`Unsupported`: the gate does not port shell patterns.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

#: Go's unicode.IsSpace.
GO_SPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_HEREDOC_SPACE = frozenset("\t\r ")
_PASS = "is not supported by the gate; pass the resulting value with --build-arg"  # noqa: S105  # noqa: S105 - a message, not a password


class LexError(Exception):
    """What BuildKit's lexer reports as an error."""


class Unsupported(Exception):
    """A construct BuildKit evaluates that the gate does not (shell patterns)."""


class Unknown(Exception):
    """A variable whose value only BuildKit knows (raised by the lookup)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


#: ``lookup(name)`` -> (value, found); may raise :class:`Unknown`.
Lookup = Callable[[str], tuple[str, bool]]


def no_env(name: str) -> tuple[str, bool]:
    return "", False


def _is_digit(ch: str) -> bool:
    return unicodedata.category(ch) == "Nd"


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L")


class _Words:
    """lex.go's wordsStruct; ``shared`` is the lexer's one ``wordsBuffer``."""

    def __init__(self, shared: list[str]) -> None:
        self.shared = shared
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch in GO_SPACE and self.in_word:
            if self.shared[0]:
                self.words.append(self.shared[0])
                self.shared[0] = ""
                self.in_word = False
        elif ch not in GO_SPACE:
            self.add_raw(ch)

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw(self, text: str) -> None:
        self.shared[0] += text
        self.in_word = True

    def get_words(self) -> list[str]:
        if self.shared[0]:
            self.words.append(self.shared[0])
            self.shared[0] = ""
            self.in_word = False
        return self.words


class Lex:
    """``shell.NewLex(escape)`` with its ``RawQuotes``, ``RawEscapes``, ``SkipUnsetEnv``."""

    def __init__(
        self,
        escape: str,
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_unset: bool = False,
    ) -> None:
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset
        self._src = ""
        self._pos = 0
        self._env: Lookup = no_env
        self._raw_esc = raw_escapes
        self._shared = [""]
        self.unmatched: set[str] = set()
        self.plain_unset: set[str] = set()

    # -- public API, as ProcessWord / ProcessWords

    def word(self, text: str, env: Lookup = no_env) -> str:
        return self._process(text, env)[0]

    def words(self, text: str, env: Lookup = no_env) -> list[str]:
        return self._process(text, env)[1]

    def _process(self, text: str, env: Lookup) -> tuple[str, list[str]]:
        self._src = text
        self._pos = 1 if text.startswith("\ufeff") else 0
        self._env = env
        self._raw_esc = self.raw_escapes
        self._shared = [""]
        self.unmatched = set()
        self.plain_unset = set()
        return self._stop_on("", self.raw_escapes, False)

    # -- scanner

    def _peek(self) -> str:
        return self._src[self._pos] if self._pos < len(self._src) else ""

    def _next(self) -> str:
        ch = self._peek()
        if ch:
            self._pos += 1
        return ch

    def _get(self, name: str) -> tuple[str, bool]:
        value, found = self._env(name)
        if not found:
            self.unmatched.add(name)
        return value, found

    # -- lex.go

    def _stop_on(self, stop: str, raw_escapes: bool, preserve: bool) -> tuple[str, list[str]]:
        result: list[str] = []
        self._shared[0] = ""
        words = _Words(self._shared)
        saved, self._raw_esc = self._raw_esc, raw_escapes
        try:
            while (ch := self._peek()) != "":
                if stop and ch == stop:
                    self._next()
                    return "".join(result), words.get_words()
                if ch == "$":
                    text = self._dollar()
                    result.append(text)
                    words.add_string(text)
                    continue
                if ch in "<'\"":
                    if ch == "<":
                        text = self._heredoc()
                    elif ch == "'":
                        text = self._single(preserve)
                    else:
                        text = self._double(preserve)
                    result.append(text)
                    words.add_raw(text)
                    continue
                ch = self._next()
                if ch == self.escape:
                    if self._raw_esc:
                        words.add_raw(ch)
                        result.append(ch)
                    ch = self._next()
                    if ch == "":
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
            if stop:
                raise LexError(f"unexpected end of statement while looking for matching {stop}")
            return "".join(result), words.get_words()
        finally:
            self._raw_esc = saved

    def _single(self, preserve: bool) -> str:
        quote = self._next()
        out = [quote] if self.raw_quotes else []
        while True:
            ch = self._next()
            if ch == "":
                raise LexError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if preserve and ch == self.escape:
                out.append(ch)
            out.append(ch)

    def _double(self, preserve: bool) -> str:
        quote = self._next()
        out = [quote] if self.raw_quotes else []
        while True:
            ch = self._peek()
            if ch == "":
                raise LexError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ch == '"':
                self._next()
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
                continue
            ch = self._next()
            if ch == self.escape:
                following = self._peek()
                if following == "":
                    continue
                if following in ('"', "$", self.escape):
                    if self._raw_esc:
                        out.append(ch)
                    ch = self._next()
                elif self._raw_esc and (not self.raw_quotes or preserve):
                    out.append(ch)
            out.append(ch)

    def _name(self) -> str:
        out: list[str] = []
        while (ch := self._peek()) != "":
            if not out and _is_digit(ch):
                while (c := self._peek()) != "" and _is_digit(c):
                    out.append(self._next())
                return "".join(out)
            if not out and ch in _SPECIAL_PARAMS:
                return self._next()
            if not (_is_letter(ch) or _is_digit(ch) or ch == "_"):
                break
            out.append(self._next())
        return "".join(out)

    def _heredoc(self) -> str:
        self._next()
        if self._peek() != "<":
            return "<"
        self._next()
        space: list[str] = []
        while self._peek() in _HEREDOC_SPACE and self._peek() != "":
            space.append(self._next())
        return "<<" + "".join(space)

    def _braced(self, stop: str, raw: bool, preserve: bool, missing: str) -> str:
        try:
            return self._stop_on(stop, raw, preserve)[0]
        except LexError:
            if self._peek() == "":
                raise LexError(f"syntax error: missing '{missing}'") from None
            raise

    def _dollar(self) -> str:
        self._next()
        if self._peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value, found = self._get(name)
            if not found:
                if self.skip_unset:
                    return "$" + name
                self.plain_unset.add(name)
            return value
        self._next()
        ch = self._peek()
        if ch == "":
            raise LexError("syntax error: missing '}'")
        if ch in "{}:":
            raise LexError("syntax error: bad substitution")
        name = self._name()
        ch = self._next()
        chs = ch or "\ufffd"
        if ch == "}":
            value, found = self._get(name)
            if not found:
                if self.skip_unset:
                    return "${" + name + "}"
                self.plain_unset.add(name)
            return value
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self._next()
            chs += ch or "\ufffd"
        elif ch == "/":
            return self._replace(name)
        elif ch not in ("+", "-", "?", "#", "%") or ch == "":
            raise LexError(f"unsupported modifier ({chs}) in substitution")
        pattern = ch in ("#", "%")
        if null_is_unset and pattern:
            raise LexError(f"unsupported modifier ({chs}) in substitution")
        word = self._braced("}", pattern, pattern, "}")
        value, found = self._get(name)
        if self.skip_unset and not found:
            return "${" + name + chs + word + "}"
        if ch == "-":
            return word if not found or (null_is_unset and value == "") else value
        if ch == "+":
            return "" if not found or (null_is_unset and value == "") else word
        if ch == "?":
            if not found:
                raise LexError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise LexError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if pattern:
            raise Unsupported(f"pattern substitution ${{{name}{chs}…}} {_PASS}")
        raise LexError(f"unsupported modifier ({chs}) in substitution")

    def _replace(self, name: str) -> str:
        if self._peek() == "/":
            self._next()
        pattern = self._braced("/", True, True, "/' in ${}")
        replacement = self._braced("}", True, False, "}")
        _, found = self._get(name)
        if self.skip_unset and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        raise Unsupported(f"pattern substitution ${{{name}/…}} {_PASS}")
