"""Check ``non-root``: the image's effective user must provably not be root.

The user is the image config's ``config.User``, as the runtime reads it (runc's
``user.GetExecUser``): ``user[:group]``, where ``user`` is a uid or a name.

- Root is an empty user (the runtime default), ``root``, ``0``, ``0:…`` or ``root:…``.
- A numeric ``uid[:gid]`` is judged by the uid alone: ``1000:0`` runs as uid 1000, and
  group 0 grants no root privilege by itself.
- A name is resolved through the image's own ``/etc/passwd`` (``facts.user``, walked
  layer by layer by the image edge). A name that maps to uid 0 is root. A name that is
  absent, or an image with no passwd, fails: the gate cannot prove the user is not root,
  and a runtime would refuse to start such a container anyway.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from gate.model import CheckResult, Facts, MissingFact, Need, Problem, Status, need
from gate.policy.model import Policy

_NUMERIC = re.compile(r"[0-9]+")


def split_user(user: str | None) -> tuple[str, str | None]:
    """``config.User`` as ``(user, group)``; surrounding whitespace is not part of a name."""
    name, sep, group = (user or "").strip().partition(":")
    return name, (group if sep else None)


def passwd_name(user: str | None) -> str | None:
    """The name that must be looked up in /etc/passwd, or None when the user is root or numeric.

    The fact gatherer uses this to decide whether a passwd walk is needed at all.
    """
    name, _ = split_user(user)
    if name in ("", "root") or _NUMERIC.fullmatch(name):
        return None
    return name


class NonRootCheck:
    id: ClassVar[str] = "non-root"

    def needs(self, policy: Policy) -> frozenset[Need] | None:
        if policy.image is None or not policy.image.non_root:
            return None
        # USER is resolved by the gatherer only when config.User is a name.
        return frozenset({Need.CONFIG, Need.USER})

    def evaluate(self, policy: Policy, facts: Facts) -> CheckResult:
        config = need(facts.config, "the image config")
        configured = config.user or ""
        name, group = split_user(configured)
        evidence: dict[str, Any] = {"configured_user": configured, "group": group}

        if name == "":
            return self._root(evidence, 0, "no user is configured, so the container runs as root")
        if name == "root":
            return self._root(evidence, 0, "the configured user is root")
        if _NUMERIC.fullmatch(name):
            uid = int(name)
            evidence.update(uid=uid, resolved_by="numeric uid")
            if uid == 0:
                return self._root(evidence, uid, f"the configured user {configured!r} is uid 0")
            return CheckResult(self.id, Status.PASS, f"runs as uid {uid}", evidence=evidence)

        lookup = need(facts.user, f"the /etc/passwd lookup of user {name!r}")
        if lookup.name != name:
            raise MissingFact(f"the passwd lookup was for {lookup.name!r}, not for {name!r}")
        evidence.update(uid=lookup.uid, resolved_by="/etc/passwd", passwd_layer=lookup.layer)
        if lookup.uid is None:
            reason = lookup.reason or f"user {name!r} is not in the image's /etc/passwd"
            message = f"cannot prove the user is not root: {reason}"
            problem = Problem(
                rule="unresolved-user",
                message=message,
                data={"user": configured, "reason": reason},
            )
            return CheckResult(self.id, Status.FAIL, message, (problem,), evidence)
        if lookup.uid == 0:
            return self._root(
                evidence, 0, f"user {name!r} has uid 0 in /etc/passwd (from {lookup.layer or '?'})"
            )
        summary = f"runs as {name} (uid {lookup.uid}, from /etc/passwd in {lookup.layer or '?'})"
        return CheckResult(self.id, Status.PASS, summary, evidence=evidence)

    def _root(self, evidence: dict[str, Any], uid: int, message: str) -> CheckResult:
        evidence.setdefault("uid", uid)
        problem = Problem(
            rule="root-user",
            message=message,
            data={"user": evidence["configured_user"], "uid": uid},
        )
        return CheckResult(self.id, Status.FAIL, message, (problem,), evidence)
