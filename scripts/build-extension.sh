#!/usr/bin/env bash
# Build the jupyterlab-tenanthub wheel (prebuilt JupyterLab labextension + server
# extension) for the notebook images, once per change of its sources: the wheel is
# cached under $TENANTHUB_CACHE/extension/<hash>/ (the hash covers the extension's
# files, Node.js's and JupyterLab's versions); the build runs in a copy under
# $TENANTHUB_CACHE/extension/build/ whose node_modules is kept between builds (npm ci
# only when package-lock.json changes), never in the checkout.
#
# usage: scripts/build-extension.sh [OUT_DIR]
#   prints the cached wheel's path; with OUT_DIR, OUT_DIR holds exactly that wheel after.
# env: TENANTHUB_CACHE (default ~/.cache/tenanthub), VENV (default .venv: a Python with
#      JupyterLab 4, whose core package the labextension is built against).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${TENANTHUB_CACHE:-$HOME/.cache/tenanthub}/extension"
venv="${VENV:-.venv}"
[[ "$venv" == /* ]] || venv="$root/$venv"
src="$root/extensions/jupyterlab-tenanthub"
out="${1:-}"

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'build-extension: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null && command -v npm >/dev/null \
  || die "Node.js and npm are needed to build the JupyterLab extension (apt-get install nodejs npm)"
python="$venv/bin/python"
[[ -x "$python" ]] || die "no virtualenv at $venv (run: make install)"
lab_version="$("$python" -c 'import jupyterlab; print(jupyterlab.__version__)')" \
  || die "cannot import jupyterlab from $venv (run: make install)"
# the core package the labextension is built against (pip's isolated build hides the venv)
JUPYTERLAB_CORE_PATH="$("$python" -c 'import os, jupyterlab
print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))')"
export JUPYTERLAB_CORE_PATH

# the extension's own files (not what a build leaves in the folder)
sources() {
  (cd "$src" && find . \( -name node_modules -o -name lib -o -name dist -o -name '*.egg-info' \
    -o -name __pycache__ -o -path ./jupyterlab_tenanthub/labextension \) -prune \
    -o -type f ! -name tsconfig.tsbuildinfo -print | LC_ALL=C sort)
}
hash="$(
  { printf '%s\n' "node $(node --version)" "jupyterlab $lab_version"
    (cd "$src" && sources | xargs -d '\n' sha256sum); } | sha256sum | cut -c1-16
)"
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
wheel="$(find "$cache/$hash" -maxdepth 1 -name 'jupyterlab_tenanthub-*.whl' 2>/dev/null | head -n1 || true)"
if [[ -n "$wheel" ]]; then
  log "jupyterlab-tenanthub wheel: $wheel (cached)"
else
  start="$(date +%s)"
  build="$cache/build"
  mkdir -p "$build"
  # a fresh copy of the sources next to the kept node_modules
  find "$build" -mindepth 1 -maxdepth 1 ! -name node_modules ! -name .lock-hash -exec rm -rf {} +
  (cd "$src" && sources | tar --no-recursion -cf - -T -) | tar -xf - -C "$build"
  lock_hash="$(sha256sum "$build/package-lock.json" | cut -c1-16)"
  if [[ ! -d "$build/node_modules" || "$(cat "$build/.lock-hash" 2>/dev/null)" != "$lock_hash" ]]; then
    log "npm ci (jupyterlab-tenanthub)"
    (cd "$build" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$lock_hash" >"$build/.lock-hash"
  fi
  log "build the labextension against JupyterLab $lab_version"
  (cd "$build" && npm run --silent build:prod >&2)
  (cd "$build" && npm test --silent >&2) || die "the extension's unit tests failed"
  rm -rf "$cache/$hash.tmp"
  # the labextension is there, so the wheel's build hook does not run npm again
  "$python" -m pip wheel --quiet --no-deps -w "$cache/$hash.tmp" "$build" >&2 \
    || die "building the wheel failed"
  mv "$cache/$hash.tmp" "$cache/$hash"
  wheel="$(find "$cache/$hash" -maxdepth 1 -name 'jupyterlab_tenanthub-*.whl' | head -n1)"
  [[ -n "$wheel" ]] || die "no wheel in $cache/$hash"
  log "jupyterlab-tenanthub wheel built in $(( $(date +%s) - start )) s: $wheel"
  # older cached wheels go (the newest few stay)
  find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name build ! -name "$hash" -printf '%T@ %p\n' \
    | sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -rf
fi
if [[ -n "$out" ]]; then
  mkdir -p "$out"
  find "$out" -maxdepth 1 -name 'jupyterlab_tenanthub-*.whl' ! -name "$(basename "$wheel")" -delete
  cmp -s "$wheel" "$out/$(basename "$wheel")" 2>/dev/null || cp "$wheel" "$out/"
fi
printf '%s\n' "$wheel"
