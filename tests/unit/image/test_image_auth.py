"""Registry credentials (env, docker config.json) and WWW-Authenticate challenge parsing."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from gate.errors import UsageError
from gate.image.auth import Credentials, load_credentials, parse_challenge, token_from


def _docker_config(directory: Path, auths: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps({"auths": auths}), encoding="utf-8")
    return path


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_environment_credentials_win_over_docker_config(tmp_path: Path) -> None:
    _docker_config(tmp_path / ".docker", {"ghcr.io": {"auth": _b64("cfg:cfgpw")}})
    env = {"HOME": str(tmp_path), "REGISTRY_USERNAME": "ci", "REGISTRY_PASSWORD": "s3cret"}
    creds = load_credentials("ghcr.io", environ=env)
    assert creds is not None
    assert (creds.username, creds.password) == ("ci", "s3cret")
    assert creds.source == "REGISTRY_USERNAME/REGISTRY_PASSWORD"


def test_half_set_environment_credentials_are_a_usage_error() -> None:
    with pytest.raises(UsageError, match="REGISTRY_PASSWORD is not set"):
        load_credentials("ghcr.io", environ={"REGISTRY_USERNAME": "ci"})


def test_docker_config_in_home_is_read(tmp_path: Path) -> None:
    path = _docker_config(tmp_path / ".docker", {"ghcr.io": {"auth": _b64("me:pa:ss")}})
    creds = load_credentials("ghcr.io", environ={"HOME": str(tmp_path)})
    assert creds is not None
    assert (creds.username, creds.password, creds.source) == ("me", "pa:ss", str(path))


def test_docker_config_dir_from_DOCKER_CONFIG(tmp_path: Path) -> None:
    _docker_config(tmp_path / "home" / ".docker", {"ghcr.io": {"auth": _b64("home:x")}})
    _docker_config(tmp_path / "elsewhere", {"ghcr.io": {"auth": _b64("elsewhere:y")}})
    env = {"HOME": str(tmp_path / "home"), "DOCKER_CONFIG": str(tmp_path / "elsewhere")}
    creds = load_credentials("ghcr.io", environ=env)
    assert creds is not None and creds.username == "elsewhere"


@pytest.mark.parametrize(
    ("key", "registry"),
    [
        ("https://index.docker.io/v1/", "registry-1.docker.io"),
        ("docker.io", "registry-1.docker.io"),
        ("https://ghcr.io", "ghcr.io"),
        ("http://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
        ("Registry.Example.com", "registry.example.com"),
    ],
)
def test_auths_keys_match_as_the_docker_cli_writes_them(
    tmp_path: Path, key: str, registry: str
) -> None:
    _docker_config(tmp_path, {key: {"auth": _b64("u:p")}})
    creds = load_credentials(registry, environ={"DOCKER_CONFIG": str(tmp_path)})
    assert creds is not None and creds.username == "u"


def test_other_registries_entries_are_not_used(tmp_path: Path) -> None:
    _docker_config(tmp_path, {"ghcr.io": {"auth": _b64("u:p")}})
    assert load_credentials("quay.io", environ={"DOCKER_CONFIG": str(tmp_path)}) is None


def test_username_and_password_fields_are_accepted(tmp_path: Path) -> None:
    _docker_config(tmp_path, {"ghcr.io": {"username": "u", "password": "p"}})
    creds = load_credentials("ghcr.io", environ={"DOCKER_CONFIG": str(tmp_path)})
    assert creds is not None and (creds.username, creds.password) == ("u", "p")


def test_no_docker_config_means_anonymous(tmp_path: Path) -> None:
    assert load_credentials("ghcr.io", environ={"HOME": str(tmp_path)}) is None


def test_bad_auth_entry_is_an_error_that_does_not_echo_it(tmp_path: Path) -> None:
    _docker_config(
        tmp_path, {"ghcr.io": {"auth": "bm90LWJhc2U2NC1vcg=="}}
    )  # "not-base64-or" no ':'
    with pytest.raises(UsageError) as caught:
        load_credentials("ghcr.io", environ={"DOCKER_CONFIG": str(tmp_path)})
    assert "not base64 of user:password" in str(caught.value)
    assert "bm90LWJhc2U2NC1vcg" not in str(caught.value)


def test_docker_config_that_is_not_json_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{nope", encoding="utf-8")
    with pytest.raises(UsageError, match="not valid JSON"):
        load_credentials("ghcr.io", environ={"DOCKER_CONFIG": str(tmp_path)})


def test_credentials_repr_never_shows_the_secret() -> None:
    creds = Credentials("someone", "hunter2", source="env")
    assert "hunter2" not in repr(creds)
    assert "someone" not in repr(creds)


def test_bearer_challenge_with_quoted_commas() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/debian:pull,push"'
    )
    assert challenge is not None
    assert challenge.scheme == "bearer"
    assert dict(challenge.params) == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/debian:pull,push",
    }


def test_basic_challenge_and_unquoted_and_escaped_values() -> None:
    challenge = parse_challenge('Basic realm="say \\"hi\\"", charset=UTF-8')
    assert challenge is not None
    assert challenge.scheme == "basic"
    assert dict(challenge.params) == {"realm": 'say "hi"', "charset": "UTF-8"}


def test_empty_challenge_is_none() -> None:
    assert parse_challenge("") is None
    assert parse_challenge("   ") is None


def test_token_or_access_token_is_read_from_the_token_response() -> None:
    assert token_from({"token": "a"}) == "a"
    assert token_from({"access_token": "b"}) == "b"
    assert token_from({"token": ""}) is None
    assert token_from(["token"]) is None
