"""The uid a container runs as, resolved exactly as moby/sys/user's ``GetExecUser`` does.

Docker (moby's daemon ``getUser``) resolves an image's ``config.User`` with
github.com/moby/sys/user (v0.4.1) ``GetExecUserPath(spec, nil, passwd, group)``, that is
``GetExecUser`` with uid 0 and gid 0 as defaults, over the container's own /etc/passwd and
/etc/group; runc's ``setupUser`` calls the same function, and containerd's ``WithUser``
splits and range-checks the spec the same way and reads the files with the same parsers.
This module mirrors ``GetExecUser`` and the Go code under it; Go strings are bytes, so
names are compared as bytes.

- The spec is used as written (never stripped) and split on ``:`` (``parseLine``):
  ``user[:group[:ignored…]]``.
- A part is numeric when ``strconv.Atoi`` accepts it (``[+-]?[0-9]+``: no spaces, no
  underscores, no ``0x``), and must then lie in 0..2147483647 (``parseNumeric``); an id out
  of range, or too large for Atoi, refuses the whole spec before any file is read.
- The files are read with ``bufio.Scanner`` (``ScanLines``: lines end at ``\\n`` only, one
  ``\\r`` right before it is dropped; a line of 64 KiB or more, 1 MiB in /etc/group, is an
  error), each line trimmed with ``bytes.TrimSpace`` (Unicode white space) and split on
  ``:``. Empty lines are skipped, ``#`` lines only in /etc/group. A number field Atoi
  refuses reads as 0 (clipped on overflow), a missing field as 0 or empty.
- A numeric user matches a line by uid, a name by name, an empty user by uid 0; the first
  matching line wins. A name no line matches is refused; a numeric uid is then used as
  given. A missing file (``GetExecUserPath`` passes a nil reader) reads as empty.
- The group part works the same way and only ever sets the gid: the uid comes from the
  spec and /etc/passwd alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_ID, MAX_ID = 0, 2**31 - 1
"""moby/sys/user's ``minID``/``maxID``: ids a spec may name."""
PASSWD_MAX_LINE = 64 * 1024
"""``bufio.MaxScanTokenSize``: ``ParsePasswdFilter`` fails on a line this long or longer."""
GROUP_MAX_LINE = 1024 * 1024
"""``ParseGroupFilter`` raises the Scanner's limit to 1 MiB for long member lists."""
ERR_RANGE = f"uids and gids must be in range {MIN_ID}-{MAX_ID}"
_TOO_LONG = "bufio.Scanner: token too long"
_INT64_MAX, _UINT64_MAX = 2**63 - 1, 2**64 - 1

_SPACE_RUNES = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
_SPACE_RUNES += "\u2028\u2029\u202f\u205f\u3000"  # Go's unicode.IsSpace
_SPACE = b"(?:" + b"|".join(re.escape(c.encode()) for c in _SPACE_RUNES) + b")+"
_LEADING_SPACE = re.compile(rb"\A" + _SPACE)
_TRAILING_SPACE = re.compile(_SPACE + rb"\Z")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Refusal:
    """``GetExecUser`` returned an error: the runtime refuses to start the container."""

    message: str


@dataclass(frozen=True)
class UserSpec:
    """``config.User`` split as ``GetExecUser`` splits it (``parseLine`` + ``parseNumeric``)."""

    user: bytes
    group: bytes
    uid: int | None
    """The user part as a uid, when Atoi accepts it (``isUID``)."""
    gid: int | None


@dataclass(frozen=True)
class PasswdMatch:
    """What the /etc/passwd half of ``GetExecUser`` settles: the uid, for good."""

    uid: int
    gid: int
    name: bytes
    """The matched line's name (``matchedUserName``): non-empty makes runc read /etc/group."""


@dataclass(frozen=True)
class ExecUser:
    uid: int
    gid: int
    sgids: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Passwd:
    name: bytes
    uid: int
    gid: int


@dataclass(frozen=True)
class _Group:
    name: bytes
    gid: int
    members: tuple[bytes, ...]


def go_text(data: bytes) -> str:
    """*data* as Go's encoding/json writes a string: each invalid UTF-8 byte as U+FFFD."""
    out: list[str] = []
    while True:
        try:
            out.append(data.decode())
            return "".join(out)
        except UnicodeDecodeError as error:
            out.append(data[: error.start].decode() + "\ufffd")
            data = data[error.start + 1 :]


def go_bytes(text: str) -> bytes:
    """A JSON string as Go decodes it: a lone surrogate becomes U+FFFD (Python keeps it)."""
    return _SURROGATE.sub("\ufffd", text).encode()


def atoi(field: bytes) -> tuple[int, str | None]:
    """Go's ``strconv.Atoi`` (64-bit): the value, and ``"syntax"``/``"range"`` on error.

    As Go, a syntax error gives 0 and an overflow gives the clipped value (``ParseUint``
    reports the overflow as soon as it happens, even if a bad byte follows).
    """
    negative = field[:1] == b"-"
    digits = field[1:] if field[:1] in (b"+", b"-") else field
    if not digits:
        return 0, "syntax"
    value = 0
    for byte in digits:
        if not 0x30 <= byte <= 0x39:
            return 0, "syntax"
        value = value * 10 + byte - 0x30
        if value > _UINT64_MAX:
            value = _UINT64_MAX
            break
    if not negative and value > _INT64_MAX:
        return _INT64_MAX, "range"
    if negative and value > _INT64_MAX + 1:
        return -_INT64_MAX - 1, "range"
    return (-value if negative else value), None


def trim_space(line: bytes) -> bytes:
    """Go's ``bytes.TrimSpace``: Unicode white space (``unicode.IsSpace``) off both ends."""
    line = _LEADING_SPACE.sub(b"", line, count=1)
    return _TRAILING_SPACE.sub(b"", line, count=1)


def scan_lines(data: bytes, max_line: int) -> list[bytes] | None:
    """Go's ``bufio.Scanner`` with ``ScanLines``: the lines, or None for ``ErrTooLong``.

    Lines end at ``\\n`` only, and lose one ``\\r`` right before it (or at EOF). A line
    of *max_line* bytes or more fills the Scanner's buffer without a newline: an error.
    """
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if any(len(line) >= max_line for line in lines):
        return None
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def _fields(data: bytes, max_line: int, *, comments: bool) -> list[list[bytes]] | None:
    """Each non-empty, trimmed line split on ``:`` (``ParsePasswdFilter``/``ParseGroupFilter``)."""
    lines = scan_lines(data, max_line)
    if lines is None:
        return None
    trimmed = (trim_space(line) for line in lines)
    return [line.split(b":") for line in trimmed if line and not (comments and line[:1] == b"#")]


def _field(parts: list[bytes], index: int) -> bytes:
    return parts[index] if index < len(parts) else b""


def _number(parts: list[bytes], index: int) -> int:
    """``parseParts`` for an ``*int``: Atoi's value, errors ignored; 0 when the field is absent."""
    return atoi(parts[index])[0] if index < len(parts) else 0


def parse_passwd(data: bytes) -> list[_Passwd] | None:
    """``name:password:uid:gid:…`` entries; None when the Scanner fails. No comment syntax."""
    rows = _fields(data, PASSWD_MAX_LINE, comments=False)
    if rows is None:
        return None
    return [_Passwd(p[0], _number(p, 2), _number(p, 3)) for p in rows]


def parse_group(data: bytes) -> list[_Group] | None:
    """``name:password:gid:member,…`` entries; None when the Scanner fails. ``#`` comments."""
    rows = _fields(data, GROUP_MAX_LINE, comments=True)
    if rows is None:
        return None
    return [
        _Group(p[0], _number(p, 2), tuple(p[3].split(b",")) if _field(p, 3) else ()) for p in rows
    ]


def _numeric(part: bytes) -> tuple[int | None, Refusal | None]:
    """``parseNumeric``: an id, None for a name, or the range refusal."""
    if part == b"":
        return None, None
    value, error = atoi(part)
    if error == "syntax":
        return None, None
    if error == "range" or not MIN_ID <= value <= MAX_ID:
        return None, Refusal(ERR_RANGE)
    return value, None


def parse_spec(spec: str) -> UserSpec | Refusal:
    """Split ``config.User`` as written; ids out of 0..2147483647 are refused outright."""
    parts = go_bytes(spec).split(b":")
    user, group = parts[0], _field(parts, 1)
    uid, refused = _numeric(user)
    if refused is not None:
        return refused
    gid, refused = _numeric(group)
    return refused if refused is not None else UserSpec(user, group, uid, gid)


def match_passwd(spec: UserSpec, passwd: bytes | None) -> PasswdMatch | Refusal:
    """The /etc/passwd half of ``GetExecUser``; *passwd* None when the file does not exist."""
    entries = parse_passwd(passwd) if passwd is not None else []
    if entries is None:
        label = go_text(spec.user) if spec.user else "0"
        return Refusal(f"unable to find user {label}: {_TOO_LONG}")
    if spec.user == b"":
        found = [e for e in entries if e.uid == 0]
    elif spec.uid is not None:
        found = [e for e in entries if e.uid == spec.uid]
    else:
        found = [e for e in entries if e.name == spec.user]
    if found:
        return PasswdMatch(found[0].uid, found[0].gid, found[0].name)
    if spec.user == b"":
        return PasswdMatch(0, 0, b"")
    if spec.uid is None:
        return Refusal(
            f"unable to find user {go_text(spec.user)}: no matching entries in passwd file"
        )
    return PasswdMatch(spec.uid, 0, b"")


def reads_group(spec: UserSpec, match: PasswdMatch) -> bool:
    """Whether ``GetExecUser`` goes on to /etc/group (an explicit group, or a matched name)."""
    return spec.group != b"" or match.name != b""


def match_group(spec: UserSpec, match: PasswdMatch, group: bytes | None) -> ExecUser | Refusal:
    """The /etc/group half of ``GetExecUser``: the gid, or supplementary gids. Never the uid."""
    if not reads_group(spec, match):
        return ExecUser(match.uid, match.gid)
    entries = parse_group(group) if group is not None else []
    if entries is None:
        return Refusal(f"unable to find groups for spec {go_text(match.name)}: {_TOO_LONG}")
    if spec.group == b"":
        sgids = tuple(g.gid for g in entries if match.name in g.members)
        return ExecUser(match.uid, match.gid, sgids)
    if spec.gid is None:
        found = [g for g in entries if g.name == spec.group]
    else:
        found = [g for g in entries if g.gid == spec.gid]
    if found:
        return ExecUser(match.uid, found[0].gid)
    if spec.gid is None:
        return Refusal(
            f"unable to find group {go_text(spec.group)}: no matching entries in group file"
        )
    return ExecUser(match.uid, spec.gid)


def resolve_exec_user(spec: str, passwd: bytes | None, group: bytes | None) -> ExecUser | Refusal:
    """``GetExecUser(spec, &ExecUser{Uid: 0, Gid: 0}, passwd, group)``; None is a missing file."""
    parsed = parse_spec(spec)
    if isinstance(parsed, Refusal):
        return parsed
    match = match_passwd(parsed, passwd)
    if isinstance(match, Refusal):
        return match
    return match_group(parsed, match, group)


def spec_alone_is_root(spec: UserSpec) -> bool:
    """An empty user, or uid 0 in any spelling Atoi accepts (``0``, ``+0``, ``-0``, ``000``).

    No file can change that uid; /etc/passwd only matters for any other user.
    """
    return spec.user == b"" or spec.uid == 0


def needs_files(spec: str) -> bool:
    """Whether the image's /etc/passwd and /etc/group can change the verdict on *spec*."""
    parsed = parse_spec(spec)
    return not isinstance(parsed, Refusal) and not spec_alone_is_root(parsed)
