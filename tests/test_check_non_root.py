"""The non-root check, judged purely from facts (the passwd walk is tested with the image edge)."""

from __future__ import annotations

import pytest

from gate.checks.non_root import NonRootCheck, passwd_name
from gate.core import evaluate
from gate.model import (
    Facts,
    ImageConfig,
    Need,
    Status,
    Unavailable,
    UserLookup,
)
from gate.policy.model import ImagePolicy, Policy
from tests.support.facts import NOW, SUBJECT

POLICY = Policy("test", image=ImagePolicy(non_root=True))
LAYER = "sha256:" + "1" * 64


def judge(user: str | None, lookup: UserLookup | Unavailable | None = None):
    facts = Facts(SUBJECT, NOW, config=ImageConfig(user=user), user=lookup)
    return evaluate(POLICY, facts, checks=[NonRootCheck()]).checks[0]


def test_enabled_only_when_the_policy_asks():
    check = NonRootCheck()
    assert check.needs(Policy("test")) is None
    assert check.needs(Policy("test", image=ImagePolicy(non_root=False))) is None
    assert check.needs(POLICY) == frozenset({Need.CONFIG, Need.USER})


@pytest.mark.parametrize("user", [None, "", "root", "0", "0:0", "root:root", "0:1000", "000"])
def test_root_users_fail(user: str | None):
    result = judge(user)
    assert result.status is Status.FAIL
    assert [p.rule for p in result.findings] == ["root-user"]
    assert result.evidence["uid"] == 0


def test_empty_user_says_the_container_runs_as_root():
    assert "no user is configured" in judge("").summary


@pytest.mark.parametrize(
    ("user", "uid"), [("1000", 1000), ("1000:0", 1000), ("65532:65532", 65532)]
)
def test_numeric_uid_is_judged_by_the_uid_alone(user: str, uid: int):
    result = judge(user)
    assert result.status is Status.PASS
    assert result.evidence["uid"] == uid
    assert result.evidence["configured_user"] == user
    assert result.summary == f"runs as uid {uid}"


def test_name_resolved_to_a_non_zero_uid_passes_with_its_evidence():
    result = judge("app", UserLookup("app", 1000, layer=LAYER))
    assert result.status is Status.PASS
    assert result.evidence == {
        "configured_user": "app",
        "group": None,
        "uid": 1000,
        "resolved_by": "/etc/passwd",
        "passwd_layer": LAYER,
    }


def test_name_with_uid_zero_is_root():
    result = judge("toor", UserLookup("toor", 0, layer=LAYER))
    assert result.status is Status.FAIL
    assert "uid 0" in result.summary
    assert result.findings[0].rule == "root-user"


def test_passwd_replaced_in_an_upper_layer_decides():
    # The image edge reports the last layer's passwd, where app became uid 0.
    upper = "sha256:" + "2" * 64
    result = judge("app:app", UserLookup("app", 0, layer=upper))
    assert result.status is Status.FAIL
    assert result.evidence["passwd_layer"] == upper
    assert result.evidence["group"] == "app"


def test_name_missing_from_passwd_cannot_be_proven_non_root():
    result = judge("ghost", UserLookup("ghost", None, layer=LAYER))
    assert result.status is Status.FAIL
    assert result.summary.startswith("cannot prove the user is not root")
    assert "'ghost' is not in the image's /etc/passwd" in result.summary
    assert result.findings[0].rule == "unresolved-user"


def test_passwd_whited_out_cannot_be_proven_non_root():
    lookup = UserLookup("app", None, reason="/etc/passwd was deleted by a whiteout in layer 3")
    result = judge("app", lookup)
    assert result.status is Status.FAIL
    assert result.summary == (
        "cannot prove the user is not root: /etc/passwd was deleted by a whiteout in layer 3"
    )


def test_name_without_a_lookup_is_an_error_not_a_pass():
    result = judge("app", None)
    assert result.status is Status.ERROR
    assert "passwd lookup of user 'app'" in result.summary


def test_lookup_for_another_name_is_an_error():
    assert judge("app", UserLookup("other", 1000)).status is Status.ERROR


def test_failed_passwd_walk_is_an_error():
    result = judge("app", Unavailable("layer sha256:… could not be read"))
    assert (result.status, result.summary) == (Status.ERROR, "layer sha256:… could not be read")


def test_missing_config_is_an_error():
    facts = Facts(SUBJECT, NOW, config=Unavailable("registry returned 500 for the config blob"))
    result = evaluate(POLICY, facts, checks=[NonRootCheck()]).checks[0]
    assert result.status is Status.ERROR


@pytest.mark.parametrize(
    ("user", "name"),
    [
        (None, None),
        ("", None),
        ("root", None),
        ("0:0", None),
        ("1000", None),
        ("app", "app"),
        ("app:1000", "app"),
        (" app ", "app"),
    ],
)
def test_passwd_name_tells_the_gatherer_when_a_lookup_is_needed(user: str | None, name: str | None):
    assert passwd_name(user) == name
