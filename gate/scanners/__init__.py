"""The scanners the gate can run, by name: the one list the CLI, the policy and its schema read.

``--NAME-report`` options, what ``vulnerabilities.scanners`` may list, ``--scanners`` and the
step names all come from ``SCANNERS``; ``tests/unit/scanners/test_scanner_registry.py`` fails
when the policy schema's enum (or the action's inputs) drift from it. Importing this package loads
no scanner: an entry names its module, imported when the scanner is first needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Literal, NamedTuple, cast

if TYPE_CHECKING:
    from gate.policy.model import Policy
    from gate.scanners.interface import Scanner
    from gate.scanners.trivy_server import ServerEndpoint


class ScanSettings(NamedTuple):
    """How this run scans, beyond the policy: where Trivy's scans go (only Trivy reads these).

    Named tuples, not dataclasses, here: the CLI imports this module to build its options,
    and ``dataclasses`` (with ``inspect``) would be most of ``--version``'s own start-up.
    """

    trivy_server: ServerEndpoint | None = None
    """Every Trivy scan is a client of this server (``gate.scanners.trivy_server``)."""
    trivy_cache: Literal["memory", "fs"] = "memory"
    keep_reports: bool = False
    """Reports are kept for the next run and reused (``gate.scanners.trivy_cache``)."""


class ScannerEntry(NamedTuple):
    """One scanner: its name (policy, CLI, reports), how it is shown, where it lives.

    ``module`` defines ``for_policy(policy: Policy | None, settings: ScanSettings) -> Scanner``:
    the scanner set up to look for what the policy judges (no policy: everything it can, to
    read a report), scanning as ``settings`` say.
    ``finds_secrets``: it reports secrets, so it runs when the policy judges them.
    """

    name: str
    title: str
    module: str
    finds_secrets: bool = False

    @property
    def report_option(self) -> str:
        """The CLI option that hands the gate a saved report instead of running it."""
        return f"--{self.name}-report"

    def create(self, policy: Policy | None = None, settings: ScanSettings | None = None) -> Scanner:
        module = import_module(self.module)
        return cast("Scanner", module.for_policy(policy, settings or ScanSettings()))


SCANNERS: Mapping[str, ScannerEntry] = {
    entry.name: entry
    for entry in (
        ScannerEntry("trivy", "Trivy", "gate.scanners.trivy", finds_secrets=True),
        ScannerEntry("grype", "Grype", "gate.scanners.grype"),
    )
}
DEFAULT_SCANNERS: tuple[str, ...] = ("trivy",)
"""What ``vulnerabilities.scanners`` is when the policy does not say."""


def allowed() -> str:
    """``trivy, grype``: for messages that list the choices."""
    return ", ".join(SCANNERS)


def report_options() -> str:
    """``--trivy-report/--grype-report``: for messages that name them all."""
    return "/".join(entry.report_option for entry in SCANNERS.values())
