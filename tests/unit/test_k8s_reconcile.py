"""Provisioning decisions: what counts as drift, and what a replace keeps."""

from __future__ import annotations

from typing import Any

from spawner.kubernetes.reconcile import (
    covers,
    decide,
    managed_part,
    merged_for_replace,
    released_volume_claim_fix,
)


def quota(hard: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "tenanthub-quota", "namespace": "th-a", "labels": {"x": "1"}},
        "spec": {"hard": hard},
    }


def live_of(obj: dict[str, Any], **extra_meta: Any) -> dict[str, Any]:
    live = {**obj, "metadata": {**obj["metadata"], "resourceVersion": "7", "uid": "u1"}}
    live["metadata"].update(extra_meta)
    live["status"] = {"hard": obj.get("spec", {}).get("hard", {})}
    return live


def test_missing_object_is_created() -> None:
    assert decide(quota({"pods": "2"}), None) == "create"


def test_server_defaults_and_status_are_not_drift() -> None:
    desired = quota({"pods": "2"})
    live = live_of(desired, creationTimestamp="2026-11-23T00:00:00Z")
    live["spec"] = {"hard": {"pods": "2"}, "scopes": None}
    assert decide(desired, live) == "unchanged"


def test_canonicalised_quantities_are_not_drift() -> None:
    desired = quota({"requests.memory": "4096Mi", "limits.cpu": "2000m"})
    live = live_of(quota({"requests.memory": "4Gi", "limits.cpu": "2"}))
    assert decide(desired, live) == "unchanged"


def test_a_changed_quota_is_an_update() -> None:
    assert decide(quota({"pods": "3"}), live_of(quota({"pods": "2"}))) == "update"


def test_a_removed_list_item_is_drift() -> None:
    assert not covers({"rules": [{"a": 1}, {"b": 2}]}, {"rules": [{"a": 1}]})
    assert covers({"rules": [{"a": 1, "z": 0}]}, {"rules": [{"a": 1}]})


def test_booleans_are_not_numbers() -> None:
    assert not covers(1, True)
    assert covers(False, False)


def test_immutable_kinds_report_drift_instead_of_update() -> None:
    pvc = {
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "d", "namespace": "th-a"},
        "spec": {"storageClassName": "nfs"},
    }
    live = {**pvc, "spec": {"storageClassName": "other"}}
    assert decide(pvc, live) == "drift"


def test_namespace_compares_only_its_metadata() -> None:
    ns = {"kind": "Namespace", "metadata": {"name": "th-a", "labels": {"a": "1"}}}
    assert managed_part(ns) == {"metadata": {"labels": {"a": "1"}}}
    live = {**ns, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
    assert decide(ns, live) == "unchanged"
    live["metadata"] = {"name": "th-a", "labels": {"a": "2"}}
    assert decide(ns, live) == "update"


def test_replace_body_keeps_resource_version_and_foreign_labels() -> None:
    desired = quota({"pods": "3"})
    live = live_of(quota({"pods": "2"}), labels={"x": "old", "team.io/owner": "ops"})
    body = merged_for_replace(desired, live)
    assert body["metadata"]["resourceVersion"] == "7"
    assert body["metadata"]["labels"] == {"x": "1", "team.io/owner": "ops"}
    assert body["spec"] == {"hard": {"pods": "3"}}
    assert "status" not in body


def test_released_volume_gets_its_old_claim_uid_cleared() -> None:
    pv = {
        "spec": {"claimRef": {"name": "tenanthub-data", "namespace": "th-a", "uid": "old"}},
        "status": {"phase": "Released"},
    }
    assert released_volume_claim_fix(pv) == {
        "spec": {"claimRef": {"uid": None, "resourceVersion": None}}
    }
    pv["status"]["phase"] = "Bound"
    assert released_volume_claim_fix(pv) is None


def test_zero_values_the_api_server_omits_are_not_drift() -> None:
    desired = {"spec": {"storageClassName": "", "nfs": {"path": "/x", "readOnly": False}}}
    live = {"spec": {"nfs": {"path": "/x", "server": "s"}, "storageClassName": None}}
    assert covers(live, desired)
    assert not covers(live, {"spec": {"nfs": {"readOnly": True}}})


def test_the_provisioner_stops_waiting_once_its_hub_is_gone() -> None:
    """A killed hub must not leave its provisioner running beside the next hub's."""
    import asyncio

    from spawner.kubernetes.reconciler import orphaned_within

    parents = iter([100, 100, 1])
    assert asyncio.run(orphaned_within(30, 100, lambda: next(parents), check_every=0.001))
    assert not asyncio.run(orphaned_within(0.01, 100, lambda: 100, check_every=0.001))
