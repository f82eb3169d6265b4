#!/usr/bin/env bash
# Install the npm packages TenantHub uses into a cache folder (idempotent):
#   configurable-http-proxy   JupyterHub's proxy
#   chart.js                  the console's charts; `make install` copies its prebuilt UMD
#                             bundle into hub/service/console/static/vendor/, so the service
#                             serves it itself (no CDN at run time)
set -euo pipefail
prefix="${1:-$HOME/.cache/tenanthub/npm}"
mkdir -p "$prefix"
cd "$prefix"
[[ -f package.json ]] || echo '{"name": "tenanthub-npm", "private": true}' > package.json
npm install --no-audit --no-fund --loglevel=error configurable-http-proxy@^5 chart.js@^4.4
