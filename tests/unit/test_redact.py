"""No credential survives the scrub, in any form, at any offset, before or after a cut.

Property tests (Hypothesis) over generated credentials of varied alphabets and lengths at
least ``MIN_SECRET_LENGTH``, embedded in generated text raw, as ``user:secret``, in base64
(whole, or a slice of a longer encoded blob at any byte offset), URL-encoded (``quote``,
``quote_plus``, either hex case) and as the renderers escape it (JSON, markdown, workflow
commands). The scrubbed text must contain neither the secret nor any run of
``BASE64_RUN`` characters of its base64 encoding at any alignment.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import sys
from unittest import mock
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import assume, example, given, note
from hypothesis import strategies as st

from gate import masking
from gate.cli import main
from gate.errors import EXIT_ERROR, GateError
from gate.redact import (
    BASE64_RUN,
    MASK,
    MIN_SECRET_LENGTH,
    WITHHELD,
    Credential,
    Redactor,
    base64_cores,
    credentials_from_docker_config,
    credentials_from_environ,
)
from gate.report.github import escape_data, escape_property, md
from gate.scanners._process import SCRUB_MARGIN, _Tail

ALPHABETS = st.sampled_from(
    [
        "abcdefghijklmnopqrstuvwxyz0123456789",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
        "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ 0123456789abcXYZ",
        "éüßñ€漢字🔑aZ9-_",
        'ab12\t\n\x07\x0b\x1b\x7f"\\',
    ]
)


@st.composite
def secrets(draw: st.DrawFn, min_size: int = MIN_SECRET_LENGTH) -> str:
    alphabet = draw(ALPHABETS)
    return draw(st.text(alphabet, min_size=min_size, max_size=64))


@st.composite
def credentials(draw: st.DrawFn) -> Credential:
    user = draw(st.one_of(st.just(""), st.from_regex(r"[a-z][a-z0-9._-]{0,20}", fullmatch=True)))
    return Credential(draw(secrets()), user)


def _b64(data: bytes) -> list[str]:
    return [base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode()]


FORMS = [
    "raw",
    "pair",
    "base64 pair",
    "base64 secret",
    "base64 blob slice",
    "quote",
    "quote path",
    "quote_plus",
    "quote lowercase",
    "json",
    "json unicode",
    "markdown",
    "workflow data",
    "workflow property",
    "hex",
    "go quote",
]


def go_quote_ascii(text: str) -> str:
    """Go's ``strconv.QuoteToASCII`` (what ``%+q`` prints), without the quotes."""
    short = {"\a": "a", "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t", "\v": "v"}
    out = []
    for c in text:
        code = ord(c)
        if c in '"\\':
            out.append("\\" + c)
        elif c in short:
            out.append("\\" + short[c])
        elif 0x20 <= code < 0x7F:
            out.append(c)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


def form_of(kind: str, credential: Credential, blob: tuple[bytes, bytes, int, int]) -> str:
    secret, user = credential.secret, credential.user
    pair = f"{user}:{secret}" if user else secret
    if kind == "raw":
        return secret
    if kind == "pair":
        return pair
    if kind == "base64 pair":
        return _b64(pair.encode())[0]
    if kind == "base64 secret":
        return _b64(secret.encode())[1]
    if kind == "base64 blob slice":
        before, after, start, stop = blob
        encoded = _b64(before + pair.encode() + after)[0]
        return encoded[start : len(encoded) - stop]
    if kind == "quote":
        return quote(secret, safe="")
    if kind == "quote path":
        return quote(secret)
    if kind == "quote_plus":
        return quote_plus(secret)
    if kind == "quote lowercase":
        return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(secret, safe=""))
    if kind == "json":
        return json.dumps(secret)[1:-1]
    if kind == "json unicode":
        return json.dumps(secret, ensure_ascii=False)[1:-1]
    if kind == "markdown":
        return md(secret, width=10**6)
    if kind == "workflow data":
        return escape_data(secret)
    if kind == "workflow property":
        return escape_property(secret)
    if kind == "hex":
        return secret.encode().hex()
    if kind == "go quote":
        return go_quote_ascii(secret)
    raise AssertionError(kind)


def assert_clean(text: str, credential: Credential) -> None:
    """Neither the secret nor any 8-character run of a base64 encoding of it is in *text*."""
    secret = credential.secret
    assert secret not in text
    payloads = [secret.encode()]
    if credential.user:
        assert f"{credential.user}:{secret}" not in text
        payloads.append(f"{credential.user}:{secret}".encode())
    for payload in payloads:
        for core in base64_cores(payload):
            for i in range(len(core) - BASE64_RUN + 1):
                assert core[i : i + BASE64_RUN] not in text, (core, i)


surroundings = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)
blobs = st.tuples(
    st.binary(max_size=20), st.binary(max_size=20), st.integers(0, 30), st.integers(0, 30)
)


@given(credentials(), st.sampled_from(FORMS), surroundings, surroundings, blobs)
@example(
    Credential("s3cret-Pa55word!", "ci-bot"), "base64 blob slice", "x", "y", (b"{", b"}", 0, 0)
)
@example(Credential("ab\x1b\x7fcd\a\t"), "go quote", "", "", (b"", b"", 0, 0))
@example(Credential('key🔑"é\\x', "u"), "go quote", "", "", (b"", b"", 0, 0))
@example(Credential("pa ss+w/rd&<é>", "u"), "markdown", "", "", (b"", b"", 0, 0))
def test_no_form_of_a_credential_survives_at_any_offset(
    credential: Credential, kind: str, before: str, after: str, blob: tuple[bytes, bytes, int, int]
) -> None:
    note(f"secret={credential.secret!r} user={credential.user!r}")  # repr hides them
    form = form_of(kind, credential, blob)
    out = Redactor([credential]).scrub(before + form + after)
    assert_clean(out, credential)
    # The form itself is gone too, where it still spells the whole secret (markdown
    # flattens control characters; a blob slice may hold only part of it).
    if len(form) >= MIN_SECRET_LENGTH and kind not in ("base64 blob slice", "markdown"):
        assert form not in out


@given(st.lists(credentials(), min_size=2, max_size=4), surroundings)
def test_several_credentials_are_all_masked_however_they_interleave(
    many: list[Credential], glue: str
) -> None:
    note(repr([(c.secret, c.user) for c in many]))
    text = glue.join(form_of(kind, c, (b"", b"", 0, 0)) for c in many for kind in FORMS)
    out = Redactor(many).scrub(text)
    for credential in many:
        assert_clean(out, credential)


@given(credentials(), st.integers(0, 3 * 1024), st.integers(0, 40 * 1024))
def test_a_stderr_tail_is_scrubbed_before_it_is_cut(
    credential: Credential, lines_before: int, filler: int
) -> None:
    """Wherever the secret falls (across the kept margin, across the cut), no piece of it
    of 8 characters or more, nor of its base64, is left in the tail."""
    assume("~" not in credential.secret and "\n" not in credential.secret)
    secret, pair = credential.secret, f"{credential.user}:{credential.secret}"
    echo = f"auth failed for {pair} (Basic {_b64(pair.encode())[0]})\n"
    data = ("~" * 7 + "\n") * lines_before + echo + "~" * filler + "\n" + echo * 2
    env = {"REGISTRY_USERNAME": credential.user or "u", "REGISTRY_PASSWORD": secret}
    with mock.patch.dict(os.environ, env):
        tail = _Tail(io.BytesIO(data.encode()), 8 * 1024, scrub=True)
        text = tail.text()
    assert_clean(text, Credential(secret, env["REGISTRY_USERNAME"]))
    for i in range(len(secret) - BASE64_RUN + 1):
        assert secret[i : i + BASE64_RUN] not in text
    assert len(text.encode()) <= 8 * 1024 + 100


def test_a_secret_straddling_the_kept_margin_leaves_no_piece() -> None:
    secret = "Zq7-very-long-registry-password-0123456789"
    cut = 8 * 1024 + SCRUB_MARGIN
    data = secret + "\n" + "~" * (cut - 10) + "\n"  # the buffer keeps only the last 30 bytes
    with mock.patch.dict(os.environ, {"REGISTRY_PASSWORD": secret}):
        text = _Tail(io.BytesIO(data.encode()), 8 * 1024, scrub=True).text()
    assert secret[-20:] not in text and secret[-8:] not in text
    assert "earlier bytes not shown" in text


def test_a_short_secret_withholds_what_a_tool_wrote_but_masks_its_long_forms() -> None:
    short = Credential("pw1", "ci-bot")
    redactor = Redactor([short])
    assert redactor.untrusted("error: pw1 rejected") == WITHHELD
    assert redactor.untrusted("") == ""
    basic = base64.b64encode(b"ci-bot:pw1").decode()
    assert redactor.scrub(f"Basic {basic} ci-bot:pw1") == f"Basic {MASK} {MASK}"
    # The gate's own text is not destroyed: a 3-letter secret alone is left as is.
    assert redactor.scrub("sha256:pw1") == "sha256:pw1"


def test_a_minimum_length_secret_is_masked() -> None:
    secret = "a" * MIN_SECRET_LENGTH
    assert Redactor([Credential(secret)]).scrub(f"x{secret}x") == f"x{MASK}x"


def test_ordinary_text_is_untouched() -> None:
    redactor = Redactor([Credential("s3cret-Pa55word!", "ci-bot")])
    text = (
        "FAIL 127.0.0.1:5000/app@sha256:" + "ab" * 32 + "\n  a bearer challenge without a realm"
        '\n  secrets: pass; http://127.0.0.1:5000/v2/ Basic realm="x"'
        "\n  CVE-2026-0001 Improper Authorization: vulnerability in the bearer tokenizer"
    )
    assert redactor.scrub(text) == text


def test_generic_shapes_are_masked_without_knowing_the_value() -> None:
    redactor = Redactor()
    assert redactor.scrub("Authorization: Bearer abc.def.0123") == f"Authorization: Bearer {MASK}"
    assert redactor.scrub('{"authorization": "tok_0123456789"}') == f'{{"authorization": "{MASK}"}}'
    assert redactor.scrub("GET https://bot:hunter22@ghcr.io/v2/") == (
        f"GET https://bot:{MASK}@ghcr.io/v2/"
    )
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
    assert redactor.scrub(f"got Bearer {token}") == f"got Bearer {MASK}"


def test_every_docker_config_credential_is_known() -> None:
    doc = {
        "auths": {
            "ghcr.io": {"auth": base64.b64encode(b"bot:ghp_token_value").decode()},
            "quay.io": {"username": "robot", "password": "quay-password"},
            "example.com": {"identitytoken": "identity-token-1"},
            "other.io": {"registrytoken": "registry-token-2"},
            "broken.io": {"auth": "%%%"},
        }
    }
    found = {(c.secret, c.user) for c in credentials_from_docker_config(doc)}
    assert {
        ("ghp_token_value", "bot"),
        ("quay-password", "robot"),
        ("identity-token-1", ""),
        ("registry-token-2", ""),
    } <= found
    assert credentials_from_docker_config(["not", "a", "config"]) == []


def test_every_scanner_and_runner_secret_variable_is_known() -> None:
    env = {
        "REGISTRY_USERNAME": "u1",
        "REGISTRY_PASSWORD": "p-registry",
        "TRIVY_USERNAME": "u2",
        "TRIVY_PASSWORD": "p-trivy",
        "TRIVY_REGISTRY_TOKEN": "t-trivy",
        "GRYPE_REGISTRY_AUTH_USERNAME": "u3",
        "GRYPE_REGISTRY_AUTH_PASSWORD": "p-grype",
        "GRYPE_REGISTRY_AUTH_TOKEN": "t-grype",
        "GITHUB_TOKEN": "t-github",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t-oidc",
    }
    found = {(c.secret, c.user) for c in credentials_from_environ(env)}
    assert found == {
        ("p-registry", "u1"),
        ("p-trivy", "u2"),
        ("t-trivy", ""),
        ("p-grype", "u3"),
        ("t-grype", ""),
        ("t-github", ""),
        ("t-oidc", ""),
    }


def test_a_gate_error_is_scrubbed_when_made() -> None:
    with mock.patch.dict(os.environ, {"GITHUB_TOKEN": "ghs_runner_token_42"}):
        error = GateError("rejected ghs_runner_token_42", detail="echo ghs_runner_token_42")
    assert error.message == f"rejected {MASK}" and error.detail == f"echo {MASK}"


def test_a_registered_runtime_token_is_known() -> None:
    token = "runtime-bearer-token-for-this-test-only"
    assert token in masking.scrub(token)
    masking.register(token)
    assert masking.scrub(f"x {token} y") == f"x {MASK} y"


def test_a_credential_never_shows_in_its_repr() -> None:
    assert "hunter22" not in repr(Credential("hunter22", "bot"))


# --------------------------------------------------------------------------- the exit


def test_a_secret_written_in_pieces_is_scrubbed_whole(capsys: pytest.CaptureFixture[str]) -> None:
    secret = "pieces-of-a-secret-0123"
    with mock.patch.dict(os.environ, {"REGISTRY_PASSWORD": secret}), masking.scrubbed_output():
        sys.stdout.write(f"got {secret[:9]}")
        sys.stdout.write(f"{secret[9:]} back\n")
        print(secret, file=sys.stderr)
    out, err = capsys.readouterr()
    assert (out, err) == (f"got {MASK} back\n", f"{MASK}\n")


def test_the_runner_learns_a_runtime_token_before_any_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = "bearer-token-learned-at-run-time-0123"
    with mock.patch.dict(os.environ, {"GITHUB_ACTIONS": "true"}), masking.scrubbed_output():
        print("verdict first?")
        masking.register(token)
        print(f"echo {token}")
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == ["verdict first?", f"echo {MASK}"]
    assert f"::add-mask::{token}" in lines[:-2]
    assert all(line.startswith("::add-mask::") for line in lines[:-2])


def test_output_that_cannot_be_scrubbed_is_withheld_and_the_exit_is_an_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(text: str) -> str:
        raise MemoryError

    monkeypatch.setattr(masking, "scrub", broken)
    assert main(["policy", "schema"]) == EXIT_ERROR
    out, err = capsys.readouterr()
    assert out == "" and err == masking.UNSCRUBBABLE


def test_each_line_of_a_multi_line_secret_is_masked_by_the_runner(
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = "-----BEGIN KEY-----\nmultiline-secret-body-0123\n-----END KEY-----"
    with mock.patch.dict(os.environ, {"GITHUB_ACTIONS": "true", "TRIVY_PASSWORD": key}):
        masking.announce_masks()
    lines = capsys.readouterr().out.splitlines()
    assert (
        "::add-mask::-----BEGIN KEY-----%0Amultiline-secret-body-0123%0A-----END KEY-----" in lines
    )
    assert "::add-mask::multiline-secret-body-0123" in lines
