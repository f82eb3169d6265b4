"""Checkpoint cost against a raw tar of the same files, in one run.

For each diff size (default 100 and 500 MB) a container of the notebook image gets
that much written outside its volumes: many small files plus a few large ones,
half compressible text and half random bytes. Then, with the page cache dropped
before each measurement (``sync; echo 3 > /proc/sys/vm/drop_caches``, root only;
the output says when that was refused):

- **raw tar**: GNU ``tar -cf`` of the container's writable layer (overlay2
  UpperDir) to local disk: the least any checkpoint must do (read every byte,
  write it once); the median of ``--tar-runs`` (3), since one tar on a shared
  2-core machine varied 2x between runs and every ratio divides by it;
- two checkpoint paths of the Docker driver, each **commit** then **push** to a
  loopback docker-registry (Debian's, started here) in steady state (the profile
  image was pushed once before, under ``<prefix>/base``; that time is printed, not
  in the ratios); the cache is dropped before the commit, and the push follows the
  commit at once, as the daemon does it: "commit + push" is one measurement (the
  runs before 2026-12-07 05:30 dropped the cache again before the push):
  - the baseline, ``mode="engine"``: ``docker commit`` and ``docker push``, plus a
    second ``docker commit`` with nothing changed (what a checkpoint costs without
    the cheap unchanged check);
  - ``mode="layers"`` (the default; the median of ``--path-runs`` (3) commits, each to
    a new tag, and their pushes): commit = the upper directory written as the
    layer tar into the staging directory; push = the parent's layers linked, the
    layer gzipped in parallel and uploaded, config and manifest stored: everything
    before the checkpoint is ready (any node can pull it). The engine's own copy is
    ``docker load``ed after that, on a thread; the benchmark waits for it before
    the next measurement and prints how much longer it took ("engine copy +x s");
- **unchanged check**: ``DockerDriver.changed_since`` against the mark taken before
  the layer-direct commit, and whether any new image appeared (it must not);
- **restore vs fresh**: ``docker run --rm --network none <image> true`` from each
  checkpoint against the profile's image (median of ``--runs``, alternating).

Goals (issue 8): commit >= 0.8x raw-tar throughput (tar time / commit time),
commit + push <= 3x the raw tar time, unchanged check <= 200 ms with no new
image, restore <= 1.3x fresh. ``--results`` appends the table's rows to
benchmarks/RESULTS.md.

Run: ``.venv/bin/python benchmarks/checkpoint.py [--sizes 100,500] [--results]``
(needs dockerd, the image tenanthub/notebook-cpu:latest and docker-registry;
``make test`` installs all three). Noisy 2-core machines: compare the ratios.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checkpointer.drivers.base import ContainerRef, ImageRef
from checkpointer.drivers.docker import DockerDriver
from tests.services.registry import start_registry

IMAGE = "tenanthub/notebook-cpu:latest"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

#: runs inside the container: writes ``size`` MB under /opt/ckpt-bench (outside any
#: volume): 40 % in 2-64 KiB files, 60 % in 4 large files; half text, half random
WRITER = r"""
import os, random, sys
size = int(sys.argv[1]) * 1024 * 1024
root = "/opt/ckpt-bench"
os.makedirs(root, exist_ok=True)
rng = random.Random(7)
text = (b"import numpy as np  # a line of a package that compresses well\n" * 2000)
def chunk(n, i):
    return os.urandom(n) if i % 2 else (text * (n // len(text) + 1))[:n]
small_budget, written, i = int(size * 0.4), 0, 0
while written < small_budget:
    n = rng.randint(2048, 65536)
    d = os.path.join(root, "pkg%03d" % (i // 200))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.py" % i), "wb") as f:
        f.write(chunk(n, i))
    written += n
    i += 1
large = (size - written) // 4
for j in range(4):
    with open(os.path.join(root, "big%d.bin" % j), "wb") as f:
        left = large
        while left > 0:
            n = min(left, 4 << 20)
            f.write(chunk(n, j))
            left -= n
print(i + 4)
"""


def drop_caches() -> bool:
    subprocess.run(["sync"], check=False)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


@dataclass
class Path_:
    """One checkpoint path's figures for one diff."""

    commit: float
    push: float
    restore: float
    #: a second commit with nothing changed (the engine path only: what a daemon
    #: without the cheap check would pay every idle tick)
    recommit: float | None = None
    #: the layer-direct path: after the push returned, until the engine's copy was loaded
    loaded: float | None = None

    def commit_ratio(self, tar: float) -> float:
        """Raw tar time / commit time: commit throughput as a share of tar's."""
        return tar / self.commit

    def commit_push_ratio(self, tar: float) -> float:
        return (self.commit + self.push) / tar


@dataclass
class Row:
    size_mb: int
    files: int
    tar: float
    engine: Path_
    layers: Path_
    unchanged_ms: float
    unchanged_entries: int
    unchanged_says_changed: bool
    new_images: int
    fresh: float


def run_once(image: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["docker", "run", "--rm", "--network", "none", image, "true"],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def starts(images: list[str], runs: int) -> list[float]:
    """Median start time of each image, alternating between them."""
    times: list[list[float]] = [[] for _ in images]
    for _ in range(runs):
        for i, image in enumerate(images):
            times[i].append(run_once(image))
    return [statistics.median(t) for t in times]


def measure(
    size_mb: int, registry: str, runs: int, work: Path, tar_runs: int = 3, path_runs: int = 3
) -> Row:
    client = docker.from_env()
    engine = DockerDriver(client, mode="engine")
    layers = DockerDriver(client, mode="layers", staging=str(work / "staging"))
    name = f"ckpt-bench-{os.getpid()}-{size_mb}"
    container = client.containers.run(
        IMAGE,
        ["sleep", "infinity"],
        name=name,
        detach=True,
        network_mode="none",
        user="0",
        entrypoint=[],
        labels={"tenanthub.io/benchmark": "checkpoint"},
    )
    made: list[tuple[DockerDriver, ImageRef]] = []
    try:
        files = int(
            container.exec_run(["python3", "-c", WRITER, str(size_mb)]).output.decode().strip()
        )
        ref: ContainerRef = layers.container(container.id)
        upper = layers.upper_dir(ref)
        if upper is None:
            raise SystemExit("the writable layer is not readable here (overlay2 and root needed)")

        tar_path = work / f"raw-{size_mb}.tar"
        tar_times = []
        for _ in range(tar_runs):
            drop_caches()
            took, _ = timed(
                subprocess.run, ["tar", "-C", upper, "-cf", str(tar_path), "."], check=True
            )
            tar_times.append(took)
            tar_path.unlink()
        tar_time = statistics.median(tar_times)
        print(f"{size_mb} MB: raw tar {', '.join(f'{t:.2f}' for t in tar_times)} s")
        repository = f"{registry}/tenanthub/ckpt-bench"
        labels = {"tenanthub.io/benchmark": "checkpoint"}

        # the engine's own path: docker commit, docker push (the baseline)
        drop_caches()
        commit_time, image = timed(
            engine.commit, ref, repository, f"engine{size_mb}-{os.getpid()}", labels
        )
        made.append((engine, image))
        push_time, _ = timed(engine.push, image)  # right after the commit, as a daemon
        drop_caches()
        recommit_time, again = timed(
            engine.commit, ref, repository, f"engine{size_mb}-{os.getpid()}-again", labels
        )
        made.append((engine, again))
        engine_path = Path_(commit_time, push_time, 0.0, recommit_time)
        engine_ref = image.ref

        # the checkpointer's layer-direct path: the median of --path-runs commits (each
        # to a new tag, nothing changed in between) and their pushes, as the raw tar is
        # a median: one figure of each moved 1.5x between runs on this shared machine
        mark = layers.mark(ref)
        commits, pushes, loads = [], [], []
        for n in range(path_runs):
            drop_caches()
            commit_time, image = timed(
                layers.commit, ref, repository, f"layers{size_mb}-{os.getpid()}-{n}", labels
            )
            made.append((layers, image))
            assert layers.last_commit_path == "layers", layers.last_commit_path
            push_time, _ = timed(layers.push, image)  # right after the commit, as the daemon
            loaded_time, all_loaded = timed(layers.wait_loads, 600)
            if not all_loaded:
                raise SystemExit("the engine copy was not loaded within 10 minutes")
            commits.append(commit_time)
            pushes.append(push_time)
            loads.append(loaded_time)
        print(
            f"{size_mb} MB layer-direct: commit {', '.join(f'{t:.2f}' for t in commits)} s, "
            f"push {', '.join(f'{t:.2f}' for t in pushes)} s"
        )
        layers_path = Path_(
            statistics.median(commits),
            statistics.median(pushes),
            0.0,
            loaded=statistics.median(loads),
        )

        before = len(client.images.list(all=True))
        drop_caches()
        unchanged_time, changed = timed(layers.changed_since, ref, mark)
        walked = layers.last_check.entries if layers.last_check else 0
        new_images = len(client.images.list(all=True)) - before

        fresh, engine_path.restore, layers_path.restore = starts(
            [IMAGE, engine_ref, image.ref], runs
        )
        return Row(
            size_mb,
            files,
            tar_time,
            engine_path,
            layers_path,
            unchanged_time * 1000,
            walked,
            changed,
            new_images,
            fresh,
        )
    finally:
        container.remove(force=True)
        for driver, made_image in made:
            try:
                driver.remove(made_image)
            except Exception as exc:  # a benchmark leftover is not worth a traceback
                print(f"(could not remove {made_image.ref}: {exc})", file=sys.stderr)
        client.close()


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def table(rows: list[Row], caches: bool, stamp: str, machine: str) -> str:
    head = (
        "| Date | Diff | Files | Raw tar | Path | Commit | Commit throughput vs tar "
        "(goal >= 0.8x) | Push | Commit + push vs tar (goal <= 3x) | Second checkpoint, "
        "nothing changed (goal <= 200 ms, no new image) | Restore vs fresh (goal <= 1.3x) "
        "| Machine |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        for label, p in (("`docker commit` + `docker push`", r.engine), ("layer-direct", r.layers)):
            cr, cpr, rr = p.commit_ratio(r.tar), p.commit_push_ratio(r.tar), p.restore / r.fresh
            if p.recommit is not None:
                unchanged = f"commits again: {p.recommit:.2f} s, 1 new image"
            else:
                said = " (said changed!)" if r.unchanged_says_changed else ""
                unchanged = (
                    f"check {r.unchanged_ms:.0f} ms over {r.unchanged_entries} entries{said}, "
                    f"{r.new_images} new images "
                    f"({_met(r.unchanged_ms <= 200 and not r.new_images and not said)})"
                )
            later = f" (engine copy +{p.loaded:.2f} s)" if p.loaded is not None else ""
            lines.append(
                f"| {stamp} | {r.size_mb} MB | {r.files} | {r.tar:.2f} s | {label} | "
                f"{p.commit:.2f} s | **{cr:.2f}x** ({_met(cr >= 0.8)}) | {p.push:.2f} s{later} | "
                f"**{cpr:.2f}x** ({_met(cpr <= 3)}) | {unchanged} | {p.restore:.2f} / "
                f"{r.fresh:.2f} s = **{rr:.2f}x** ({_met(rr <= 1.3)}) | {machine} |"
            )
    note = (
        ""
        if caches
        else "\n(page cache NOT dropped: writing /proc/sys/vm/drop_caches was refused)\n"
    )
    return head + "\n".join(lines) + "\n" + note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,500", help="diff sizes in MB, comma-separated")
    parser.add_argument("--runs", type=int, default=5, help="container starts per image")
    parser.add_argument(
        "--tar-runs", type=int, default=3, help="raw tars per diff (the median is the reference)"
    )
    parser.add_argument(
        "--path-runs",
        type=int,
        default=3,
        help="layer-direct commits and pushes per diff (medians; the engine path runs once)",
    )
    parser.add_argument("--date", default=datetime.date.today().isoformat())
    parser.add_argument("--machine", default=f"{os.cpu_count()} cores")
    parser.add_argument(
        "--work", default="/var/tmp", help="raw tar and staging (a disk, not tmpfs)"
    )
    parser.add_argument("--results", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    caches = drop_caches()
    if not caches:
        print("page cache NOT dropped: writing /proc/sys/vm/drop_caches was refused (not root?)")
    registry = start_registry()
    try:
        # steady state: the profile's image is in the registry already (the first
        # checkpoint made from it pushes it once, under <prefix>/base); reported, not
        # in the ratios. Both paths find its layers there afterwards.
        client = docker.from_env()
        image_id = client.api.inspect_image(IMAGE)["Id"]
        warm, _ = timed(
            DockerDriver(client).direct.parent, image_id, f"{registry.address}/tenanthub/ckpt-bench"
        )
        client.close()
        print(f"first push of the profile image's layers (once per image): {warm:.1f} s")
        with tempfile.TemporaryDirectory(prefix="ckpt-bench-", dir=args.work) as tmp:
            rows = []
            for size in sizes:
                before = os.getloadavg()
                rows.append(
                    measure(
                        size,
                        registry.address,
                        args.runs,
                        Path(tmp),
                        args.tar_runs,
                        args.path_runs,
                    )
                )
                after = os.getloadavg()
                print(
                    f"{size} MB: load average {' '.join(f'{x:.1f}' for x in before)} before, "
                    f"{' '.join(f'{x:.1f}' for x in after)} after"
                )
    finally:
        registry.stop()
    out = table(rows, caches, args.date, args.machine)
    print(out)
    if args.results:
        with RESULTS.open("a") as handle:
            handle.write(f"\n{out}")


if __name__ == "__main__":
    main()
