"""Paths of data sources never leave their root: ``..``, absolute paths, NUL, backslashes,
and symlinks (also a symlinked parent folder) pointing outside are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub.service.datasets.connector import Problem, SourceError
from hub.service.datasets.paths import clean, join, resolve_inside


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("", ()),
        (".", ()),
        ("a", ("a",)),
        ("a/b.csv", ("a", "b.csv")),
        ("a//b/./c/", ("a", "b", "c")),
    ],
)
def test_relative_paths_become_their_components(path: str, parts: tuple[str, ...]) -> None:
    assert clean(path) == parts


@pytest.mark.parametrize(
    "path",
    ["..", "../x", "a/../../x", "a/..", "/etc/passwd", "/", "a\\..\\b", "a\x00b", "//host/x"],
)
def test_paths_that_could_leave_the_root_are_refused_as_bad_path(path: str) -> None:
    with pytest.raises(SourceError) as caught:
        clean(path)
    assert caught.value.problem is Problem.BAD_PATH
    assert (
        "/" in caught.value.message or "NUL" in caught.value.message or ".." in caught.value.message
    )


def test_keys_join_under_a_prefix_and_dotdot_cannot_climb_out_of_it() -> None:
    assert join("raw/", "sales/2024.csv") == "raw/sales/2024.csv"
    assert join("", "") == ""
    with pytest.raises(SourceError):
        join("raw", "../other/secret.csv")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    (root / "data" / "a.csv").write_text("a\n1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("secret\n")
    os.symlink(outside / "secret.csv", root / "leak.csv")
    os.symlink(outside, root / "leakdir")
    os.symlink(root / "data" / "a.csv", root / "alias.csv")
    os.symlink("data", root / "datalink")
    return root


def test_a_path_inside_resolves_to_its_real_file(tree: Path) -> None:
    root = Path(os.path.realpath(tree))
    assert resolve_inside(root, "data/a.csv") == root / "data" / "a.csv"
    assert resolve_inside(root, "alias.csv") == root / "data" / "a.csv"
    assert resolve_inside(root, "datalink/a.csv") == root / "data" / "a.csv"
    assert resolve_inside(root, "") == root


@pytest.mark.parametrize("path", ["leak.csv", "leakdir", "leakdir/secret.csv"])
def test_a_symlink_pointing_outside_is_refused_also_through_a_parent(tree: Path, path: str) -> None:
    with pytest.raises(SourceError) as caught:
        resolve_inside(Path(os.path.realpath(tree)), path)
    assert caught.value.problem is Problem.BAD_PATH
    assert "outside" in caught.value.message


def test_a_missing_path_resolves_inside_so_the_caller_reports_not_found(tree: Path) -> None:
    root = Path(os.path.realpath(tree))
    assert resolve_inside(root, "nope/x.csv") == root / "nope" / "x.csv"
