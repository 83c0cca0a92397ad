"""``policy import``: turn an existing ignore file into ``vulnerabilities.exceptions`` to review.

The gate never reads ``.trivyignore`` or ``.grype.yaml`` on its own; this command writes the
equivalent exceptions once, for a human to review, and each needs a reason and an expiry.
Where the file has none, a placeholder is written (reason ``TODO: …``, expires
``TODO-YYYY-MM-DD``) that ``policy validate`` and ``check`` refuse, with its position,
until it is filled.

The rules mirrored:

* ``.trivyignore`` (trivy ``pkg/result/ignore.go`` ``parseIgnore``): one id per line, ``#``
  comments, an optional ``exp:YYYY-MM-DD`` field; a line whose ``exp:`` does not parse is
  skipped by Trivy, so it is not imported either. Trivy drops a rule once
  ``ExpiredAt.Before(now)``, with ``ExpiredAt`` midnight UTC of that date, so its last
  whole day is the day before: that is the exception's ``expires`` (the last day it
  applies), never a day later than Trivy's.
* ``.trivyignore.yaml`` (``IgnoreConfig``): ``vulnerabilities: [{id, paths, purls,
  expired_at, statement}]``; ``statement`` becomes the reason. A purl without a version
  becomes ``package``; ``paths`` and versioned purls narrow the rule in ways an exception
  cannot, so such rules are not imported (importing them would waive more).
* ``.grype.yaml`` (grype ``match.IgnoreRule``): ``ignore: [{vulnerability, reason,
  package: {name, version, type, location, language, upstream-name}, fix-state, namespace,
  vex-status, vex-justification, match-type}]``. ``vulnerability`` and ``package.name``
  are imported; a rule narrowed by anything else is not, with why.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from gate.errors import UsageError

TODO_EXPIRES = "TODO-YYYY-MM-DD"
MAX_IMPORT_BYTES = 4 << 20
_VULN_ID = re.compile(
    r"^(CVE|GHSA|GO|PYSEC|RUSTSEC|OSV|DLA|DSA|DTSA|USN|RHSA|RHBA|ALAS2?|ALSA|ELSA|RLSA|"
    r"SUSE-SU|OPENSUSE-SU|GMS|MAL|BIT|TEMP|SNYK|CGA|MGASA|PHSA|FEDORA|OESA|BDSA|NSWG)-",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Imported:
    id: str
    line: int
    package: str | None = None
    reason: str | None = None
    expires: date | None = None
    note: str = ""


@dataclass(frozen=True)
class Skipped:
    line: int
    what: str
    why: str


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()[: MAX_IMPORT_BYTES + 1]
    except OSError as error:
        raise UsageError(f"{path}: cannot read: {error.strerror}") from None
    if len(data) > MAX_IMPORT_BYTES:
        raise UsageError(f"{path}: larger than {MAX_IMPORT_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None


def _last_day_before(when: date | datetime) -> date:
    """The last whole day before Trivy's ``ExpiredAt`` (a date is midnight UTC)."""
    if isinstance(when, datetime):
        when = (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
        return when.date() - timedelta(days=1)
    return when - timedelta(days=1)


def import_trivyignore(text: str) -> tuple[list[Imported], list[Skipped]]:
    imported: list[Imported] = []
    skipped: list[Skipped] = []
    comments: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            comments = []
            continue
        if line.startswith("#"):
            comments.append(line.lstrip("#").strip())
            continue
        note, comments = " ".join(comments), []
        fields = line.split()
        ident = fields[0]
        exp = next((f[4:] for f in fields[1:] if f.startswith("exp:")), None)
        expires = None
        if exp is not None:
            try:
                expires = _last_day_before(date.fromisoformat(exp))
            except ValueError:
                skipped.append(Skipped(number, ident, f"exp:{exp} is not a date; Trivy skips it"))
                continue
        if not _VULN_ID.match(ident):
            skipped.append(
                Skipped(
                    number,
                    ident,
                    "not a vulnerability id (a misconfiguration, secret or license rule?); "
                    "exceptions waive vulnerabilities only",
                )
            )
            continue
        imported.append(Imported(ident, number, expires=expires, note=note))
    return imported, skipped


def _items(text: str, key: str, path: Path) -> list[tuple[int, Any]]:
    """The list under top-level ``key``, each item with its 1-based line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise UsageError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    if document is None:
        return []
    if not isinstance(document, dict) or not isinstance(node, yaml.MappingNode):
        raise UsageError(f"{path}: expected a mapping at the top level")
    values = document.get(key)
    if values is None:
        return []
    seq = next((v for k, v in node.value if k.value == key), None)
    if not isinstance(values, list) or not isinstance(seq, yaml.SequenceNode):
        raise UsageError(f"{path}: {key} must be a list")
    return [(n.start_mark.line + 1, v) for n, v in zip(seq.value, values, strict=True)]


def _purl_package(purl: str) -> tuple[str | None, str]:
    """(package name, why not) for a purl: a versioned purl narrows to one version."""
    if not purl.startswith("pkg:"):
        return None, f"{purl!r} is not a purl"
    core = purl.split("?", 1)[0].split("#", 1)[0]
    _, at, version = core.rpartition("@")
    if at and "/" not in version:
        return None, (
            f"{purl} names version {unquote(version)}; an exception matches the package "
            "at any version, so it would waive more"
        )
    return unquote(core.rpartition("/")[2]) or None, ""


def import_trivyignore_yaml(text: str, path: Path) -> tuple[list[Imported], list[Skipped]]:
    imported: list[Imported] = []
    skipped: list[Skipped] = []
    for section in ("misconfigurations", "secrets", "licenses"):
        for line, item in _items(text, section, path):
            what = item.get("id", "?") if isinstance(item, dict) else "?"
            skipped.append(Skipped(line, str(what), f"a {section} rule; exceptions waive "
                                   "vulnerabilities only"))  # fmt: skip
    for line, item in _items(text, "vulnerabilities", path):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            skipped.append(Skipped(line, "?", "the entry has no id"))
            continue
        ident = item["id"]
        if item.get("paths"):
            skipped.append(Skipped(line, ident, "limited to paths; exceptions cannot say where"))
            continue
        expired_at = item.get("expired_at")
        expires = _last_day_before(expired_at) if isinstance(expired_at, date | datetime) else None
        if expired_at is not None and expires is None:
            skipped.append(Skipped(line, ident, f"expired_at {expired_at!r} is not a date"))
            continue
        reason = item.get("statement") if isinstance(item.get("statement"), str) else None
        purls = item.get("purls") or [None]
        for purl in purls:
            package, why = _purl_package(str(purl)) if purl is not None else (None, "")
            if why:
                skipped.append(Skipped(line, ident, why))
                continue
            imported.append(Imported(ident, line, package, reason, expires))
    return imported, skipped


_GRYPE_NARROWING = (
    "fix-state",
    "namespace",
    "vex-status",
    "vex-justification",
    "match-type",
)
_GRYPE_PACKAGE_NARROWING = ("version", "type", "location", "language", "upstream-name")


def import_grype_config(text: str, path: Path) -> tuple[list[Imported], list[Skipped]]:
    imported: list[Imported] = []
    skipped: list[Skipped] = []
    for line, rule in _items(text, "ignore", path):
        if not isinstance(rule, dict):
            skipped.append(Skipped(line, "?", "the rule is not a mapping"))
            continue
        ident = rule.get("vulnerability")
        raw_package = rule.get("package")
        package: dict[str, Any] = raw_package if isinstance(raw_package, dict) else {}
        shown = str(ident or package.get("name") or "?")
        narrowing = [k for k in _GRYPE_NARROWING if rule.get(k)]
        narrowing += [f"package.{k}" for k in _GRYPE_PACKAGE_NARROWING if package.get(k)]
        if not isinstance(ident, str) or not ident:
            what = ", ".join(narrowing) or "package only"
            skipped.append(Skipped(line, shown, f"no vulnerability id ({what}); an exception "
                                   "names the vulnerability it waives"))  # fmt: skip
            continue
        if narrowing:
            skipped.append(
                Skipped(
                    line,
                    ident,
                    f"narrowed by {', '.join(narrowing)}, which an exception "
                    "cannot express; importing it would waive more",
                )
            )
            continue
        name = package.get("name")
        reason = rule.get("reason") if isinstance(rule.get("reason"), str) else None
        imported.append(Imported(ident, line, name if isinstance(name, str) else None, reason))
    return imported, skipped


def render(imported: list[Imported], source: str) -> str:
    """A policy fragment (``version: 1`` plus the exceptions), for review and pasting."""
    lines = [
        f"# Imported from {source} by `container-gate policy import`.",
        "# Review each exception: replace every TODO (reason and expiry) before use;",
        "# `container-gate policy validate` refuses the file until then.",
        "version: 1",
        "vulnerabilities:",
    ]
    if not imported:
        lines.append("  exceptions: []")
        return "\n".join(lines) + "\n"
    lines.append("  exceptions:")
    for item in imported:
        reason = item.reason or f"TODO: why is {item.id} acceptable here?"
        expires = item.expires.isoformat() if item.expires else TODO_EXPIRES
        lines.append(f"    # {source}:{item.line}")
        if item.note:
            # A comment, not the reason: a human confirms it is one.
            lines.append(f"    # comment there: {' '.join(item.note.split())}")
        lines.append(f"    - id: {json.dumps(item.id)}")
        if item.package:
            lines.append(f"      package: {json.dumps(item.package)}")
        lines.append(f"      reason: {json.dumps(reason)}")
        lines.append(f"      expires: {json.dumps(expires) if not item.expires else expires}")
    return "\n".join(lines) + "\n"


def import_file(kind: str, path: Path) -> tuple[str, list[Skipped]]:
    """The exceptions YAML for ``path`` and the rules not imported."""
    text = _read(path)
    if kind == "trivyignore":
        if path.suffix in (".yaml", ".yml"):
            imported, skipped = import_trivyignore_yaml(text, path)
        else:
            imported, skipped = import_trivyignore(text)
    else:
        imported, skipped = import_grype_config(text, path)
    return render(imported, str(path)), skipped
