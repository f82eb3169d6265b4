"""choose_backend: explicit backends must exist; auto says why it picked what it picked."""

from __future__ import annotations

import pytest

from hub.app.backend import BackendChoice, BackendUnavailable, choose_backend


def test_explicit_unimplemented_backend_is_refused() -> None:
    with pytest.raises(BackendUnavailable) as caught:
        choose_backend("kubernetes", True, True, implemented=frozenset({"local", "docker"}))
    message = str(caught.value)
    assert "backend.kind: 'kubernetes'" in message and "available: docker, local" in message


def test_every_backend_is_in_this_version() -> None:
    for kind in ("kubernetes", "docker", "local"):
        assert choose_backend(kind, False, False).kind == kind


def test_only_local_is_refused_as_docker_when_docker_is_not_in_the_build() -> None:
    with pytest.raises(BackendUnavailable):
        choose_backend("docker", False, True, implemented=frozenset({"local"}))


def test_explicit_local_backend_is_used() -> None:
    assert choose_backend("local", in_cluster=True, docker_answers=True) == BackendChoice(
        "local", "set in the config (backend.kind)"
    )


def test_auto_outside_a_cluster_without_docker_picks_local_and_says_why() -> None:
    choice = choose_backend("auto", in_cluster=False, docker_answers=False)
    assert choice.kind == "local"
    assert "not inside a Kubernetes cluster" in choice.reason
    assert "no Docker engine answers" in choice.reason
    assert "NOT isolated" in choice.reason


def test_auto_picks_docker_when_an_engine_answers() -> None:
    choice = choose_backend("auto", in_cluster=False, docker_answers=True)
    assert choice == BackendChoice("docker", "a Docker engine answers")


def test_auto_falls_back_to_local_when_docker_answers_but_is_not_implemented() -> None:
    choice = choose_backend("auto", False, True, implemented=frozenset({"local"}))
    assert choice.kind == "local"
    assert "docker backend is not in this version" in choice.reason


def test_auto_in_a_cluster_falls_back_to_local_when_kubernetes_is_not_in_the_build() -> None:
    choice = choose_backend("auto", True, False, implemented=frozenset({"local", "docker"}))
    assert choice.kind == "local"
    assert "kubernetes backend is not in this version" in choice.reason


def test_auto_prefers_kubernetes_then_docker_when_they_are_implemented() -> None:
    every = frozenset({"local", "docker", "kubernetes"})
    assert choose_backend("auto", True, True, implemented=every).kind == "kubernetes"
    assert choose_backend("auto", False, True, implemented=every).kind == "docker"
    assert choose_backend("auto", False, False, implemented=every).kind == "local"
