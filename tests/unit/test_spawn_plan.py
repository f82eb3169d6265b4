"""The spawn plan every backend renders, and local paths no username can escape."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.tenancy.names import InvalidNameError
from hub.tenancy.quota import Resources
from spawner.plan import LocalPaths, SpawnPlan, local_paths, make_plan
from tests.unit.builders import profile

GiB = 2**30


def test_plan_is_built_from_tenant_profile_and_user() -> None:
    p = profile(
        "small",
        image="example/notebook:1",
        cpu={"guarantee": "250m", "limit": "1"},
        memory={"guarantee": "512Mi", "limit": "2Gi"},
    )
    assert make_plan("vision", p, "Alice.Smith", "vision") == SpawnPlan(
        tenant="vision",
        profile="small",
        username="Alice.Smith",
        server_name="vision",
        image="example/notebook:1",
        resources=Resources(cpu_millis=1000, memory_bytes=2 * GiB, servers=1),
        cpu_guarantee=0.25,
        cpu_limit=1.0,
        mem_guarantee=512 * 2**20,
        mem_limit=2 * GiB,
        gpu=0,
        labels={
            "app.kubernetes.io/managed-by": "tenanthub",
            "tenanthub.io/tenant": "vision",
            "tenanthub.io/profile": "small",
            "tenanthub.io/user": "41lice-2e-53mith-z2ece82500f",
        },
        env={"TENANTHUB_TENANT": "vision", "TENANTHUB_PROFILE": "small"},
    )


def test_plan_leaves_unset_sizes_unset() -> None:
    plan = make_plan("vision", profile("bare", gpu=2), "bob", "")
    assert (plan.cpu_guarantee, plan.cpu_limit, plan.mem_guarantee, plan.mem_limit) == (
        None,
        None,
        None,
        None,
    )
    assert plan.gpu == 2
    assert plan.resources == Resources(gpu=2, servers=1)


def test_plan_refuses_an_invalid_tenant() -> None:
    with pytest.raises(InvalidNameError):
        make_plan("../x", profile("p"), "bob", "")


def test_local_paths_are_under_the_tenant_folder(tmp_path: Path) -> None:
    assert local_paths(tmp_path, "vision", "alice") == LocalPaths(
        home=tmp_path / "tenants" / "vision" / "home" / "alice",
        shared=tmp_path / "tenants" / "vision" / "shared",
    )


@pytest.mark.parametrize(
    "username", ["..", "../..", "../../etc", "a/../../b", "/root", "..\\..", ".", "~root", "a/b"]
)
def test_no_username_escapes_the_tenant_home_folder(tmp_path: Path, username: str) -> None:
    paths = local_paths(tmp_path, "vision", username)
    homes = (tmp_path / "tenants" / "vision" / "home").resolve()
    assert paths.home.resolve().parent == homes
    assert paths.home.resolve() != homes


def test_different_usernames_get_different_homes(tmp_path: Path) -> None:
    assert (
        local_paths(tmp_path, "vision", "a.b").home != local_paths(tmp_path, "vision", "a-b").home
    )


def test_local_paths_refuse_an_invalid_tenant(tmp_path: Path) -> None:
    with pytest.raises(InvalidNameError):
        local_paths(tmp_path, "..", "alice")


def test_empty_username_cannot_get_the_folder_of_all_homes(tmp_path: Path) -> None:
    with pytest.raises(InvalidNameError):
        local_paths(tmp_path, "vision", "")
