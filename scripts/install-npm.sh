#!/usr/bin/env bash
# Install configurable-http-proxy (JupyterHub's proxy) into a cache folder (idempotent).
set -euo pipefail
prefix="${1:-$HOME/.cache/tenanthub/npm}"
mkdir -p "$prefix"
cd "$prefix"
[[ -f package.json ]] || echo '{"name": "tenanthub-npm", "private": true}' > package.json
npm install --no-audit --no-fund --loglevel=error configurable-http-proxy@^5
