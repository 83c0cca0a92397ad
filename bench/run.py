"""``make bench``: what the gate costs on top of the scanners, measured side by side.

Every figure compares commands in the same run, timed several times as child processes
taking turns (so drift in the machine's load hits both sides alike), and is quoted as a
ratio of medians. Each child's wall time and peak RSS are its own, measured by a small
parent that forks it (``tests/support/rusage.py``): a child forked from this process
would inherit this process's RSS high-water mark. Results go to docs/PERFORMANCE.md with
the machine and the date.

    python -m bench.run [--runs N] [--quick] [--output docs/PERFORMANCE.md]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bench.reports import write_grype_report, write_trivy_report
from examples.demo import offline_trivy_env, push_example
from tests.support.grype import grype_report
from tests.support.oci import build_image, layer, push
from tests.support.registry import RunningRegistry
from tests.support.rusage import measured, read_cpu_seconds, read_measurement
from tests.support.stubs import Stub, StubBin

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable


@dataclass(frozen=True)
class Sample:
    seconds: float
    max_rss_mib: float
    cpu_seconds: float = 0.0
    """User + system time of the command and the descendants it waited for."""


def run_once(argv: Sequence[str], env: Mapping[str, str], ok: Sequence[int] = (0, 1)) -> Sample:
    """Run a child, return its wall time and peak RSS; an unexpected exit code aborts.

    It runs in an empty directory: ``python -m`` puts the working directory first on
    ``sys.path``, which would let a checkout's ``gate`` shadow the one under test.
    """
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        report = Path(tmp) / "measurement"
        child = subprocess.run(
            measured(argv, report),
            cwd=tmp,
            env=dict(env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        if child.returncode not in ok:
            raise SystemExit(
                f"bench: {' '.join(argv)} exited {child.returncode}: {child.stderr[-2000:]!r}"
            )
        return Sample(*read_measurement(report), read_cpu_seconds(report))


Command = tuple[Sequence[str], Mapping[str, str]]


def side_by_side(commands: Sequence[Command], runs: int) -> list[list[Sample]]:
    """Each command ``runs`` times after one warm-up (page cache, scanner DB, .pyc files),
    the commands taking turns, so a change in the machine's load hits all of them alike."""
    for argv, env in commands:
        run_once(argv, env)
    samples: list[list[Sample]] = [[] for _ in commands]
    for _ in range(runs):
        for taken, (argv, env) in zip(samples, commands, strict=True):
            taken.append(run_once(argv, env))
    return samples


def median(samples: list[Sample], field: Callable[[Sample], float] = lambda s: s.seconds) -> float:
    return statistics.median(field(s) for s in samples)


@dataclass(frozen=True)
class Row:
    """One line of the results table; ``met`` is None for a figure shown to explain another."""

    figure: str
    measured: str
    target: str
    met: bool | None

    def markdown(self) -> str:
        verdict = "" if self.met is None else "PASS" if self.met else "MISS"
        return f"| {self.figure} | {self.measured} | {self.target} | {verdict} |"


def policy_file(work: Path, body: str) -> str:
    path = work / f"policy-{abs(hash(body))}.yml"
    path.write_text("version: 1\n" + body)
    return str(path)


# --------------------------------------------------------------------------- figures


def gate_overhead(work: Path, registry: RunningRegistry, runs: int) -> list[Row]:
    reference, digest = push_example(registry.host)
    env = offline_trivy_env(work / "trivy-cache")
    pinned = f"{reference.rsplit(':', 1)[0]}@{digest}"
    trivy = [
        "trivy",
        "image",
        "--quiet",
        "--format",
        "json",
        "--output",
        str(work / "t.json"),
        "--scanners",
        "vuln",
        # The same work as the gate hands Trivy: the offline environment sets
        # TRIVY_CACHE_BACKEND=memory, which the gate leaves as it is (no layer cache on
        # either side; sharing layers is measured by bench.shared).
        "--cache-backend",
        "memory",
        pinned,
    ]
    gate = [
        PY,
        "-m",
        "gate",
        "check",
        reference,
        "--policy",
        policy_file(work, "vulnerabilities:\n  fail_on: high\n"),
    ]
    # What the gate's own time is made of: starting Python, then importing what the check
    # path needs (the registry client pulls in requests), measured in the same turns.
    imports = [PY, "-c", "import gate.run, gate.image.sources, gate.scanners.trivy"]
    bare, gated, python, imported = side_by_side(
        [(trivy, env), (gate, env), ([PY, "-c", "pass"], env), (imports, env)], runs
    )
    ratio = median(gated) / median(bare)
    own = median(gated) - median(bare)
    return [
        Row(
            "gate check / trivy image (bundled example)",
            f"{median(gated):.3f} s / {median(bare):.3f} s = {ratio:.2f}",
            "≤ 1.10",
            ratio <= 1.10,
        ),
        Row("gate's own time (difference of medians)", f"{own:.3f} s", "≤ 0.2 s", own <= 0.2),
        Row(
            "of which: starting Python; + importing the check path (requests included)",
            f"{median(python):.3f} s; {median(imported):.3f} s",
            "(explains the above)",
            None,
        ),
    ]


def _cpu(sample: Sample) -> float:
    return sample.cpu_seconds


def big_reports(work: Path, runs: int) -> list[Row]:
    rows: list[Row] = []
    env = dict(os.environ)
    policy = policy_file(work, "vulnerabilities:\n  fail_on: critical\n  scanners: [grype]\n")
    trivy_policy = policy_file(work, "vulnerabilities:\n  fail_on: critical\n")
    trivy_path = write_trivy_report(work / "trivy-50k.json", 50_000)
    wide_path = write_trivy_report(work / "trivy-50k-wide.json", 50_000, shape="wide")
    grype_path = write_grype_report(work / "grype.json", trivy_path.stat().st_size)
    for name, path, flag, rules in (
        ("Trivy", trivy_path, "--trivy-report", trivy_policy),
        (
            "Trivy, wide shape (10,000 failing, long text),",
            wide_path,
            "--trivy-report",
            trivy_policy,
        ),
        ("Grype", grype_path, "--grype-report", policy),
    ):
        size_mib = path.stat().st_size / 2**20
        load, gate = side_by_side(
            [
                ([PY, "-c", "import json,sys; json.load(open(sys.argv[1], 'rb'))", str(path)], env),
                ([PY, "-m", "gate", "check", flag, str(path), "--policy", rules], env),
            ],
            runs,
        )
        ratio = median(gate) / median(load)
        cpu = median(gate, _cpu) / median(load, _cpu)
        rss = median(gate, lambda s: s.max_rss_mib)
        rows += [
            Row(
                f"{name} report ({size_mib:.0f} MiB): gate / json.load",
                f"{median(gate):.2f} s / {median(load):.2f} s = {ratio:.2f} (CPU {cpu:.2f})",
                "≤ 1.0",
                ratio <= 1.0,
            ),
            Row(
                f"{name} report: gate peak RSS / file size",
                f"{rss:.0f} MiB / {size_mib:.0f} MiB = {rss / size_mib:.2f} (json.load: {median(load, lambda s: s.max_rss_mib):.0f} MiB)",
                "≤ 1.5",
                rss / size_mib <= 1.5,
            ),
        ]
    return rows


def _without_bytecode(work: Path) -> dict[str, str]:
    """An environment that imports a copy of ``gate`` with no bytecode, and writes none.

    The standard library and the installed dependencies keep their bytecode, as on a
    machine that sets ``PYTHONDONTWRITEBYTECODE=1`` and runs the gate from a checkout.
    """
    copy = work / "no-bytecode"
    shutil.copytree(REPO / "gate", copy / "gate", ignore=shutil.ignore_patterns("__pycache__"))
    return {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}


def cold_start(work: Path, runs: int) -> list[Row]:
    rows: list[Row] = []
    policy = str(REPO / "policies" / "default.yaml")
    for label, env in (
        ("bytecode cached, as installed", dict(os.environ)),
        ("no bytecode for gate", _without_bytecode(work)),
    ):
        bare, version, validate = side_by_side(
            [
                ([PY, "-c", "pass"], env),
                ([PY, "-m", "gate", "--version"], env),
                ([PY, "-m", "gate", "policy", "validate", policy], env),
            ],
            runs,
        )
        v, p = median(version) / median(bare), median(validate) / median(bare)
        rows += [
            Row(
                f"`gate --version` / `python -c pass` ({label})",
                f"{median(version) * 1000:.0f} ms / {median(bare) * 1000:.0f} ms = {v:.1f}",
                "≤ 2",
                v <= 2,
            ),
            Row(
                f"`gate policy validate` / `python -c pass` ({label})",
                f"{median(validate) * 1000:.0f} ms / {median(bare) * 1000:.0f} ms = {p:.1f}",
                "≤ 4",
                p <= 4,
            ),
        ]
    return rows


def _stub_images(work: Path, registry: RunningRegistry, count: int) -> list[tuple[str, str, str]]:
    """``(reference, manifest digest, config digest)`` of *count* pushed images: a stub
    scanner's report must name the config it read, as the gate ties reports by it."""
    images = []
    for i in range(count):
        built = build_image([layer({"app/id": f"image {i}".encode()})])
        digest = push(registry.host, f"bench/img{i}", built, "v1")
        images.append((f"{registry.host}/bench/img{i}:v1", digest, built.config_digest))
    return images


def _stub_env(work: Path, name: str, stubs: dict[str, Stub]) -> dict[str, str]:
    bin_dir = StubBin(work / name)
    for tool, stub in stubs.items():
        bin_dir.install(tool, stub)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(bin_dir.path), env["PATH"]])
    return env


def _trivy_doc(reference: str, digest: str, config: str) -> str:
    repository = reference.rsplit(":", 1)[0]
    return json.dumps(
        {
            "SchemaVersion": 2,
            "ArtifactName": reference,
            "Results": [],
            "Metadata": {"RepoDigests": [f"{repository}@{digest}"], "ImageID": config},
        }
    )


def two_scanners(
    work: Path, registry: RunningRegistry, runs: int, seconds: float = 1.0
) -> list[Row]:
    ((reference, digest, config),) = _stub_images(work, registry, 1)
    repository = reference.rsplit(":", 1)[0]
    doc = grype_report(
        [], user_input=f"{repository}@{digest}", repo_digests=(f"{repository}@{digest}",)
    )
    doc["source"]["target"].update(imageID=config, manifestDigest=digest)
    grype = json.dumps(doc)
    trivy = Stub(report=_trivy_doc(reference, digest, config), sleep=seconds)
    one = _stub_env(work, "one", {"trivy": trivy})
    both = _stub_env(work, "both", {"trivy": trivy, "grype": Stub(report=grype, sleep=seconds)})
    check = [PY, "-m", "gate", "check", reference, "--policy"]
    single, pair = side_by_side(
        [
            ([*check, policy_file(work, "vulnerabilities: {}\n")], one),
            ([*check, policy_file(work, "vulnerabilities:\n  scanners: [trivy, grype]\n")], both),
        ],
        runs,
    )
    ratio = median(pair) / median(single)
    return [
        Row(
            f"Trivy + Grype stubs ({seconds:.0f} s each) / one stub",
            f"{median(pair):.2f} s / {median(single):.2f} s = {ratio:.2f}",
            "≤ 1.1",
            ratio <= 1.1,
        )
    ]


def many_images(
    work: Path, registry: RunningRegistry, runs: int, seconds: float = 0.5
) -> list[Row]:
    """8 images in one invocation at ``--parallel`` 1, 2 (the default) and 4.

    The expected wall time is one image's (start-up, resolving, one scan, rendering)
    plus one more scan for each further round of ``parallel`` images:
    ``1 image + (⌈8 / parallel⌉ − 1) × scan``. Growing with images would instead add a
    scan per image whatever the parallelism.
    """
    images = _stub_images(work, registry, 8)
    configs = {f"{ref.rsplit(':', 1)[0]}@{digest}": config for ref, digest, config in images}
    # One stub serves every image: it writes a report naming whichever digest it was given.
    script = work / "trivy-any"
    script.mkdir(exist_ok=True)
    stub = script / "trivy"
    stub.write_text(
        f"#!{PY}\nimport json, sys, time\nargs = sys.argv[1:]\nout = args[args.index('--output') + 1]\n"
        f"ref = args[-1]\ntime.sleep({seconds})\n"
        f"configs = {configs!r}\n"
        "json.dump({'SchemaVersion': 2, 'ArtifactName': ref, 'Results': [],"
        " 'Metadata': {'RepoDigests': [ref], 'ImageID': configs[ref]}}, open(out, 'w'))\n"
    )
    stub.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(script), env["PATH"]])
    # The stub is no Trivy server: each image's scan runs alone (layer sharing: bench.shared).
    env["TRIVY_CACHE_BACKEND"] = "memory"
    check = [PY, "-m", "gate", "check", "--policy", policy_file(work, "vulnerabilities: {}\n")]
    refs = [ref for ref, _, _ in images]
    levels = (1, 2, 4)
    one, *many = side_by_side(
        [([*check, refs[0]], env)] + [([*check, *refs, "--parallel", str(p)], env) for p in levels],
        runs,
    )
    base = median(one)
    rows = []
    for parallel, samples in zip(levels, many, strict=True):
        took = median(samples)
        expected = base + (math.ceil(len(refs) / parallel) - 1) * seconds
        rows.append(
            Row(
                f"8 images, --parallel {parallel} (scan {seconds} s each)",
                f"{took:.2f} s; expected {expected:.2f} s (1 image {base:.2f} s "
                f"+ {math.ceil(len(refs) / parallel) - 1} × {seconds} s) = {took / expected:.2f}",
                "≤ 1.1 × expected",
                took <= 1.1 * expected,
            )
        )
    return rows


def shared_layers(work: Path, registry: RunningRegistry, runs: int) -> list[Row]:
    """N images on one base, cold and warm, alone and through a Trivy server (bench.shared)."""
    from bench.shared import figure

    return figure(work / "shared", registry, runs)


# --------------------------------------------------------------------------- report


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem = next(
        (
            int(line.split()[1]) // 1024**2
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    banner = subprocess.run(
        [str(Path(PY).parent / "trivy"), "--version"], capture_output=True, text=True, check=False
    ).stdout.split("\n")[0]
    trivy = f"Trivy {banner.removeprefix('Version:').strip()}" if banner else ""
    return (
        f"{len(os.sched_getaffinity(0))} CPUs (nproc; {cpu}), {mem} GiB memory, "
        f"Python {platform.python_version()}, "
        f"{trivy or 'trivy not found'}, PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 runs each")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "PERFORMANCE.md")
    args = parser.parse_args(argv)
    runs = 3 if args.quick else args.runs
    # An installed package has its bytecode compiled (pip does it at install time); an
    # editable checkout may not, so compile first and measure what users run.
    subprocess.run([PY, "-m", "compileall", "-q", str(REPO / "gate")], check=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="container-gate-bench-") as tmp:
        work = Path(tmp)
        with RunningRegistry(work / "registry") as registry:
            figures: list[tuple[str, Callable[[], list[Row]]]] = [
                ("gate overhead", lambda: gate_overhead(work, registry, runs)),
                ("big reports", lambda: big_reports(work, runs)),
                ("cold start", lambda: cold_start(work, runs)),
                ("two scanners", lambda: two_scanners(work, registry, runs)),
                ("many images", lambda: many_images(work, registry, runs)),
                ("shared layers", lambda: shared_layers(work, registry, runs)),
            ]
            for name, figure in figures:
                print(f"bench: {name} …", flush=True)
                added = figure()
                rows += added
                for row in added:
                    print("  " + row.markdown(), flush=True)
    write_report(args.output, rows, runs)
    print(f"bench: wrote {args.output}")
    return 0 if all(r.met is not False for r in rows) else 1


def write_report(path: Path, rows: list[Row], runs: int) -> None:
    text = path.read_text() if path.exists() else ""
    marker = "<!-- bench:results -->"
    table = "\n".join(
        [
            marker,
            f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}; "
            f"medians of {runs} runs after one warm-up.",
            "",
            "| figure | measured | target | |",
            "|---|---|---|---|",
            *(r.markdown() for r in rows),
            marker,
        ]
    )
    if text.count(marker) == 2:
        start, end = text.index(marker), text.rindex(marker) + len(marker)
        text = text[:start] + table + text[end:]
    else:
        text = "# Performance\n\n" + table + "\n"
    path.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
