"""Native cosign signature verification: no cosign binary, no network beyond the registry.

The gatherer imports this package lazily (it pulls in cryptography and sigstore), through
``gate.signing.verify.gather_signatures``. Modules, one concern each:

* ``discover``  finds signatures for a digest (legacy ``.sig`` tag, referrers / fallback index);
* ``legacy``    verifies a legacy simple-signing layer by hand (sigstore-python cannot);
* ``bundle``    verifies Sigstore bundles: keyless through sigstore-python, key-based by hand;
* ``fulcio``    chain, code-signing EKU and embedded SCT of a Fulcio certificate;
* ``tlog``      Rekor SETs and the entry bodies they sign;
* ``identity``  keyless identity policies (exact, regex, GitHub claims);
* ``keys``      public keys and raw signature checks (ECDSA, RSA, Ed25519);
* ``authority`` the policy's authorities loaded once, and the per-run verification context;
* ``trust``     the Sigstore ``trusted_root.json`` (given, or the public-good one sigstore ships);
* ``verify``    the orchestration that turns all of it into ``gate.model.SignatureFacts``.
"""

from __future__ import annotations


class Refused(Exception):
    """One authority refuses one signature; ``str()`` is the precise, user-facing reason.

    This is not a ``GateError``: an invalid signature is a finding, not a failure of the gate.
    """
