"""Committed-but-not-pushed checkpoints on disk, so a killed daemon loses none and leaks none.

A commit writes into ``<root>/<pid>-<random>.partial/`` and renames it to
``<root>/<random>/`` only when the layer and its description are complete (a
rename within one directory is atomic). So a directory without ``.partial`` is
a whole checkpoint that a restarted daemon may finish (verify, push: the lifecycle's
``recover``), and a ``.partial`` one is the leftover of a run killed mid-commit:
nobody's checkpoint, removed once the process that wrote it is gone. A pushed
checkpoint's directory is removed by the push (the engine and the registry hold
the image then).

Each staged checkpoint: ``layer.tar`` (uncompressed; its sha256 is the diff_id)
and ``meta.json`` (repository, tag, the parent image id, labels, the names of
variables the container added, layer digest/size/entries, commit time). The
container's environment values are never written (they hold the server's token).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

PARTIAL = ".partial"
STAGED_ID_PREFIX = "staged:"


@dataclass(frozen=True)
class StagedMeta:
    repository: str
    tag: str
    parent: str
    diff_id: str
    size: int
    entries: int
    created: str
    labels: Mapping[str, str] = field(default_factory=dict)
    added_env: Sequence[str] = ()

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True)
class Staged:
    path: Path
    meta: StagedMeta

    @property
    def id(self) -> str:
        """The id the driver reports until the engine has the image (then: its config digest)."""
        return STAGED_ID_PREFIX + self.path.name

    @property
    def layer(self) -> Path:
        return self.path / "layer.tar"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Staging:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        #: partial directories this process is writing right now
        self.active: set[str] = set()

    def usable(self) -> bool:
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError:
            return False
        return os.access(self.root, os.W_OK | os.X_OK)

    def begin(self) -> Path:
        self.clean_partials()
        path = self.root / f"{os.getpid()}-{secrets.token_hex(8)}{PARTIAL}"
        path.mkdir(mode=0o700)
        self.active.add(path.name)
        return path

    def finish(self, partial: Path, meta: StagedMeta) -> Staged:
        (partial / "meta.json").write_text(json.dumps(asdict(meta)))
        final = self.root / partial.name.split("-", 1)[1].removesuffix(PARTIAL)
        partial.rename(final)
        self.active.discard(partial.name)
        return Staged(final, meta)

    def abandon(self, partial: Path) -> None:
        shutil.rmtree(partial, ignore_errors=True)
        self.active.discard(partial.name)

    def clean_partials(self) -> list[str]:
        """Remove the ``.partial`` directories of processes that are gone (or of this one,
        when it no longer writes them)."""
        removed: list[str] = []
        if not self.root.is_dir():
            return removed
        for path in self.root.iterdir():
            if not path.name.endswith(PARTIAL):
                continue
            pid_text = path.name.split("-", 1)[0]
            pid = int(pid_text) if pid_text.isdigit() else 0
            mine = pid == os.getpid()
            if (mine and path.name not in self.active) or (not mine and not _alive(pid)):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
        return removed

    def all(self) -> Iterator[Staged]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.iterdir()):
            if path.name.endswith(PARTIAL) or not path.is_dir():
                continue
            try:
                raw = json.loads((path / "meta.json").read_text())
                meta = StagedMeta(**raw)
            except (OSError, ValueError, TypeError):
                continue
            yield Staged(path, meta)

    def find(self, image_id: str = "", ref: str = "") -> list[Staged]:
        return [
            s for s in self.all() if (image_id and s.id == image_id) or (ref and s.meta.ref == ref)
        ]

    def remove(self, staged: Staged) -> None:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staged.path)
