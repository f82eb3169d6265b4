#!/usr/bin/env bash
# Install the Debian packages TenantHub needs, only those missing (idempotent).
#   install-system.sh demo   what `make demo` needs: Python venv, Node.js + npm
#   install-system.sh test   plus what the tests need: PostgreSQL server, docker.io, and what
#                            tests/k8s/cluster.sh needs to build and run the Kubernetes test
#                            cluster (Go, etcd, build tools; cluster.sh can install them itself too)
set -euo pipefail
purpose="${1:-demo}"

packages=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || packages+=("$2"); }
need_pkg() { dpkg -s "$1" >/dev/null 2>&1 || packages+=("$1"); }

need_cmd node nodejs
need_cmd npm npm
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then packages+=(python3-venv); fi
need_cmd debootstrap debootstrap
if [[ "$purpose" == test ]]; then
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || packages+=(postgresql)
  [[ -x /usr/sbin/dockerd ]] || docker info >/dev/null 2>&1 || packages+=(docker.io)
  # the Kubernetes test tier: keep in step with install_packages in tests/k8s/cluster.sh
  for pkg in golang-go etcd-server rsync jq dpkg-dev gcc libc6-dev \
    golang-github-modern-go-reflect2-dev openssl curl; do
    need_pkg "$pkg"
  done
fi

if ((${#packages[@]} == 0)); then
  echo "system packages: all present"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "missing Debian packages: ${packages[*]}; run as root or: sudo apt-get install -y ${packages[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}"
