"""Hand the gate's registry credentials to a scanner, in the scanner's own variables.

The gate resolves the image with ``REGISTRY_USERNAME``/``REGISTRY_PASSWORD`` when they are
set; the scanners then pull the same private image and need the same credentials, but read
their own variables (Trivy: ``TRIVY_USERNAME``/``TRIVY_PASSWORD``; Grype:
``GRYPE_REGISTRY_AUTH_USERNAME``/``_PASSWORD``/``_AUTHORITY``). Credentials from
``~/.docker/config.json`` need nothing: both scanners read that file themselves.

A scanner variable the user set wins: nothing is overwritten. The values go only into the
child's environment, never onto its command line (where ``ps`` would show them) or into
any message.
"""

from __future__ import annotations

from collections.abc import Mapping

from gate.image.auth import ENV_PASSWORD, ENV_USERNAME


def forwarded_credentials(
    environ: Mapping[str, str], username_var: str, password_var: str
) -> dict[str, str]:
    """``{username_var: …, password_var: …}`` from the gate's variables, or ``{}``.

    Empty when the gate has no environment credentials, or when the scanner already has
    either of its own variables set.
    """
    username, password = environ.get(ENV_USERNAME, ""), environ.get(ENV_PASSWORD, "")
    if not (username and password) or environ.get(username_var) or environ.get(password_var):
        return {}
    return {username_var: username, password_var: password}
