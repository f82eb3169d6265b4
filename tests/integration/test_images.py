"""The notebook images (`make images`): what a user's server and a job rely on in them.

The images are built by `make images` (scripts/build-images.sh), never by these tests:
a build takes minutes. A missing or stale image fails with "run `make images`". The
Dockerfile and notebook checks need no engine. Containers run with `--network none`
and the Docker backend's hardening (uid 1000, no capabilities, no-new-privileges).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import shlex
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import jupyterhub
import nbformat
import pytest

import hub
from tests.conftest import need

pytestmark = [pytest.mark.integration, pytest.mark.docker_engine]

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "images"
PROFILES = ("base", "cpu", "spark", "gpu")
BUILT = ("base", "cpu", "spark")  # by `make images`; gpu is opt-in (`make images-gpu`)
TOUR = ("01-welcome.ipynb", "02-datasets.ipynb", "03-jobs.ipynb")
NOTEBOOKS_IN_IMAGE = "/usr/local/share/tenanthub/notebooks"
BUILD_CA = "/tmp/tenanthub-build-ca.crt"
HARDENED = (
    "--network",
    "none",
    "--user",
    "1000:100",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
)
REQUIRED_LABELS = (
    "org.opencontainers.image.version",
    "io.tenanthub.base-image-digest",
    "io.tenanthub.profile",
    "io.tenanthub.jupyterhub-version",
)


def image(profile: str) -> str:
    return f"tenanthub/notebook-{profile}:latest"


def docker(
    *args: str, check: bool = True, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check, timeout=timeout
    )


def run(
    profile: str,
    *command: str,
    env: dict[str, str] | None = None,
    mounts: tuple[str, ...] = (),
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`docker run --rm` of a built image as the Docker backend runs servers, offline."""
    args = ["run", "--rm", *HARDENED]
    for key, value in (env or {}).items():
        args += ["-e", f"{key}={value}"]
    for mount in mounts:
        args += ["-v", mount]
    result = docker(*args, image(profile), *command, check=False)
    if check and result.returncode != 0:
        pytest.fail(
            f"{shlex.join(command)} in {image(profile)} exited {result.returncode}:\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        )
    return result


# ------------------------------------------------------------------ Dockerfiles (no engine)


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        instruction, _, arguments = line.partition(" ")
        out.append((instruction.upper(), arguments.strip()))
    assert not pending, f"{path}: ends inside a continued line"
    return out


def labels_of(instructions: list[tuple[str, str]]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for instruction, arguments in instructions:
        if instruction == "LABEL":
            for pair in shlex.split(arguments):
                key, _, value = pair.partition("=")
                labels[key] = value
    return labels


@pytest.mark.parametrize("profile", PROFILES)
def test_dockerfile_takes_base_image_is_labelled_and_ends_unprivileged(profile: str) -> None:
    instructions = dockerfile_instructions(IMAGES / profile / "Dockerfile")
    assert instructions[0] == ("ARG", "BASE_IMAGE")
    assert [a for i, a in instructions if i == "FROM"] == ["${BASE_IMAGE}"]
    labels = labels_of(instructions)
    assert set(REQUIRED_LABELS) <= set(labels)
    assert labels["io.tenanthub.profile"] == profile
    assert labels["org.opencontainers.image.version"] == "${TENANTHUB_VERSION}"
    assert labels["io.tenanthub.base-image-digest"] == "${BASE_IMAGE_DIGEST}"
    assert labels["io.tenanthub.jupyterhub-version"] == "${JUPYTERHUB_VERSION}"
    users = [a for i, a in instructions if i == "USER"]
    assert users and users[-1] == "1000", users
    assert instructions[-1] == ("USER", "1000")
    # the build host's CA is build-time pip's PIP_CERT only: deleted in the RUN that uses it
    for instruction, arguments in instructions:
        if instruction == "ENV":
            assert "PIP_CERT" not in arguments and BUILD_CA not in arguments
        if instruction == "RUN" and BUILD_CA in arguments:
            assert f"rm -f {BUILD_CA}" in arguments, arguments


def test_gpu_image_is_cuda_pytorch_and_opt_in() -> None:
    instructions = dockerfile_instructions(IMAGES / "gpu" / "Dockerfile")
    assert [a for i, a in instructions if i == "FROM"] == ["${BASE_IMAGE}"]
    requirements = (IMAGES / "gpu" / "requirements.txt").read_text().split("\n")
    assert any(line.startswith("torch") for line in requirements)
    runs = " ".join(a for i, a in instructions if i == "RUN")
    assert "torch.version.cuda" in runs  # the build fails on a CPU-only torch
    assert "USER root" not in [f"{i} {a}" for i, a in instructions[-3:]]
    makefile = (ROOT / "Makefile").read_text()
    images_recipe = makefile.split("\nimages:\n", 1)[1].split("\n\n", 1)[0]
    assert "gpu" not in images_recipe
    assert "build-images.sh gpu" in makefile.split("\nimages-gpu:\n", 1)[1]


def test_demo_notebooks_are_a_short_valid_tour() -> None:
    names = sorted(p.name for p in (IMAGES / "notebooks").iterdir())
    assert names == list(TOUR)
    notebooks = {name: nbformat.read(IMAGES / "notebooks" / name, as_version=4) for name in names}
    for notebook in notebooks.values():
        nbformat.validate(notebook)
        assert notebook.metadata.kernelspec.name == "python3"
        assert all(not cell.get("outputs") for cell in notebook.cells)
    jobs = notebooks["03-jobs.ipynb"]
    tagged = [c for c in jobs.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    datasets = " ".join(c.source for c in notebooks["02-datasets.ipynb"].cells)
    assert "jupyterlab-tenanthub" in datasets and "not in this image yet" in datasets


# ------------------------------------------------------------------ built images


@pytest.fixture(scope="module")
def engine() -> None:
    try:
        info = docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=30)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        info = None
    if info is None or info.returncode != 0:
        need("no Docker engine answers (start one with scripts/dockerd.sh up)")


def inspect(name: str) -> dict:
    result = docker("image", "inspect", name, check=False)
    if result.returncode != 0:
        pytest.fail(f"image {name} is missing: run `make images`")
    return dict(json.loads(result.stdout)[0])


@pytest.fixture(scope="module")
def built(engine: None) -> dict[str, dict]:
    """`docker image inspect` of every image `make images` builds; missing: fail."""
    return {profile: inspect(image(profile)) for profile in BUILT}


@pytest.mark.parametrize("profile", BUILT)
def test_image_carries_the_current_entrypoint_and_notebooks(built, profile: str) -> None:
    # an image older than images/ is stale: the other tests would test old files
    files = {f"{NOTEBOOKS_IN_IMAGE}/{n}": IMAGES / "notebooks" / n for n in TOUR}
    files["/usr/local/bin/tenanthub-start"] = IMAGES / "base" / "tenanthub-start"
    script = "; ".join(f"sha256sum {shlex.quote(path)}" for path in files)
    out = run(profile, "bash", "-c", script).stdout.split("\n")
    in_image = {line.split()[1]: line.split()[0] for line in out if line.strip()}
    stale = [
        path
        for path, source in files.items()
        if in_image.get(path) != hashlib.sha256(source.read_bytes()).hexdigest()
    ]
    assert not stale, f"{image(profile)} is older than images/ ({stale}): run `make images`"


def test_cpu_image_imports_the_data_stack_offline(built) -> None:
    result = run(
        "cpu",
        "python",
        "-c",
        "import numpy, pandas, sklearn, matplotlib, pyarrow, papermill, ipywidgets",
    )
    assert result.returncode == 0


@pytest.mark.parametrize("profile", BUILT)
def test_image_has_the_current_notebook_sdk(built, profile: str) -> None:
    """``from tenanthub import datasets`` works in every image, and it is this SDK."""
    sdk = IMAGES / "sdk" / "tenanthub" / "datasets.py"
    script = (
        "import hashlib, tenanthub.datasets as d; "
        "print(hashlib.sha256(open(d.__file__, 'rb').read()).hexdigest())"
    )
    result = run(profile, "python", "-c", script)
    assert result.stdout.strip() == hashlib.sha256(sdk.read_bytes()).hexdigest(), (
        f"{image(profile)} has another notebook SDK than images/sdk: run `make images`"
    )


@pytest.mark.parametrize("profile", BUILT)
def test_image_has_the_current_jupyterlab_extension_enabled(built, profile: str) -> None:
    """jupyterlab-tenanthub is in every image: its server extension and its prebuilt
    labextension are enabled, and they are this checkout's."""
    handlers = ROOT / "extensions" / "jupyterlab-tenanthub" / "jupyterlab_tenanthub" / "handlers.py"
    script = (
        "python -c 'import hashlib, jupyterlab_tenanthub.handlers as h; "
        'print(hashlib.sha256(open(h.__file__, "rb").read()).hexdigest())\' && '
        "jupyter server extension list 2>&1 && jupyter labextension list 2>&1"
    )
    out = re.sub(r"\x1b\[[0-9;]*m", "", run(profile, "bash", "-c", script).stdout)
    assert out.split("\n")[0] == hashlib.sha256(handlers.read_bytes()).hexdigest(), (
        f"{image(profile)} has another JupyterLab extension than extensions/: run `make images`"
    )
    assert re.search(r"jupyterlab_tenanthub enabled", out), out
    lab = r"jupyterlab-tenanthub v\S+ enabled OK \(python, jupyterlab_tenanthub\)"
    assert re.search(lab, out), out


@pytest.mark.parametrize("profile", BUILT)
def test_jupyterhub_in_image_is_the_hubs_version(built, profile: str) -> None:
    result = run(
        profile,
        "bash",
        "-c",
        "python -c 'import jupyterhub; print(jupyterhub.__version__)' "
        "&& jupyterhub-singleuser --version && jupyter lab --version",
    )
    hub_version, singleuser_version, lab_version = result.stdout.split()
    assert hub_version == singleuser_version == jupyterhub.__version__
    assert lab_version.startswith("4.")


@pytest.mark.parametrize("profile", BUILT)
def test_labels_name_version_base_profile_and_jupyterhub(built, profile: str) -> None:
    labels = built[profile]["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == hub.__version__
    assert labels["io.tenanthub.profile"] == profile
    assert labels["io.tenanthub.jupyterhub-version"] == jupyterhub.__version__
    digest = labels["io.tenanthub.base-image-digest"]
    base = inspect(digest)  # the debootstrapped base the image was built on is here
    assert base["Id"] == digest
    assert any(tag.startswith("tenanthub/debian-bookworm:") for tag in base["RepoTags"])
    # one base for the whole family
    assert {b["Config"]["Labels"]["io.tenanthub.base-image-digest"] for b in built.values()} == {
        digest
    }


@pytest.mark.parametrize("profile", BUILT)
def test_server_runs_as_jovyan_with_jupyterhub_singleuser(built, profile: str) -> None:
    config = built[profile]["Config"]
    assert config["User"] == "1000"
    assert config["Cmd"] == ["jupyterhub-singleuser"]
    assert config["Entrypoint"][-1] == "/usr/local/bin/tenanthub-start"
    result = run(
        profile,
        "bash",
        "-c",
        "id -u; id -g; echo $HOME; stat -c %u:%g /opt/venv /home/jovyan; "
        f"test ! -e {BUILD_CA} && echo no-build-ca; env | grep -c '^PIP_CERT=' || true",
    )
    assert result.stdout.split() == [
        "1000",
        "100",
        "/home/jovyan",
        "1000:100",
        "1000:100",
        "no-build-ca",
        "0",
    ]


def make_wheel(directory: Path) -> Path:
    """A tiny pure-Python wheel, written by hand: no build tools, no index."""
    name, version = "tenanthub_probe", "0.1"
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"VALUE = 42\n",
        f"{dist_info}/METADATA": b"Metadata-Version: 2.1\nName: tenanthub-probe\nVersion: 0.1\n",
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tenanthub-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    wheel.chmod(0o644)
    return wheel


def test_pip_install_as_uid_1000_goes_into_the_venv_without_network(built, tmp_path) -> None:
    tmp_path.chmod(0o755)
    wheel = make_wheel(tmp_path)
    result = run(
        "cpu",
        "bash",
        "-c",
        f"pip install --no-index /wheels/{wheel.name} >&2 && "
        "python -c 'import tenanthub_probe as p; print(p.VALUE, p.__file__)'",
        mounts=(f"{tmp_path}:/wheels:ro",),
    )
    value, where = result.stdout.split()
    assert value == "42"
    assert where.startswith("/opt/venv/lib/python3.11/site-packages/tenanthub_probe/")


PIP_ENV = {
    "TENANTHUB_PIP_INDEX_URL": "https://reader:s3cret-token@mirror.example/simple",
    "TENANTHUB_PIP_EXTRA_INDEX_URL": "https://a.example/simple https://b.example/simple",
    "TENANTHUB_PIP_TRUSTED_HOST": "mirror.example a.example",
    "TENANTHUB_PIP_CERT": "/etc/tenanthub/pip-ca.crt",
}


def test_entrypoint_renders_pip_conf_from_env_and_logs_no_secret(built, tmp_path) -> None:
    ca = tmp_path / "mirror-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nnot-a-real-ca\n-----END CERTIFICATE-----\n")
    ca.chmod(0o644)
    result = run(
        "cpu",
        "pip",
        "config",
        "list",
        env=PIP_ENV,
        mounts=(f"{ca}:/etc/tenanthub/pip-ca.crt:ro",),
    )
    settings = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert settings["global.index-url"] == repr(PIP_ENV["TENANTHUB_PIP_INDEX_URL"])
    assert settings["global.extra-index-url"].split("\\n")[1:] == [
        "https://a.example/simple",
        "https://b.example/simple'",
    ]
    assert settings["global.trusted-host"].split("\\n")[1:] == ["mirror.example", "a.example'"]
    assert settings["global.cert"] == "'/etc/tenanthub/pip-ca.crt'"
    assert "pip configured in /opt/venv/pip.conf" in result.stderr
    assert "s3cret" not in result.stderr
    assert "mirror.example" not in result.stderr


def test_entrypoint_keeps_pip_defaults_and_foreign_pip_conf(built) -> None:
    # tenanthub-start run again inside one container: the next start of a checkpoint
    script = (
        "set -e; conf=/opt/venv/pip.conf; test ! -e $conf && echo none; "
        "TENANTHUB_PIP_INDEX_URL=https://m.example/simple tenanthub-start true 2>/dev/null; "
        "grep -c m.example $conf; "
        "tenanthub-start true 2>/dev/null; test ! -e $conf && echo removed; "
        "printf '[global]\\ntimeout = 7\\n' > $conf; "
        "TENANTHUB_PIP_INDEX_URL=https://m.example/simple tenanthub-start true; cat $conf"
    )
    result = run("cpu", "bash", "-c", script)
    assert result.stdout.split("\n")[:5] == ["none", "1", "removed", "[global]", "timeout = 7"]
    assert "not written by tenanthub-start" in result.stderr


@pytest.fixture
def home_volume(engine: None) -> Iterator[str]:
    name = f"tenanthub-test-home-{secrets.token_hex(4)}"
    docker("volume", "create", "--label", "app.kubernetes.io/managed-by=tenanthub-tests", name)
    yield name
    docker("volume", "rm", "-f", name, check=False)


def test_demo_notebooks_are_copied_once_and_never_over_user_files(built, home_volume) -> None:
    home = (f"{home_volume}:/home/jovyan",)
    tour = "/home/jovyan/tenanthub-tour"

    first = run("cpu", "bash", "-c", f"cat {tour}/03-jobs.ipynb", mounts=home)
    assert "copied 3 demo notebook(s)" in first.stderr
    assert first.stdout == (IMAGES / "notebooks" / "03-jobs.ipynb").read_text()

    # the user edits one and deletes another; the next start copies nothing
    second = run(
        "cpu",
        "bash",
        "-c",
        f"echo mine > {tour}/01-welcome.ipynb && rm {tour}/02-datasets.ipynb",
        mounts=home,
    )
    assert "copied" not in second.stderr
    third = run("cpu", "bash", "-c", f"cat {tour}/01-welcome.ipynb; ls {tour}", mounts=home)
    assert third.stdout.split() == ["mine", "01-welcome.ipynb", "03-jobs.ipynb"]
    assert "copied" not in third.stderr

    # even without the marker, a user's file is never replaced
    run("cpu", "rm", "/home/jovyan/.tenanthub/demo-copied", mounts=home)
    fourth = run("cpu", "bash", "-c", f"cat {tour}/01-welcome.ipynb; ls {tour}", mounts=home)
    assert fourth.stdout.split() == ["mine", *TOUR]
    assert "copied 1 demo notebook(s)" in fourth.stderr


def test_jobs_notebook_runs_under_papermill_with_injected_parameters(built) -> None:
    result = run(
        "cpu",
        "bash",
        "-c",
        f"papermill {NOTEBOOKS_IN_IMAGE}/03-jobs.ipynb /tmp/out.ipynb "
        "-p rows 50 -p seed 7 -p label ci >&2 && cat /tmp/out.ipynb",
    )
    out = nbformat.reads(result.stdout, as_version=4)
    tags = [cell.metadata.get("tags", []) for cell in out.cells]
    injected = tags.index(["injected-parameters"])
    assert tags[injected - 1] == ["parameters"]
    printed = "".join(
        output.get("text", "") for cell in out.cells for output in cell.get("outputs", [])
    )
    assert "job ci: 50 rows" in printed


def test_spark_image_runs_a_local_spark_job_offline(built) -> None:
    result = run(
        "spark",
        "python",
        "-c",
        "from pyspark.sql import SparkSession\n"
        "spark = (SparkSession.builder.master('local[1]')"
        ".config('spark.ui.enabled', 'false').getOrCreate())\n"
        "print('evens', spark.range(1000).filter('id % 2 = 0').count())\n"
        "spark.stop()\n",
    )
    assert "evens 500" in result.stdout
