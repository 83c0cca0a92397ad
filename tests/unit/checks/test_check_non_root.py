"""The non-root check, judged purely from facts (the layer walk is tested with the image edge)."""

from __future__ import annotations

import pytest

from gate.checks.non_root import NonRootCheck
from gate.core import evaluate
from gate.model import Facts, ImageConfig, Need, Status, Unavailable, UserFile, UserFiles
from gate.policy.model import ImagePolicy, Policy
from tests.support.facts import NOW, SUBJECT

POLICY = Policy("test", image=ImagePolicy(non_root=True))
LAYER = "sha256:" + "1" * 64
APP = b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n"
GROUPS = b"root:x:0:\napp:x:1000:\nstaff:x:50:app\n"


def files(
    passwd: bytes | None = APP, group: bytes | None = GROUPS, layer: str = LAYER
) -> UserFiles:
    return UserFiles(
        UserFile("/etc/passwd", passwd, layer, "" if passwd is not None else "no /etc/passwd"),
        UserFile("/etc/group", group, layer, "" if group is not None else "no /etc/group"),
    )


def judge(user: str | None, lookup: UserFiles | Unavailable | None = None):
    facts = Facts(SUBJECT, NOW, config=ImageConfig(user=user), user=lookup)
    return evaluate(POLICY, facts, checks=[NonRootCheck()]).checks[0]


def test_enabled_only_when_the_policy_asks():
    check = NonRootCheck()
    assert check.needs(Policy("test")) is None
    assert check.needs(Policy("test", image=ImagePolicy(non_root=False))) is None
    assert check.needs(POLICY) == frozenset({Need.CONFIG, Need.USER})


@pytest.mark.parametrize(
    "user", [None, "", "0", "0:0", "0:1000", "000", "+0", "-0", "+000:staff", ":app", ":"]
)
def test_root_spellings_fail_without_reading_any_file(user: str | None):
    result = judge(user)  # no files given: the spec alone decides
    assert result.status is Status.FAIL
    assert [p.rule for p in result.findings] == ["root-user"]
    assert result.evidence["uid"] == 0


def test_plus_zero_uid_is_root():
    assert judge("+0").summary == "the configured user '+0' is uid 0"


def test_empty_user_says_the_container_runs_as_root():
    assert "no user is configured" in judge("").summary


@pytest.mark.parametrize("user", ["root", "root:root", "toor"])
def test_names_mapped_to_uid_0_are_root(user: str):
    result = judge(user, files(APP + b"toor:x:0:0::/:/bin/sh\n"))
    assert result.status is Status.FAIL
    assert result.findings[0].rule == "root-user"


def test_root_is_just_a_name_resolved_through_passwd():
    # GetExecUser has no special case for "root": the image's passwd decides.
    result = judge("root", files(b"root:x:1000:1000::/:/bin/sh\n"))
    assert (result.status, result.evidence["uid"]) == (Status.PASS, 1000)


@pytest.mark.parametrize(
    ("user", "uid"), [("1000", 1000), ("1000:0", 1000), ("65532:65532", 65532), ("+1000", 1000)]
)
def test_numeric_uid_is_judged_by_the_uid_alone(user: str, uid: int):
    result = judge(user, files())
    assert result.status is Status.PASS
    assert result.evidence["uid"] == uid
    assert result.evidence["configured_user"] == user
    assert result.summary == f"runs as uid {uid}"


def test_numeric_uid_stands_when_the_files_cannot_be_read():
    result = judge("1000", UserFiles.unread("only reports were given"))
    assert (result.status, result.evidence["files"]) == (Status.PASS, "only reports were given")


def test_name_resolved_to_a_non_zero_uid_passes_with_its_evidence():
    result = judge("app", files())
    assert result.status is Status.PASS
    assert result.evidence == {
        "configured_user": "app",
        "group": None,
        "uid": 1000,
        "resolved_by": "/etc/passwd",
        "passwd_layer": LAYER,
    }
    assert result.summary == f"runs as app (uid 1000, from /etc/passwd in {LAYER})"


def test_name_missing_from_passwd_cannot_be_proven_non_root():
    result = judge("ghost", files())
    assert result.status is Status.FAIL
    assert result.summary == (
        "cannot prove the user is not root: the runtime refuses it: "
        "unable to find user ghost: no matching entries in passwd file"
    )
    assert result.findings[0].rule == "unresolved-user"


def test_name_without_passwd_cannot_be_proven_non_root():
    result = judge("app", files(passwd=None))
    assert result.status is Status.FAIL
    assert result.summary.endswith("no matching entries in passwd file (no /etc/passwd)")


def test_unreadable_passwd_fails_a_name():
    unread = UserFiles.unread("/etc/passwd is a symbolic link to x, which is not followed")
    result = judge("app", unread)
    assert result.status is Status.FAIL
    assert result.summary == (
        "cannot prove the user is not root: /etc/passwd is a symbolic link to x, which is not followed"
    )


def test_group_name_absent_from_group_fails_since_the_runtime_refuses_to_start():
    result = judge("app:ghosts", files())
    assert result.status is Status.FAIL
    assert "unable to find group ghosts: no matching entries in group file" in result.summary
    assert result.evidence["group"] == "ghosts"


def test_numeric_uid_with_a_missing_group_name_fails_too():
    assert judge("1000:ghosts", files(group=None)).status is Status.FAIL


def test_unreadable_group_leaves_the_uid_standing():
    unreadable = UserFile("/etc/group", None, LAYER, "/etc/group is a symbolic link", False)
    result = judge("app", UserFiles(files().passwd, unreadable))
    assert (result.status, result.evidence["files"]) == (
        Status.PASS,
        "/etc/group is a symbolic link",
    )


@pytest.mark.parametrize(
    "user", ["2147483648", "4294967296", "-1", "1000:-1", "99999999999999999999x"]
)
def test_ids_out_of_range_are_refused(user: str):
    result = judge(user)  # refused before any file is read, as parseNumeric does
    assert result.status is Status.FAIL
    assert "uids and gids must be in range 0-2147483647" in result.summary


@pytest.mark.parametrize("uid", [b"4294967296", b"-1", b"99999999999999999999"])
def test_passwd_uid_out_of_range_fails(uid: bytes):
    result = judge("app", files(b"app:x:" + uid + b":0::/:/bin/sh\n"))
    assert result.status is Status.FAIL
    assert "which runtimes truncate to 32 bits" in result.summary


def test_name_without_a_lookup_is_an_error_not_a_pass():
    result = judge("app", None)
    assert result.status is Status.ERROR
    assert "/etc/passwd and /etc/group" in result.summary


def test_failed_passwd_walk_is_an_error():
    result = judge("app", Unavailable("layer sha256:… could not be read"))
    assert (result.status, result.summary) == (Status.ERROR, "layer sha256:… could not be read")


def test_missing_config_is_an_error():
    facts = Facts(SUBJECT, NOW, config=Unavailable("registry returned 500 for the config blob"))
    result = evaluate(POLICY, facts, checks=[NonRootCheck()]).checks[0]
    assert result.status is Status.ERROR
