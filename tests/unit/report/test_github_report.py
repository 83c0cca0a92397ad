"""GitHub Actions output: annotations, step summary and step outputs, read back as the runner would.

The runner-side parsers below follow actions/runner: a workflow command is any stdout line that,
after leading whitespace, starts with ``::`` (ActionCommand.TryParseV2), and ``$GITHUB_OUTPUT``
holds ``key=value`` lines or ``key<<DELIM`` heredocs (FileCommandManager). A hostile scanner
string must not produce an extra command, an extra output, or break the summary's tables.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from gate.errors import GateError
from gate.evidence import ExceptionRow, FindingRow, Identity, VulnerabilityEvidence
from gate.model import (
    CheckResult,
    Location,
    Problem,
    Severity,
    Status,
    Subject,
    Verdict,
)
from gate.report import github
from gate.report.github import md
from gate.report.interface import Run
from tests.support.paths import REPO_ROOT

SNAPSHOT = REPO_ROOT / "tests" / "data" / "github-summary.md"

MALICIOUS_TITLE = (
    "evil 100% ::error::pwned\n::add-mask::secret\r\n"
    "::set-output name=verdict::pass, ::stop-commands::x | <img src=x onerror=alert(1)> "
    "[click](https://evil.example) `tick` **bold**"
)
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def vuln(
    cve: str,
    package: str,
    installed: str,
    severity: Severity,
    *,
    fixed: tuple[str, ...] = (),
    title: str = "",
) -> Problem:
    """A failing finding shaped as gate.checks.vulnerabilities writes it."""
    message = f"{cve} in {package} {installed} ({severity.label})" + (f": {title}" if title else "")
    return Problem(
        rule=cve,
        message=message,
        severity=severity,
        data=FindingRow(
            id=cve,
            aliases=(),
            package=package,
            source_packages=(),
            installed=installed,
            fixed=fixed,
            severity=severity,
            judged_as=severity,
            status="fixed" if fixed else "affected",
            title=title,
            url=f"https://avd.aquasec.com/nvd/{cve.lower()}",
            target="app (debian 12.5)",
            found_by=("trivy",),
        ),
    )


def vulnerabilities_check(problems: tuple[Problem, ...]) -> CheckResult:
    waiver = ExceptionRow(
        "CVE-2024-0727", "openssl", "not reachable: we never parse PKCS12", "2026-11-20"
    )
    evidence = VulnerabilityEvidence(
        fail_on="high",
        total=len(problems),
        by_severity={},
        below_threshold=0,
        ignored_unfixed=0,
        not_affected=0,
        exceptions_applied=(replace(waiver, finding="CVE-2024-0727", finding_package="openssl"),),
        exceptions_expiring_soon=(waiver,),
        exceptions_expired=(
            ExceptionRow(
                "CVE-2023-1111",
                None,
                "waiting for | upstream",
                "2026-01-31",
                would_match=("CVE-2023-1111",),
            ),
        ),
        exceptions_unused=(
            ExceptionRow(
                "CVE-2022-2222",
                "curl",
                "fixed in the base image since",
                "2027-06-30",
                policy_line=12,
            ),
        ),
        scanners=(),
        agreement={},
        found_by_one_only=(),
        no_os_packages=False,
        judged_at="2026-11-15T00:00:00+00:00",
        identity=Identity("registry.test/app", None, "0" * 64, ("trivy",)),
        inventory=(),
    )
    return CheckResult(
        "vulnerabilities",
        Status.FAIL,
        f"{len(problems)} findings at or above high",
        problems,
        evidence,
    )


def base_digest_fail() -> CheckResult:
    problem = Problem(
        rule="unpinned-base",
        message="debian:12 is not pinned @sha256:<64 hex>: FROM debian:12",
        location=Location("Dockerfile", 1),
        data={"reference": "debian:12", "file": "Dockerfile", "line": 1},
    )
    return CheckResult("base-digest", Status.FAIL, "1 base image of 1 not pinned", (problem,))


ROOT_SUMMARY = "no user is configured, so the container runs as root"


def non_root_fail() -> CheckResult:
    """As the non-root check says it: its one problem is its summary."""
    problem = Problem(rule="root-user", message=ROOT_SUMMARY)
    return CheckResult("non-root", Status.FAIL, ROOT_SUMMARY, (problem,))


def sample_run(*, mode: str = "enforce") -> Run:
    """Two images: one failing on every kind of finding (one title hostile), one passing."""
    failing = Verdict(
        Subject("ghcr.io/acme/app:3f2a9c1", DIGEST_A, "ghcr.io/acme/app", "3f2a9c1"),
        (
            vulnerabilities_check(
                (
                    vuln(
                        "CVE-2026-0001",
                        "openssl",
                        "3.0.11-1",
                        Severity.CRITICAL,
                        fixed=("3.0.15-1",),
                        title="heap overflow",
                    ),
                    vuln(
                        "CVE-2026-0002", "zlib|pipe", "1.2.13", Severity.HIGH, title=MALICIOUS_TITLE
                    ),
                )
            ),
            CheckResult("secrets", Status.PASS, "no secrets found"),
            base_digest_fail(),
            non_root_fail(),
        ),
        mode="warn" if mode == "warn" else "enforce",
        tools={
            "trivy": {
                "version": "0.76.0",
                "db_built": "2026-11-27T06:00:00Z",
                "db_source": "trivy version (VulnerabilityDB.UpdatedAt)",
            },
            "grype": {"version": "0.120.1", "db_built": None, "db_source": ""},
        },
        notes=("using the built-in default policy",),
    )
    passing = Verdict(
        Subject("ghcr.io/acme/worker:3f2a9c1", DIGEST_B, "ghcr.io/acme/worker", "3f2a9c1"),
        (
            CheckResult("vulnerabilities", Status.PASS, "no findings at or above high (3 found)"),
            CheckResult("non-root", Status.PASS, "runs as uid 65532"),
        ),
        mode="warn" if mode == "warn" else "enforce",
    )
    return Run((failing, passing), ".github/container-gate.yml")


def error_run() -> Run:
    broken = CheckResult(
        "vulnerabilities",
        Status.ERROR,
        "trivy exited with code 1",
        detail="FATAL  db error\n::error::from the scanner's stderr",
    )
    verdict = Verdict(Subject("ghcr.io/acme/app:3f2a9c1", DIGEST_A, "ghcr.io/acme/app"), (broken,))
    return Run((verdict,), ".github/container-gate.yml")


# --------------------------------------------------------------------------- runner-side parsers


def _unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _unescape_property(text: str) -> str:
    return (
        text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
    )


def workflow_commands(stdout: str) -> list[tuple[str, dict[str, str], str]]:
    """Commands as actions/runner finds them: lines split on CR/LF only, leading space trimmed."""
    found = []
    for raw in re.split(r"\r\n|\r|\n", stdout):
        line = raw.lstrip()
        if not line.startswith("::"):
            continue
        end = line.find("::", 2)
        if end < 0:
            continue
        name, _, props = line[2:end].partition(" ")
        properties = {}
        for pair in filter(None, props.split(",")):
            key, _, value = pair.partition("=")
            properties[key] = _unescape_property(value)
        found.append((name, properties, _unescape_data(line[end + 2 :])))
    return found


def issued_commands(stdout: str) -> list[tuple[str, dict[str, str], str]]:
    """The commands the runner acts on, honouring ``::stop-commands::TOKEN`` … ``::TOKEN::``."""
    issued, resume = [], None
    for name, properties, data in workflow_commands(stdout):
        if resume is not None:
            if name == resume:
                resume = None
            continue
        if name == "stop-commands":
            resume = data
            continue
        issued.append((name, properties, data))
    return issued


def read_outputs(text: str) -> dict[str, str]:
    """``$GITHUB_OUTPUT`` as actions/runner reads it (key=value, or key<<DELIM heredoc)."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        line = lines[i]
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            values[line[:equals]] = line[equals + 1 :]
        elif heredoc >= 0:
            key, delimiter = line[:heredoc], line[heredoc + 2 :]
            body = []
            i += 1
            while i < len(lines) and lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise ValueError(f"heredoc for {key} not closed")
            values[key] = "\n".join(body)
        else:
            raise ValueError(f"invalid line {line!r}")
        i += 1
    return values


# --------------------------------------------------------------------------- escaping


def test_data_escaping_matches_actions_core() -> None:
    assert github.escape_data("a%b\rc\nd::e") == "a%25b%0Dc%0Ad::e"
    assert github.escape_property("a%b\rc\nd:e,f") == "a%25b%0Dc%0Ad%3Ae%2Cf"


def test_malicious_title_yields_exactly_the_gate_annotations(tmp_path: Path) -> None:
    lines = github.annotation_lines(sample_run(), root=tmp_path, cwd=tmp_path)
    commands = workflow_commands("\n".join(lines) + "\n")

    # vulnerabilities, base-digest (located), non-root: one command each, nothing injected.
    assert [(name, props.get("title")) for name, props, _ in commands] == [
        ("error", "container-gate vulnerabilities: ghcr.io/acme/app:3f2a9c1"),
        ("error", "container-gate base-digest: ghcr.io/acme/app:3f2a9c1"),
        ("error", "container-gate non-root: ghcr.io/acme/app:3f2a9c1"),
    ]
    assert len(lines) == len(commands)
    assert all(set(props) <= {"title", "file", "line"} for _, props, _ in commands)
    # The hostile title survives intact as data of the vulnerabilities annotation.
    assert MALICIOUS_TITLE in commands[0][2]


def test_base_image_annotation_carries_file_and_line_relative_to_the_workspace(
    tmp_path: Path,
) -> None:
    workdir = tmp_path / "services" / "api"
    lines = github.annotation_lines(sample_run(), root=tmp_path, cwd=workdir)
    located = [props for _, props, _ in workflow_commands("\n".join(lines)) if "file" in props]
    assert located == [
        {
            "file": "services/api/Dockerfile",
            "line": "1",
            "title": "container-gate base-digest: ghcr.io/acme/app:3f2a9c1",
        }
    ]


def test_warn_mode_annotates_with_warnings_but_errors_stay_errors(tmp_path: Path) -> None:
    warn = workflow_commands(
        "\n".join(github.annotation_lines(sample_run(mode="warn"), root=tmp_path, cwd=tmp_path))
    )
    assert {name for name, _, _ in warn} == {"warning"}
    assert github.summary(sample_run(mode="warn")).startswith(
        "## container-gate: ⚠️ FAIL (warn mode: not enforced)"
    )
    errors = workflow_commands(
        "\n".join(github.annotation_lines(error_run(), root=tmp_path, cwd=tmp_path))
    )
    assert [name for name, _, _ in errors] == ["error"]
    assert "could not decide (fail closed)" in errors[0][2]
    assert "::error::from the scanner's stderr" in errors[0][2]  # data, not a second command


def test_passing_run_has_no_annotations(tmp_path: Path) -> None:
    run = sample_run()
    passing_only = Run(run.verdicts[1:], run.policy_source)
    assert github.annotation_lines(passing_only, root=tmp_path, cwd=tmp_path) == []


def test_guarded_text_cannot_issue_commands() -> None:
    hostile = "CVE-1  ::add-mask::x\n::error::injected\n::stop-commands::guess\n::guess::\n"
    guarded = github.guard(hostile) + "::warning::after the guard\n"
    assert [name for name, _, _ in issued_commands(guarded)] == ["warning"]


# --------------------------------------------------------------------------- outputs


def test_counts_are_failing_findings_by_judged_severity() -> None:
    assert github.failing_counts(sample_run()) == {
        "unknown": 0,
        "low": 0,
        "medium": 0,
        "high": 1,
        "critical": 1,
    }


def test_outputs_survive_a_value_that_imitates_the_heredoc_syntax(tmp_path: Path) -> None:
    hostile = "x\nghadelimiter_00000000-0000-0000-0000-000000000000\nverdict=pass\nsarif<<EOF\n"
    text = github.format_outputs({"verdict": "fail", "report": hostile, "critical": "2"})
    assert read_outputs(text) == {"verdict": "fail", "report": hostile, "critical": "2"}


def test_a_value_containing_its_delimiter_is_refused() -> None:
    with pytest.raises(GateError, match="contains its delimiter"):
        github.format_outputs(
            {"report": "a\nghadelimiter_fixed\nverdict=pass"},
            delimiter=lambda: "ghadelimiter_fixed",
        )


def test_publish_writes_annotations_summary_and_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    output_file, summary_file = tmp_path / "output", tmp_path / "summary.md"
    output_file.write_text("earlier=kept\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output_file))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    monkeypatch.chdir(tmp_path)

    github.publish(sample_run(), report_path=Path("out/report.json"), sarif_path=Path("g.sarif"))

    values = read_outputs(output_file.read_text())
    assert values == {
        "earlier": "kept",
        "verdict": "fail",
        "critical": "1",
        "high": "1",
        "medium": "0",
        "low": "0",
        "unknown": "0",
        "findings": "4",
        "report": str(tmp_path / "out" / "report.json"),
        "sarif": str(tmp_path / "g.sarif"),
    }
    assert set(values) - {"earlier"} == set(github.OUTPUT_NAMES)
    assert summary_file.read_text().startswith("## container-gate: ❌ FAIL")
    assert len(workflow_commands(capsys.readouterr().out)) == 3


def test_publish_fails_closed_when_the_output_file_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "missing-dir" / "output"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    with pytest.raises(GateError, match=r"cannot write \$GITHUB_OUTPUT"):
        github.publish(sample_run())


# --------------------------------------------------------------------------- summary


def test_summary_matches_snapshot() -> None:
    text = github.summary(sample_run())
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert text == SNAPSHOT.read_text(encoding="utf-8")


def _cells(line: str) -> list[str]:
    return re.split(r"(?<!\\)\|", line)[1:-1]


def test_summary_table_cells_cannot_be_broken_by_untrusted_text() -> None:
    text = github.summary(sample_run())
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and not lines[i - 1].startswith("|"):  # a table header
            width = len(_cells(line))
            for row in itertools.takewhile(lambda r: r.startswith("|"), lines[i:]):
                assert len(_cells(row)) == width, row
    rows = [line for line in lines if line.startswith("| [CVE-2026-0002](")]
    assert len(rows) == 1 and len(_cells(rows[0])) == 6
    assert "<img" not in text
    assert "[click](" not in text
    assert "\n::" not in text


def test_summary_caps_findings_and_states_the_total() -> None:
    many = tuple(vuln(f"CVE-2026-{n:04d}", "pkg", "1", Severity.HIGH) for n in range(45))
    verdict = Verdict(Subject("app:1", DIGEST_A, "app", "1"), (vulnerabilities_check(many),))
    text = github.summary(Run((verdict,), "policy.yml"))
    assert "(top 20 of 45)" in text
    assert "CVE-2026-0019" in text and "CVE-2026-0020" not in text


def test_summary_lists_exceptions_applied_and_expiring_soon() -> None:
    text = github.summary(sample_run())
    assert "**Exceptions applied** (1)" in text
    assert "**Exceptions expiring within 14 days** (1)" in text
    assert "waiting for \\| upstream" in text


def test_summary_lists_unused_and_expired_exceptions() -> None:
    text = github.summary(sample_run())
    assert "**Unused exceptions (waived nothing in this image)** (1)" in text
    assert "| CVE-2022-2222 | curl | 2027-06-30 | fixed in the base image since |" in text
    assert "**Expired exceptions (no longer applied)** (1)" in text


def test_summary_links_each_finding_to_its_advisory() -> None:
    text = github.summary(sample_run())
    assert "| [CVE-2026-0001](https://avd.aquasec.com/nvd/cve-2026-0001) | openssl |" in text


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "https://evil.example/a) [x](https://other",
        "https://evil.example/<script>",
        "",
    ],
)
def test_an_advisory_url_that_would_need_escaping_is_not_linked(url: str) -> None:
    problem = vuln("CVE-2026-0009", "pkg", "1", Severity.HIGH)
    assert isinstance(problem.data, FindingRow)
    problem = replace(problem, data=replace(problem.data, url=url))
    verdict = Verdict(Subject("app:1", DIGEST_A, "app", "1"), (vulnerabilities_check((problem,)),))
    text = github.summary(Run((verdict,), "policy.yml"))
    assert "| CVE-2026-0009 | pkg |" in text
    assert "](" not in text


def test_summary_shows_the_source_package_of_a_finding() -> None:
    problem = vuln("CVE-2026-0001", "libssl3", "3.0.11-1", Severity.HIGH)
    assert isinstance(problem.data, FindingRow)
    problem = replace(problem, data=replace(problem.data, source_packages=("openssl",)))
    verdict = Verdict(Subject("app:1", DIGEST_A, "app", "1"), (vulnerabilities_check((problem,)),))
    assert " | libssl3 (source openssl) | " in github.summary(Run((verdict,), "policy.yml"))


def test_summary_states_each_scanners_db_age_and_where_it_was_read() -> None:
    text = github.summary(sample_run())
    assert (
        "Tools: trivy 0.76.0 (DB built 2026-11-27T06:00:00Z, from trivy version "
        "(VulnerabilityDB.UpdatedAt)), grype 0.120.1 (DB age unknown)"
    ) in text


def test_each_checks_text_appears_once_in_the_summary_and_the_annotations(tmp_path: Path) -> None:
    run = sample_run()
    text = github.summary(run)
    assert text.count(md(ROOT_SUMMARY)) == 1
    assert text.count("not pinned @sha256") == 1
    assert "Dockerfile:1: " not in text  # the place is in its own column
    commands = "\n".join(github.annotation_lines(run, root=tmp_path, cwd=tmp_path))
    assert commands.count(ROOT_SUMMARY) == 1
    assert "Dockerfile:1" not in commands  # file= and line= carry it
