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

from gate import __version__
from gate.errors import EXIT_ERROR, GateError, PolicyError, UsageError
from gate.gcpause import gc_paused

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
    check.add_argument(
        "--trivy-report", type=Path, help="judge this Trivy JSON report instead of running Trivy"
    )
    check.add_argument(
        "--grype-report", type=Path, help="judge this Grype JSON report instead of running Grype"
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
        "--scanners", help="override the policy's scanners, comma-separated (trivy,grype)"
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
        help="platform to judge in a multi-platform index (default linux/amd64)",
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
        "--parallel", type=int, default=2, metavar="N", help="images judged at once (default 2)"
    )
    check.add_argument(
        "--trivy-server",
        metavar="URL",
        help="make every Trivy scan a client of this Trivy server (https://, or http:// on "
        "loopback); its token is read from $TRIVY_TOKEN (policy: trivy.server, trivy.token_env)",
    )

    policy = commands.add_parser("policy", help="validate a policy or print its schema")
    policy_commands = policy.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    validate = policy_commands.add_parser("validate", help="check a policy file on its own")
    validate.add_argument("file", type=Path)
    policy_commands.add_parser("schema", help="print the policy JSON Schema")
    return parser


def _policy_command(args: argparse.Namespace) -> int:
    from gate import policy

    if args.policy_command == "schema":
        sys.stdout.write(policy.schema_text())
        return 0
    loaded = policy.load_policy(args.file)
    sections = [
        name
        for name in ("vulnerabilities", "secrets", "image", "base_image", "signature")
        if getattr(loaded, name) is not None
    ]
    print(f"{args.file}: valid (mode {loaded.mode}; sections: {', '.join(sections)})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The process entry point (``python -m gate``, ``container-gate``): the exit code.

    The command runs with the cyclic garbage collector paused (``gate.gcpause``): the
    imports, and a big report's 50,000 findings built while reading, merging and judging,
    would otherwise be rescanned by every collection between those steps. When it is done
    the collector is frozen, because the process exits next and its final collection
    would walk every live object once more (~15 ms here) to find nothing.
    """
    try:
        with gc_paused():
            return _main(argv)
    finally:
        gc.freeze()


def _main(argv: Sequence[str] | None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    try:
        if args.command == "policy":
            return _policy_command(args)
        from gate.run import run_check

        return run_check(args)
    except PolicyError as error:
        # Already FILE:LINE:COL: what is wrong; what is allowed (one line per problem).
        _print_error(error.message)
        return EXIT_ERROR
    except GateError as error:
        kind = "usage error" if isinstance(error, UsageError) else "error"
        _print_error(f"ERROR  {kind}: {error.message}\n{error.detail.rstrip()}")
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


def _print_error(text: str) -> None:
    """Print to stderr; in GitHub Actions, wrapped so no line of it runs as a workflow command.

    Messages quote what registries, scanners and files said, which the gate does not control.
    """
    text = text.rstrip()
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from gate.report.github import guard

        text = guard(text).rstrip()
    print(text, file=sys.stderr)
