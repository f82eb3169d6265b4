"""A notebook's ``parameters`` cell, read the way papermill reads it (pure).

The platform checks a submitted job's parameters with papermill's own inspection;
the "Run as job" dialog is pre-filled from the same reading, so what it shows is
exactly what the platform will accept.
"""

from __future__ import annotations

from typing import Any


class NoParameters(ValueError):
    """papermill cannot tell the notebook's parameters; the message says why."""


def notebook_parameters(notebook: dict[str, Any], kernel: str | None = None) -> dict[str, Any]:
    """``{"kernel": ..., "parameters": [{name, type, default, help}, ...]}``; a notebook
    without a cell tagged ``parameters`` has none."""
    import nbformat
    from papermill.inspection import _infer_parameters

    nb = nbformat.from_dict(notebook)  # type: ignore[no-untyped-call]
    for cell in nb.cells:  # what papermill's load_notebook_node does before inspecting
        cell.metadata.setdefault("tags", [])
    found_kernel = kernel or nb.metadata.get("kernelspec", {}).get("name")
    try:
        found = _infer_parameters(nb, name=kernel)
    except ValueError as exc:  # papermill: no kernel name or language in the notebook
        raise NoParameters(
            f"papermill cannot tell how to run this notebook ({exc}); save it from "
            "Jupyter with a kernel so it records one"
        ) from None
    except Exception as exc:  # no translator for this kernel or language
        raise NoParameters(f"papermill cannot parameterise this notebook ({exc})") from None
    return {
        "kernel": found_kernel,
        "parameters": [
            {"name": p.name, "type": p.inferred_type_name, "default": p.default, "help": p.help}
            for p in found
        ],
    }
