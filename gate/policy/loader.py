"""Load a policy file: YAML → JSON Schema → frozen ``Policy``, or ``PolicyError``.

Every problem is reported as ``FILE:LINE:COL: where: what is wrong; what is allowed``,
one line per problem, sorted by position, so a user fixes them all in one pass (at most
``MAX_PROBLEMS`` lines; a last line says how many more there are). Checks the schema
cannot express (regexes compile, key files exist, numbers are finite) run after it, with
the same positions; they report the first problem only.

Positions come from the YAML nodes (``yaml_source``): a jsonschema error's instance path
is looked up in the source map. Unknown keys point at the key, every other problem at
the value, and a missing key at the mapping that lacks it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
from dataclasses import replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from gate.errors import PolicyError, UsageError
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
    TrivyPolicy,
    VulnerabilityPolicy,
    VulnException,
)
from gate.policy.yaml_source import (
    MAX_POLICY_BYTES,
    Mark,
    Path_,
    SourceMap,
    YamlProblem,
    read_yaml,
)
from gate.scanners import DEFAULT_SCANNERS
from gate.severity import Severity

# Package data sits beside this module (setuptools package-data); reading it by path avoids
# importing importlib.resources on the cold-start path.
_HERE = Path(__file__).resolve().parent
DEFAULT_LOCATIONS = (Path(".github") / "container-gate.yml", Path("container-gate.yml"))
BUILTIN_NAME = "built-in policies/default.yaml"
SECTIONS = ("vulnerabilities", "secrets", "image", "base_image", "signature")
MAX_PROBLEMS = 20
"""Schema problems listed at most; a policy full of errors should not flood the log."""


def schema_text() -> str:
    """The shipped JSON Schema (draft 2020-12), as ``gate policy schema`` prints it."""
    return (_HERE / "schema.json").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_text())
    return schema


def find_policy(cwd: Path) -> Path | None:
    """The policy in its default location: .github/container-gate.yml, then container-gate.yml.

    Anything at a default location counts, even a directory or a dangling symlink: loading
    it then fails with a clear error, where skipping it would silently swap the
    repository's policy for the built-in one.
    """
    for candidate in DEFAULT_LOCATIONS:
        if os.path.lexists(cwd / candidate):
            return cwd / candidate
    return None


def load_policy(path: Path) -> Policy:
    """Load the policy at ``path``; relative key and trust-root paths resolve beside it.

    Raises ``PolicyError`` (``FILE:LINE:COL: …``) for any file that cannot be read or is
    not a valid policy; nothing else escapes.
    """
    source = str(path)
    return parse_policy(_read(path, source), source=source, base_dir=path.parent)


def _read(path: Path, source: str) -> bytes:
    """The file's bytes, never more than the cap: a 10 MB file or /dev/zero is not read."""
    too_big = f"at most {MAX_POLICY_BYTES} are allowed"
    try:
        with path.open("rb") as file:
            info = os.fstat(file.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > MAX_POLICY_BYTES:
                raise PolicyError(f"{source}:1:1: the policy is {info.st_size} bytes; {too_big}")
            data = file.read(MAX_POLICY_BYTES + 1)
    except OSError as error:
        raise PolicyError(f"{source}: cannot read the policy: {error.strerror}") from None
    if len(data) > MAX_POLICY_BYTES:  # a pipe or a device: no size to check up front
        raise PolicyError(
            f"{source}:1:1: the policy is more than {MAX_POLICY_BYTES} bytes; {too_big}"
        )
    return data


def load_default_policy() -> Policy:
    """The built-in policy (``policies/default.yaml``), marked ``builtin=True``."""
    data = (_HERE / "default.yaml").read_bytes()
    policy = parse_policy(data, source=BUILTIN_NAME, base_dir=_HERE)
    return replace(policy, builtin=True)


def parse_policy(data: bytes, *, source: str, base_dir: Path) -> Policy:
    """Validate policy bytes and build the ``Policy``; ``source`` names it in messages.

    ``base_dir`` is where relative ``key`` and ``trusted_root`` paths are resolved.
    """
    try:
        document, where = read_yaml(data)
    except YamlProblem as problem:
        raise _error(source, problem) from None
    _lower_severities(document)
    problems = _schema_problems(document, where)
    if problems:
        raise PolicyError("\n".join(f"{source}:{m.line}:{m.col}: {text}" for m, text in problems))
    try:
        policy = _build(document, where, source, base_dir)
    except YamlProblem as problem:
        raise _error(source, problem) from None
    return replace(policy, sha256=hashlib.sha256(data).hexdigest())


def _lower_severities(document: Any) -> None:
    """``fail_on: HIGH`` is read as ``high``: Trivy and Grype write severities upper-case."""
    vulns = document.get("vulnerabilities") if isinstance(document, dict) else None
    if not isinstance(vulns, dict):
        return
    for key in ("fail_on", "unknown_as"):
        value = vulns.get(key)
        if isinstance(value, str) and value.lower() in _SEVERITIES:
            vulns[key] = value.lower()


def _error(source: str, problem: YamlProblem) -> PolicyError:
    return PolicyError(f"{source}:{problem.mark.line}:{problem.mark.col}: {problem.message}")


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


def _shown(value: Any) -> str:
    """A value as the user wrote it in YAML: 'text', true, null, 3; never Python's True."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, list | dict):
        return _type_name(value)
    return repr(value)


def _allowed_keys(schema: dict[str, Any]) -> str:
    return ", ".join(schema.get("properties", {})) or "none"


def _did_you_mean(key: str, allowed: list[str]) -> str:
    from difflib import get_close_matches  # error path only

    close = get_close_matches(key, allowed, n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


_SEVERITIES = ("low", "medium", "high", "critical")

_COSIGN_FLAGS = {
    "certificate-identity": "subject",
    "certificate-identity-regexp": "subject_regex",
    "certificate-oidc-issuer": "issuer",
    "certificate-oidc-issuer-regexp": "issuer_regex",
}
"""cosign verify's flags, and the keyless key that says the same thing here."""

_UNFIXED = (
    "write vulnerabilities.ignore_unfixed: true: findings with no fixed version then do not "
    "fail (those with a fix still do); the default, false, fails on both"
)


def _severity_hint(value: Any) -> str:
    """Trivy's ``--severity HIGH,CRITICAL`` lists severities; the gate takes a threshold."""
    words = value.split(",") if isinstance(value, str) else value
    listed = (
        [w.strip().lower() for w in words if isinstance(w, str)] if isinstance(words, list) else []
    )
    ranked = [w for w in _SEVERITIES if w in listed]
    lowest = ranked[0] if ranked else "high"
    hint = f" (use vulnerabilities.fail_on: {lowest}: that severity and every one above it fail"
    if "unknown" in listed:
        hint += "; findings of unknown severity are judged at vulnerabilities.unknown_as"
    return hint + ")"


def _foreign_key(key: str, value: Any) -> str:
    """Point a key from Trivy, Grype or cosign at the gate's own word for it."""
    if key in ("severity", "severities", "fail-on"):
        return _severity_hint(value)
    if key in _COSIGN_FLAGS:
        return (
            f" (cosign's --{key} is {_COSIGN_FLAGS[key]} in a keyless authority: "
            "keyless: {issuer: …, subject: …})"
        )
    if key in ("ignore-unfixed", "only-fixed", "ignore_unfixed"):
        return f" ({_UNFIXED})"
    return ""


def _type_hint(expected: Any, value: Any, path: Path_) -> str:
    """What YAML did to the value, when that is the likely cause of the type error."""
    wants = set(expected) if isinstance(expected, list) else {expected}
    if "string" in wants and isinstance(value, bool):
        return " (quote it: YAML reads yes/no/on/off/true/false as booleans)"
    if "string" in wants and isinstance(value, int | float):
        return " (quote it to make it a string)"
    if "object" in wants and value is None and len(path) == 1:
        return f"; write `{path[0]}: {{}}` to use its defaults"
    return ""


def _describe(error: Any, where: SourceMap, document: dict[str, Any]) -> list[tuple[Mark, str]]:
    """Turn one jsonschema error into positions and sentences that say what is allowed."""
    path: Path_ = tuple(error.absolute_path)
    at = _dotted(path)
    kind, value, schema = error.validator, error.instance, error.schema
    if kind == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        return [
            (
                where.key((*path, key)),
                f"{at if path else 'top level'}: unknown key {key!r}"
                f"{_foreign_key(key, value[key]) or _did_you_mean(key, allowed)}; "
                f"allowed keys: {_allowed_keys(schema)}",
            )
            for key in value
            if key not in allowed
        ]
    if kind == "required":
        missing = error.validator_value
        absent = [k for k in missing if k not in value] if isinstance(value, dict) else missing
        return [
            (
                where.value(path),
                f"{at}: missing required key {absent[0]!r}; required: {', '.join(missing)}",
            )
        ]
    if kind == "enum":
        shown = ", ".join(str(o) for o in error.validator_value)
        return [
            (where.value(path), f"{at}: {_shown(value)} is not allowed; must be one of {shown}")
        ]
    if kind == "const":
        wanted = _shown(error.validator_value)
        return [(where.value(path), f"{at}: {_shown(value)} is not allowed; must be {wanted}")]
    if kind == "type":
        expected = error.validator_value
        return [
            (
                where.value(path),
                f"{at}: expected {_type_name_for(expected)}, got {_type_name(value)}"
                f"{_type_hint(expected, value, path)}",
            )
        ]
    if kind == "format":
        return [(where.value(path), f"{at}: {value!r} is not a valid date; write YYYY-MM-DD")]
    if kind in ("minLength", "minItems"):
        return [(where.value(path), f"{at}: must not be empty")]
    if kind == "pattern":  # only reason's \S; an empty reason is reported by minLength
        return [(where.value(path), f"{at}: must not be blank")] if value else []
    if kind in ("minimum", "exclusiveMinimum"):
        bound = "at least" if kind == "minimum" else "greater than"
        return [
            (
                where.value(path),
                f"{at}: {_shown(value)} is too small; must be {bound} {error.validator_value}",
            )
        ]
    if kind == "uniqueItems":
        return [(where.value(path), f"{at}: items must not repeat")]
    if kind == "anyOf" and not path:
        return [_checks_nothing(document, where)]
    if kind == "oneOf" and path and path[-2:-1] == ("authorities",):
        return [(where.value(path), f"{at}: an authority needs exactly one of key or keyless")]
    if kind == "oneOf" and path and path[-1] == "keyless":
        return [
            (
                where.value(path),
                f"{at}: needs exactly one of issuer or issuer_regex, and exactly one of "
                "subject or subject_regex",
            )
        ]
    if kind == "oneOf" and path == ("image", "tag"):
        return [(where.value(path), f"{at}: {_tag_problem(value)}")]
    if kind == "oneOf" and path and path[-1] == "dockerfile":
        return [(where.value(path), f"{at}: expected a path or a non-empty list of paths")]
    return [(where.value(path), f"{at}: {error.message}")]


def _tag_problem(value: Any) -> str:
    """``image.tag`` is a word or ``{pattern: …}``; say which part of which is wrong."""
    shape = 'git-sha, immutable, any, or {pattern: "sha-{short_sha}"}'
    if not isinstance(value, dict):
        return f"{_shown(value)} is not allowed; must be one of {shape}"
    extra = sorted(set(value) - {"pattern"})
    if extra:
        return f"unknown key {extra[0]!r}; a tag mapping has only pattern"
    if "pattern" not in value:
        return "missing required key 'pattern'"
    return f"pattern: expected a non-empty string, got {_type_name(value['pattern'])}"


def _checks_nothing(document: dict[str, Any], where: SourceMap) -> tuple[Mark, str]:
    """The schema's top-level ``anyOf``: no section, or every section present switched off."""
    present = [name for name in SECTIONS if name in document]
    if not present:
        return Mark(1, 1), ("the policy checks nothing; add at least one of " + ", ".join(SECTIONS))
    return where.key((present[0],)), (
        f"the policy checks nothing: {', '.join(present)} "
        f"{'switches' if len(present) == 1 else 'switch'} every check off; enable one, "
        "e.g. image.non_root: true, image.tag: immutable, secrets.fail: true, or add "
        "vulnerabilities"
    )


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
    from jsonschema.validators import Draft202012Validator

    validator = Draft202012Validator(_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = list(validator.iter_errors(document))
    if len(errors) > 1:
        # "Checks nothing" is often just a symptom (``non_root: yes please`` is both a type
        # error and no check enabled): report it only once everything else is fixed.
        errors = [e for e in errors if not (e.validator == "anyOf" and not e.absolute_path)]
    found: dict[tuple[int, int, str], tuple[Mark, str]] = {}
    for error in errors:
        for mark, text in _describe(error, where, document):
            found.setdefault((mark.line, mark.col, text), (mark, text))
    if not found:  # the two validators disagree: refuse rather than accept (fail closed)
        return [(Mark(1, 1), "the policy does not conform to its schema (see: gate policy schema)")]
    ordered = [found[k] for k in sorted(found)]
    if len(ordered) > MAX_PROBLEMS:
        more = ordered[MAX_PROBLEMS]
        ordered = [
            *ordered[:MAX_PROBLEMS],
            (more[0], f"… and {len(found) - MAX_PROBLEMS} more problems"),
        ]
    return ordered


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


_KMS = re.compile(r"(awskms|gcpkms|azurekms|hashivault|k8s)://")


def _file(value: str | None, where: SourceMap, path: Path_, base_dir: Path) -> Path | None:
    """A file named in the policy: relative paths resolve from the policy file's directory."""
    if value is None:
        return None
    if _KMS.match(value):
        raise YamlProblem(
            where.value(path),
            f"{_dotted(path)}: KMS keys are not supported ({value.split('://')[0]}://): the gate "
            "verifies offline against a PEM public key file; export it with "
            "`cosign public-key --key URI > cosign.pub` and name that file",
        )
    resolved = (base_dir / value).resolve()
    if not resolved.is_file():
        raise YamlProblem(
            where.value(path),
            f"{_dotted(path)}: file {value!r} not found (relative paths are relative to the "
            f"policy file; looked for {resolved})",
        )
    return resolved


PLACEHOLDER = re.compile(r"\s*TODO\b", re.IGNORECASE)
"""A reason ``policy import`` left for a human to fill; refused until it is filled."""


def _reason(text: str, where: SourceMap, path: Path_) -> str:
    if PLACEHOLDER.match(text):
        raise YamlProblem(
            where.value(path),
            f"{_dotted(path)}: {text!r} is a placeholder; write why the finding is acceptable",
        )
    return text


def _baseline(value: str | None, base_dir: Path) -> str | None:
    """A saved report beside the policy, else a registry reference (resolved at run time)."""
    if value is None:
        return None
    from gate.baseline import is_report

    candidate = base_dir / value
    return str(candidate.resolve()) if is_report(str(candidate)) else value


def _vulnerabilities(
    doc: dict[str, Any], where: SourceMap, base_dir: Path, has_signature: bool
) -> VulnerabilityPolicy:
    exceptions = tuple(
        VulnException(
            id=e["id"],
            reason=_reason(e["reason"], where, ("vulnerabilities", "exceptions", i, "reason")),
            expires=date.fromisoformat(e["expires"]),
            package=e.get("package"),
            line=where.value(("vulnerabilities", "exceptions", i)).line,
        )
        for i, e in enumerate(doc.get("exceptions", []))
    )
    vex = tuple(
        _file(v, where, ("vulnerabilities", "vex", i), base_dir)
        for i, v in enumerate(doc.get("vex", []))
    )
    if doc.get("vex_attestations") and not has_signature:
        raise YamlProblem(
            where.key(("vulnerabilities", "vex_attestations")),
            "vulnerabilities.vex_attestations: needs a signature section; its authorities "
            "decide which VEX attestations are trusted",
        )
    return VulnerabilityPolicy(
        fail_on=Severity[doc.get("fail_on", "high").upper()],
        ignore_unfixed=doc.get("ignore_unfixed", False),
        unknown_as=Severity[doc.get("unknown_as", "high").upper()],
        exceptions=exceptions,
        scanners=tuple(doc.get("scanners", DEFAULT_SCANNERS)),
        baseline=_baseline(doc.get("baseline"), base_dir),
        new_only=doc.get("new_only", False),
        vex=tuple(p for p in vex if p is not None),
        vex_attestations=doc.get("vex_attestations", False),
    )


def _finite(value: float | None, where: SourceMap, path: Path_) -> float | None:
    """JSON has no NaN or infinity, but YAML does (``.nan``, ``.inf``).

    ``size > nan`` is always false, so a NaN limit would pass every image: refuse it.
    """
    if value is not None and not math.isfinite(value):
        raise YamlProblem(
            where.value(path), f"{_dotted(path)}: {value} is not allowed; write a finite number"
        )
    return value


def _tag_pattern(tag: Any, where: SourceMap) -> str | None:
    """The ``{pattern: …}`` form of ``image.tag``, checked the way the tag check reads it."""
    if not isinstance(tag, dict):
        return None
    from gate.checks.tag import TagPatternError, pattern_parts

    pattern: str = tag["pattern"]
    try:
        pattern_parts(pattern)
    except TagPatternError as error:
        path = ("image", "tag", "pattern")
        raise YamlProblem(where.value(path), f"{_dotted(path)}: {error}") from None
    return pattern


def _image(doc: dict[str, Any], where: SourceMap) -> ImagePolicy:
    max_age = doc.get("max_age_days")
    tag = doc.get("tag", "any")
    pattern = _tag_pattern(tag, where)
    return ImagePolicy(
        non_root=doc.get("non_root", False),
        tag="git-sha" if pattern is not None else tag,
        tag_pattern=pattern,
        mutable_tags=tuple(doc.get("mutable_tags", DEFAULT_MUTABLE_TAGS)),
        max_age_days=None if max_age is None else int(max_age),  # the schema allows 90.0
        max_size_mb=_finite(doc.get("max_size_mb"), where, ("image", "max_size_mb")),
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
    trivy = doc.get("trivy")
    return Policy(
        source=source,
        version=int(doc["version"]),
        mode=doc.get("mode", "enforce"),
        vulnerabilities=None
        if vulns is None
        else _vulnerabilities(vulns, where, base_dir, signature is not None),
        secrets=None if secrets is None else SecretsPolicy(fail=secrets.get("fail", True)),
        image=None if image is None else _image(image, where),
        base_image=None if base is None else _base_image(base),
        signature=None if signature is None else _signature(signature, where, base_dir),
        trivy=None if trivy is None else _trivy(trivy, where),
    )


def _trivy(doc: dict[str, Any], where: SourceMap) -> TrivyPolicy:
    from gate.scanners.trivy_server import server_url

    server = doc.get("server")
    if server is not None:
        try:
            server = server_url(server)
        except UsageError as error:
            raise YamlProblem(where.value(("trivy", "server")), error.message) from None
    return TrivyPolicy(server=server, token_env=doc.get("token_env", "TRIVY_TOKEN"))
