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
# the JupyterLab extension, editable (its build runs npm: `npm run build` into
# extensions/jupyterlab-tenanthub/jupyterlab_tenanthub/labextension, against this venv's
# JupyterLab's core package); only where the build works: without Node.js/npm, or when it fails, the
# platform still installs and its tests of the extension say why they cannot run
ext=extensions/jupyterlab-tenanthub
if ! command -v npm >/dev/null; then
  echo "install-python: npm not found; the JupyterLab extension ($ext) is not installed" >&2
elif ! (cd "$ext" && { [[ node_modules/.package-lock.json -nt package-lock.json ]] \
  || npm ci --no-audit --no-fund --loglevel=error; }) \
  || ! JUPYTERLAB_CORE_PATH="$("$venv/bin/python" -c 'import os, jupyterlab
print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))')" \
    "$venv/bin/python" -m pip install --quiet -e "$ext"; then
  echo "install-python: building the JupyterLab extension ($ext) failed; not installed" >&2
fi
