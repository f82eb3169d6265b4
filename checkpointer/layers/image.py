"""The JSON of a checkpoint image: config, registry manifest, ``docker load`` manifest (pure).

The config starts from the parent image's own config bytes (the registry has
them; their sha256 is the parent's image id), so everything the image sets
(Env, Cmd, Entrypoint, User, WorkingDir, ...) is kept as the image had it, never
as the container has it: the container's environment holds the server's hub API
token. Variables the container added are listed with empty values, as the
engine path does. Then: our labels, the new layer's diff_id, one history entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from checkpointer.registry_client import CONFIG_V1, LAYER_GZIP, MANIFEST_V2

HISTORY_COMMENT = "tenanthub checkpoint"


def digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def encode(value: Mapping[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, no spaces): the same config gives the same image id."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def added_env(image_env: Sequence[str], container_env: Sequence[str]) -> list[str]:
    """``KEY=`` for each variable the container has and the image does not."""
    keys = {e.split("=", 1)[0] for e in image_env}
    out: list[str] = []
    for item in container_env:
        key = item.split("=", 1)[0]
        if key not in keys and f"{key}=" not in out:
            out.append(f"{key}=")
    return out


def checkpoint_config(
    parent: Mapping[str, Any],
    *,
    diff_id: str,
    labels: Mapping[str, str],
    container_env: Sequence[str],
    created: datetime,
    empty_layer: bool = False,
) -> dict[str, Any]:
    """The new image's config: the parent's, plus labels, the layer and a history entry."""
    config = json.loads(json.dumps(parent))  # a deep copy of plain JSON
    for key in ("id", "parent", "container", "container_config"):
        config.pop(key, None)
    inner = dict(config.get("config") or {})
    env = list(inner.get("Env") or [])
    inner["Env"] = env + added_env(env, container_env)
    inner["Labels"] = {**(inner.get("Labels") or {}), **labels}
    config["config"] = inner
    stamp = created.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    config["created"] = stamp
    rootfs = dict(config.get("rootfs") or {"type": "layers"})
    rootfs["type"] = "layers"
    diff_ids = list(rootfs.get("diff_ids") or [])
    history = list(config.get("history") or [])
    entry: dict[str, Any] = {"created": stamp, "created_by": HISTORY_COMMENT}
    if empty_layer:
        entry["empty_layer"] = True
    else:
        diff_ids.append(diff_id)
    rootfs["diff_ids"] = diff_ids
    config["rootfs"] = rootfs
    config["history"] = [*history, entry]
    return dict(config)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    size: int
    digest: str

    def json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "size": self.size, "digest": self.digest}


def parent_layers(manifest: Mapping[str, Any]) -> list[Descriptor]:
    """The layer descriptors of a parent's schema 2 manifest (ValueError for anything else)."""
    if manifest.get("schemaVersion") != 2 or manifest.get("mediaType", MANIFEST_V2) != MANIFEST_V2:
        raise ValueError(f"not a Docker schema 2 image manifest: {manifest.get('mediaType')}")
    return [
        Descriptor(str(layer["mediaType"]), int(layer["size"]), str(layer["digest"]))
        for layer in manifest.get("layers") or []
    ]


def registry_manifest(config: bytes, layers: Sequence[Descriptor]) -> bytes:
    return encode(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": Descriptor(CONFIG_V1, len(config), digest(config)).json(),
            "layers": [layer.json() for layer in layers],
        }
    )


def new_layer(size: int, blob_digest: str) -> Descriptor:
    return Descriptor(LAYER_GZIP, size, blob_digest)


def load_manifest(config_name: str, ref: str, layer_names: Sequence[str]) -> bytes:
    """``manifest.json`` of a ``docker load`` tarball. Layers whose chain the engine
    has already are never opened (moby's tarexport), so only the last one is shipped."""
    return json.dumps(
        [{"Config": config_name, "RepoTags": [ref], "Layers": list(layer_names)}]
    ).encode()
