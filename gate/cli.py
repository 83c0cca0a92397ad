"""Command line: argument parsing and wiring only.

Heavy modules (requests, sigstore, cryptography, jsonschema) are imported inside the
commands that use them, so ``--version`` and ``--help`` start as fast as Python does.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gate import __version__
from gate.errors import EXIT_ERROR, GateError, PolicyError, UsageError
from gate.gcpause import gc_paused
from gate.scanners import SCANNERS

if TYPE_CHECKING:
    from gate.policy.model import Policy

DEFAULT_SCANNER_TIMEOUT = 600.0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="container-gate",
        description="May this exact image ship? "
        "Scan, inspect and verify one digest against a policy.",
    )
    parser.add_argument("--version", action="version", version=f"container-gate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="judge one or more images against the policy",
        description="Exit codes: 0 pass, 1 policy violation, 2 error (never a pass).",
    )
    check.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help="registry reference (host/repo:tag or @sha256:…), "
        "oci:DIR[:TAG], docker-archive:FILE.tar or docker-daemon:NAME[:TAG]",
    )
    check.add_argument(
        "--policy",
        type=Path,
        help="policy file (default: .github/container-gate.yml, then container-gate.yml)",
    )
    for scanner in SCANNERS.values():
        check.add_argument(
            scanner.report_option,
            type=Path,
            help=f"judge this {scanner.title} JSON report instead of running {scanner.title}",
        )
    check.add_argument(
        "--report-json", type=Path, metavar="FILE", help="also write the result as JSON"
    )
    check.add_argument("--sarif", type=Path, metavar="FILE", help="also write SARIF 2.1.0")
    check.add_argument(
        "--dry-run",
        action="store_true",
        help="show the verdict but exit 0 on a violation (errors still exit 2)",
    )
    check.add_argument("--mode", choices=["enforce", "warn"], help="override the policy's mode")
    check.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        help="override vulnerabilities.fail_on: low, medium, high or critical (any case)",
    )
    check.add_argument(
        "--scanners",
        help=f"override the policy's scanners, comma-separated ({','.join(SCANNERS)})",
    )
    check.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST",
        help="use plain HTTP for HOST (repeatable); loopback hosts always do",
    )
    check.add_argument(
        "--platform",
        default="linux/amd64",
        help="os/arch[/variant] whose image of a multi-platform index is judged, chosen as "
        "containerd would on such a host (default linux/amd64)",
    )
    check.add_argument(
        "--scanner-timeout",
        type=float,
        default=DEFAULT_SCANNER_TIMEOUT,
        metavar="SECONDS",
        help="kill a scanner after this long (default 600)",
    )
    check.add_argument(
        "--dockerfile",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="Dockerfile to read base images from (repeatable)",
    )
    check.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="K[=V]",
        help="build argument for Dockerfile ARG substitution, as docker build: K alone "
        "takes $K (repeatable)",
    )
    check.add_argument(
        "--git-sha",
        help="commit SHA the tag must match (default: GITHUB_SHA, then git rev-parse HEAD)",
    )
    check.add_argument(
        "--baseline",
        metavar="REF|REPORT",
        help="compare with a previous image (registry reference, scanned now) or a saved "
        "--report-json of it; overrides vulnerabilities.baseline",
    )
    check.add_argument(
        "--parallel", type=int, default=2, metavar="N", help="images judged at once (default 2)"
    )
    check.add_argument(
        "--trivy-server",
        metavar="URL",
        help="make every Trivy scan a client of this Trivy server (https://, or http:// on "
        "loopback); its token is read from $TRIVY_TOKEN (policy: trivy.server, trivy.token_env)",
    )
    check.add_argument(
        "--rescan",
        action="store_true",
        help="scan every image again, even one Trivy already scanned with the same DB and "
        "settings (its report is otherwise reused from Trivy's cache directory)",
    )
    check.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log each step on stderr: URLs, scanner commands, timings (credentials masked)",
    )

    policy = commands.add_parser("policy", help="validate a policy or print its schema")
    policy_commands = policy.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    validate = policy_commands.add_parser("validate", help="check a policy file on its own")
    validate.add_argument("file", type=Path)
    policy_commands.add_parser("schema", help="print the policy JSON Schema")
    importer = policy_commands.add_parser(
        "import",
        help="write the exceptions equivalent to a .trivyignore(.yaml) or .grype.yaml, to review",
        description="The gate never reads ignore files itself. This writes the equivalent "
        "vulnerabilities.exceptions once; every TODO (reason, expiry) must be filled before "
        "the policy validates. Rules an exception cannot express are listed on stderr.",
    )
    source = importer.add_mutually_exclusive_group(required=True)
    source.add_argument("--trivyignore", type=Path, metavar="FILE")
    source.add_argument("--grype-config", type=Path, metavar="FILE")
    importer.add_argument(
        "--output", "-o", type=Path, metavar="FILE", help="write here instead of stdout"
    )
    return parser


def _policy_command(args: argparse.Namespace) -> int:
    from gate import policy

    if args.policy_command == "schema":
        sys.stdout.write(policy.schema_text())
        return 0
    if args.policy_command == "import":
        return _import_command(args)
    loaded = policy.load_policy(args.file)
    sections = [
        name
        for name in ("vulnerabilities", "secrets", "image", "base_image", "signature")
        if getattr(loaded, name) is not None
    ]
    print(f"{args.file}: valid (mode {loaded.mode}; sections: {', '.join(sections)})")
    for warning in _exception_warnings(args.file, loaded):
        print(warning, file=sys.stderr)
    return 0


def _import_command(args: argparse.Namespace) -> int:
    from gate.policy.importers import import_file

    kind, path = (
        ("trivyignore", args.trivyignore) if args.trivyignore else ("grype", args.grype_config)
    )
    text, skipped = import_file(kind, path)
    for item in skipped:
        print(f"{path}:{item.line}: not imported: {item.what}: {item.why}", file=sys.stderr)
    if args.output:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as error:
            raise GateError(f"cannot write {args.output}: {error.strerror}") from None
    else:
        sys.stdout.write(text)
    return 0


def _exception_warnings(file: Path, loaded: Policy) -> list[str]:
    """Exceptions already expired or expiring soon: still a valid policy (exit 0), but one
    that no longer waives what its author meant. Unused ones only a check can tell."""
    from datetime import datetime, timedelta, timezone

    from gate.policy.model import EXPIRY_WARNING_DAYS

    today = datetime.now(timezone.utc).date()
    soon = today + timedelta(days=EXPIRY_WARNING_DAYS)
    warnings = []
    for exc in loaded.vulnerabilities.exceptions if loaded.vulnerabilities else ():
        where = f"{file}:{exc.line}" if exc.line is not None else str(file)
        if exc.expired(today):
            warnings.append(
                f"{where}: warning: exception {exc.id} expired {exc.expires} and no longer "
                "waives anything; renew it or remove it"
            )
        elif exc.expires <= soon:
            warnings.append(f"{where}: warning: exception {exc.id} expires {exc.expires}")
    return warnings


def main(argv: Sequence[str] | None = None) -> int:
    """The process entry point (``python -m gate``, ``container-gate``): the exit code.

    The command runs with the cyclic garbage collector paused (``gate.gcpause``): the
    imports, and a big report's 50,000 findings built while reading, merging and judging,
    would otherwise be rescanned by every collection between those steps. When it is done
    the collector is frozen, because the process exits next and its final collection
    would walk every live object once more (~15 ms here) to find nothing.

    Everything it prints is held and scrubbed of credentials on the way out
    (``gate.masking.scrubbed_output``): one exit for all text, whatever wrote it.
    """
    from gate.masking import announce_masks, scrubbed_output

    try:
        with gc_paused(), scrubbed_output() as held:
            announce_masks()
            code = _main(argv)
        return EXIT_ERROR if held.failed else code
    finally:
        gc.freeze()


def _main(argv: Sequence[str] | None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    if args.command == "check":  # the only command that logs (and pays for importing logging)
        from gate.log import configure

        configure(verbose=args.verbose)
    try:
        if args.command == "policy":
            return _policy_command(args)
        from gate.run import run_check

        return run_check(args)
    except PolicyError as error:
        # Already FILE:LINE:COL: what is wrong; what is allowed (one line per problem).
        _print_error(error.message)
        _publish_error(error)
        return EXIT_ERROR
    except GateError as error:
        error = _in_input_terms(error)
        kind = "usage error" if isinstance(error, UsageError) else "error"
        _print_error(f"ERROR  {kind}: {error.message}\n{error.detail.rstrip()}")
        _publish_error(error)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("ERROR  interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception:
        # A bug in the gate. Fail closed, and show enough to report it.
        _print_error(
            "ERROR  internal error in container-gate (this is a bug; please report it):\n"
            + traceback.format_exc()
        )
        return EXIT_ERROR


def _in_input_terms(error: GateError) -> GateError:
    """Inside the Action, a usage error names the input the user set, not the CLI flag."""
    names = os.environ.get("CONTAINER_GATE_INPUTS")
    if not names or not isinstance(error, UsageError):
        return error
    from gate.report.github import as_inputs

    return UsageError(as_inputs(error.message, names), detail=error.detail)


def _publish_error(error: GateError) -> None:
    """In GitHub Actions, an error before any verdict is an annotation and a summary too:
    otherwise it shows only in the raw log. Failing to write them changes nothing: exit 2."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    from gate.report.github import publish_error

    try:
        publish_error(error)
    except GateError as failed:
        print(f"ERROR  {failed.message}", file=sys.stderr)


def _print_error(text: str) -> None:
    """Print to stderr; in GitHub Actions, wrapped so no line of it runs as a workflow command.

    Messages quote what registries, scanners and files said, which the gate does not control.
    """
    text = text.rstrip()
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from gate.report.github import guard

        text = guard(text).rstrip()
    print(text, file=sys.stderr)
