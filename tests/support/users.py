"""Resolve a user through an image's layers as the non-root check does, for the edge's tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gate.image.passwd import read_user_files
from gate.image.sources.interface import Layer
from gate.oci.users import ExecUser, resolve_exec_user


@dataclass(frozen=True)
class Lookup:
    """The uid ``GetExecUser`` gives (None: refused or unreadable), and the passwd's origin."""

    uid: int | None
    layer: str | None
    reason: str


def lookup_user(spec: str, layers: Sequence[Layer]) -> Lookup:
    files = read_user_files(layers)
    resolved = resolve_exec_user(spec, files.passwd.content, files.group.content)
    ok = isinstance(resolved, ExecUser) and files.passwd.readable and files.group.readable
    uid = resolved.uid if isinstance(resolved, ExecUser) and ok else None
    return Lookup(uid, files.passwd.layer, files.passwd.reason)
