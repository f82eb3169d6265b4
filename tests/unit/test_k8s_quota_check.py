"""Live ResourceQuota pre-check: what a pod counts and when it does not fit."""

from __future__ import annotations

from spawner.kubernetes.quota_check import (
    live_quota_message,
    live_quota_shortfalls,
    pod_quota_usage,
)


def pod(requests: dict[str, str], limits: dict[str, str]) -> dict:
    return {
        "spec": {
            "containers": [
                {"name": "notebook", "resources": {"requests": requests, "limits": limits}}
            ]
        }
    }


def test_pod_usage_counts_requests_limits_pods_and_gpus() -> None:
    usage = pod_quota_usage(
        pod(
            {"cpu": "500m", "memory": "1Gi"},
            {"cpu": "2", "memory": "2Gi", "nvidia.com/gpu": "1"},
        )
    )
    assert usage == {
        "pods": "1",
        "requests.cpu": "500m",
        "requests.memory": "1Gi",
        "limits.cpu": "2",
        "limits.memory": "2Gi",
        "requests.nvidia.com/gpu": "1",
    }


def test_fits_when_used_plus_request_is_within_hard() -> None:
    hard = {"limits.cpu": "4", "pods": "3"}
    used = {"limits.cpu": "2", "pods": "2"}
    assert live_quota_shortfalls(hard, used, {"limits.cpu": "2", "pods": "1"}) == []


def test_each_exceeded_resource_is_named_with_its_numbers() -> None:
    hard = {"limits.cpu": "4", "limits.memory": "4Gi", "pods": "2", "requests.storage": "1Ti"}
    used = {"limits.cpu": "3500m", "limits.memory": "1Gi", "pods": "2"}
    request = {"limits.cpu": "1", "limits.memory": "1Gi", "pods": "1"}
    problems = live_quota_shortfalls(hard, used, request)
    assert [p.resource for p in problems] == ["limits.cpu", "pods"]
    message = live_quota_message("vision", problems)
    assert "limits.cpu: 3500m in use + 1 requested > 4 allowed" in message
    assert "pods: 2 in use + 1 requested > 2 allowed" in message
    assert message.startswith("Tenant 'vision' is over its Kubernetes quota")


def test_resources_the_quota_does_not_limit_are_ignored() -> None:
    assert live_quota_shortfalls({"pods": "5"}, {}, {"limits.cpu": "64"}) == []
