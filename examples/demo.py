"""``make demo``: build the example image, push it to a local registry, gate it.

Everything is local and offline: Debian's docker-registry on a free loopback port, a tiny
Trivy vulnerability DB written by the test support code, and an image assembled in Python
(layers, config, manifest) and pushed over the OCI distribution API. The gate then runs
exactly as CI would run it, and the demo shows its real verdict: a FAIL with findings.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import TRIVY_OFFLINE
from tests.support.oci import build_image, layer, push
from tests.support.registry import RunningRegistry
from tests.support.rootfs import APP_PASSWD, AWS_SECRET_FILE, AWS_SECRET_PATH, debian_rootfs
from tests.support.trivydb import VULNERABLE_DEBIAN_PACKAGES, build_trivy_cache

HERE = Path(__file__).resolve().parent / "demo"
GIT_SHA = "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
EXPECTED_EXIT = 1  # the example image carries a critical CVE and a planted secret


def push_example(registry_host: str) -> tuple[str, str]:
    """Build the example image in Python and push it; return (reference, digest)."""
    base = layer(debian_rootfs(VULNERABLE_DEBIAN_PACKAGES, passwd=APP_PASSWD))
    app = layer({"app/server.py": b"print('hello')\n", AWS_SECRET_PATH: AWS_SECRET_FILE})
    image = build_image([base, app], user="app")
    digest = push(registry_host, "demo/app", image, GIT_SHA[:12])
    return f"{registry_host}/demo/app:{GIT_SHA[:12]}", digest


def offline_trivy_env(cache_dir: Path) -> dict[str, str]:
    """This environment, with Trivy pointed at a freshly written offline DB."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIVY_")}
    env.update(TRIVY_OFFLINE)
    env["TRIVY_CACHE_DIR"] = str(build_trivy_cache(cache_dir))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    return env


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="container-gate-demo-") as tmp:
        work = Path(tmp)
        with RunningRegistry(work / "registry") as registry:
            reference, digest = push_example(registry.host)
            print(f"demo: pushed {reference} ({digest})")
            env = offline_trivy_env(work / "trivy-cache")
            report = work / "report.json"
            argv = [
                sys.executable, "-m", "gate", "check", reference,
                "--policy", str(HERE / "container-gate.yml"),
                "--dockerfile", str(HERE / "Dockerfile"),
                "--git-sha", GIT_SHA,
                "--report-json", str(report),
            ]  # fmt: skip
            policy = f"examples/{HERE.name}/container-gate.yml"
            print(f"demo: $ python -m gate check {reference} --policy {policy}")
            print()
            code = subprocess.run(argv, env=env, timeout=300, check=False).returncode
            print()
            print(f"demo: the gate exited {code} (0 pass, 1 violation, 2 error)")
    if code != EXPECTED_EXIT:
        print(f"demo: expected exit {EXPECTED_EXIT}; something is wrong", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
