"""Key rotation as the README tells it: put a new key first, run
``tenanthub db rekey-datasets``, drop the old key; the credentials stay readable, and
with the old key alone they no longer are."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hub.service.datasets.secrets import KeyRing, SecretsUnreadable, generate_key
from hub.service.datasets.store import DataSourceStore
from hub.tenancy import db

pytestmark = pytest.mark.integration
TENANTHUB = Path(sys.executable).with_name("tenanthub")


def write_config(folder: Path, keys: list[str]) -> Path:
    path = folder / "tenanthub.yaml"
    path.write_text(yaml.safe_dump({
        "hub": {"data_dir": str(folder / "data")},
        "datasets": {"keys": keys},
    }))  # fmt: skip
    return path


def test_rekey_moves_every_credential_to_the_new_key(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    config = write_config(tmp_path, [old])
    upgraded = subprocess.run([str(TENANTHUB), "db", "upgrade", str(config)],
                              capture_output=True, text=True, check=False)  # fmt: skip
    assert upgraded.returncode == 0, upgraded.stderr
    engine = db.make_engine(f"sqlite:///{tmp_path / 'data' / 'tenanthub.sqlite'}")
    DataSourceStore(engine, KeyRing([old])).create(
        "t1", "lake", "s3", {"bucket": "lake-bucket"},
        {"access_key": "AKIAEXAMPLE", "secret_key": "very-secret-value"},
    )  # fmt: skip

    write_config(tmp_path, [new, old])
    done = subprocess.run([str(TENANTHUB), "db", "rekey-datasets", str(config)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 data source credential sets re-encrypted")
    assert "very-secret-value" not in done.stdout + done.stderr

    assert DataSourceStore(engine, KeyRing([new]))._secrets("t1", "lake") == {
        "access_key": "AKIAEXAMPLE", "secret_key": "very-secret-value",
    }  # fmt: skip
    with pytest.raises(SecretsUnreadable):
        DataSourceStore(engine, KeyRing([old]))._secrets("t1", "lake")
    engine.dispose()
