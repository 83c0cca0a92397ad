"""The oracle plumbing: a cached build and the one-line-in, one-line-out protocol."""

from __future__ import annotations

from tests.support.gobuild import build, oracle


def test_oracle_answers_each_question_in_order() -> None:
    with oracle("echo") as echo:
        answers = [echo.ask({"n": n, "text": "a\u00e9\n"}) for n in range(50)]
    assert answers == [{"n": n, "text": "a\u00e9\n"} for n in range(50)]


def test_a_second_build_reuses_the_cached_binary() -> None:
    first = build("echo")
    assert build("echo") == first
    assert first.is_file()
