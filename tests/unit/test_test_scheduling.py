"""The test suite's own scheduling on pytest-xdist workers (tests/scheduling.py): tests
that share an engine never run side by side, a module's tests stay together, and a
module that uses the project's Docker engine cannot forget to say so."""

from __future__ import annotations

import re

from tests.scheduling import (
    DOCKER_ENGINE,
    DOCKER_MARK,
    KUBERNETES_CLUSTER,
    ROOT,
    SHARED_ENGINES,
    run_order,
    scope_of,
)

#: what a module that starts containers on the project's engine says somewhere
USES_DOCKER = re.compile(
    r'"kind": "docker"|kind: docker|docker_engine|project_engine_with|DockerSpawner'
    r'|docker\.from_env|DockerClient|import docker|\["docker"|sh\("(run|rmi|rm|ps)"'
)


def test_every_cluster_test_shares_one_scope() -> None:
    assert scope_of("tests/k8s/test_hub_k8s.py::test_spawn") == KUBERNETES_CLUSTER
    assert scope_of("tests/k8s/test_chart_k8s.py::test_install[x]") == KUBERNETES_CLUSTER


def test_modules_marked_for_the_docker_engine_share_one_scope() -> None:
    assert scope_of("tests/integration/test_hub_docker.py::test_spawn") == DOCKER_ENGINE
    assert scope_of("tests/faults/test_docker_engine_restarted.py::t[live]") == DOCKER_ENGINE


def test_other_tests_are_scheduled_by_module() -> None:
    assert scope_of("tests/unit/test_cli.py::test_a") == "tests/unit/test_cli.py"
    assert scope_of("tests/unit/test_cli.py::test_b[p::q]") == "tests/unit/test_cli.py"
    assert scope_of("tests/browser/test_console.py::test_x") == "tests/browser/test_console.py"


def test_shared_engines_start_first_and_the_log_scan_comes_last() -> None:
    ids = [
        "tests/unit/test_cli.py::t",
        "tests/k8s/test_hub_k8s.py::t",
        "tests/integration/test_hub_docker.py::t",
    ]
    assert sorted(ids, key=lambda i: run_order(i, False)) == [ids[2], ids[1], ids[0]]
    assert run_order("tests/integration/test_log_secrets.py::t", True) > max(
        run_order(i, False) for i in ids
    )
    assert len(SHARED_ENGINES) == 2


def test_a_module_that_uses_the_docker_engine_is_marked() -> None:
    """Unmarked, such a module would run beside the engine's other tests and collide on
    container names: the mark is how the scheduler knows."""
    unmarked = []
    for module in sorted(ROOT.glob("tests/*/test_*.py")):
        if module.parent.name in ("unit", "k8s"):
            continue  # unit tests start no container; the cluster's tests have their scope
        text = module.read_text()
        if USES_DOCKER.search(text) and DOCKER_MARK not in text:
            unmarked.append(str(module.relative_to(ROOT)))
    assert unmarked == []
    assert scope_of("tests/integration/test_checkpoint_layer.py::t") == DOCKER_ENGINE
