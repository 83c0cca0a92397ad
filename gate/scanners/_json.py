"""Typed readers of report fields, shared by every scanner's parser.

A scanner report is refused as a whole when one field it reads has the wrong type: a
partial reading would be a silent pass. ``ReportFields(tool)`` carries the tool's name so
every refusal says whose report is malformed, and where (``Results[3].Vulnerabilities[0]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar

from gate.errors import ScannerError

T = TypeVar("T")

EMPTY: frozenset[str] = frozenset()
#: ``type(x) in STR_OR_NONE``: the hot paths' inlined ``_opt`` (no call per field).
STR_OR_NONE = frozenset({str, type(None)})
DICT_OR_NONE = frozenset({dict, type(None)})
LIST_OR_NONE = frozenset({list, type(None)})

_KINDS: dict[type, str] = {dict: "an object", list: "an array", str: "a string", int: "an integer"}


class ReportFields:
    """``fail``, ``opt`` and ``strings`` for one tool's reports."""

    def __init__(self, tool: str) -> None:
        self.tool = tool

    def fail(self, message: str) -> NoReturn:
        raise ScannerError(f"{self.tool} report is malformed: {message}")

    def opt(self, obj: Mapping[str, Any], key: str, kind: type[T], where: str) -> T | None:
        """``obj[key]`` when present and not null; any other type is an unexpected schema."""
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(f"`{_at(where, key)}` is not {_KINDS.get(kind, kind.__name__)}")
        return value

    def strings(self, obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        """``obj[key]`` as a list of strings (absent or null: empty)."""
        items = self.opt(obj, key, list, where) or []
        if not all(isinstance(item, str) for item in items):
            self.fail(f"`{_at(where, key)}` holds a non-string")
        return tuple(items)


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
