"""A small yes/no check of a document against the policy schema, for the fast path.

Importing jsonschema costs about 70 ms (three times a bare interpreter's start), which would
put ``policy validate`` and every ``check`` far over the gate's cold-start budget. Valid
policies are the common case, so the loader first asks this module, which understands
exactly the keywords ``schema.json`` uses, whether the document conforms. Only when it does
not is jsonschema imported, to list every problem with its position and what is allowed.

The two must agree on validity: a hypothesis test compares them on generated documents,
and an unknown keyword here raises, so a schema change cannot silently weaken the check.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from typing import Any

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}
_ANNOTATIONS = {"$schema", "$id", "title", "description", "default"}


def _is_type(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[kind])


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: ``1 == True`` in Python, but not in JSON Schema."""
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _valid_date(text: str) -> bool:
    if not _DATE.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def conforms(value: Any, schema: dict[str, Any]) -> bool:
    for keyword, rule in schema.items():
        if keyword in _ANNOTATIONS or keyword in ("properties", "additionalProperties"):
            continue
        if keyword == "type":
            if not _is_type(value, rule):
                return False
        elif keyword == "enum":
            if not any(_equal(value, option) for option in rule):
                return False
        elif keyword == "const":
            if not _equal(value, rule):
                return False
        elif keyword == "required":
            if isinstance(value, dict) and any(key not in value for key in rule):
                return False
        elif keyword == "items":
            if isinstance(value, list) and not all(conforms(item, rule) for item in value):
                return False
        elif keyword == "minItems":
            if isinstance(value, list) and len(value) < rule:
                return False
        elif keyword == "uniqueItems":
            if rule and isinstance(value, list) and _has_duplicates(value):
                return False
        elif keyword == "minLength":
            if isinstance(value, str) and len(value) < rule:
                return False
        elif keyword == "pattern":  # searched, not anchored, as jsonschema does
            if isinstance(value, str) and not _pattern(rule).search(value):
                return False
        elif keyword == "minimum":
            if _is_number(value) and value < rule:
                return False
        elif keyword == "exclusiveMinimum":
            if _is_number(value) and value <= rule:
                return False
        elif keyword == "format":
            if rule != "date":
                raise ValueError(f"schema uses format {rule!r}, which conforms() does not know")
            if isinstance(value, str) and not _valid_date(value):
                return False
        elif keyword == "anyOf":
            if not any(conforms(value, option) for option in rule):
                return False
        elif keyword == "oneOf":
            if sum(conforms(value, option) for option in rule) != 1:
                return False
        elif keyword == "allOf":
            if not all(conforms(value, option) for option in rule):
                return False
        else:
            raise ValueError(f"schema uses {keyword!r}, which conforms() does not know")
    return _object_conforms(value, schema) if isinstance(value, dict) else True


def _object_conforms(value: dict[str, Any], schema: dict[str, Any]) -> bool:
    properties: dict[str, Any] = schema.get("properties", {})
    for key, item in value.items():
        if key in properties:
            if not conforms(item, properties[key]):
                return False
        elif schema.get("additionalProperties", True) is False:
            return False
        elif schema.get("additionalProperties", True) is not True:
            raise ValueError("conforms() knows additionalProperties only as true or false")
    return True


@cache
def _pattern(rule: str) -> re.Pattern[str]:
    return re.compile(rule)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _has_duplicates(items: list[Any]) -> bool:
    seen: list[Any] = []
    for item in items:
        if any(_equal(item, other) for other in seen):
            return True
        seen.append(item)
    return False
