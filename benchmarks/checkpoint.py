"""Checkpoint cost against a raw tar of the same files, in one run.

For each diff size (default 100 and 500 MB) a container of the notebook image gets
that much written outside its volumes: many small files plus a few large ones,
half compressible text and half random bytes. Then, with the page cache dropped
before each measurement (``sync; echo 3 > /proc/sys/vm/drop_caches``, root only;
the output says when that was refused):

- **raw tar**: GNU ``tar -cf`` of the container's writable layer (overlay2
  UpperDir) to local disk: the least any checkpoint must do (read every byte,
  write it once);
- **commit**: the checkpointer's Docker driver (``DockerDriver.commit``);
- **commit + push**: the same plus ``DockerDriver.push`` to a loopback
  docker-registry (Debian's, started here), in steady state: the profile image's
  own layers were pushed once before (the first checkpoint of an image does that;
  its time is printed, not in the ratio);
- **unchanged check**: ``DockerDriver.changed_since`` right after the commit,
  and whether any new image appeared (it must not);
- **restore vs fresh**: ``docker run --rm --network none <image> true`` from the
  checkpoint against the profile's image (median of ``--runs``, alternating).

Goals (issue 8): commit >= 0.8x raw-tar throughput (tar time / commit time),
commit + push <= 3x the raw tar time, unchanged check <= 200 ms with no new
image, restore <= 1.3x fresh. ``--results`` appends a row to
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

from checkpointer.drivers.base import ContainerRef
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
class Row:
    size_mb: int
    files: int
    tar: float
    commit: float
    push: float
    unchanged_ms: float
    unchanged_says_changed: bool
    new_images: int
    restore: float
    fresh: float

    @property
    def commit_ratio(self) -> float:
        """Raw tar time / commit time: commit throughput as a share of tar's."""
        return self.tar / self.commit

    @property
    def commit_push_ratio(self) -> float:
        return (self.commit + self.push) / self.tar

    @property
    def restore_ratio(self) -> float:
        return self.restore / self.fresh


def run_once(image: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["docker", "run", "--rm", "--network", "none", image, "true"],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def measure(size_mb: int, registry: str, runs: int, work: Path) -> Row:
    client = docker.from_env()
    driver = DockerDriver(client)
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
    made = None
    try:
        files = int(
            container.exec_run(["python3", "-c", WRITER, str(size_mb)]).output.decode().strip()
        )
        ref: ContainerRef = driver.container(container.id)
        upper = driver.upper_dir(ref)
        if upper is None:
            raise SystemExit("the writable layer is not readable here (overlay2 and root needed)")

        drop_caches()
        tar_path = work / f"raw-{size_mb}.tar"
        tar_time, _ = timed(
            subprocess.run, ["tar", "-C", upper, "-cf", str(tar_path), "."], check=True
        )
        tar_path.unlink()

        drop_caches()
        repository = f"{registry}/tenanthub/ckpt-bench"
        labels = {"tenanthub.io/benchmark": "checkpoint"}
        commit_time, made = timed(
            driver.commit, ref, repository, f"size{size_mb}-{os.getpid()}", labels
        )
        mark = driver.mark(ref)
        drop_caches()
        push_time, _ = timed(driver.push, made)

        before = len(client.images.list(all=True))
        drop_caches()
        unchanged_time, changed = timed(driver.changed_since, ref, mark)
        new_images = len(client.images.list(all=True)) - before

        restore, fresh = [], []
        for _ in range(runs):
            restore.append(run_once(made.ref))
            fresh.append(run_once(IMAGE))
        return Row(
            size_mb,
            files,
            tar_time,
            commit_time,
            push_time,
            unchanged_time * 1000,
            changed,
            new_images,
            statistics.median(restore),
            statistics.median(fresh),
        )
    finally:
        container.remove(force=True)
        if made is not None:
            try:
                driver.remove(made)
            except Exception as exc:  # a benchmark leftover is not worth a traceback
                print(f"(could not remove {made.ref}: {exc})", file=sys.stderr)
        client.close()


def table(rows: list[Row], caches: bool) -> str:
    head = (
        "| diff | files | raw tar | commit | commit/tar throughput (goal >= 0.8) | push "
        "| commit+push / tar (goal <= 3) | unchanged check (goal <= 200 ms) | new images "
        "| restore / fresh (goal <= 1.3) |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r.size_mb} MB | {r.files} | {r.tar:.2f} s | {r.commit:.2f} s | "
        f"{r.commit_ratio:.2f}x | {r.push:.2f} s | {r.commit_push_ratio:.2f}x | "
        f"{r.unchanged_ms:.0f} ms{' (said changed!)' if r.unchanged_says_changed else ''} | "
        f"{r.new_images} | {r.restore:.2f} s / {r.fresh:.2f} s = {r.restore_ratio:.2f}x |"
        for r in rows
    ]
    note = "" if caches else "\n(page cache NOT dropped: not root?)\n"
    return head + "\n".join(lines) + "\n" + note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,500", help="diff sizes in MB, comma-separated")
    parser.add_argument("--runs", type=int, default=5, help="container starts per image")
    parser.add_argument("--results", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    caches = drop_caches()
    registry = start_registry()
    try:
        # steady state: the profile's image is in the registry already (the first
        # checkpoint made from it pushed its layers once); reported, not in the ratios
        base = f"{registry.address}/tenanthub/ckpt-bench:base"
        subprocess.run(["docker", "tag", IMAGE, base], check=True)
        warm, _ = timed(subprocess.run, ["docker", "push", base], check=True, capture_output=True)
        subprocess.run(["docker", "rmi", base], check=False, capture_output=True)
        print(f"first push of the profile image's layers (once per image): {warm:.1f} s")
        with tempfile.TemporaryDirectory(prefix="ckpt-bench-") as tmp:
            rows = [measure(size, registry.address, args.runs, Path(tmp)) for size in sizes]
    finally:
        registry.stop()
    out = table(rows, caches)
    print(out)
    if args.results:
        stamp = datetime.date.today().isoformat()
        with RESULTS.open("a") as handle:
            handle.write(
                f"\n### {stamp}: checkpoint cost (`benchmarks/checkpoint.py --sizes {args.sizes}`,"
                f" {os.cpu_count()} cores)\n\n{out}"
            )


if __name__ == "__main__":
    main()
