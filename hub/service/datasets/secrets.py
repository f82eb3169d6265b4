"""Credentials of data sources, encrypted at rest with Fernet (AES-128-CBC + HMAC).

Keys: a list, as ``cryptography``'s MultiFernet takes it: the first key
encrypts, every key decrypts. They come from (first found wins)
the environment variable ``TENANTHUB_DATASETS_KEYS``, the config's
``datasets.keys``, or the file ``datasets.key_file`` (one key per line, ``#``
comments) — in Kubernetes a Secret mounted as that file.

Rotation: put a new key (``tenanthub`` makes one with ``generate_key``) first
in the list and keep the old ones after it; call ``DataSourceStore.reencrypt``
(every stored blob is decrypted with whichever key fits and encrypted with the
first); then drop the old keys. A blob whose key was dropped too early cannot be
read: ``SecretsUnreadable`` says so, without the blob or any key.

Decrypted values live in ``SecretValues``, whose repr and str show only the
names, so logging a source or an error never prints a credential.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

ENV = "TENANTHUB_DATASETS_KEYS"


class BadKey(ValueError):
    """A configured key is not a Fernet key (the message never contains the key)."""


class SecretsUnreadable(RuntimeError):
    pass


def generate_key() -> str:
    return Fernet.generate_key().decode()


def parse_keys(text: str) -> list[str]:
    """Keys written one per line, or separated by commas or spaces; ``#`` starts a comment."""
    keys: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        keys.extend(k for k in line.replace(",", " ").split() if k)
    return keys


def load_keys(
    keys: Sequence[str] = (), key_file: Path | None = None, environ: Mapping[str, str] = os.environ
) -> list[str]:
    """The key list from the environment, else the config's keys, else the key file."""
    if environ.get(ENV, "").strip():
        return parse_keys(environ[ENV])
    if keys:
        return [k for k in keys if k]
    if key_file is not None:
        return parse_keys(key_file.read_text())
    return []


class SecretValues(Mapping[str, str]):
    """Decrypted credentials by name; repr/str never show a value."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = {k: str(v) for k, v in (values or {}).items() if v is not None}

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"SecretValues({sorted(self._values)})"

    __str__ = __repr__


class KeyRing:
    """Encrypts with the first key, decrypts with any."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise BadKey(
                "no datasets key is configured: set datasets.keys, datasets.key_file or "
                f"{ENV} (make one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            )
        fernets = []
        for i, key in enumerate(keys):
            try:
                fernets.append(Fernet(key.encode()))
            except (ValueError, TypeError):
                raise BadKey(
                    f"datasets key #{i + 1} is not a Fernet key (32 url-safe base64-encoded bytes)"
                ) from None
        self._fernet = MultiFernet(fernets)

    def __repr__(self) -> str:
        return "KeyRing(***)"

    def encrypt(self, values: Mapping[str, str]) -> str:
        payload = json.dumps(dict(values), sort_keys=True).encode()
        return self._fernet.encrypt(payload).decode()

    def decrypt(self, token: str) -> SecretValues:
        try:
            payload = self._fernet.decrypt(token.encode())
        except InvalidToken:
            raise SecretsUnreadable(
                "the source's credentials were encrypted with a key that is not configured "
                "(keep old keys in datasets.keys until every source is re-encrypted)"
            ) from None
        return SecretValues(json.loads(payload))

    def rotate(self, token: str) -> str:
        """``token`` encrypted again with the first key (after a new key was put first)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretsUnreadable(
                "cannot re-encrypt: no configured key decrypts these credentials"
            ) from None


#: where the service keeps the key it made when none was configured (in data_dir)
GENERATED_KEY_FILE = "secrets/tenanthub-datasets.keys"


def platform_keys(
    keys: Sequence[str],
    key_file: Path | None,
    data_dir: Path,
    environ: Mapping[str, str] = os.environ,
) -> KeyRing:
    """The key ring of the platform: the environment, the config's keys or key file; with
    none of them, a key made once in the data dir (0600), so a new platform can store
    credentials at once (back that file up with the database: without it they are lost)."""
    found = load_keys(keys, key_file, environ)
    if not found:
        path = data_dir / GENERATED_KEY_FILE
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(generate_key() + "\n")
        found = parse_keys(path.read_text())
    return KeyRing(found)
