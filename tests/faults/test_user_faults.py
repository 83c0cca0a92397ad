"""Fault matrix, user resolution: an image whose user the runtime would refuse ends in exit 1.

The gate resolves ``config.User`` as moby/sys/user's ``GetExecUser`` does. Where the runtime
refuses the user (an id out of range, a name or group it cannot find, a file its Scanner
cannot read), or the gate cannot read what the runtime would, the gate cannot prove the
container runs as non-root: a failure, never a pass. Each image is served complete by the
fake registry, so the row's fault is the only thing wrong with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.harness import Row, base_env, check_row, run_cli, write_policy
from tests.support import oci
from tests.support.fakeregistry import FakeRegistry

PASSWD = b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n"
GROUP = b"root:x:0:\napp:x:1000:\n"
UNRESOLVED = "cannot prove the user is not root: "

ROWS: list[tuple[Row, str, dict[str, bytes]]] = [
    (
        Row("USER beyond 2147483647", 1, "uids and gids must be in range 0-2147483647"),
        "4294967296",
        {"etc/passwd": PASSWD},
    ),
    (
        Row("group id beyond 2147483647", 1, "uids and gids must be in range 0-2147483647"),
        "1000:2147483648",
        {"etc/passwd": PASSWD},
    ),
    (
        Row("passwd line of 64 KiB", 1, "unable to find user 1000: bufio.Scanner: token too long"),
        "1000",
        {"etc/passwd": PASSWD + b"#" * 65536 + b"\n"},
    ),
    (
        Row("group line of 1 MiB", 1, "unable to find groups for spec app: bufio.Scanner"),
        "app",
        {"etc/passwd": PASSWD, "etc/group": GROUP + b"g:x:1:" + b"a" * (1 << 20) + b"\n"},
    ),
    (
        Row("group name not in /etc/group", 1, "unable to find group ghosts: no matching entries"),
        "app:ghosts",
        {"etc/passwd": PASSWD, "etc/group": GROUP},
    ),
    (
        Row("no /etc/group for a group name", 1, "(the image has no /etc/group)"),
        "1000:staff",
        {"etc/passwd": PASSWD},
    ),
    (
        Row("passwd uid beyond 32 bits", 1, "gives uid 4294967296, outside 0..2147483647"),
        "app",
        {"etc/passwd": b"app:x:4294967296:0::/:/bin/sh\n"},
    ),
    (
        Row("passwd larger than 4 MiB", 1, UNRESOLVED + "/etc/passwd is larger than"),
        "app",
        {"etc/passwd": PASSWD + b"#" * (4 << 20)},
    ),
    (
        Row("/etc not a directory", 1, UNRESOLVED + "/etc is not a directory"),
        "app",
        {"etc": b"not a directory"},
    ),
]


@pytest.fixture
def fake():
    with FakeRegistry() as server:
        yield server


def judge(fake: FakeRegistry, tmp_path: Path, user: str, files: dict[str, bytes]):
    image = oci.build_image([oci.layer(files)], user=user)
    fake.serve_image("app", "v1", image.manifest, image.media_type, image.blobs)
    policy = write_policy(tmp_path, "image:\n  non_root: true\n")
    env = base_env("", tmp_path)
    return run_cli("check", f"{fake.host}/app:v1", "--policy", policy, env=env)


def test_control_a_resolvable_user_passes(fake: FakeRegistry, tmp_path: Path) -> None:
    outcome = judge(fake, tmp_path, "app:app", {"etc/passwd": PASSWD, "etc/group": GROUP})
    assert outcome.code == 0, outcome.output
    assert "runs as app (uid 1000" in outcome.output


@pytest.mark.parametrize(("row", "user", "files"), ROWS, ids=[str(r) for r, _, _ in ROWS])
def test_user_fault(
    row: Row, user: str, files: dict[str, bytes], fake: FakeRegistry, tmp_path: Path
) -> None:
    check_row(judge(fake, tmp_path, user, files), row)
