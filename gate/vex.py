"""OpenVEX v0.2.0: strict parsing, and which statement decides a finding of the judged image.

Parsing follows the spec's field list (openvex/spec OPENVEX-SPEC.md v0.2.0): a document
needs ``@context``, ``@id``, ``author``, ``timestamp``, ``version`` and ``statements``; a
statement needs ``vulnerability.name``, ``products`` and ``status``; ``not_affected`` needs
a ``justification`` or an ``impact_statement``, ``affected`` an ``action_statement``.
Unknown keys and wrong types are refused (``VexError``, reported as exit 2 with the file),
since a misspelt ``status`` must not silently waive or un-waive anything.

Matching is pure. A statement applies to the judged image when one of its products names
its digest (and its repository, where the product names one): a ``pkg:oci/NAME@sha256%3AHEX``
purl (as ``vexctl`` writes), a bare ``sha256:HEX`` or a ``REPO@sha256:HEX`` reference. With
``subcomponents`` it applies only to findings whose package purl or name matches one of
them (purls as go-vex's ``PurlMatches``). Among the statements applying to one finding the
latest (statement ``timestamp``, else the document's) decides, as the spec's "later
statements supersede earlier ones for the same product and vulnerability"; between equal
timestamps the one written first wins, as go-vex's ``VEX.Matches`` (which Trivy's ``--vex``
uses) collects matches last-first and then stable-sorts them by time. Only ``not_affected``
and ``fixed`` waive; ``affected`` and ``under_investigation`` waive nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

from gate.errors import GateError
from gate.model import Subject, VexStatement, Vulnerability

CONTEXT_PREFIX = "https://openvex.dev/ns"
STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
WAIVING = frozenset({"not_affected", "fixed"})
JUSTIFICATIONS = (
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
)
_DOCUMENT_KEYS = frozenset(
    {"@context", "@id", "author", "role", "timestamp", "last_updated", "version", "tooling",
     "statements"}
)  # fmt: skip
_STATEMENT_KEYS = frozenset(
    {"@id", "version", "vulnerability", "timestamp", "last_updated", "products", "status",
     "supplier", "status_notes", "justification", "impact_statement", "action_statement",
     "action_statement_timestamp"}
)  # fmt: skip
_VULNERABILITY_KEYS = frozenset({"@id", "name", "description", "aliases"})
_PRODUCT_KEYS = frozenset({"@id", "identifiers", "hashes", "subcomponents"})
_COMPONENT_KEYS = frozenset({"@id", "identifiers", "hashes"})
MAX_VEX_BYTES = 4 << 20


class VexError(GateError):
    """A VEX document that is not valid OpenVEX v0.2.0."""


def _fail(source: str, where: str, what: str) -> VexError:
    return VexError(f"{source}: {where}: {what}")


def _mapping(value: object, source: str, where: str, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(source, where, "expected a mapping")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _fail(
            source, where, f"unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}"
        )
    return value


def _text(
    doc: Mapping[str, Any], key: str, source: str, where: str, *, required: bool = False
) -> str:
    value = doc.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise _fail(source, f"{where}.{key}", "expected a non-empty string")
    return value


def _timestamp(doc: Mapping[str, Any], key: str, source: str, where: str, *, required: bool) -> str:
    text = _text(doc, key, source, where, required=required)
    if text and _parse_time(text) is None:
        raise _fail(source, f"{where}.{key}", f"{text!r} is not an RFC 3339 timestamp")
    return text


def _parse_time(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _component_id(item: object, source: str, where: str, allowed: frozenset[str]) -> str:
    doc = _mapping(item, source, where, allowed)
    ident = doc.get("@id")
    identifiers = doc.get("identifiers")
    if ident is None and isinstance(identifiers, dict):
        ident = identifiers.get("purl")
    if not isinstance(ident, str) or not ident.strip():
        raise _fail(source, where, "needs an @id (or identifiers.purl)")
    return ident


def parse_openvex(data: bytes, source: str, *, first_order: int = 0) -> list[VexStatement]:
    """The statements of one OpenVEX document, or ``VexError`` naming what is wrong."""
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise _fail(source, "document", f"not JSON ({error})") from None
    doc = _mapping(raw, source, "document", _DOCUMENT_KEYS)
    context = _text(doc, "@context", source, "document", required=True)
    if not context.startswith(CONTEXT_PREFIX):
        raise _fail(source, "document.@context", f"{context!r} is not an OpenVEX context")
    document_id = _text(doc, "@id", source, "document", required=True)
    author = _text(doc, "author", source, "document", required=True)
    doc_time = _timestamp(doc, "timestamp", source, "document", required=True)
    _timestamp(doc, "last_updated", source, "document", required=False)
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail(source, "document.version", "expected an integer of at least 1")
    statements = doc.get("statements")
    if not isinstance(statements, list):
        raise _fail(source, "document.statements", "expected a list")
    out = []
    for number, item in enumerate(statements):
        where = f"statements[{number}]"
        st = _mapping(item, source, where, _STATEMENT_KEYS)
        vuln = _mapping(st.get("vulnerability"), source, f"{where}.vulnerability",
                        _VULNERABILITY_KEYS)  # fmt: skip
        name = _text(vuln, "name", source, f"{where}.vulnerability", required=True)
        aliases = vuln.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
            raise _fail(source, f"{where}.vulnerability.aliases", "expected a list of strings")
        status = st.get("status")
        if status not in STATUSES:
            raise _fail(
                source, f"{where}.status", f"{status!r} is not one of {', '.join(STATUSES)}"
            )
        justification = _text(st, "justification", source, where)
        if justification and justification not in JUSTIFICATIONS:
            raise _fail(
                source,
                f"{where}.justification",
                f"{justification!r} is not one of {', '.join(JUSTIFICATIONS)}",
            )
        impact = _text(st, "impact_statement", source, where)
        action = _text(st, "action_statement", source, where)
        if status == "not_affected" and not (justification or impact):
            raise _fail(source, where, "not_affected needs a justification or impact_statement")
        if status == "affected" and not action:
            raise _fail(source, where, "affected needs an action_statement")
        products = st.get("products")
        if not isinstance(products, list) or not products:
            raise _fail(source, f"{where}.products", "expected a non-empty list")
        named: list[tuple[str, tuple[str, ...]]] = []
        for p, product in enumerate(products):
            pwhere = f"{where}.products[{p}]"
            ident = _component_id(product, source, pwhere, _PRODUCT_KEYS)
            subs = product.get("subcomponents", [])
            if not isinstance(subs, list):
                raise _fail(source, f"{pwhere}.subcomponents", "expected a list")
            components = tuple(
                _component_id(s, source, f"{pwhere}.subcomponents[{i}]", _COMPONENT_KEYS)
                for i, s in enumerate(subs)
            )
            named.append((ident, components))
        out.append(
            VexStatement(
                source=source,
                document_id=document_id,
                author=author,
                vulnerability=name,
                aliases=frozenset(aliases),
                products=tuple(named),
                status=status,
                justification=justification,
                impact_statement=impact,
                action_statement=action,
                timestamp=_timestamp(st, "timestamp", source, where, required=False) or doc_time,
                order=first_order + number,
            )
        )
    return out


# --------------------------------------------------------------------------- matching


def product_digest(product: str) -> str | None:
    """The image digest a product id names, in any of the three accepted spellings."""
    text = product
    if text.startswith("pkg:oci/"):
        text = text.split("?", 1)[0].split("#", 1)[0]
        _, at, version = text.rpartition("@")
        return unquote(version) if at else None
    if "@" in text:
        text = text.rpartition("@")[2]
    return text if text.startswith("sha256:") else None


def _purl_base(purl: str) -> tuple[str, str | None]:
    """(``pkg:type/namespace/name``, version) of a purl, qualifiers and subpath dropped."""
    core = purl.split("?", 1)[0].split("#", 1)[0]
    name, at, version = core.rpartition("@")
    if at and "/" not in version:
        return unquote(name), unquote(version)
    return unquote(core), None


def _qualifiers(purl: str) -> dict[str, str]:
    query = purl.split("#", 1)[0].partition("?")[2]
    pairs = (item.partition("=") for item in query.split("&") if item)
    return {unquote(k).lower(): unquote(v) for k, _, v in pairs}


def component_matches(component: str, finding: Vulnerability) -> bool:
    """A subcomponent names the finding's package, as a purl matches in go-vex.

    Type, namespace and name must be equal, the version too when the statement gives one,
    and every qualifier the statement gives must be the package's (a subset).
    """
    if not component.startswith("pkg:"):
        return component == finding.package
    base, version = _purl_base(component)
    if finding.purl:
        own_base, own_version = _purl_base(finding.purl)
        own_qualifiers = _qualifiers(finding.purl)
        return (
            base == own_base
            and (version is None or version == own_version)
            and _qualifiers(component).items() <= own_qualifiers.items()
        )
    return base.rpartition("/")[2] == finding.package and version in (None, finding.installed)


def _names(product: str, subject: Subject) -> bool:
    """The product is the judged image: its digest, and its repository where it says one.

    A ``pkg:oci`` purl's name is the repository's last path segment and its
    ``repository_url`` qualifier the repository (purl-spec's oci type); a ``REPO@DIGEST``
    reference names the repository itself.
    """
    if subject.digest is None or product_digest(product) != subject.digest:
        return False
    repository = subject.repository
    if repository is None:
        return True
    if product.startswith("pkg:oci/"):
        name = _purl_base(product)[0].rpartition("/")[2]
        url = _qualifiers(product).get("repository_url")
        return name.lower() == repository.rpartition("/")[2].lower() and url in (None, repository)
    if "@" in product:
        return product.rpartition("@")[0] == repository
    return True


def names_image(statement: VexStatement, subject: Subject) -> bool:
    return any(_names(product, subject) for product, _ in statement.products)


def applies(statement: VexStatement, finding: Vulnerability, subject: Subject) -> bool:
    """The statement speaks of this vulnerability, in this image, for this package.

    Subcomponents belong to their product, as go-vex's ``Statement.Matches`` pairs them: a
    product without subcomponents covers every package of the image.
    """
    if not (statement.ids & finding.ids):
        return False
    return any(
        _names(product, subject)
        and (not components or any(component_matches(c, finding) for c in components))
        for product, components in statement.products
    )


def _when(statement: VexStatement) -> tuple[datetime, int]:
    parsed = _parse_time(statement.timestamp)
    return (parsed or datetime.min.replace(tzinfo=timezone.utc)), -statement.order


def ordered(statements: Iterable[VexStatement]) -> list[VexStatement]:
    """Oldest first (on a tie, the later written first), so the last applying one decides."""
    return sorted(statements, key=_when)


def deciding(
    finding: Vulnerability, statements: list[VexStatement], subject: Subject
) -> VexStatement | None:
    """The latest statement that applies to the finding (``statements`` from ``ordered``)."""
    for statement in reversed(statements):
        if applies(statement, finding, subject):
            return statement
    return None
