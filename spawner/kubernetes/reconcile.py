"""Pure decisions of provisioning: does a live object already match what we want?

The API server adds defaults and status to every object, and canonicalises
quantities (``4096Mi`` reads back as ``4Gi``), so "equal" means: every field
we set has the same value in the live object. Kept apart from the I/O so the
rules are unit-tested without a cluster.
"""

from __future__ import annotations

from typing import Any

from hub.config.quantities import parse_bytes, parse_cpu_millis

#: Kinds whose spec the API server does not let us change after creation.
#: Provisioning creates them when missing and otherwise only reports drift.
IMMUTABLE_KINDS = frozenset({"PersistentVolume", "PersistentVolumeClaim"})

#: Kinds where only metadata (labels, annotations) is ours to keep in line.
METADATA_ONLY_KINDS = frozenset({"Namespace"})


def _same_quantity(a: str, b: str) -> bool:
    for parse in (parse_bytes, parse_cpu_millis):
        try:
            return parse(a) == parse(b)
        except ValueError:
            continue
    return False


def _zero(value: Any) -> bool:
    """The API server omits zero values (``readOnly: false``, ``storageClassName: ""``)."""
    return value in ("", False, 0, None) or value == [] or value == {}


def covers(live: Any, desired: Any) -> bool:
    """True when ``live`` has every value of ``desired`` (extra live fields are ignored).

    Lists must have the same length and cover item by item: a rule removed
    from a NetworkPolicy or a subject removed from a RoleBinding is drift.
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        return all(
            covers(live[key], value) if key in live and live[key] is not None else _zero(value)
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return False
        return all(covers(a, b) for a, b in zip(live, desired, strict=True))
    if isinstance(desired, str) and isinstance(live, str) and desired != live:
        return _same_quantity(live, desired)
    if isinstance(desired, bool) or isinstance(live, bool):
        return live is desired
    if isinstance(desired, int) and isinstance(live, str):  # quantities given as numbers
        return _same_quantity(live, str(desired))
    return bool(live == desired)


def managed_part(obj: dict[str, Any]) -> dict[str, Any]:
    """The fields of a desired object provisioning keeps in line with the cluster."""
    metadata = obj.get("metadata", {})
    part: dict[str, Any] = {
        "metadata": {key: metadata[key] for key in ("labels", "annotations") if key in metadata}
    }
    if obj["kind"] in METADATA_ONLY_KINDS:
        return part
    for key, value in obj.items():
        if key not in ("apiVersion", "kind", "metadata", "status"):
            part[key] = value
    return part


def decide(desired: dict[str, Any], live: dict[str, Any] | None) -> str:
    """``create``, ``unchanged``, ``update``, or ``drift`` (differs, but must not be changed)."""
    if live is None:
        return "create"
    if covers(live, managed_part(desired)):
        return "unchanged"
    if desired["kind"] in IMMUTABLE_KINDS:
        return "drift"
    return "update"


def merged_for_replace(desired: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """The body of a PUT: ours, on top of the live metadata (resourceVersion, foreign labels).

    Replacing rather than merge-patching removes what we no longer want (a
    quota resource taken away, an egress rule deleted); keeping the live
    labels and annotations we do not manage leaves other tools' marks alone.
    """
    body = {key: value for key, value in desired.items()}
    live_meta = live.get("metadata", {})
    meta = dict(desired.get("metadata", {}))
    meta["resourceVersion"] = live_meta.get("resourceVersion")
    for key in ("labels", "annotations"):
        merged = dict(live_meta.get(key) or {})
        merged.update(meta.get(key) or {})
        if merged:
            meta[key] = merged
    body["metadata"] = meta
    if desired["kind"] in METADATA_ONLY_KINDS:
        for key, value in live.items():
            if key not in ("metadata", "status"):
                body[key] = value
    return body


def released_volume_claim_fix(pv: dict[str, Any]) -> dict[str, Any] | None:
    """A patch that lets a Released tenant volume bind again after its tenant came back.

    Deleting a tenant keeps its PersistentVolume (``Retain``) but leaves the
    old claim's uid in ``claimRef``, so a re-created claim would never bind.
    Clearing uid and resourceVersion (the documented way to reuse a Retain
    volume) makes it bindable by the claim of the same name again.
    """
    phase = (pv.get("status") or {}).get("phase")
    claim = (pv.get("spec") or {}).get("claimRef") or {}
    if phase == "Released" and (claim.get("uid") or claim.get("resourceVersion")):
        return {"spec": {"claimRef": {"uid": None, "resourceVersion": None}}}
    return None
