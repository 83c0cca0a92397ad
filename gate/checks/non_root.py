"""Check ``non-root``: the image's effective user must provably not be uid 0.

The user is the image config's ``config.User``, resolved as the runtimes resolve it
(moby/sys/user's ``GetExecUser``, mirrored in ``gate.oci.users``) over the image's own
/etc/passwd and /etc/group (``facts.user``, walked layer by layer by the image edge).

- Root: an empty user part (``""``, ``:grp``) or uid 0 in any spelling ``strconv.Atoi``
  accepts (``0``, ``+0``, ``-0``, ``000``), and a name or uid whose passwd line says 0.
- A spec the runtime refuses fails: an id outside 0..2147483647 (older containerd wrapped
  it to 32 bits, ``4294967296`` to uid 0), a name absent from /etc/passwd, a group name
  absent from /etc/group, a file the runtime cannot scan. The runtime would not start
  it, and the gate will not vouch for a user it cannot resolve the runtime's way.
- A uid from /etc/passwd outside 0..2147483647 fails: ``GetExecUser`` does not check it,
  and moby's ``getUser`` truncates it (``uint32(execUser.Uid)``), 4294967296 to uid 0.
- Otherwise the uid decides; group 0 grants no root privilege by itself. A file the gate
  cannot read (a symbolic link, too large, reports only) fails a name; a numeric uid
  stands without it, since ``GetExecUser`` never replaces a numeric uid (it only sets
  the gid, or refuses to start).
"""

from __future__ import annotations

from typing import Any, ClassVar

from gate.model import CheckResult, Facts, Need, Problem, Status, UserFiles, need
from gate.oci.users import (
    MAX_ID,
    MIN_ID,
    PasswdMatch,
    Refusal,
    UserSpec,
    go_text,
    match_group,
    match_passwd,
    parse_spec,
    reads_group,
    spec_alone_is_root,
)
from gate.policy.model import Policy


class NonRootCheck:
    id: ClassVar[str] = "non-root"

    def needs(self, policy: Policy) -> frozenset[Need] | None:
        if policy.image is None or not policy.image.non_root:
            return None
        # USER: the image's /etc/passwd and /etc/group, read unless the spec alone decides.
        return frozenset({Need.CONFIG, Need.USER})

    def evaluate(self, policy: Policy, facts: Facts) -> CheckResult:
        config = need(facts.config, "the image config")
        configured = config.user or ""
        spec = parse_spec(configured)
        evidence: dict[str, Any] = {"configured_user": configured}
        if isinstance(spec, Refusal):
            return self._unresolved(
                evidence,
                f"the runtime refuses user {configured!r} ({spec.message}); older ones "
                "wrapped such ids to 32 bits, 4294967296 to uid 0",
            )
        evidence["group"] = go_text(spec.group) if ":" in configured else None
        if spec_alone_is_root(spec):
            evidence.update(uid=0, resolved_by="the user spec")
            if configured == "":
                return self._root(evidence, "no user is configured, so the container runs as root")
            if spec.user == b"":
                return self._root(evidence, f"the user {configured!r} names no user: uid 0")
            return self._root(evidence, f"the configured user {configured!r} is uid 0")
        files = need(facts.user, "the image's /etc/passwd and /etc/group")
        return self._resolve(spec, files, evidence)

    def _resolve(self, spec: UserSpec, files: UserFiles, evidence: dict[str, Any]) -> CheckResult:
        passwd, group = files.passwd, files.group
        if not passwd.readable:
            if spec.uid is None:
                return self._unresolved(evidence, passwd.reason)
            # GetExecUser keeps a numeric uid whatever /etc/passwd says.
            evidence.update(uid=spec.uid, resolved_by="numeric uid", files=passwd.reason)
            return self._judge(evidence, spec.uid, f"runs as uid {spec.uid}")
        evidence["passwd_layer"] = passwd.layer
        match = match_passwd(spec, passwd.content)
        if isinstance(match, Refusal):
            return self._refused(evidence, match, passwd.reason)
        if group.readable:
            resolved = match_group(spec, match, group.content)
            if isinstance(resolved, Refusal):
                evidence["group_layer"] = group.layer
                return self._refused(evidence, resolved, group.reason)
        elif reads_group(spec, match):
            evidence["files"] = group.reason  # /etc/group sets the gid only, never the uid
        return self._judge_match(spec, match, evidence, passwd.layer)

    def _judge_match(
        self, spec: UserSpec, match: PasswdMatch, evidence: dict[str, Any], layer: str | None
    ) -> CheckResult:
        uid = match.uid
        if spec.uid is not None:
            evidence.update(uid=uid, resolved_by="numeric uid")
            return self._judge(evidence, uid, f"runs as uid {uid}")
        name = go_text(spec.user)
        evidence.update(uid=uid, resolved_by="/etc/passwd")
        where = f"from /etc/passwd in {layer or '?'}"
        if uid == 0:
            return self._root(evidence, f"user {name!r} has uid 0 in /etc/passwd ({where})")
        return self._judge(evidence, uid, f"runs as {name} (uid {uid}, {where})")

    def _judge(self, evidence: dict[str, Any], uid: int, summary: str) -> CheckResult:
        """A uid that is not 0 (the callers rule 0 out): it must also be one runtimes keep."""
        if not MIN_ID <= uid <= MAX_ID:
            return self._unresolved(
                evidence,
                f"/etc/passwd gives uid {uid}, outside {MIN_ID}..{MAX_ID}, which runtimes "
                "truncate to 32 bits",
            )
        return CheckResult(self.id, Status.PASS, summary, evidence=evidence)

    def _refused(self, evidence: dict[str, Any], refusal: Refusal, reason: str) -> CheckResult:
        detail = f" ({reason})" if reason else ""
        return self._unresolved(evidence, f"the runtime refuses it: {refusal.message}{detail}")

    def _unresolved(self, evidence: dict[str, Any], reason: str) -> CheckResult:
        evidence.setdefault("uid", None)
        message = f"cannot prove the user is not root: {reason}"
        problem = Problem(
            rule="unresolved-user",
            message=message,
            data={"user": evidence["configured_user"], "reason": reason},
        )
        return CheckResult(self.id, Status.FAIL, message, (problem,), evidence)

    def _root(self, evidence: dict[str, Any], message: str) -> CheckResult:
        evidence.setdefault("uid", 0)
        problem = Problem(
            rule="root-user",
            message=message,
            data={"user": evidence["configured_user"], "uid": 0},
        )
        return CheckResult(self.id, Status.FAIL, message, (problem,), evidence)
