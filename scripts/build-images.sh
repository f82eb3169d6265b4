#!/usr/bin/env bash
# Build the TenantHub notebook images with no container registry:
#   1. a Debian bookworm root filesystem from debootstrap, cached as a tarball under
#      $TENANTHUB_CACHE/rootfs/ (made once; its name is a hash of how it is made),
#   2. `docker import` of that tarball as tenanthub/debian-bookworm:<hash> (once),
#   3. `docker build --network host` of images/<profile>/Dockerfile for each profile,
#      parents first (cpu and gpu need base, spark needs cpu); the layer cache makes a
#      rebuild with nothing changed take seconds.
#
# usage: scripts/build-images.sh [--refresh-rootfs] [PROFILE...]
#   PROFILE: base cpu spark gpu hub proxy (default: base cpu spark). gpu is opt-in (`make images-gpu`);
#   hub is the platform's own image (tenanthub/hub, for the Helm chart), from this checkout;
#   proxy is configurable-http-proxy from the npm cache of scripts/install-npm.sh on Debian's
#   Node.js (tenanthub/proxy: the chart's proxy where quay.io cannot be pulled).
#   --refresh-rootfs  debootstrap and import again (e.g. to pick up Debian point releases).
# env: TENANTHUB_CACHE (default ~/.cache/tenanthub), VENV (default .venv; the hub's
#      JupyterHub version is read from it), IMAGE_PREFIX (default tenanthub),
#      DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${TENANTHUB_CACHE:-$HOME/.cache/tenanthub}"
venv="${VENV:-.venv}"
[[ "$venv" == /* ]] || venv="$root/$venv"
prefix="${IMAGE_PREFIX:-tenanthub}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm
variant=minbase
# what python, the venv, CA-verified downloads and the entrypoint need on top of minbase
include=python3,python3-venv,ca-certificates,tini
# bump when the rootfs recipe below changes in a way the hash would not see
recipe_version=1
context="$root/images"

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'build-images: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

refresh=0
profiles=()
for arg in "$@"; do
  case "$arg" in
    --refresh-rootfs) refresh=1 ;;
    base | cpu | spark | gpu | hub | proxy) profiles+=("$arg") ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown argument '$arg' (profiles: base cpu spark gpu hub proxy)" ;;
  esac
done
((${#profiles[@]})) || profiles=(base cpu spark)

# parents first, each profile once
declare -A parent=([base]="" [cpu]=base [spark]=cpu [gpu]=base [hub]="" [proxy]="")
order=()
add() {
  local p="$1" seen
  [[ -n "${parent[$p]}" ]] && add "${parent[$p]}"
  for seen in "${order[@]}"; do [[ "$seen" == "$p" ]] && return 0; done
  order+=("$p")
}
for p in "${profiles[@]}"; do add "$p"; done

command -v docker >/dev/null || die "no docker client on PATH (scripts/dockerd.sh up installs docker.io)"
docker info >/dev/null 2>&1 || die "no Docker engine answers; start one with: scripts/dockerd.sh up"
[[ -x "$venv/bin/python" ]] || die "no virtualenv at $venv (run: make install); the images pin its JupyterHub version"
jupyterhub_version="$("$venv/bin/python" -c 'import jupyterhub; print(jupyterhub.__version__)')" \
  || die "cannot import jupyterhub from $venv (run: make install)"
tenanthub_version="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$root/hub/__init__.py")"
[[ -n "$tenanthub_version" ]] || die "no __version__ in hub/__init__.py"

# The legacy builder ships with the daemon; BuildKit needs the buildx plugin on this client.
if [[ -z "${DOCKER_BUILDKIT:-}" ]] && ! docker buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=0
fi

total_start="$(now)"

# ---------------------------------------------------------------- 1. root filesystem
rootfs_hash="$(
  printf '%s\n' "$suite" "$variant" "$include" "$mirror" "$recipe_version" \
    "$(sed -n '/^customize_rootfs() {$/,/^}$/p' "$0")" | sha256sum | cut -c1-12
)"
base_tag="$prefix/debian-$suite:$rootfs_hash"
tarball="$cache/rootfs/$suite-$rootfs_hash.tar"

customize_rootfs() {
  local target="${1:?}"
  [[ "$target" != / ]] || die "refusing to customize /"
  cat >"$target/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
EOF
  cat >"$target/etc/apt/apt.conf.d/90tenanthub" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  # like Debian's slim images: no manuals or docs (copyrights stay)
  cat >"$target/etc/dpkg/dpkg.cfg.d/90tenanthub-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
EOF
  find "${target:?}/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "${target:?}/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "${target:?}"/usr/share/man/* "${target:?}"/usr/share/info/*
  # services never start inside an image build
  printf '#!/bin/sh\nexit 101\n' >"$target/usr/sbin/policy-rc.d"
  chmod 755 "$target/usr/sbin/policy-rc.d"
  rm -rf "${target:?}"/var/lib/apt/lists/* "${target:?}"/var/cache/apt/*.bin \
    "${target:?}"/var/cache/apt/archives/*.deb "${target:?}"/var/log/* "${target:?}"/tmp/* \
    "${target:?}"/var/tmp/* "${target:?}"/dev/* "${target:?}"/debootstrap
  : >"$target/etc/machine-id"
  : >"$target/etc/resolv.conf"
  rm -f "$target/etc/hostname"
}

unmount_under() {
  local dir="$1" m
  findmnt -R -n -l -o TARGET --target "$dir" 2>/dev/null | sort -r | while read -r m; do
    if [[ "$m" == "$dir"/* ]]; then umount -l "$m" || true; fi
  done
}

rootfs_work=""
drop_rootfs_work() {
  [[ -n "$rootfs_work" && -d "$rootfs_work" ]] || return 0
  unmount_under "$rootfs_work"
  # never rm -rf through a mount that did not go away
  if findmnt -R -n -l -o TARGET --target "$rootfs_work" | grep -q "^$rootfs_work/"; then
    printf 'build-images: mounts left under %s; not removing it\n' "$rootfs_work" >&2
  else
    rm -rf "$rootfs_work"
  fi
}

make_rootfs() {
  command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
  [[ $(id -u) -eq 0 ]] || die "debootstrap needs root (run once as root; the tarball is then cached)"
  rootfs_work="$(mktemp -d "$cache/rootfs/.build-XXXXXX")"
  trap drop_rootfs_work EXIT
  local target="$rootfs_work/target"
  log "debootstrap $suite ($variant + $include) from $mirror"
  if ! debootstrap --variant="$variant" --include="$include" "$suite" "$target" "$mirror" \
    >"$rootfs_work/debootstrap.log" 2>&1; then
    cat "$rootfs_work/debootstrap.log" "$target/debootstrap/debootstrap.log" \
      >"$cache/rootfs/debootstrap-failed.log" 2>/dev/null || true
    tail -n 30 "$cache/rootfs/debootstrap-failed.log" >&2
    die "debootstrap failed (log: $cache/rootfs/debootstrap-failed.log)"
  fi
  unmount_under "$target"
  customize_rootfs "$target"
  tar --numeric-owner --xattrs -C "$target" -cf "$rootfs_work/rootfs.tar" .
  mv "$rootfs_work/rootfs.tar" "$tarball"
  drop_rootfs_work
  trap - EXIT
}

step_start="$(now)"
(
  # one builder of the root filesystem at a time
  mkdir -p "$cache/rootfs"
  exec 9>"$cache/rootfs/.lock"
  flock 9
  # --refresh-rootfs: a new tarball and import; the tag moves to it and the old base
  # goes once no image is built on it any more
  ((refresh)) && rm -f "$tarball"
  if ((!refresh)) && docker image inspect "$base_tag" >/dev/null 2>&1; then
    log "base root filesystem: $base_tag (cached image)"
    exit 0
  fi
  if [[ -f "$tarball" ]]; then
    log "base root filesystem: $tarball (cached tarball)"
  else
    make_rootfs
  fi
  log "docker import $tarball as $base_tag"
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    --message "debootstrap --variant=$variant --include=$include $suite $mirror" \
    "$tarball" "$base_tag" >/dev/null
)
base_digest="$(docker image inspect --format '{{.Id}}' "$base_tag")"
log "base $base_tag = $base_digest ($(elapsed "$step_start") s)"

# ---------------------------------------------------------------- 2. notebook images
# pip inside the build trusts what the host trusts (a proxy's CA, say); the file is
# used only as PIP_CERT by build-time pip and removed in the same layer (see Dockerfiles).
ca_src="${TENANTHUB_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}"
[[ -r "$ca_src" ]] || die "no CA bundle at $ca_src (set TENANTHUB_BUILD_CA)"
cmp -s "$ca_src" "$context/build-ca.crt" 2>/dev/null || install -m 0644 "$ca_src" "$context/build-ca.crt"

# The JupyterLab extension (base installs it; the other notebook images are FROM base):
# its wheel is built here with npm, once per change of its sources (cached by the script),
# and put in the context as extension-dist/.
for profile in "${order[@]}"; do
  [[ "$profile" == base ]] || continue
  step_start="$(now)"
  VENV="$venv" TENANTHUB_CACHE="$cache" "$root/scripts/build-extension.sh" \
    "$context/extension-dist" >/dev/null || die "building the JupyterLab extension failed"
  log "JupyterLab extension wheel in $context/extension-dist ($(elapsed "$step_start") s)"
done

for profile in "${order[@]}"; do
  step_start="$(now)"
  if [[ "$profile" == base || "$profile" == hub || "$profile" == proxy ]]; then
    from="$base_tag"
  else
    from="$prefix/notebook-${parent[$profile]}:$tenanthub_version"
  fi
  image="$prefix/notebook-$profile"
  if [[ "$profile" == hub ]]; then
    image="$prefix/hub"
    # this checkout as a wheel (its dependencies come from the index, pinned by pyproject)
    rm -rf "$context/hub-dist"
    "$venv/bin/python" -m pip wheel --quiet --no-deps \
      -w "$context/hub-dist" "$root" >&2 || die "building TenantHub's wheel failed"
  fi
  chp_version=unknown
  if [[ "$profile" == proxy ]]; then
    image="$prefix/proxy"
    # the proxy the hub runs on one machine (scripts/install-npm.sh), with its dependencies,
    # from npm's local cache (--prefer-offline: no registry round trip when cached)
    chp_json="$cache/npm/node_modules/configurable-http-proxy/package.json"
    [[ -f "$chp_json" ]] || die "no configurable-http-proxy in $cache/npm (run: make install)"
    chp_version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$chp_json")"
    rm -rf "$context/proxy-dist"
    npm install --prefix "$context/proxy-dist" --prefer-offline --omit=dev --no-audit \
      --no-fund --loglevel=error "configurable-http-proxy@$chp_version" >&2 \
      || die "npm install configurable-http-proxy@$chp_version failed"
  fi
  previous="$(docker image inspect --format '{{.Id}}' "$image:$tenanthub_version" 2>/dev/null || true)"
  log "build $image:$tenanthub_version FROM $from (JupyterHub $jupyterhub_version)"
  docker build --network host \
    --build-arg "BASE_IMAGE=$from" \
    --build-arg "BASE_IMAGE_DIGEST=$base_digest" \
    --build-arg "JUPYTERHUB_VERSION=$jupyterhub_version" \
    --build-arg "TENANTHUB_VERSION=$tenanthub_version" \
    --build-arg "CHP_VERSION=$chp_version" \
    -f "$context/$profile/Dockerfile" \
    -t "$image:$tenanthub_version" -t "$image:latest" \
    "$context" >&2
  log "$image:$tenanthub_version built ($(elapsed "$step_start") s)"
  # the image this build replaced, if nothing uses it any more (no tag, container or
  # child such as a checkpoint: then docker refuses and it stays)
  current="$(docker image inspect --format '{{.Id}}' "$image:$tenanthub_version")"
  if [[ -n "$previous" && "$previous" != "$current" ]]; then
    if docker image rm "$previous" >/dev/null 2>&1; then
      log "removed the replaced $image ${previous:7:12}"
    fi
  fi
done

log "done in $(elapsed "$total_start") s:"
for profile in "${order[@]}"; do
  docker image ls --format '   {{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' \
    "$prefix/notebook-$profile:$tenanthub_version" >&2
done
