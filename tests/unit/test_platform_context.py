"""The hub-side platform context: one per config file, and where its database reads run."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hub.app import context as context_module
from hub.app.context import PlatformContext, get_context
from hub.config.schema import PlatformConfig


@pytest.fixture(autouse=True)
def fresh_contexts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context_module, "_contexts", {})


def write_config(directory: Path) -> Path:
    path = directory / "tenanthub.yaml"
    path.write_text(f"hub:\n  data_dir: {directory / 'data'}\n")
    return path


def test_one_context_per_config_file_however_it_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path)
    (tmp_path / "link.yaml").symlink_to(path)
    monkeypatch.chdir(tmp_path)
    first = get_context(str(path))
    assert get_context(str(path)) is first  # the spawners' case: the same absolute path
    assert get_context(path) is first
    assert get_context("tenanthub.yaml") is first
    assert get_context(tmp_path / "link.yaml") is first
    assert first.config_path == path.resolve()


def test_a_relative_name_is_resolved_again_after_a_change_of_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    in_a, in_b = write_config(tmp_path / "a"), write_config(tmp_path / "b")
    monkeypatch.chdir(tmp_path / "a")
    assert get_context("tenanthub.yaml").config_path == in_a.resolve()
    monkeypatch.chdir(tmp_path / "b")
    assert get_context("tenanthub.yaml").config_path == in_b.resolve()


def context(tmp_path: Path, db_url: str | None = None) -> PlatformContext:
    hub: dict[str, str] = {"data_dir": str(tmp_path)}
    if db_url:
        hub["db_url"] = db_url
    return PlatformContext(PlatformConfig.model_validate({"hub": hub}), tmp_path / "x.yaml")


async def test_reads_of_local_sqlite_run_inline_others_on_the_worker_threads(
    tmp_path: Path,
) -> None:
    def where(value: int) -> tuple[str, int]:
        return threading.current_thread().name, value

    sqlite = context(tmp_path)
    assert sqlite.inline_reads
    assert await sqlite.read(where, 1) == (threading.current_thread().name, 1)
    # a server database is a network round trip away: not on the event loop
    postgres = context(tmp_path, "postgresql://user@127.0.0.1:1/db")
    assert not postgres.inline_reads
    name, value = await postgres.read(where, 2)
    assert name.startswith("tenanthub-db") and value == 2
    # run() always uses the worker threads
    name, _ = await sqlite.run(where, 3)
    assert name.startswith("tenanthub-db")
