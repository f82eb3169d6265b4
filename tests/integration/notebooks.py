"""Small real notebooks for the job tests, written with nbformat (kernel python3)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook


def write_notebook(path: Path, parameters: str, *cells: str) -> Path:
    """A notebook with a ``parameters``-tagged cell and then ``cells``."""
    nb = new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        }
    )
    nb.cells.append(new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nb.cells.extend(new_code_cell(source) for source in cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def outputs_text(path: Path) -> str:
    """Every stream and result text of an executed notebook, joined (for assertions)."""
    nb = nbformat.read(str(path), as_version=4)
    parts = []
    for cell in nb.cells:
        parts.append(cell.source)
        for output in cell.get("outputs", []):
            if "text" in output:
                parts.append(output["text"])
            data = output.get("data") or {}
            if "text/plain" in data:
                parts.append(data["text/plain"])
    return "\n".join(parts)


def executed_cells(path: Path) -> list[int | None]:
    """Each code cell's execution count (None: never ran)."""
    nb = nbformat.read(str(path), as_version=4)
    return [c.get("execution_count") for c in nb.cells if c.cell_type == "code"]
