"""Keyless identity policies: who must the Fulcio certificate say signed?

Shaped like sigstore-python's ``VerificationPolicy`` (one ``verify(cert)`` method), so the
same object serves the legacy path and ``Verifier.verify_dsse``; sigstore-python has no regex
policies, hence this module. The rules mirror cosign's ``CheckCertificatePolicy``:

* issuer: OID 1.3.6.1.4.1.57264.1.8 (a DER UTF8String), falling back to the deprecated
  1.3.6.1.4.1.57264.1.1 (raw bytes);
* subject: any SAN (email, URI, DNS, or Fulcio's username otherName 1.3.6.1.4.1.57264.1.7);
* regexes use ``re.search``, unanchored like Go's ``regexp.MatchString`` in cosign's
  ``--certificate-identity-regexp``: anchor them (``^…$``) to mean the whole value;
* GitHub claims prefer Fulcio's v2 extensions (.12 source repository URI, .13 source commit,
  .14 source ref) and fall back to the v1 ones (.5 repository, .3 sha, .6 ref).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509 import ObjectIdentifier

from gate.errors import SignatureError
from gate.policy.model import KeylessIdentity
from gate.signing import Refused

_PREFIX = "1.3.6.1.4.1.57264.1."
ISSUER_V1 = ObjectIdentifier(_PREFIX + "1")
ISSUER_V2 = ObjectIdentifier(_PREFIX + "8")
GITHUB_SHA_V1 = ObjectIdentifier(_PREFIX + "3")
GITHUB_REPOSITORY_V1 = ObjectIdentifier(_PREFIX + "5")
GITHUB_REF_V1 = ObjectIdentifier(_PREFIX + "6")
USERNAME_OTHERNAME = ObjectIdentifier(_PREFIX + "7")
SOURCE_REPOSITORY_URI = ObjectIdentifier(_PREFIX + "12")
SOURCE_REPOSITORY_DIGEST = ObjectIdentifier(_PREFIX + "13")
SOURCE_REPOSITORY_REF = ObjectIdentifier(_PREFIX + "14")


def der_utf8(value: bytes) -> str | None:
    """Decode a DER UTF8String (tag 0x0C), as Fulcio writes its v2 extensions."""
    if len(value) < 2 or value[0] != 0x0C:
        return None
    length, offset = value[1], 2
    if length & 0x80:
        size = length & 0x7F
        length, offset = int.from_bytes(value[2 : 2 + size], "big"), 2 + size
    body = value[offset : offset + length]
    if len(body) != length or offset + length != len(value):
        return None
    try:
        return body.decode()
    except UnicodeDecodeError:
        return None


def _raw(cert: x509.Certificate, oid: ObjectIdentifier) -> bytes | None:
    try:
        ext = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    return ext.value if isinstance(ext, x509.UnrecognizedExtension) else None


def claim(
    cert: x509.Certificate, v2: ObjectIdentifier | None, v1: ObjectIdentifier | None
) -> str | None:
    """A Fulcio claim: the v2 (DER UTF8String) extension, else the v1 (raw string) one."""
    raw = _raw(cert, v2) if v2 is not None else None
    if raw is not None:
        return der_utf8(raw)
    raw = _raw(cert, v1) if v1 is not None else None
    if raw is None:
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


def subjects(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names: list[str] = []
    names += san.get_values_for_type(x509.RFC822Name)
    names += san.get_values_for_type(x509.UniformResourceIdentifier)
    names += san.get_values_for_type(x509.DNSName)
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id == USERNAME_OTHERNAME and (text := der_utf8(other.value)):
            names.append(text)
    return names


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:  # the policy loader rejects these first; never crash here
        raise SignatureError(f"invalid regular expression {pattern!r}: {exc}") from None


def _quote(values: list[str]) -> str:
    return ", ".join(repr(v) for v in values) if values else "(none)"


@dataclass(frozen=True)
class IdentityPolicy:
    """One keyless authority's expectations, plus the git SHA the gate knows (if any)."""

    identity: KeylessIdentity
    git_sha: str | None = None

    def verify(self, cert: x509.Certificate) -> None:
        """Raise ``Refused`` with the first mismatch: issuer, subject, then GitHub claims."""
        self._issuer(cert)
        self._subject(cert)
        self._github(cert)

    def _issuer(self, cert: x509.Certificate) -> None:
        wanted, pattern = self.identity.issuer, self.identity.issuer_regex
        if wanted is None and pattern is None:
            # As cosign, which requires --certificate-oidc-issuer(-regexp): any issuer would
            # let any OIDC provider Fulcio trusts vouch for the subject.
            raise Refused("the authority names no issuer (issuer or issuer_regex)")
        issuer = claim(cert, ISSUER_V2, ISSUER_V1)
        if issuer is None:
            raise Refused("issuer mismatch: the certificate has no OIDC issuer extension")
        if wanted is not None and issuer != wanted:
            raise Refused(f"issuer mismatch: issuer {issuer!r} is not {wanted!r}")
        if pattern is not None and not _compile(pattern).search(issuer):
            raise Refused(f"issuer mismatch: issuer {issuer!r} does not match /{pattern}/")

    def _subject(self, cert: x509.Certificate) -> None:
        wanted, pattern = self.identity.subject, self.identity.subject_regex
        if wanted is None and pattern is None:
            raise Refused("the authority names no subject (subject or subject_regex)")
        names = subjects(cert)
        if wanted is not None and wanted not in names:
            raise Refused(f"subject {_quote(names)} is not {wanted!r}")
        if pattern is not None and not any(_compile(pattern).search(n) for n in names):
            raise Refused(f"subject {_quote(names)} does not match /{pattern}/")

    def _github(self, cert: x509.Certificate) -> None:
        github = self.identity.github
        if github is None:
            return
        if github.repository is not None:
            repository = self._repository(cert)
            if repository is None:
                raise Refused("the certificate carries no GitHub repository claim")
            if repository != github.repository:
                raise Refused(f"GitHub repository {repository!r} is not {github.repository!r}")
        if github.ref is not None:
            ref = claim(cert, SOURCE_REPOSITORY_REF, GITHUB_REF_V1)
            if ref is None:
                raise Refused("the certificate carries no GitHub ref claim")
            if ref != github.ref:
                raise Refused(f"GitHub ref {ref!r} is not {github.ref!r}")
        if github.match_git_sha:
            self._commit(cert)

    @staticmethod
    def _repository(cert: x509.Certificate) -> str | None:
        """``owner/name`` on https://github.com, the whole SourceRepositoryURI elsewhere.

        Fulcio's v2 claim names the host; keeping it for every host but github.com means
        ``repository: acme/app`` cannot be met by ``https://gitlab.com/acme/app`` or by an
        Enterprise server's ``acme/app`` (write that one's full URI in the policy).
        """
        uri = claim(cert, SOURCE_REPOSITORY_URI, None)
        if uri is not None:
            parts = urlsplit(uri)
            path = parts.path.strip("/")
            return path if (parts.scheme, parts.netloc) == ("https", "github.com") else uri
        return claim(cert, None, GITHUB_REPOSITORY_V1)

    def _commit(self, cert: x509.Certificate) -> None:
        """The source commit must be the gate's git SHA (a 7+ character SHA matches a prefix)."""
        if not self.git_sha:
            raise Refused("no git SHA is known to compare with the certificate's source commit")
        commit = claim(cert, SOURCE_REPOSITORY_DIGEST, GITHUB_SHA_V1)
        if commit is None:
            raise Refused("the certificate carries no source commit claim")
        known = self.git_sha.lower()
        if not (commit.lower() == known or (len(known) < 40 and commit.lower().startswith(known))):
            raise Refused(f"source commit {commit!r} is not the git SHA {self.git_sha!r}")
