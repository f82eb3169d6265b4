"""Where an API command's URL and token come from (``hub.contexts.resolve``): flags, then
``--context``, then the environment, then the current context, then the older config
file; a context's token never goes to another URL; the file is private."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.api_client import ClientError
from hub.contexts import Context, Contexts, load, resolve, save

A, B = "https://a.example.org/", "https://b.example.org/"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "contexts.yaml"
    save(path, Contexts("a", {"a": Context("a", A, "tok-a"), "b": Context("b", B, "tok-b")}))
    return {"HOME": str(tmp_path), "TENANTHUB_CONTEXTS": str(path)}


def test_the_current_context_is_the_default(env: dict[str, str]) -> None:
    got = resolve(env)
    assert (got.url, got.token, got.url_from) == (A, "tok-a", "current context 'a'")


def test_context_flag_beats_the_environment_which_beats_the_current_context(
    env: dict[str, str],
) -> None:
    with_env = {**env, "TENANTHUB_URL": B, "TENANTHUB_TOKEN": "tok-env"}
    assert (resolve(with_env).url, resolve(with_env).token) == (B, "tok-env")
    chosen = resolve(with_env, context="a")
    assert (chosen.url, chosen.token) == (A, "tok-a")


def test_flags_beat_everything(env: dict[str, str], tmp_path: Path) -> None:
    token = tmp_path / "t"
    token.write_text("tok-file\n")
    got = resolve(env, url_flag=B, token_file=str(token), context="a")
    assert (got.url, got.token) == (B, "tok-file")


def test_a_contexts_token_is_not_sent_to_another_url(env: dict[str, str]) -> None:
    with pytest.raises(ClientError, match="not sending it elsewhere"):
        resolve(env, url_flag=B)
    with pytest.raises(ClientError, match="not sending it elsewhere"):
        resolve({**env, "TENANTHUB_URL": B})
    assert resolve(env, url_flag=A).token == "tok-a"  # the same URL is fine


def test_without_contexts_the_older_config_file_still_works(tmp_path: Path) -> None:
    legacy = tmp_path / ".config" / "tenanthub" / "config"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(f"url = {A}\ntoken = tok-old\n")
    legacy.chmod(0o600)
    got = resolve({"HOME": str(tmp_path)})
    assert (got.url, got.token) == (A, "tok-old")


def test_the_file_is_private_and_a_readable_one_is_refused(env: dict[str, str]) -> None:
    path = Path(env["TENANTHUB_CONTEXTS"])
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o640)
    with pytest.raises(ClientError, match="chmod 600"):
        load(path)


def test_an_unknown_context_names_the_known_ones(env: dict[str, str]) -> None:
    with pytest.raises(ClientError, match=r"no context 'c' .*\(contexts: a, b\)"):
        resolve(env, context="c")


def test_repr_never_shows_the_token() -> None:
    assert "tok" not in repr(Context("a", A, "tok-a"))
