"""The real cosign (v2.6.5, built by scripts/go-tools.sh), run offline against loopback registries.

Signing reaches no public Rekor: either ``--tlog-upload=false``, or the loopback stand-in
``tests.support.fakerekor`` (a real Rekor needs Trillian and a database), which signs the entry
with the test PKI's Rekor key; verifying never reaches TUF or Rekor (``--trusted-root`` given,
and ``--insecure-ignore-tlog=true`` or ``--offline=true``).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tests.support.pki import PrivateKey
from tests.support.tools import tool_or_skip

PASSWORD = "container-gate-test"
#: Plain HTTP to the loopback registries.
INSECURE = ("--allow-insecure-registry", "--allow-http-registry")


@dataclass(frozen=True)
class Cosign:
    """cosign with a key pair (``cosign.key``, ``cosign.pub``) and a home of its own in ``home``."""

    binary: Path
    home: Path
    trusted_root: Path

    @classmethod
    def create(cls, home: Path, trusted_root: Path, key: PrivateKey | None = None) -> Cosign:
        """cosign with a key pair it generates, or ``key`` imported (so a test can sign
        altered material with the same key)."""
        cosign = cls(tool_or_skip("cosign"), home, trusted_root)
        if key is None:
            done = cosign.run("generate-key-pair")
        else:
            (home / "imported.pem").write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            done = cosign.run("import-key-pair", "--key", "imported.pem", "-o", "cosign")
        assert done.returncode == 0, done.stderr
        return cosign

    @property
    def public_key(self) -> Path:
        return self.home / "cosign.pub"

    @property
    def private_key(self) -> Path:
        return self.home / "cosign.key"

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(self.home),  # its TUF cache and config stay in the test's directory
            "COSIGN_PASSWORD": PASSWORD,
        }
        return subprocess.run(
            [str(self.binary), *args],
            cwd=self.home,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def sign(self, reference: str, *, bundle: bool = False, rekor_url: str = "") -> None:
        """Sign ``reference`` (``name@digest``): a legacy ``.sig``, or a Sigstore bundle;
        logged in the Rekor at ``rekor_url`` (tests.support.fakerekor) when given."""
        formats = ("--new-bundle-format",) if bundle else ()
        tlog = ("--rekor-url", rekor_url) if rekor_url else ("--tlog-upload=false",)
        done = self.run(
            "sign", "--key", str(self.private_key), *tlog, "--yes", *formats, *INSECURE, reference
        )
        assert done.returncode == 0, done.stderr

    def verify(
        self, reference: str, key: Path | None = None, *, tlog: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """``cosign verify --key`` offline: rc 0 accepts, anything else refuses. With ``tlog``
        the signature's tlog entry must verify (offline, under the trusted root's Rekor key)."""
        return self.run(
            "verify",
            "--key",
            str(key or self.public_key),
            "--offline=true" if tlog else "--insecure-ignore-tlog=true",
            "--trusted-root",
            str(self.trusted_root),
            *INSECURE,
            reference,
        )
