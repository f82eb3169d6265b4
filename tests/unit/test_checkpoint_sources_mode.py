"""``python -m checkpointer`` picks Docker or Kubernetes mode on purpose, never by guess."""

from __future__ import annotations

import pytest

from checkpointer.__main__ import ModeError, choose_mode, kubernetes_node


def test_the_environment_sets_the_mode() -> None:
    assert choose_mode("kubernetes", "docker", in_cluster=False) == (
        "kubernetes",
        "set by TENANTHUB_CHECKPOINTER_MODE",
    )
    assert choose_mode(" Docker ", "kubernetes", in_cluster=True)[0] == "docker"


def test_an_unknown_mode_is_refused_with_the_choices() -> None:
    with pytest.raises(
        ModeError, match=r"TENANTHUB_CHECKPOINTER_MODE='k8s': use one of docker, kubernetes"
    ):
        choose_mode("k8s", "kubernetes", in_cluster=True)


def test_without_it_the_backend_decides() -> None:
    assert choose_mode(None, "kubernetes", in_cluster=False)[0] == "kubernetes"
    assert choose_mode("", "docker", in_cluster=True)[0] == "docker"
    assert choose_mode(None, "auto", in_cluster=True) == (
        "kubernetes",
        "backend.kind is auto and this runs inside a Kubernetes cluster",
    )
    assert choose_mode(None, "auto", in_cluster=False)[0] == "docker"


def test_the_local_backend_has_nothing_to_checkpoint() -> None:
    with pytest.raises(ModeError, match=r"backend\.kind is local: its servers are not containers"):
        choose_mode(None, "local", in_cluster=False)


def test_kubernetes_mode_needs_the_node_name_from_the_downward_api() -> None:
    assert kubernetes_node({"TENANTHUB_NODE": "node-a"}) == "node-a"
    with pytest.raises(ModeError, match="needs TENANTHUB_NODE"):
        kubernetes_node({})
    with pytest.raises(ModeError):
        kubernetes_node({"TENANTHUB_NODE": " "})
