"""The hub pod's start-up step (``python -m hub.chart prepare``): the final tenanthub.yaml
with the database URL from its own Secret, and the chart's tokens in data_dir/secrets."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from hub.app.service_tokens import service_token
from hub.chart import main


def test_prepare_writes_the_config_with_the_db_url_and_copies_the_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = tmp_path / "in" / "tenanthub.yaml"
    given.parent.mkdir()
    given.write_text(yaml.safe_dump({"hub": {"data_dir": str(tmp_path / "data")}}))
    tokens = tmp_path / "tokens"
    (tokens / "..data").mkdir(parents=True)  # a Secret volume's own links are skipped
    (tokens / "tenanthub-checkpointer.token").write_text("abc123")
    monkeypatch.setenv("TENANTHUB_DB_URL", "postgresql+psycopg://th:pw@db/th")
    out = tmp_path / "data" / "tenanthub.yaml"
    main(
        [
            "prepare",
            f"--config-in={given}",
            f"--config-out={out}",
            f"--tokens={tokens}",
            f"--data-dir={tmp_path / 'data'}",
        ]
    )
    assert yaml.safe_load(out.read_text())["hub"]["db_url"] == "postgresql+psycopg://th:pw@db/th"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    copied = tmp_path / "data" / "secrets" / "tenanthub-checkpointer.token"
    assert stat.S_IMODE(copied.stat().st_mode) == 0o600
    assert not (tmp_path / "data" / "secrets" / "..data").exists()
    # the hub then uses the chart's token, the one the DaemonSet has too
    assert service_token(tmp_path / "data", "tenanthub-checkpointer") == "abc123"


def test_without_a_db_url_the_config_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TENANTHUB_DB_URL", raising=False)
    given = tmp_path / "tenanthub.yaml"
    given.write_text("tenants: []\n")
    out = tmp_path / "out.yaml"
    main(
        [
            "prepare",
            f"--config-in={given}",
            f"--config-out={out}",
            f"--tokens={tmp_path / 'none'}",
            f"--data-dir={tmp_path / 'data'}",
        ]
    )
    assert yaml.safe_load(out.read_text()) == {"tenants": []}
