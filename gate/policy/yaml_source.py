"""Read a policy's YAML into plain JSON values, keeping where each value was written.

Hardened for a file that arrives in a pull request:

- **Size cap** (``MAX_POLICY_BYTES``) before parsing, so a 10 MB file fails at once.
- **Strict UTF-8**: undecodable bytes are an error with their line and column.
- **No anchors or aliases.** A policy has no need for them, and refusing them outright is
  the simplest complete defence against "billion laughs" alias bombs.
- **Duplicate keys are errors** (YAML loaders silently keep the last one).
- **No tags on mappings or lists** (``!!set``, ``!!python/object/apply:…``): they would
  mean something else to any other YAML reader.
- **Keys must be strings**, so YAML 1.1 surprises (``on:`` read as ``True``) are caught.
- **Nesting is bounded** (``MAX_DEPTH``): PyYAML composes recursively, so ``[[[[…`` a few
  thousand deep would otherwise end in ``RecursionError`` instead of a message.

Dates (``expires: 2027-03-31``) become ``YYYY-MM-DD`` strings for the JSON Schema; an
impossible date such as ``2027-13-45`` is an error at its position.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_POLICY_BYTES = 1024 * 1024
MAX_DEPTH = 32
"""How deeply collections may nest; the schema's deepest path is 6 levels."""

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Mark:
    line: int
    col: int


@dataclass
class SourceMap:
    """Where each JSON path was written: the value's mark, and for mapping keys the key's."""

    values: dict[Path_, Mark] = field(default_factory=dict)
    keys: dict[Path_, Mark] = field(default_factory=dict)

    def value(self, path: Path_) -> Mark:
        """The mark of ``path``, or of its nearest written ancestor."""
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, Mark(1, 1))

    def key(self, path: Path_) -> Mark:
        return self.keys.get(path) or self.value(path)


class YamlProblem(Exception):
    def __init__(self, mark: Mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases, and deep nesting, while composing."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise YamlProblem(
                Mark(event.start_mark.line + 1, event.start_mark.column + 1),
                "YAML aliases (*name) are not allowed in a policy; write the value out",
            )
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if getattr(event, "anchor", None):
            raise YamlProblem(
                Mark(event.start_mark.line + 1, event.start_mark.column + 1),
                "YAML anchors (&name) are not allowed in a policy; write the value out",
            )
        if self._depth >= MAX_DEPTH:
            raise YamlProblem(
                Mark(event.start_mark.line + 1, event.start_mark.column + 1),
                f"the policy nests deeper than {MAX_DEPTH} levels",
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _decode(data: bytes) -> str:
    if len(data) > MAX_POLICY_BYTES:
        raise YamlProblem(
            Mark(1, 1), f"the policy is {len(data)} bytes; at most {MAX_POLICY_BYTES} are allowed"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        raise YamlProblem(Mark(line, col), "the policy is not valid UTF-8") from None


def _one_line(text: object, limit: int = 200) -> str:
    """PyYAML's messages carry a source excerpt on later lines; errors here are one line."""
    first = str(text).strip().split("\n", 1)[0]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _scalar(loader: _Loader, node: yaml.ScalarNode) -> Any:
    shown = _one_line(repr(node.value), 80)
    try:
        value = loader.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as error:
        reason = _one_line(error.problem or error)
        raise YamlProblem(_mark(node), f"{shown} is not a valid value: {reason}") from None
    except ValueError as error:  # e.g. an impossible date: "day is out of range for month"
        reason = _one_line(error)
        raise YamlProblem(_mark(node), f"{shown} is not a valid value: {reason}") from None
    except Exception:
        # PyYAML's constructors trust an explicit tag: ``!!int ''`` raises IndexError,
        # ``!!bool maybe`` KeyError, ``!!timestamp ''`` AttributeError.
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise YamlProblem(_mark(node), f"{shown} is not a valid {tag} value") from None
    if isinstance(value, dt.datetime):
        raise YamlProblem(_mark(node), f"{shown}: expected a date (YYYY-MM-DD), not a time")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        raise YamlProblem(_mark(node), "binary values are not allowed in a policy")
    return value


_PLAIN_COLLECTIONS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


def _to_json(loader: _Loader, node: yaml.Node, path: Path_, where: SourceMap) -> Any:
    where.values[path] = _mark(node)
    if isinstance(node, yaml.ScalarNode):
        return _scalar(loader, node)
    if node.tag not in _PLAIN_COLLECTIONS:
        # Read as plain data, a tagged collection would mean something else to every other
        # YAML reader (``!!set``, ``!!omap``, ``!!python/object/apply``): refuse it.
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise YamlProblem(_mark(node), f"YAML tags ({tag}) are not allowed on a mapping or list")
    if isinstance(node, yaml.SequenceNode):
        return [_to_json(loader, item, (*path, i), where) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(loader, key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                raise YamlProblem(
                    _mark(key_node),
                    f"keys must be strings, got {key_node.value!r}"
                    + (
                        " (quote it: YAML 1.1 reads on/off/yes/no as booleans)"
                        if isinstance(key, bool)
                        else ""
                    ),
                )
            key_path = (*path, key)
            if key in out:
                first = where.keys[key_path]
                raise YamlProblem(
                    _mark(key_node), f"duplicate key {key!r} (first written at line {first.line})"
                )
            where.keys[key_path] = _mark(key_node)
            out[key] = _to_json(loader, value_node, (*path, key), where)
        return out
    raise YamlProblem(_mark(node), "unsupported YAML node")  # pragma: no cover


def read_yaml(data: bytes) -> tuple[Any, SourceMap]:
    """Parse policy bytes into JSON values and a map of where each was written."""
    text = _decode(data)
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader refuses unprintable characters right here
        node = loader.get_single_node()
        where = SourceMap()
        if node is None:
            return None, where
        return _to_json(loader, node, (), where), where
    except yaml.reader.ReaderError as error:
        before = text[: error.position]
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        char = error.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        raise YamlProblem(Mark(line, col), f"character {shown} is not allowed in YAML") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        position = Mark(mark.line + 1, mark.column + 1) if mark else Mark(1, 1)
        reason = _one_line(error.problem or error.context or error)
        raise YamlProblem(position, f"YAML syntax error: {reason}") from None
    except yaml.YAMLError as error:
        raise YamlProblem(Mark(1, 1), f"YAML error: {_one_line(error)}") from None
    finally:
        if loader is not None:
            loader.dispose()
