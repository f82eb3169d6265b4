"""Checking a job submission before anything is stored.

The API (and the CLI through it) call :func:`validate` with the request body and the
owner's folders as this service sees them; only a spec that passes goes to
``JobStore.create_job``. Every refusal is one ``JobInvalid`` whose message names the
field and says what would be accepted, so nothing half-made is ever queued.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hub.config.schema import JobSettings
from hub.service.jobs.model import JobInvalid, JobSpec, check_parameters


def _field_errors(exc: ValidationError) -> str:
    """Pydantic's errors as ``field: why`` sentences (the nested ones with their path)."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)  # whole-job checks name theirs
    return "; ".join(parts)


def parse_spec(body: Mapping[str, Any], settings: JobSettings) -> JobSpec:
    """The request body as a JobSpec within this platform's limits, or JobInvalid."""
    try:
        spec = JobSpec.model_validate(dict(body))
    except ValidationError as exc:
        raise JobInvalid(_field_errors(exc)) from None
    if spec.timeout > settings.max_timeout:
        raise JobInvalid(
            f"timeout: {spec.timeout} s is over this platform's limit of "
            f"{settings.max_timeout} s (jobs.max_timeout)"
        )
    size = len(json.dumps(spec.parameters, default=str).encode())
    if size > settings.max_parameters_bytes:
        raise JobInvalid(
            f"parameters: {size} bytes as JSON, over this platform's limit of "
            f"{settings.max_parameters_bytes} (jobs.max_parameters_bytes); pass large "
            "inputs as a file path instead"
        )
    return spec


def notebook_file(spec: JobSpec, home: Path, shared: Path) -> Path:
    """The notebook on disk, refused unless it is a file inside its folder (a symbolic
    link out of the user's home or the shared folder is refused like ``..``)."""
    where = spec.path
    root = (home if where.area == "home" else shared).resolve()
    folder = "your home" if where.area == "home" else "the tenant's shared folder"
    path = where.on_disk(home, shared).resolve()
    if not path.is_relative_to(root):
        raise JobInvalid(f"notebook: {spec.notebook} leads outside {folder}")
    if not path.is_file():
        raise JobInvalid(f"notebook: {spec.notebook} does not exist in {folder}")
    return path


def validate(body: Mapping[str, Any], settings: JobSettings, home: Path, shared: Path) -> JobSpec:
    """A submission checked completely: fields, limits, the notebook file, and its
    parameters against the notebook's ``parameters`` cell."""
    spec = parse_spec(body, settings)
    check_parameters(notebook_file(spec, home, shared), spec.parameters, spec.kernel)
    return spec
