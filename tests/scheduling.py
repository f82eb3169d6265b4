"""Which tests may run side by side on pytest-xdist workers, and in what order.

``scripts/run-tests.sh`` runs the suite on several workers with ``--dist loadscope``;
``tests/conftest.py`` hands pytest-xdist the scheduler below. Its unit of work is a
*scope*: the tests of one scope run one after another, in collection order, on one
worker. A scope is

- ``kubernetes-cluster``: every module under ``tests/k8s``. They share the one test
  cluster (its namespaces, the chart's cluster-wide objects, the API server that a fault
  test restarts under the others);
- ``docker-engine``: every module marked ``pytest.mark.docker_engine``. They share the
  project's Docker engine (container names such as ``jupyter-bob``, images, checkpoints);
- else the test's module: some modules share a module-scoped hub and build on what the
  test before left (the console's data sources, the Lab's datasets).

The scheduler sees node ids only (the controller does not collect), so the mark is
read from the module's text, the same text pytest reads it from.
"""

from __future__ import annotations

import functools
from pathlib import Path

from xdist.scheduler import LoadScopeScheduling

ROOT = Path(__file__).resolve().parents[1]
K8S_DIR = ROOT / "tests" / "k8s"
KUBERNETES_CLUSTER = "kubernetes-cluster"
DOCKER_ENGINE = "docker-engine"
#: the shared engines' scopes, in the order they start: the longest chains of tests that
#: cannot be split go first, so the other workers take the modules meanwhile
SHARED_ENGINES = (DOCKER_ENGINE, KUBERNETES_CLUSTER)
DOCKER_MARK = "pytest.mark.docker_engine"


@functools.cache
def marks_docker_engine(module: Path) -> bool:
    try:
        return DOCKER_MARK in module.read_text()
    except OSError:
        return False


def scope_of(nodeid: str) -> str:
    """The scope of a test by its node id (``tests/x/test_y.py::test_z[param]``)."""
    module = nodeid.split("::", 1)[0]
    path = ROOT / module
    if K8S_DIR in path.parents:
        return KUBERNETES_CLUSTER
    if marks_docker_engine(path):
        return DOCKER_ENGINE
    return module


def run_order(nodeid: str, log_scan: bool) -> int:
    """Sort key: the shared engines' scopes first (``--no-loadscope-reorder`` keeps the
    order), the rest as collected, the log scan last."""
    if log_scan:
        return len(SHARED_ENGINES) + 1
    scope = scope_of(nodeid)
    return SHARED_ENGINES.index(scope) if scope in SHARED_ENGINES else len(SHARED_ENGINES)


class SharedEngineScheduling(LoadScopeScheduling):
    """pytest-xdist's load-by-scope scheduling with the scopes of :func:`scope_of`."""

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)
