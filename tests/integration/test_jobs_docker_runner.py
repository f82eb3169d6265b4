"""The Docker job runner against the real dockerd and the project's notebook image.

Every run is a real papermill run in a container of ``tenanthub/notebook-cpu`` (built
by `make images`, never by these tests) with the owner's home volume: the output
notebook is read back from that volume. Each test uses its own tenant (so its own
volumes and container names) and removes every container, volume and image it made.
"""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

import docker
import docker.errors
import nbformat
import pytest
from sqlalchemy import Engine

from checkpointer.daemon import Server, Settings, server_of
from checkpointer.drivers.base import ContainerRef
from hub.config.schema import JobSettings, PlatformConfig
from hub.service.jobs.model import JobSpec, output_path, parse_notebook_path
from hub.service.jobs.runners.base import Runner, RunSpec, RunStatus
from hub.service.jobs.runners.docker import (
    LABEL_ATTEMPT,
    LABEL_JOB,
    LABEL_JOB_RUN,
    DockerRunner,
    RunnerError,
    read_file,
    wait_finished,
)
from hub.service.jobs.scheduler import Scheduler
from hub.service.jobs.store import JobStore, Run
from hub.tenancy import db
from hub.tenancy.checkpoint_store import CheckpointStore, Step
from hub.tenancy.names import home_volume_for, shared_volume_for
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.seed import TenantSpec
from hub.tenancy.store import TenantStore
from spawner.docker import allocations_from_containers
from spawner.docker.spec import container_spec
from spawner.plan import make_plan
from tests.conftest import need

pytestmark = [pytest.mark.integration, pytest.mark.docker_engine]

IMAGE = "tenanthub/notebook-cpu:latest"
SPARK_IMAGE = "tenanthub/notebook-spark:latest"
HOME = PurePosixPath("/home/jovyan")
OWNER = "alice"
UID, GID = 1000, 100
TEST_LABEL = "tenanthub.io/test"


PROFILES = [
    {"name": "small", "image": IMAGE, "cpu": {"limit": "1"}, "memory": {"limit": "1Gi"}},
    {"name": "gone", "image": "tenanthub/no-such-image:1"},
    {"name": "spark", "image": SPARK_IMAGE, "memory": {"limit": "2Gi"}},
]


def config(checkpoints: bool = True, **docker_settings: Any) -> PlatformConfig:
    return PlatformConfig.model_validate(
        {
            "backend": {"docker": {"network": "host", **docker_settings}},
            "profiles": PROFILES,
            "checkpoint": {"enabled": checkpoints},
        }
    )


def notebook(*cells: str, parameters: str | None = None) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    return str(nbformat.writes(nb))


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    try:
        engine = docker.from_env()
        engine.ping()
    except docker.errors.DockerException as exc:
        need(f"no Docker engine answers ({exc}); `make test` starts one (scripts/dockerd.sh up)")
        raise
    try:
        engine.api.inspect_image(IMAGE)
    except docker.errors.ImageNotFound:
        need(f"no {IMAGE} image; `make images` builds it (scripts/build-images.sh)")
    yield engine
    engine.close()


class Tenant:
    """A fresh tenant on the engine: its volumes, the containers and images a test made;
    everything removed at the end whatever happened."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.name = f"jr{uuid.uuid4().hex[:10]}"
        self.containers: list[str] = []
        self.images: list[str] = []
        self._ids = iter(range(1, 1000))

    @property
    def home_volume(self) -> str:
        return home_volume_for(self.name, OWNER)

    @property
    def shared_volume(self) -> str:
        return shared_volume_for(self.name)

    def put(self, relative: str, text: str, area: str = "home") -> None:
        """Write a file into the owner's home (or the shared folder), owned by the
        notebook user, through a created (never started) container of the image."""
        self._volumes()
        volume, root = (self.home_volume, HOME)
        if area == "shared":
            volume, root = self.shared_volume, PurePosixPath("/mnt")
        helper = self.client.api.create_container(
            IMAGE, command=["true"], user=f"{UID}:{GID}", labels={TEST_LABEL: self.name},
            host_config=self.client.api.create_host_config(
                binds={volume: {"bind": str(root), "mode": "rw"}}, network_mode="none"
            ),
        )  # fmt: skip
        try:
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                parts = PurePosixPath(relative).parts
                for depth in range(1, len(parts)):
                    info = tarfile.TarInfo("/".join(parts[:depth]))
                    info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, 0o755, UID, GID
                    tar.addfile(info)
                data = text.encode()
                info = tarfile.TarInfo(relative)
                info.size, info.mode, info.uid, info.gid = len(data), 0o644, UID, GID
                tar.addfile(info, io.BytesIO(data))
            assert self.client.api.put_archive(helper["Id"], str(root), buffer.getvalue())
        finally:
            self.client.api.remove_container(helper["Id"], force=True)

    def _volumes(self) -> None:
        for volume in (self.home_volume, self.shared_volume):
            with contextlib.suppress(docker.errors.APIError):
                self.client.api.create_volume(volume, labels={TEST_LABEL: self.name})

    def spec(self, notebook: str, **kw: Any) -> RunSpec:
        run_id = kw.pop("run_id", None) or next(self._ids)
        job_id = kw.pop("job_id", 7)
        kind = kw.pop("kind", "papermill")
        values: dict[str, Any] = {
            "run_id": run_id, "job_id": job_id, "attempt": 1, "job_name": "report",
            "tenant": self.name, "owner": OWNER, "profile": "small", "kind": kind,
            "notebook": parse_notebook_path(notebook, kind),
            "output": output_path(job_id, run_id), **kw,
        }  # fmt: skip
        return RunSpec(**values)

    def output(self, handle: str, spec: RunSpec) -> nbformat.NotebookNode:
        data = read_file(self.client, handle, str(HOME / spec.output))
        return nbformat.reads(data.decode(), as_version=4)

    def cleanup(self) -> None:
        api = self.client.api
        for label in (TEST_LABEL, "tenanthub.io/tenant"):
            for c in api.containers(all=True, filters={"label": f"{label}={self.name}"}):
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_container(c["Id"], force=True)
        for cid in self.containers:
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_container(cid, force=True)
        for ref in self.images:
            with contextlib.suppress(docker.errors.ImageNotFound):
                api.remove_image(ref, force=True)
        for volume in (self.home_volume, self.shared_volume):
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_volume(volume, force=True)


@pytest.fixture
def tenant(client: docker.DockerClient) -> Iterator[Tenant]:
    made = Tenant(client)
    yield made
    made.cleanup()


@pytest.fixture
def runner(client: docker.DockerClient) -> Iterator[DockerRunner]:
    made = DockerRunner(config(), docker.from_env)
    yield made
    made.close()


def outputs(nb: nbformat.NotebookNode) -> str:
    found = [o for cell in nb.cells for o in cell.get("outputs", [])]
    return "".join(str(o.get("text", "")) + str(o.get("evalue", "")) for o in found)


def until(check: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not true within {timeout} s: {check}")


# ----------------------------------------------------------------------------- tests


def test_a_papermill_run_with_a_parameter_succeeds_in_a_hardened_job_container(
    client: docker.DockerClient, tenant: Tenant, runner: DockerRunner
) -> None:
    assert isinstance(runner, Runner)
    tenant.put(
        "analysis/report.ipynb",
        notebook('print(f"said: {greeting}")', parameters='greeting = "hello"'),
    )
    spec = tenant.spec("analysis/report.ipynb", parameters={"greeting": "from the job"})
    handle = runner.start(spec)
    status = wait_finished(runner, handle)
    assert status == RunStatus("succeeded", 0), runner.logs(handle, 4000)

    out = tenant.output(handle, spec)
    tags = [cell.metadata.get("tags", []) for cell in out.cells]
    injected = out.cells[tags.index(["injected-parameters"])]
    assert "from the job" in injected.source
    assert "said: from the job" in outputs(out)
    assert "said: from the job" in runner.logs(handle, 64 * 1024)  # --log-output

    info = client.api.inspect_container(handle)
    labels = info["Config"]["Labels"]
    assert info["Name"] == f"/tenanthub-job-{tenant.name}-{spec.run_id}"
    assert {k: labels.get(k) for k in (
        "app.kubernetes.io/managed-by", "tenanthub.io/tenant", "tenanthub.io/user",
        LABEL_JOB_RUN, LABEL_JOB, LABEL_ATTEMPT,
    )} == {
        "app.kubernetes.io/managed-by": "tenanthub", "tenanthub.io/tenant": tenant.name,
        "tenanthub.io/user": OWNER, LABEL_JOB_RUN: str(spec.run_id),
        LABEL_JOB: str(spec.job_id), LABEL_ATTEMPT: "1",
    }  # fmt: skip
    server_only = ("tenanthub.io/server", "tenanthub.io/username", "tenanthub.io/cpu-millis",
                   "tenanthub.io/memory-bytes", "tenanthub.io/gpu")  # fmt: skip
    assert not [k for k in server_only if k in labels]
    host = info["HostConfig"]
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["Privileged"] is False
    assert host["PidsLimit"] == 1024
    assert host["Memory"] == 2**30 and host["CpuQuota"] == 100_000
    assert host["NetworkMode"] == "host"
    assert info["Config"]["User"] == f"{UID}:{GID}"
    assert info["Config"]["Image"] == IMAGE
    mounts = {m["Destination"]: m.get("Name") for m in info["Mounts"]}
    assert mounts == {str(HOME): tenant.home_volume, f"{HOME}/shared": tenant.shared_volume}
    env = dict(e.split("=", 1) for e in info["Config"]["Env"])
    assert json.loads(env["TENANTHUB_JOB_PARAMETERS"]) == {"greeting": "from the job"}
    # a finished run's container stays for poll and logs; a sweep before keep_finished
    # leaves it, the runner removes it afterwards
    assert handle not in runner.sweep()
    later = datetime.now(UTC).replace(year=datetime.now(UTC).year + 1)
    assert handle in runner.sweep(now=later)
    assert runner.poll(handle).state == "failed"  # gone now: said so, never "succeeded"


def test_a_notebook_from_the_shared_folder_runs_and_writes_into_the_home(
    tenant: Tenant, runner: DockerRunner
) -> None:
    tenant.put("team/daily.ipynb", notebook('print("shared ran")'), area="shared")
    spec = tenant.spec("shared/team/daily.ipynb")
    handle = runner.start(spec)
    assert wait_finished(runner, handle).state == "succeeded", runner.logs(handle, 4000)
    assert "shared ran" in outputs(tenant.output(handle, spec))


def test_a_failing_cell_fails_the_run_with_its_error_and_keeps_the_partial_output(
    tenant: Tenant, runner: DockerRunner
) -> None:
    tenant.put(
        "broken.ipynb",
        notebook(
            'print("before the failure")',
            'raise ValueError("the data is bad")',
            'print("never printed")',
        ),
    )
    spec = tenant.spec("broken.ipynb")
    handle = runner.start(spec)
    status = wait_finished(runner, handle)
    assert status.state == "failed" and status.exit_code not in (0, None)
    assert "ValueError: the data is bad" in status.reason, status.reason
    assert "cell In [2]" in status.reason, status.reason
    out = tenant.output(handle, spec)
    printed = outputs(out)
    assert "before the failure" in printed and "the data is bad" in printed
    assert "never printed" not in printed


def test_cancel_stops_the_run_and_a_restarted_runner_finds_polls_and_reads_it(
    client: docker.DockerClient, tenant: Tenant, runner: DockerRunner
) -> None:
    tenant.put(
        "long.ipynb", notebook('print("working", flush=True)', "import time; time.sleep(600)")
    )
    spec = tenant.spec("long.ipynb")
    handle = runner.start(spec)
    assert runner.poll(handle).state in ("starting", "running")

    restarted = DockerRunner(config(), docker.from_env)  # the service came back
    try:
        assert restarted.find(spec) == handle
        assert restarted.find(tenant.spec("long.ipynb", run_id=spec.run_id + 500)) is None
        until(lambda: "working" in restarted.logs(handle, 64 * 1024))
        assert restarted.poll(handle) == RunStatus("running")
        began = time.monotonic()
        restarted.cancel(handle)
        assert time.monotonic() - began < 30
        with pytest.raises(docker.errors.NotFound):
            client.api.inspect_container(handle)
        restarted.cancel(handle)  # idempotent
        runner.cancel(handle)
        assert "working" in restarted.logs(handle, 64 * 1024)  # kept for the scheduler
        gone = runner.poll(handle)
        assert gone.state == "failed" and "gone" in gone.reason
        assert restarted.find(spec) is None
    finally:
        restarted.close()


def test_a_run_that_cannot_start_says_why_and_leaves_nothing(
    client: docker.DockerClient, tenant: Tenant, runner: DockerRunner
) -> None:
    with pytest.raises(RunnerError, match=r"missing\.ipynb is not there in your home"):
        runner.start(tenant.spec("missing.ipynb"))
    tenant.put("report.ipynb", notebook('print("x")'))
    with pytest.raises(
        RunnerError, match=r"no-such-image:1.*not on this Docker engine.*make images"
    ):
        runner.start(tenant.spec("report.ipynb", profile="gone"))
    with pytest.raises(RunnerError, match="profile 'vanished' is no longer offered"):
        runner.start(tenant.spec("report.ipynb", profile="vanished"))
    down = DockerRunner(config(url="unix:///nonexistent/docker.sock"))
    with pytest.raises(RunnerError, match="Docker engine does not answer"):
        down.start(tenant.spec("report.ipynb"))
    left = client.api.containers(all=True, filters={"label": f"tenanthub.io/tenant={tenant.name}"})
    assert left == []


def test_a_job_keeps_running_when_its_owners_server_is_stopped(
    client: docker.DockerClient, tenant: Tenant, runner: DockerRunner
) -> None:
    cfg = config()
    profile = cfg.profile("small")
    assert profile is not None
    server = container_spec(make_plan(tenant.name, profile, OWNER, ""), cfg.backend.docker, cfg.pip)
    tenant.put("slow.ipynb", notebook("import time; time.sleep(8)", 'print("slow done")'))
    spec = tenant.spec("slow.ipynb")
    handle = runner.start(spec)
    # the owner's server, as the Docker spawner creates it (same volumes, its labels)
    created = client.api.create_container(
        server.image, command=["sleep", "infinity"], name=server.name, user=server.user,
        labels=server.labels, environment=server.environment,
        host_config=client.api.create_host_config(
            binds={v.name: {"bind": v.mount, "mode": "rw"} for v in server.volumes},
            network_mode="host", **server.host_config,
        ),
    )  # fmt: skip
    tenant.containers.append(created["Id"])
    client.api.start(created["Id"])
    # the hub's quota view counts the server and not the job
    seen = client.api.containers(filters={"label": f"tenanthub.io/tenant={tenant.name}"})
    assert len(seen) == 2
    assert [a.key for a in allocations_from_containers(seen)] == [f"{OWNER}/"]
    # the checkpointer saves the server and leaves the job alone
    said = {c["Id"]: server_of(container_ref(c), {}, CHECKPOINTER) for c in seen}
    assert isinstance(said[created["Id"]], Server)
    assert (
        said[handle]
        == "not a notebook server (no tenanthub.io/username, tenanthub.io/server label)"
    )
    until(lambda: runner.poll(handle).state == "running")
    # the server stops (DockerSpawner stops and removes its own container)
    client.api.stop(created["Id"], timeout=1)
    client.api.remove_container(created["Id"])
    assert runner.poll(handle).state == "running"
    status = wait_finished(runner, handle)
    assert status == RunStatus("succeeded", 0), runner.logs(handle, 4000)
    assert "slow done" in outputs(tenant.output(handle, spec))


SPARK_SCRIPT = """\
import json, os
from pyspark.sql import SparkSession
p = json.loads(os.environ["TENANTHUB_JOB_PARAMETERS"])
spark = SparkSession.builder.getOrCreate()
print("master", spark.sparkContext.master)
print("evens", spark.range(p["n"]).filter("id % 2 = 0").count())
spark.stop()
"""


def test_a_spark_script_runs_with_pyspark_local_and_its_parameters(
    client: docker.DockerClient, tenant: Tenant, runner: DockerRunner
) -> None:
    try:
        client.api.inspect_image(SPARK_IMAGE)
    except docker.errors.ImageNotFound:
        need(f"no {SPARK_IMAGE} image; `make images` builds it (scripts/build-images.sh)")
    tenant.put("etl/count.py", SPARK_SCRIPT)
    spec = tenant.spec("etl/count.py", kind="spark", profile="spark", parameters={"n": 1000})
    handle = runner.start(spec)
    status = wait_finished(runner, handle, timeout=240)
    log = runner.logs(handle, 64 * 1024)
    assert status == RunStatus("succeeded", 0), log
    assert "master local[*]" in log and "evens 500" in log


CHECKPOINTER = Settings(
    node="n", registry="127.0.0.1:5000", repository_prefix="tenanthub",
    idle_after=timedelta(0), check_every=1, max_diff_bytes=2**30,
)  # fmt: skip


def container_ref(summary: dict[str, Any]) -> ContainerRef:
    return ContainerRef(
        summary["Id"], summary["Names"][0], summary["Labels"], summary["ImageID"],
        summary["State"] == "running", summary["Image"],
    )  # fmt: skip


@pytest.fixture
def sqlite(tmp_path: Any) -> Iterator[Engine]:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'tenanthub.sqlite'}")
    db.upgrade(engine)
    yield engine
    engine.dispose()


def test_the_scheduler_runs_a_submitted_job_through_the_docker_runner(
    sqlite: Engine, tenant: Tenant, runner: DockerRunner
) -> None:
    TenantStore(sqlite).create_tenant(
        TenantSpec(tenant.name, tenant.name, QuotaLimits(running_jobs=2), None, (), {}, ()), "test"
    )
    tenant.put("nightly.ipynb", notebook("print(rows * 2)", parameters="rows = 1"))
    sched = Scheduler(JobStore(sqlite), runner, JobSettings(poll_every=1, log_tail_bytes=4096))
    spec = JobSpec.model_validate(
        {"name": "nightly", "notebook": "nightly.ipynb", "tenant": tenant.name,
         "profile": "small", "parameters": {"rows": 21}}
    )  # fmt: skip
    _job, queued = sched.store.create_job(spec, OWNER)
    assert queued is not None
    report = sched.tick()
    assert report.started == [queued.id], report.errors

    def ended() -> Run | None:
        sched.tick()
        run = sched.store.get_run(queued.id)
        return run if run is not None and run.finished_at is not None else None

    run = until(ended, timeout=180)
    assert (run.state, run.exit_code, run.runner) == ("succeeded", 0, "docker"), run.reason
    assert "42" in run.log_tail
    assert run.handle is not None
    out = tenant.output(run.handle, tenant.spec("nightly.ipynb", run_id=run.id, job_id=run.job_id))
    assert "42" in outputs(out)


def test_the_scheduler_stops_a_docker_run_past_its_timeout_and_keeps_its_log(
    client: docker.DockerClient, sqlite: Engine, tenant: Tenant, runner: DockerRunner
) -> None:
    TenantStore(sqlite).create_tenant(
        TenantSpec(tenant.name, tenant.name, QuotaLimits(), None, (), {}, ()), "test"
    )
    tenant.put(
        "stuck.ipynb", notebook('print("stuck", flush=True)', "import time; time.sleep(600)")
    )
    now = [datetime.now(UTC)]
    store = JobStore(sqlite, lambda: now[0])
    sched = Scheduler(store, runner, JobSettings(poll_every=1), clock=lambda: now[0])
    spec = JobSpec.model_validate(
        {"name": "stuck", "notebook": "stuck.ipynb", "tenant": tenant.name, "profile": "small",
         "timeout": 60}
    )  # fmt: skip
    _job, queued = store.create_job(spec, OWNER)
    assert queued is not None
    assert sched.tick().started == [queued.id]
    started = store.get_run(queued.id)
    assert started is not None and started.handle is not None
    until(lambda: "stuck" in runner.logs(str(started.handle), 4096))
    now[0] += timedelta(seconds=61)
    assert sched.tick().finished == {queued.id: "timed_out"}
    run = store.get_run(queued.id)
    assert run is not None and run.state == "timed_out"
    assert "stuck" in run.log_tail  # read before the container was removed
    with pytest.raises(docker.errors.NotFound):
        client.api.inspect_container(started.handle)


def test_a_run_starts_from_the_owners_latest_ready_checkpoint(
    client: docker.DockerClient, sqlite: Engine, tenant: Tenant
) -> None:
    ckpt = f"tenanthub/test-ckpt-{tenant.name}:1"
    client.api.tag(IMAGE, f"tenanthub/test-ckpt-{tenant.name}", "1")
    tenant.images.append(ckpt)
    store = CheckpointStore(sqlite)
    made = store.create(OWNER, "", tenant.name, "small", IMAGE, "node-1")
    for state in ("committing", "verifying", "pushing"):
        store.step(made.id, Step(state), keep=3)
    store.step(made.id, Step("ready", image=ckpt, digest="sha256:" + "0" * 64), keep=3)
    # another user's and another profile's checkpoints are not this run's
    other = store.create("bob", "", tenant.name, "small", IMAGE, "node-1")
    for state in ("committing", "verifying", "pushing"):
        store.step(other.id, Step(state), keep=3)
    store.step(other.id, Step("ready", image=IMAGE, digest="sha256:" + "1" * 64), keep=3)

    runner = DockerRunner(config(), docker.from_env, checkpoints=store)
    try:
        tenant.put(
            "env.ipynb", notebook('import os; print("ckpt", os.environ["TENANTHUB_CHECKPOINT"])')
        )
        spec = tenant.spec("env.ipynb")
        handle = runner.start(spec)
        info = client.api.inspect_container(handle)
        assert info["Config"]["Image"] == ckpt
        status = wait_finished(runner, handle)
        assert status.state == "succeeded", runner.logs(handle, 4000)
        assert f"ckpt {made.id}" in outputs(tenant.output(handle, spec))
        # without the store (or with checkpoints off) the profile's image
        plain = DockerRunner(config(), docker.from_env)
        assert plain.plan(spec)[0].image == IMAGE
        off = DockerRunner(config(checkpoints=False), docker.from_env, checkpoints=store)
        assert off.plan(spec)[0].image == IMAGE
    finally:
        runner.close()
