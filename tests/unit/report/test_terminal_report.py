"""The terminal report: waivers explained, and each check's text printed once."""

from __future__ import annotations

from dataclasses import replace

from gate.evidence import VulnerabilityEvidence
from gate.report.terminal import TerminalRenderer
from tests.unit.report.test_github_report import ROOT_SUMMARY, sample_run


def test_terminal_lists_unused_expired_and_expiring_exceptions() -> None:
    text = TerminalRenderer().render(sample_run())
    assert (
        "unused: exception CVE-2022-2222 (package curl, policy line 12) waived nothing in this "
        "image; remove it, or check its id and package"
    ) in text
    assert "expired: exception CVE-2023-1111 expired 2026-01-31 and no longer applies" in text
    assert "expiring soon: exception CVE-2024-0727 expires 2026-11-20" in text


def test_terminal_prints_a_checks_text_once() -> None:
    text = TerminalRenderer().render(sample_run())
    assert text.count(ROOT_SUMMARY) == 1
    assert "- Dockerfile:1: debian:12 is not pinned" in text
    assert text.count("Dockerfile:1") == 1


def test_terminal_names_the_source_package_of_a_waived_finding() -> None:
    run = sample_run()
    failing = run.verdicts[0]
    vulns = failing.checks[0]
    evidence = vulns.evidence
    assert isinstance(evidence, VulnerabilityEvidence)
    waived = replace(
        evidence.exceptions_applied[0],
        finding_package="libssl3",
        finding_source_packages=("openssl",),
    )
    checks = (replace(vulns, evidence=replace(evidence, exceptions_applied=(waived,))),)
    text = TerminalRenderer().render(replace(run, verdicts=(replace(failing, checks=checks),)))
    assert "waived: CVE-2024-0727 in libssl3 (source openssl) by exception CVE-2024-0727" in text
