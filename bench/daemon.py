"""What ``docker-daemon:NAME`` costs over ``docker-archive:FILE`` for the same image.

Both gate the same image with the same policy and the real Trivy: one reads the archive
file in place, the other asks a real Engine API (Podman's service) for the image id and
exports it once into a temporary file. The difference is the export. Commands take turns
(``bench.run.side_by_side``); medians of wall time and of the gate's own ``resolve`` step.

    python -m bench.daemon [--runs N] [--mib M]

Measured on 2 shared cores with Podman 4.3 (vfs store), real Trivy, medians: a 10 KiB
image costs 0.02-0.2 s more wall time than its archive file (the gate's ``resolve`` step
9-22 ms → 60-90 ms); 50 MiB, +0.6 s (resolve 0.5 s); 200 MiB, +2.9 s (resolve 3.8 s).
The export is the engine's: ``curl`` of the same ``/images/<id>/get`` takes 2.4-3.8 s for
the 200 MiB image on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench.run import PY, REPO, median, policy_file, side_by_side
from examples.demo import offline_trivy_env
from tests.support.oci import build_image, layer, write_docker_archive
from tests.support.podman import RunningPodman
from tests.support.rootfs import APP_PASSWD, debian_rootfs
from tests.support.trivydb import VULNERABLE_DEBIAN_PACKAGES


def resolve_seconds(argv: list[str], env: dict[str, str], work: Path, runs: int) -> float:
    """Median of the gate's own ``resolve`` timing (open the image: the export, for daemon)."""
    seconds = []
    for _ in range(runs):
        report = work / "r.json"
        subprocess.run(
            [*argv, "--report-json", str(report)], env=env, capture_output=True, check=False
        )
        seconds.append(float(json.loads(report.read_text())["timings"]["resolve"]))
    return statistics.median(seconds)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--mib", type=int, default=0, help="extra MiB of file data in the image")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        work = Path(tmp)
        files = debian_rootfs(VULNERABLE_DEBIAN_PACKAGES, passwd=APP_PASSWD)
        if args.mib:
            files["app/blob.bin"] = os.urandom(args.mib << 20)
        image = build_image([layer(files)], user="app")
        archive = write_docker_archive(work / "app.tar", image, "localhost/bench/app:1")
        env = offline_trivy_env(work / "trivy-cache")
        env["PYTHONPATH"] = str(REPO)  # this checkout's gate, wherever the venv points
        policy = policy_file(work, "vulnerabilities:\n  fail_on: high\n")
        with RunningPodman(work / "podman") as engine:
            engine.load(archive)
            env["DOCKER_HOST"] = engine.docker_host
            forms = {
                "docker-archive:FILE": f"docker-archive:{archive}",
                "docker-daemon:NAME": "docker-daemon:localhost/bench/app:1",
            }
            commands = [
                ([PY, "-m", "gate", "check", ref, "--policy", policy], env)
                for ref in forms.values()
            ]
            samples = side_by_side(commands, args.runs)
            size = archive.stat().st_size / (1 << 20)
            print(f"image: docker archive of {size:.1f} MiB; {args.runs} runs each, medians")
            for (label, ref), taken in zip(forms.items(), samples, strict=True):
                argv = [PY, "-m", "gate", "check", ref, "--policy", policy]
                resolve = resolve_seconds(argv, env, work, args.runs)
                print(
                    f"{label:22} wall {median(taken):.2f} s, resolve {resolve * 1000:.0f} ms, "
                    f"peak RSS {median(taken, lambda s: s.max_rss_mib):.0f} MiB"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
