"""Make the scanners' vulnerability DBs ready before the gate runs, failing closed.

    python scripts/prepare_db.py --scanners trivy,grype

Downloads the Trivy DB (``trivy image --download-db-only``) and the Grype DB
(``grype db update``) into ``TRIVY_CACHE_DIR`` / ``GRYPE_DB_CACHE_DIR``, which the Action
restores from and saves to actions/cache.

On a rate limit (HTTP 429, ``TOOMANYREQUESTS``; ghcr.io and mirror.gcr.io answer this when
many jobs share an egress address) it retries with backoff. When every retry is rate
limited, it falls back to the DB already in the cache, but only if that DB was built no
more than ``CONTAINER_GATE_DB_MAX_AGE_HOURS`` ago (default 72). Past that age, with no
cached DB, or on any other failure, it exits 2: a gate judging with a stale or missing
DB must not pass an image.

Environment: ``CONTAINER_GATE_DB_MAX_AGE_HOURS``, ``CONTAINER_GATE_DB_RETRY_DELAYS``
(seconds between attempts, comma-separated; default ``15,60,180``),
``CONTAINER_GATE_DB_TIMEOUT`` (seconds per attempt; default 900). ``trivy-java`` prepares
Trivy's Java index DB (``--download-java-db-only``) the same way, so a scan never downloads
it mid-scan, uncached and without retries; the gate then runs with
``TRIVY_SKIP_JAVA_DB_UPDATE``.

    python scripts/prepare_db.py --analysis-key

prints ``key=<Trivy version>-<digest of the DBs' build times>`` for the cache of Trivy's
layer analyses (``TRIVY_CACHE_DIR/fanal``): a new Trivy (new analyzers) or a new DB (the
Java DB names the jars an analysis finds) never reuses an analysis made before it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gate.progress import Progress, silent
from gate.report.github import escape_data

EXIT_READY = 0
EXIT_FAIL_CLOSED = 2
DEFAULT_MAX_AGE_HOURS = 72.0
DEFAULT_DELAYS = (15.0, 60.0, 180.0)
DEFAULT_TIMEOUT = 900.0
RATE_LIMITED = re.compile(r"\b429\b|TOOMANYREQUESTS|too many requests|rate[ -]?limit", re.I)
_TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:?\d\d)")


class PrepareError(Exception):
    """The DB cannot be made ready: the gate must not run."""


@dataclass(frozen=True)
class Attempt:
    returncode: int
    output: str

    @property
    def rate_limited(self) -> bool:
        return self.returncode != 0 and RATE_LIMITED.search(self.output) is not None

    def tail(self, lines: int = 5) -> str:
        return "\n".join(self.output.strip().splitlines()[-lines:])


def parse_time(text: object) -> datetime | None:
    """RFC 3339 as Go writes it (nanoseconds, ``Z``), which Python 3.10 cannot parse alone."""
    if not isinstance(text, str):
        return None
    match = _TIMESTAMP.fullmatch(text.strip())
    if match is None:
        return None
    zone = "+00:00" if match.group(2) == "Z" else match.group(2)
    if ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    try:
        return datetime.fromisoformat(match.group(1) + zone).astimezone(timezone.utc)
    except ValueError:
        return None


def trivy_db_built(cache_dir: Path) -> datetime | None:
    """``UpdatedAt`` of the cached DB (when trivy-db built it), from ``db/metadata.json``."""
    metadata = cache_dir / "db" / "metadata.json"
    if not (cache_dir / "db" / "trivy.db").is_file():
        return None
    try:
        data = json.loads(metadata.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("Version") != 2:
        return None
    return parse_time(data.get("UpdatedAt"))


def trivy_java_db_built(cache_dir: Path) -> datetime | None:
    """``UpdatedAt`` of the cached Java index DB, from ``java-db/metadata.json``."""
    metadata = cache_dir / "java-db" / "metadata.json"
    if not (cache_dir / "java-db" / "trivy-java.db").is_file():
        return None
    try:
        data = json.loads(metadata.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("Version") != 1:
        return None
    return parse_time(data.get("UpdatedAt"))


def analysis_key(cache_dir: Path, trivy_version: str) -> str:
    """The cache key of Trivy's layer analyses: its version and the DBs' build times.

    An analysis depends on Trivy's analyzers (its version) and, for jars, on the Java DB;
    the vulnerability DB is in the key too, so a cached analysis never outlives the DB it
    was made with. A DB that is absent keys as ``none`` (and is still a distinct key).
    """
    import hashlib

    built = [trivy_db_built(cache_dir), trivy_java_db_built(cache_dir)]
    stamp = ",".join(b.isoformat() if b else "none" for b in built)
    digest = hashlib.sha256(stamp.encode()).hexdigest()[:16]
    version = re.sub(r"[^0-9A-Za-z.]", "", trivy_version) or "unknown"
    return f"{version}-{digest}"


def trivy_version(env: dict[str, str], timeout: float) -> str:
    """``0.76.0`` from ``trivy --version`` (``Version: 0.76.0``); raise when it cannot run."""
    attempt = run(["trivy", "--version"], env, timeout)
    match = re.search(r"^Version:\s*(\S+)", attempt.output, re.M)
    if attempt.returncode != 0 or match is None:
        raise PrepareError(f"trivy --version failed (exit {attempt.returncode}): {attempt.tail()}")
    return match.group(1)


def grype_db_built(env: dict[str, str], timeout: float) -> datetime | None:
    """``built`` from ``grype db status -o json``; None when grype reports no valid DB."""
    attempt = run(["grype", "db", "status", "-o", "json"], env, timeout)
    if attempt.returncode != 0:
        return None
    try:
        data = json.loads(_json_part(attempt))
    except ValueError:
        return None
    return parse_time(data.get("built")) if isinstance(data, dict) else None


def _json_part(attempt: Attempt) -> str:
    """The JSON object in grype's output (stdout and stderr are captured together)."""
    start = attempt.output.find("{")
    end = attempt.output.rfind("}")
    return attempt.output[start : end + 1] if 0 <= start < end else ""


def run(command: Sequence[str], env: dict[str, str], timeout: float) -> Attempt:
    try:
        done = subprocess.run(
            list(command),
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        return Attempt(127, f"{command[0]}: not found on PATH")
    except subprocess.TimeoutExpired:
        return Attempt(124, f"{command[0]}: timed out after {timeout:.0f}s")
    return Attempt(done.returncode, (done.stdout or "") + (done.stderr or ""))


@dataclass(frozen=True)
class Scanner:
    name: str
    command: tuple[str, ...]

    def built(self, env: dict[str, str], timeout: float) -> datetime | None:
        if self.name in ("trivy", "trivy-java"):
            cache = env.get("TRIVY_CACHE_DIR")
            if not cache:
                return None
            built = trivy_db_built if self.name == "trivy" else trivy_java_db_built
            return built(Path(cache))
        return grype_db_built(env, timeout)


SCANNERS = {
    "trivy": Scanner("trivy", ("trivy", "image", "--download-db-only", "--no-progress")),
    "trivy-java": Scanner(
        "trivy-java", ("trivy", "image", "--download-java-db-only", "--no-progress")
    ),
    "grype": Scanner("grype", ("grype", "db", "update")),
}


def db_size(scanner: Scanner, env: dict[str, str]) -> int | None:
    """Bytes on disk of the scanner's DB directory (TRIVY_CACHE_DIR/db, GRYPE_DB_CACHE_DIR)."""
    base = env.get("TRIVY_CACHE_DIR" if scanner.name == "trivy" else "GRYPE_DB_CACHE_DIR")
    if not base:
        return None
    root = Path(base) / "db" if scanner.name == "trivy" else Path(base)
    total = 0
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            continue
    return total


def describe_db(scanner: Scanner, env: dict[str, str], timeout: float, now: datetime) -> str:
    """``built … (N h old), M MB``: what the gate will judge with, for the progress log."""
    built = scanner.built(env, timeout)
    size = db_size(scanner, env)
    age = (
        f"built {built:%Y-%m-%dT%H:%M:%SZ} "
        f"({max(0.0, (now - built).total_seconds()) / 3600:.1f} h old)"
        if built
        else "build time unknown"
    )
    shown = f"{size / 1e6:.1f} MB" if size is not None else "size unknown"
    return f"{scanner.name}: vulnerability DB ready: {age}, {shown}"


def say(message: str, *, kind: str | None = None) -> None:
    if kind is not None and os.environ.get("GITHUB_ACTIONS") == "true":
        print(f"::{kind}::{escape_data(message)}", flush=True)
    else:
        print(f"prepare-db: {message}", flush=True)


def prepare(
    scanner: Scanner,
    env: dict[str, str],
    *,
    delays: Sequence[float],
    max_age: timedelta,
    timeout: float,
    now: datetime,
    progress: Progress | None = None,
) -> None:
    progress = progress or silent()
    attempts = len(delays) + 1
    for number in range(1, attempts + 1):
        with progress.step(f"{scanner.name}: downloading the vulnerability DB"):
            attempt = run(scanner.command, env, timeout)
        if attempt.returncode == 0:
            say(f"{scanner.name}: vulnerability DB ready")
            progress.say(describe_db(scanner, env, timeout, now))
            return
        if not attempt.rate_limited:
            raise PrepareError(
                f"{scanner.name}: DB download failed (exit {attempt.returncode}):\n{attempt.tail()}"
            )
        if number < attempts:
            delay = delays[number - 1]
            say(f"{scanner.name}: rate limited ({number}/{attempts}); retrying in {delay:g}s")
            time.sleep(delay)
    built = scanner.built(env, timeout)
    if built is None:
        raise PrepareError(
            f"{scanner.name}: DB download rate limited {attempts} times and no cached DB to "
            "fall back to; failing closed"
        )
    age = now - built
    hours = age.total_seconds() / 3600
    if age > max_age:
        raise PrepareError(
            f"{scanner.name}: DB download rate limited {attempts} times; the cached DB was "
            f"built {hours:.1f}h ago, older than the {max_age.total_seconds() / 3600:g}h "
            "maximum; failing closed"
        )
    say(
        f"{scanner.name}: DB download rate limited {attempts} times; using the cached DB built "
        f"{built:%Y-%m-%dT%H:%M:%SZ} ({hours:.1f}h old, maximum "
        f"{max_age.total_seconds() / 3600:g}h)",
        kind="warning",
    )


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise PrepareError(f"{name}={raw!r} is not a number") from None
    if value < 0:
        raise PrepareError(f"{name} must not be negative")
    return value


def _delays() -> tuple[float, ...]:
    raw = os.environ.get("CONTAINER_GATE_DB_RETRY_DELAYS", "").strip()
    if not raw:
        return DEFAULT_DELAYS
    try:
        delays = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise PrepareError(f"CONTAINER_GATE_DB_RETRY_DELAYS={raw!r} is not a list") from None
    if any(d < 0 for d in delays):
        raise PrepareError("CONTAINER_GATE_DB_RETRY_DELAYS must not be negative")
    return delays


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scanners", default="trivy", help="comma-separated: trivy,trivy-java,grype"
    )
    parser.add_argument(
        "--analysis-key",
        action="store_true",
        help="print key=… for the cache of Trivy's layer analyses, and prepare nothing",
    )
    args = parser.parse_args(argv)
    try:
        if args.analysis_key:
            cache = os.environ.get("TRIVY_CACHE_DIR")
            if not cache:
                raise PrepareError("TRIVY_CACHE_DIR is not set")
            version = trivy_version(dict(os.environ), DEFAULT_TIMEOUT)
            print(f"key={analysis_key(Path(cache), version)}")
            return EXIT_READY
        names = [n.strip() for n in args.scanners.split(",") if n.strip()]
        unknown = sorted(set(names) - set(SCANNERS))
        if unknown or not names:
            raise PrepareError(f"unknown scanner {', '.join(unknown) or '(none)'}")
        max_age = timedelta(
            hours=_float_env("CONTAINER_GATE_DB_MAX_AGE_HOURS", DEFAULT_MAX_AGE_HOURS)
        )
        delays = _delays()
        timeout = _float_env("CONTAINER_GATE_DB_TIMEOUT", DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT
        env = dict(os.environ)
        progress = Progress.from_environment()
        for name in names:
            prepare(
                SCANNERS[name],
                env,
                delays=delays,
                max_age=max_age,
                timeout=timeout,
                now=datetime.now(timezone.utc),
                progress=progress,
            )
    except PrepareError as error:
        say(str(error), kind="error")
        return EXIT_FAIL_CLOSED
    return EXIT_READY


if __name__ == "__main__":
    sys.exit(main())
