"""Credentials of data sources are encrypted with Fernet keys: the first key encrypts,
every key decrypts, rotation re-encrypts with a new first key; keys come from the
environment, the config or a key file; nothing secret shows in a repr, str or error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from hub.service.datasets.secrets import (
    ENV,
    BadKey,
    KeyRing,
    SecretsUnreadable,
    SecretValues,
    generate_key,
    load_keys,
    parse_keys,
)

SECRET = "s3cr3t-Password-0123456789"


def test_encrypted_credentials_decrypt_and_hold_no_plaintext() -> None:
    ring = KeyRing([generate_key()])
    token = ring.encrypt({"password": SECRET})
    assert SECRET not in token and "password" not in token
    assert dict(ring.decrypt(token)) == {"password": SECRET}
    assert ring.encrypt({"password": SECRET}) != token  # a fresh IV each time


def test_rotation_new_key_first_reencrypts_and_the_old_key_can_then_be_dropped() -> None:
    old, new = generate_key(), generate_key()
    token = KeyRing([old]).encrypt({"secret_key": SECRET})
    both = KeyRing([new, old])
    assert dict(both.decrypt(token)) == {"secret_key": SECRET}
    rotated = both.rotate(token)
    assert dict(KeyRing([new]).decrypt(rotated)) == {"secret_key": SECRET}
    with pytest.raises(SecretsUnreadable):
        KeyRing([new]).decrypt(token)  # the old blob needs the old key


def test_a_blob_whose_key_was_dropped_is_unreadable_and_the_error_shows_no_key() -> None:
    key = generate_key()
    token = KeyRing([key]).encrypt({"password": SECRET})
    other = generate_key()
    with pytest.raises(SecretsUnreadable) as caught:
        KeyRing([other]).decrypt(token)
    text = str(caught.value)
    assert key not in text and other not in text and token not in text
    assert "datasets.keys" in text
    with pytest.raises(SecretsUnreadable):
        KeyRing([other]).rotate(token)


def test_no_key_or_a_malformed_key_is_a_clear_error_without_the_key() -> None:
    with pytest.raises(BadKey, match="no datasets key"):
        KeyRing([])
    with pytest.raises(BadKey, match="#2 is not a Fernet key") as caught:
        KeyRing([generate_key(), "not-a-key-but-a-long-secret-string"])
    assert "not-a-key-but-a-long-secret-string" not in str(caught.value)


def test_secret_values_and_the_keyring_never_show_a_value() -> None:
    key = generate_key()
    values = SecretValues({"password": SECRET, "access_key": "AKIAEXAMPLEKEY0000"})
    for text in (repr(values), str(values), f"{values}", repr(KeyRing([key])), str(KeyRing([key]))):
        assert SECRET not in text and "AKIAEXAMPLEKEY0000" not in text and key not in text
    assert "password" in repr(values)
    with pytest.raises(TypeError):
        json.dumps(values)  # not silently serialisable as a dict of values


def test_keys_come_from_the_environment_then_the_config_then_the_key_file(tmp_path: Path) -> None:
    a, b, c = (Fernet.generate_key().decode() for _ in range(3))
    key_file = tmp_path / "keys"
    key_file.write_text(f"# current first\n{c}\n\n{a}  # old\n")
    assert load_keys([b], key_file, environ={ENV: f"{a},{b}"}) == [a, b]
    assert load_keys([b], key_file, environ={}) == [b]
    assert load_keys([], key_file, environ={ENV: "  "}) == [c, a]
    assert load_keys([], None, environ={}) == []
    assert parse_keys(f"{a} {b}\n#x\n{c}") == [a, b, c]
