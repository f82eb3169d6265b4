#!/usr/bin/env bash
# Create the virtualenv and install TenantHub with its dev tools (idempotent).
set -euo pipefail
python="${1:-python3}"
venv="${2:-.venv}"
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e '.[dev]'
# the notebook SDK (`from tenanthub import datasets`), as the images install it
"$venv/bin/python" -m pip install --quiet -e 'images/sdk[data]'
