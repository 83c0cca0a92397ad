"""Render the policy reference (README's "Policy" table) from the shipped JSON Schema.

The README holds the rendered table between markers, and a test compares the two, so the
documentation cannot drift from the schema. After changing the schema, refresh it with
``python -m gate.policy.reference README.md``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gate.policy.loader import schema_text

BEGIN = "<!-- policy-reference:begin (generated from gate/policy/schema.json) -->"
END = "<!-- policy-reference:end -->"


def _kind(node: dict[str, Any]) -> str:
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    if "oneOf" in node and "type" not in node:
        return " or ".join(_kind(option) for option in node["oneOf"])
    kind = str(node.get("type", ""))
    if kind == "array":
        items = node.get("items", {})
        inner = "mapping" if items.get("type") == "object" else _kind(items)
        return f"list of {inner}"
    return {"object": "mapping", "boolean": "boolean", "integer": "integer", "number": "number",
            "string": "string"}.get(kind, kind)  # fmt: skip


def _default(node: dict[str, Any]) -> str:
    if "default" not in node:
        return ""
    return f"`{json.dumps(node['default'])}`"


def _rows(node: dict[str, Any], prefix: str, required: set[str]) -> Iterator[str]:
    for name, child in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        mark = " (required)" if name in required else ""
        description = child.get("description", "").replace("|", "\\|")
        yield f"| `{path}`{mark} | {_kind(child)} | {_default(child)} | {description} |"
        target = child.get("items", child) if child.get("type") == "array" else child
        if target.get("type") == "object":
            sub = f"{path}[]." if child.get("type") == "array" else f"{path}."
            yield from _rows(target, sub, set(target.get("required", [])))
        for option in child.get("oneOf", []) if "type" not in child else []:
            if option.get("type") == "object":  # a key that is a word or a mapping (image.tag)
                yield from _rows(option, f"{path}.", set(option.get("required", [])))


def reference_markdown() -> str:
    schema = json.loads(schema_text())
    lines = [
        BEGIN,
        "| key | type | default | meaning |",
        "|---|---|---|---|",
        *_rows(schema, "", set(schema.get("required", []))),
        END,
    ]
    return "\n".join(lines)


def refresh(readme: Path) -> bool:
    """Rewrite the block in ``readme``; return True if it changed."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    updated = text[:start] + reference_markdown() + text[end:]
    readme.write_text(updated, encoding="utf-8")
    return updated != text


if __name__ == "__main__":
    print("updated" if refresh(Path(sys.argv[1])) else "unchanged")
