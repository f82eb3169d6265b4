#!/usr/bin/env bash
# Install the Debian packages TenantHub needs, only those missing (idempotent).
#   install-system.sh demo   what `make demo` needs: Python venv, Node.js + npm, and
#                            docker-registry when a Docker engine answers (checkpoints)
#   install-system.sh test   plus what the tests need: PostgreSQL server, docker.io, slapd +
#                            ldap-utils (tests/services/slapd.py), and what tests/k8s/cluster.sh
#                            needs to build and run the Kubernetes test cluster (Go, etcd, build
#                            tools; cluster.sh can install them itself too), and Chromium for
#                            the console's browser tests (tests/browser, Playwright drives
#                            /usr/bin/chromium; Playwright's own browser download is not used),
#                            and docker-registry (tests/services/registry.py: the checkpointer's
#                            image registry), and ApacheBench (apache2-utils) for the benchmarks
#
# slapd is installed on its own, never left running as a system service: the tests start
# their own slapd on a loopback port with a throwaway config and database. Debian's postinst
# would otherwise build a default database (dc=<hostname>) and start slapd on ldap:/// (every
# interface). So: debconf `slapd/no_configuration` (no default database or config, nothing to
# start), a policy-rc.d that refuses service starts during that one apt-get call (unless the
# machine already has one, as Docker images do), then the init script is disabled for boot.
# docker-registry goes the same way: its postinst would start a registry on :5000 (every
# interface, the package's config); the tests run `docker-registry serve <own config>` on
# loopback themselves, so the package's service must neither start nor matter.
set -euo pipefail
purpose="${1:-demo}"

packages=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || packages+=("$2"); }
need_pkg() { dpkg -s "$1" >/dev/null 2>&1 || packages+=("$1"); }

need_cmd node nodejs
need_cmd npm npm
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then packages+=(python3-venv); fi
need_cmd debootstrap debootstrap
# a Docker demo saves idle servers as images in a loopback registry the hub runs
# (checkpoint.local_registry in examples/demo.yaml); without an engine the demo runs
# the local backend, which has no images to save
if [[ "$purpose" == test ]] || docker info >/dev/null 2>&1; then
  need_pkg docker-registry
fi
if [[ "$purpose" == test ]]; then
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || packages+=(postgresql)
  need_pkg slapd
  need_pkg ldap-utils
  [[ -x /usr/sbin/dockerd ]] || docker info >/dev/null 2>&1 || packages+=(docker.io)
  [[ -x /usr/bin/chromium ]] || packages+=(chromium)
  need_cmd ab apache2-utils  # ApacheBench: benchmarks/tenant_list.py --client ab
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

# slapd and docker-registry go in their own apt-get call (see the top of this file)
others=()
no_service=()
for pkg in "${packages[@]}"; do
  case "$pkg" in
    slapd | docker-registry) no_service+=("$pkg") ;;
    *) others+=("$pkg") ;;
  esac
done

echo "installing Debian packages: ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if ((${#others[@]} > 0)); then
  apt-get install -y -qq --no-install-recommends "${others[@]}"
fi

install_without_service() {
  local pkg="$1"
  if [[ "$pkg" == slapd ]]; then
    echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
  fi
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# install-system.sh: no service starts while %s installs\nexit 101\n' \
      "$pkg" >"$policy"
    chmod 755 "$policy"
    own_policy=1
  fi
  local status=0
  apt-get install -y -qq --no-install-recommends "$pkg" || status=$?
  if ((own_policy)); then rm -f "$policy"; fi
  if ((status != 0)); then return "$status"; fi
  # not at boot either; and stop one that started anyway (a host whose policy allowed it)
  if [[ -d /run/systemd/system ]]; then
    systemctl disable --now "$pkg" >/dev/null 2>&1 || true
  else
    update-rc.d "$pkg" disable >/dev/null 2>&1 || true
    service "$pkg" stop >/dev/null 2>&1 || true
  fi
}
for pkg in ${no_service[@]+"${no_service[@]}"}; do
  install_without_service "$pkg"
done
