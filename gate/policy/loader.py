"""Load a policy file: YAML → JSON Schema → frozen ``Policy``, or ``PolicyError``.

Every problem is reported as ``FILE:LINE:COL: where: what is wrong; what is allowed``,
one line per problem, sorted by position, so a user fixes them all in one pass. Checks
the schema cannot express (regexes compile, key files exist) run after it, with the
same positions.
"""

from __future__ import annotations

import json
import re
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from gate.errors import PolicyError
from gate.model import Severity
from gate.policy.conforms import conforms
from gate.policy.model import (
    DEFAULT_MUTABLE_TAGS,
    Authority,
    BaseImagePolicy,
    GitHubClaims,
    ImagePolicy,
    KeylessIdentity,
    Policy,
    SecretsPolicy,
    SignaturePolicy,
    VulnerabilityPolicy,
    VulnException,
)
from gate.policy.yaml_source import Mark, Path_, SourceMap, YamlProblem, read_yaml

# Package data sits beside this module (setuptools package-data); reading it by path avoids
# importing importlib.resources on the cold-start path.
_HERE = Path(__file__).resolve().parent
DEFAULT_LOCATIONS = (Path(".github") / "container-gate.yml", Path("container-gate.yml"))
BUILTIN_NAME = "built-in policies/default.yaml"


def schema_text() -> str:
    return (_HERE / "schema.json").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_text())
    return schema


def find_policy(cwd: Path) -> Path | None:
    """The policy in its default location: .github/container-gate.yml, then container-gate.yml."""
    for candidate in DEFAULT_LOCATIONS:
        if (cwd / candidate).is_file():
            return cwd / candidate
    return None


def load_policy(path: Path) -> Policy:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PolicyError(f"{path}: cannot read the policy: {error.strerror}") from None
    return parse_policy(data, source=str(path), base_dir=path.parent)


def load_default_policy() -> Policy:
    data = (_HERE / "default.yaml").read_bytes()
    policy = parse_policy(data, source=BUILTIN_NAME, base_dir=Path.cwd())
    return Policy(**{**policy.__dict__, "builtin": True})


def parse_policy(data: bytes, *, source: str, base_dir: Path) -> Policy:
    try:
        document, where = read_yaml(data)
    except YamlProblem as problem:
        raise PolicyError(
            f"{source}:{problem.mark.line}:{problem.mark.col}: {problem.message}"
        ) from None
    problems = _schema_problems(document, where)
    if problems:
        raise PolicyError("\n".join(f"{source}:{m.line}:{m.col}: {text}" for m, text in problems))
    try:
        return _build(document, where, source, base_dir)
    except YamlProblem as problem:
        raise PolicyError(
            f"{source}:{problem.mark.line}:{problem.mark.col}: {problem.message}"
        ) from None


# --------------------------------------------------------------------------- schema errors


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the policy"


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a mapping", type(None): "nothing (null)"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def _allowed_keys(schema: dict[str, Any]) -> str:
    return ", ".join(schema.get("properties", {})) or "none"


def _describe(error: Any, where: SourceMap) -> tuple[Mark, str]:
    """Turn one jsonschema error into a position and a sentence with what is allowed."""
    path: Path_ = tuple(error.absolute_path)
    at = _dotted(path)
    kind, value, schema = error.validator, error.instance, error.schema
    if kind == "additionalProperties":
        extra = sorted(set(value) - set(schema.get("properties", {})))
        key = extra[0] if extra else "?"
        return where.key((*path, key)), (
            f"{at if path else 'top level'}: unknown key {key!r}; "
            f"allowed keys: {_allowed_keys(schema)}"
        )
    if kind == "required":
        missing = error.validator_value
        absent = [k for k in missing if k not in value] if isinstance(value, dict) else missing
        return where.value(path), (
            f"{at}: missing required key {absent[0]!r}; required: {', '.join(missing)}"
        )
    if kind in ("enum", "const"):
        options = error.validator_value if kind == "enum" else [error.validator_value]
        shown = ", ".join(str(o) for o in options)
        return where.value(path), f"{at}: {value!r} is not allowed; must be one of {shown}"
    if kind == "type":
        return where.value(
            path
        ), f"{at}: expected {_type_name_for(error.validator_value)}, got {_type_name(value)}"
    if kind == "format":
        return where.value(path), f"{at}: {value!r} is not a valid date; write YYYY-MM-DD"
    if kind in ("minLength", "minItems"):
        return where.value(path), f"{at}: must not be empty"
    if kind in ("minimum", "exclusiveMinimum"):
        bound = "at least" if kind == "minimum" else "greater than"
        return where.value(
            path
        ), f"{at}: {value!r} is too small; must be {bound} {error.validator_value}"
    if kind == "uniqueItems":
        return where.value(path), f"{at}: items must not repeat"
    if kind == "anyOf" and not path:
        return where.value(path), (
            "the policy checks nothing; add at least one of vulnerabilities, secrets, image, "
            "base_image, signature"
        )
    if kind == "oneOf" and path and path[-2:-1] == ("authorities",):
        return where.value(path), f"{at}: an authority needs exactly one of key or keyless"
    if kind == "oneOf" and path and path[-1] == "keyless":
        return where.value(path), (
            f"{at}: needs exactly one of issuer or issuer_regex, and exactly one of subject or "
            "subject_regex"
        )
    if kind == "oneOf" and path and path[-1] == "dockerfile":
        return where.value(path), f"{at}: expected a path or a non-empty list of paths"
    return where.value(path), f"{at}: {error.message}"


def _type_name_for(expected: Any) -> str:
    names = {"boolean": "a boolean (true or false)", "integer": "an integer", "number": "a number",
             "string": "a string", "array": "a list", "object": "a mapping"}  # fmt: skip
    if isinstance(expected, list):
        return " or ".join(names.get(str(e), str(e)) for e in expected)
    return names.get(expected, str(expected))


def _schema_problems(document: Any, where: SourceMap) -> list[tuple[Mark, str]]:
    """Every schema problem with its position; none when the document conforms.

    ``conforms`` answers the common, valid case without importing jsonschema (see
    gate/policy/conforms.py); jsonschema then explains what is wrong.
    """
    if not isinstance(document, dict):
        kind = _type_name(document)
        return [(Mark(1, 1), f"the policy must be a mapping of sections, got {kind}")]
    if conforms(document, _schema()):
        return []
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)
    found: dict[tuple[int, int, str], tuple[Mark, str]] = {}
    for error in validator.iter_errors(document):
        mark, text = _describe(error, where)
        found.setdefault((mark.line, mark.col, text), (mark, text))
    if not found:  # the two validators disagree: refuse rather than accept (fail closed)
        return [(Mark(1, 1), "the policy does not conform to its schema (see: gate policy schema)")]
    return [found[k] for k in sorted(found)]


# --------------------------------------------------------------------------- building


def _regex(value: str | None, where: SourceMap, path: Path_) -> str | None:
    if value is None:
        return None
    try:
        re.compile(value)
    except re.error as error:
        raise YamlProblem(
            where.value(path), f"{_dotted(path)}: invalid regular expression: {error}"
        ) from None
    return value


def _file(value: str | None, where: SourceMap, path: Path_, base_dir: Path) -> Path | None:
    if value is None:
        return None
    resolved = (base_dir / value).resolve()
    if not resolved.is_file():
        raise YamlProblem(
            where.value(path),
            f"{_dotted(path)}: file {value!r} not found (relative to the policy file)",
        )
    return resolved


def _vulnerabilities(doc: dict[str, Any], where: SourceMap) -> VulnerabilityPolicy:
    exceptions = tuple(
        VulnException(
            id=e["id"],
            reason=e["reason"],
            expires=date.fromisoformat(e["expires"]),
            package=e.get("package"),
            line=where.value(("vulnerabilities", "exceptions", i)).line,
        )
        for i, e in enumerate(doc.get("exceptions", []))
    )
    return VulnerabilityPolicy(
        fail_on=Severity[doc.get("fail_on", "high").upper()],
        ignore_unfixed=doc.get("ignore_unfixed", False),
        unknown_as=Severity[doc.get("unknown_as", "high").upper()],
        exceptions=exceptions,
        scanners=tuple(doc.get("scanners", ["trivy"])),
    )


def _image(doc: dict[str, Any]) -> ImagePolicy:
    return ImagePolicy(
        non_root=doc.get("non_root", False),
        tag=doc.get("tag", "any"),
        mutable_tags=tuple(doc.get("mutable_tags", DEFAULT_MUTABLE_TAGS)),
        max_age_days=doc.get("max_age_days"),
        max_size_mb=doc.get("max_size_mb"),
    )


def _base_image(doc: dict[str, Any]) -> BaseImagePolicy:
    dockerfile = doc.get("dockerfile", [])
    return BaseImagePolicy(
        require_digest=doc.get("require_digest", True),
        dockerfiles=tuple([dockerfile] if isinstance(dockerfile, str) else dockerfile),
        allowed=tuple(doc.get("allowed", [])),
    )


def _authority(doc: dict[str, Any], where: SourceMap, path: Path_, base_dir: Path) -> Authority:
    keyless = None
    if "keyless" in doc:
        k, kp = doc["keyless"], (*path, "keyless")
        github = k.get("github")
        keyless = KeylessIdentity(
            issuer=k.get("issuer"),
            issuer_regex=_regex(k.get("issuer_regex"), where, (*kp, "issuer_regex")),
            subject=k.get("subject"),
            subject_regex=_regex(k.get("subject_regex"), where, (*kp, "subject_regex")),
            github=GitHubClaims(
                repository=github.get("repository"),
                ref=github.get("ref"),
                match_git_sha=github.get("match_git_sha", False),
            )
            if github is not None
            else None,
        )
    return Authority(
        name=doc["name"],
        key=_file(doc.get("key"), where, (*path, "key"), base_dir),
        keyless=keyless,
    )


def _signature(doc: dict[str, Any], where: SourceMap, base_dir: Path) -> SignaturePolicy:
    authorities = tuple(
        _authority(a, where, ("signature", "authorities", i), base_dir)
        for i, a in enumerate(doc["authorities"])
    )
    return SignaturePolicy(
        required=doc.get("required", True),
        authorities=authorities,
        tlog=doc.get("tlog", "required"),
        trusted_root=_file(doc.get("trusted_root"), where, ("signature", "trusted_root"), base_dir),
        formats=tuple(doc.get("formats", ["bundle", "legacy"])),
        repository=doc.get("repository"),
    )


def _build(doc: dict[str, Any], where: SourceMap, source: str, base_dir: Path) -> Policy:
    vulns, secrets, image = doc.get("vulnerabilities"), doc.get("secrets"), doc.get("image")
    base, signature = doc.get("base_image"), doc.get("signature")
    return Policy(
        source=source,
        version=doc["version"],
        mode=doc.get("mode", "enforce"),
        vulnerabilities=None if vulns is None else _vulnerabilities(vulns, where),
        secrets=None if secrets is None else SecretsPolicy(fail=secrets.get("fail", True)),
        image=None if image is None else _image(image),
        base_image=None if base is None else _base_image(base),
        signature=None if signature is None else _signature(signature, where, base_dir),
    )
