"""Many images on one base: what sharing Trivy's layer analyses saves, cold and warm.

N images (2, 6, 20) share one base layer, a Debian root with ~400 dpkg packages and a few
thousand ``node_modules/*/package.json`` files, each with a small distinct top layer,
pushed to the loopback registry. Side by side, in turns (``bench.run.side_by_side``):

- plain ``trivy image`` over the N images one after the other with its own fs cache,
  from an empty analysis cache (cold: only the first image analyses the base) and with
  the cache left by the previous run (warm);
- ``gate check`` over the N images with ``--parallel 2`` (a local ``trivy server``,
  ``gate.scanners.trivy_server``), cold and warm the same way;
- the bare Trivy client against a running ``trivy server`` one image after the other,
  and ``gate check --trivy-server`` with ``--parallel 1`` over the same server.

"Cold" removes only the layer analyses (``fanal/``), never the vulnerability DB.

    python -m bench.shared [--runs N] [--sizes 2,6,20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.run import PY, Row, median, policy_file, side_by_side
from examples.demo import offline_trivy_env
from tests.support.oci import build_image, layer, push
from tests.support.registry import RunningRegistry
from tests.support.rootfs import APP_PASSWD, debian_rootfs
from tests.support.trivydb import VULNERABLE_DEBIAN_PACKAGES
from tests.support.trivyserver import RunningTrivyServer

SIZES = (2, 6, 20)
DPKG_PACKAGES = 400
NODE_MODULES = 4000
PER_IMAGE_TARGET = 0.2
"""Seconds the gate may add per image over the bare Trivy client."""


def base_layer(packages: int, modules: int) -> bytes:
    """A Debian root with ``packages`` dpkg entries (the test DB's vulnerable ones first)."""
    rows = list(VULNERABLE_DEBIAN_PACKAGES)
    rows += [
        (f"pkg{i}", f"src{i % 150}", f"1.{i % 20}.{i % 7}-1") for i in range(packages - len(rows))
    ]
    files = debian_rootfs(rows, passwd=APP_PASSWD)
    for i in range(modules):
        name = f"mod{i}"
        body = f'{{"name": "{name}", "version": "1.{i % 30}.{i % 11}", "license": "MIT"}}\n'
        files[f"app/node_modules/{name}/package.json"] = body.encode()
    return layer(files)


def push_images(host: str, base: bytes, count: int, tag: str) -> list[str]:
    """``count`` images on ``base``, each with its own small top layer; references by digest."""
    refs = []
    for i in range(count):
        top = layer({"app/id.txt": f"{tag} image {i}\n".encode()})
        digest = push(host, f"bench/shared-{tag}-{i}", build_image([base, top], user="app"))
        refs.append(f"{host}/bench/shared-{tag}-{i}@{digest}")
    return refs


def _cold(argv: Sequence[str], cache: Path) -> list[str]:
    """``argv`` after emptying the layer-analysis cache (the DB stays)."""
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


def figure(
    work: Path, registry: RunningRegistry, runs: int, sizes: Sequence[int] = SIZES
) -> list[Row]:
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
                (_sequential(refs, "--server", server.url), client_env),
                ([*gate, *refs, "--parallel", "1", "--trivy-server", server.url], client_env),
            ]
            plain_cold, plain_warm, gate_cold, gate_warm, bare, client = side_by_side(
                commands, runs
            )
        what = f"{count} images" + (f" ({label})" if label else "")
        pc, pw, gc, gw = map(median, (plain_cold, plain_warm, gate_cold, gate_warm))
        per_image = (median(client) - median(bare)) / count
        rows += [
            Row(
                f"{what}: gate --parallel 2 / trivy alone, fs cache, sequential: cold; warm",
                f"{gc:.2f} s / {pc:.2f} s = {gc / pc:.2f}; {gw:.2f} s / {pw:.2f} s = {gw / pw:.2f}",
                "≤ 0.8",
                gc / pc <= 0.8 and gw / pw <= 0.8,
            ),
            Row(
                f"{what}: gate's second run / its first",
                f"{gw:.2f} s / {gc:.2f} s = {gw / gc:.2f}",
                "≤ 0.5",
                gw / gc <= 0.5,
            ),
            Row(
                f"{what}: gate --trivy-server --parallel 1 over the bare client, per image",
                f"({median(client):.2f} s − {median(bare):.2f} s) / {count} = {per_image:.3f} s",
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
