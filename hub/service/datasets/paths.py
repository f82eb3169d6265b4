"""Paths inside a data source: the rule that a path never leaves its root.

Pure checks of the path as written (``clean``) plus one check on disk
(``resolve_inside``) that follows symlinks, every component's included, and
refuses a target outside the root. Callers then open the *resolved* path, so a
symlink is followed once, by the check, not again by the open.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from hub.service.datasets.connector import Problem, SourceError


def clean(path: str) -> tuple[str, ...]:
    """The components of a relative path, or SourceError(bad_path).

    Refused: NUL, an absolute path, ``..`` anywhere, a backslash (a Windows
    separator that would mean something else on another kind). ``""``, ``.`` and
    ``/``-only trailing parts mean the root itself.
    """
    if "\x00" in path:
        raise SourceError(Problem.BAD_PATH, "a path cannot contain a NUL character")
    if path.startswith("/"):
        raise SourceError(Problem.BAD_PATH, f"{path!r} is absolute: give a path inside the source")
    if "\\" in path:
        raise SourceError(Problem.BAD_PATH, f"{path!r}: use / to separate folders")
    parts = tuple(p for p in PurePosixPath(path).parts if p not in ("", "."))
    if ".." in parts:
        raise SourceError(Problem.BAD_PATH, f"{path!r} leaves its folder (..): not allowed")
    return parts


def join(prefix: str, path: str) -> str:
    """``path`` (checked with ``clean``) under a key prefix, ``/``-separated, no leading /."""
    parts = [p for p in prefix.strip("/").split("/") if p] + list(clean(path))
    return "/".join(parts)


def inside(root: Path, target: Path) -> bool:
    return target == root or root in target.parents


def resolve_inside(root: Path, path: str) -> Path:
    """The real path of ``path`` under ``root`` (symlinks followed), refused if outside.

    ``root`` must itself be resolved. A path that does not exist resolves as far
    as it can and is returned (the caller reports not found).
    """
    target = Path(os.path.realpath(root.joinpath(*clean(path))))
    if not inside(root, target):
        raise SourceError(
            Problem.BAD_PATH, f"{path!r} points outside the source's folder (a symlink): refused"
        )
    return target
