"""Many images on one base: what sharing Trivy's layer analyses saves, cold and warm.

N images (2, 6, 20) share one base layer, a Debian root with ~400 dpkg packages and a few
thousand ``node_modules/*/package.json`` files, each with a small distinct top layer,
pushed to the loopback registry. Side by side, in turns (``bench.run.side_by_side``):

- plain ``trivy image`` over the N images one after the other with its own fs cache,
  from an empty analysis cache (cold: only the first image analyses the base) and with
  the cache left by the previous run (warm);
- ``gate check`` over the N images with ``--parallel 2`` (a local ``trivy server``,
  ``gate.scanners.trivy_server``), cold and warm the same way; warm, the gate reuses the
  reports Trivy made of the same digests (``gate.scanners.trivy_cache``), so it is measured
  warm with ``--rescan`` too: what sharing the layer analyses alone gives;
- the bare Trivy client against a running ``trivy server`` one image after the other,
  and ``gate check --trivy-server`` with ``--parallel 1`` over the same server.

"Cold" removes the layer analyses and the kept reports (``fanal/``), never the
vulnerability DB.

    python -m bench.shared [--runs N] [--sizes 2,6,20]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.run import PY, Row, Sample, median, policy_file, side_by_side
from examples.demo import offline_trivy_env
from tests.support.oci import build_image, layer, push
from tests.support.registry import RunningRegistry
from tests.support.rootfs import APP_PASSWD, debian_rootfs
from tests.support.trivydb import VULNERABLE_DEBIAN_PACKAGES
from tests.support.trivyserver import RunningTrivyServer

SIZES = (2, 6, 20)
DPKG_PACKAGES = 400
NODE_MODULES = 4000
FILLER_MIB = 8
PER_IMAGE_TARGET = 0.2
"""Seconds the gate may add per image over the bare Trivy client."""


def _package_json(i: int) -> bytes:
    """A ``package.json`` the size of a real one (~0.6 KB: metadata, dependencies)."""
    deps = {f"mod{(i * 7 + k) % NODE_MODULES}": f"^1.{k}.0" for k in range(5)}
    doc = {
        "name": f"mod{i}",
        "version": f"1.{i % 30}.{i % 11}",
        "description": f"Module {i}: utilities for parsing, formatting and validating input",
        "main": "lib/index.js",
        "license": "MIT",
        "repository": {"type": "git", "url": f"git+https://github.com/example/mod{i}.git"},
        "scripts": {"test": "node test/index.js", "build": "tsc -p ."},
        "dependencies": deps,
        "engines": {"node": ">=18"},
    }
    return json.dumps(doc, indent=2).encode()


def base_layer(packages: int, modules: int, filler_mib: int = FILLER_MIB) -> bytes:
    """A Debian root: ``packages`` dpkg entries (the test DB's vulnerable ones first),
    ``modules`` node modules, and ``filler_mib`` of incompressible files (binaries)."""
    rows = list(VULNERABLE_DEBIAN_PACKAGES)
    rows += [
        (f"pkg{i}", f"src{i % 150}", f"1.{i % 20}.{i % 7}-1") for i in range(packages - len(rows))
    ]
    files = debian_rootfs(rows, passwd=APP_PASSWD)
    for i in range(modules):
        files[f"app/node_modules/mod{i}/package.json"] = _package_json(i)
    noise = random.Random(0)
    for i in range(filler_mib * 128):
        files[f"usr/lib/x86_64-linux-gnu/lib{i}.so"] = noise.randbytes(8192)
    return layer(files)


def push_images(host: str, base: bytes, count: int, tag: str) -> list[str]:
    """``count`` images on ``base`` in one repository (the base is uploaded once), each
    with its own small top layer; references by digest."""
    refs = []
    for i in range(count):
        top = layer({"app/id.txt": f"{tag} image {i}\n".encode()})
        digest = push(host, "bench/shared", build_image([base, top], user="app"), f"{tag}-{i}")
        refs.append(f"{host}/bench/shared@{digest}")
    return refs


def _cold(argv: Sequence[str], cache: Path) -> list[str]:
    """``argv`` after emptying the layer-analysis cache and the kept reports (the DB stays)."""
    return ["sh", "-c", f'rm -rf "{cache}/fanal" && exec "$@"', "sh", *argv]


def _sequential(refs: Sequence[str], *trivy_args: str) -> list[str]:
    """Plain ``trivy image`` over every image, one after the other."""
    loop = "for ref; do trivy image --quiet --format json --output /dev/null --scanners vuln " + (
        " ".join(trivy_args) + ' "$ref" || exit 2; done'
    )
    return ["sh", "-c", loop, "sh", *refs]


def _fs_env(base: Mapping[str, str], cache: Path) -> dict[str, str]:
    """``base`` with Trivy's cache in ``cache`` (a copy of the DB's), on the fs backend."""
    shutil.copytree(base["TRIVY_CACHE_DIR"], cache)
    env = {k: v for k, v in base.items() if k != "TRIVY_CACHE_BACKEND"}
    env["TRIVY_CACHE_DIR"] = str(cache)
    return env


def _cpu(sample: Sample) -> float:
    return sample.cpu_seconds


def figure(
    work: Path, registry: RunningRegistry, runs: int, sizes: Sequence[int] = SIZES
) -> list[Row]:
    work.mkdir(parents=True, exist_ok=True)
    offline = offline_trivy_env(work / "trivy-db")
    policy = policy_file(work, "vulnerabilities:\n  fail_on: critical\n")
    gate = [PY, "-m", "gate", "check", "--policy", policy]
    rows: list[Row] = []
    bases = {"": base_layer(DPKG_PACKAGES, NODE_MODULES)}
    cases = [(n, "") for n in sizes]
    if 6 in sizes:
        bases["×2 base"] = base_layer(2 * DPKG_PACKAGES, 2 * NODE_MODULES)
        cases.append((6, "×2 base"))
    for count, label in cases:
        tag = f"n{count}{'x2' if label else ''}"
        refs = push_images(registry.host, bases[label], count, tag)
        plain_cache, gate_cache = work / f"plain-{tag}", work / f"gate-{tag}"
        plain_env, gate_env = _fs_env(offline, plain_cache), _fs_env(offline, gate_cache)
        server_root = work / f"server-{tag}"
        server_env = _fs_env(offline, server_root / "cache")
        with RunningTrivyServer(server_root, server_env) as server:
            client_env = {**offline, "TRIVY_TOKEN": server.token}
            commands: list[tuple[Sequence[str], Mapping[str, str]]] = [
                (_cold(_sequential(refs), plain_cache), plain_env),
                (_sequential(refs), plain_env),
                (_cold([*gate, *refs, "--parallel", "2"], gate_cache), gate_env),
                ([*gate, *refs, "--parallel", "2"], gate_env),
                ([*gate, *refs, "--parallel", "2", "--rescan"], gate_env),
                (_sequential(refs, "--server", server.url), client_env),
                ([*gate, *refs, "--parallel", "1", "--trivy-server", server.url], client_env),
            ]
            plain_cold, plain_warm, gate_cold, gate_warm, rescan, bare, client = side_by_side(
                commands, runs
            )
        what = f"{count} images" + (f" ({label})" if label else "")
        pc, pw, gc, gw = map(median, (plain_cold, plain_warm, gate_cold, gate_warm))
        cpu = [median(x, _cpu) for x in (plain_cold, plain_warm, gate_cold, gate_warm)]
        per_image = (median(client) - median(bare)) / count
        per_image_cpu = (median(client, _cpu) - median(bare, _cpu)) / count
        for state, gate_s, plain_s, gate_cpu, plain_cpu in (
            ("cold", gc, pc, cpu[2], cpu[0]),
            ("warm", gw, pw, cpu[3], cpu[1]),
        ):
            rows.append(
                Row(
                    f"{what}, {state}: gate --parallel 2 / trivy alone in turn (fs cache)",
                    f"{gate_s:.2f} s / {plain_s:.2f} s = {gate_s / plain_s:.2f} "
                    f"(CPU {gate_cpu:.2f} s / {plain_cpu:.2f} s)",
                    "≤ 0.8",
                    gate_s / plain_s <= 0.8,
                )
            )
        rows += [
            Row(
                f"{what}, warm, --rescan (analyses shared, no report reused): gate / trivy alone",
                f"{median(rescan):.2f} s / {pw:.2f} s = {median(rescan) / pw:.2f} "
                f"(CPU {median(rescan, _cpu):.2f} s / {cpu[1]:.2f} s)",
                "(explains the above)",
                None,
            ),
            Row(
                f"{what}: gate's second run / its first",
                f"{gw:.2f} s / {gc:.2f} s = {gw / gc:.2f} (CPU {cpu[3]:.2f} s / {cpu[2]:.2f} s)",
                "≤ 0.5",
                gw / gc <= 0.5,
            ),
            Row(
                f"{what}: gate --trivy-server --parallel 1 over the bare client, per image",
                f"({median(client):.2f} s − {median(bare):.2f} s) / {count} = {per_image:.3f} s "
                f"(CPU {per_image_cpu:.3f} s)",
                f"≤ {PER_IMAGE_TARGET} s",
                per_image <= PER_IMAGE_TARGET,
            ),
        ]
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.shared")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory(prefix="container-gate-bench-") as tmp:
        work = Path(tmp)
        with RunningRegistry(work / "registry") as registry:
            for row in figure(work, registry, args.runs, sizes):
                print(row.markdown(), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    raise SystemExit(main())
