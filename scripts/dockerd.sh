#!/usr/bin/env bash
# A Docker engine for TenantHub's images and tests, started only when none answers.
#   scripts/dockerd.sh up      if `docker info` fails: install docker.io if dockerd is
#                              missing, start dockerd (no bridge, no iptables: this machine
#                              has loopback networking only; containers use --network host
#                              or none) and remember that we started it. Idempotent.
#   scripts/dockerd.sh down    stop dockerd only if `up` started it (by its pid). Idempotent.
#   scripts/dockerd.sh status  say whether an engine answers and who started it.
# Log: $TENANTHUB_CACHE/dockerd.log; marker with the pid: $TENANTHUB_CACHE/dockerd.started-by-tenanthub
# DOCKERD_EXTRA_ARGS: more dockerd flags (e.g. -H/--data-root/--exec-root/--pidfile for a
# second engine beside another one; then point DOCKER_HOST at it).
set -euo pipefail

cache="${TENANTHUB_CACHE:-$HOME/.cache/tenanthub}"
marker="$cache/dockerd.started-by-tenanthub"
logfile="$cache/dockerd.log"
dockerd=/usr/sbin/dockerd
wait_seconds="${DOCKERD_WAIT_SECONDS:-60}"

say() { printf 'dockerd.sh: %s\n' "$*" >&2; }

engine_answers() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

# the pid in the marker, if that process is still the dockerd we started
our_pid() {
  [[ -f "$marker" ]] || return 1
  local pid
  pid="$(cat "$marker" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" == "$dockerd "* ]] || return 1
  printf '%s\n' "$pid"
}

install_docker() {
  if [[ $(id -u) -ne 0 ]]; then
    say "dockerd is missing; run as root or: sudo apt-get install -y docker.io"
    exit 1
  fi
  say "installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io
}

up() {
  if engine_answers; then
    say "a Docker engine answers; nothing to start"
    return 0
  fi
  if pid="$(our_pid)"; then
    say "dockerd (pid $pid, started by us) is running but does not answer yet; waiting"
  else
    rm -f "$marker"
    [[ -x "$dockerd" ]] || install_docker
    command -v docker >/dev/null 2>&1 || install_docker
    if [[ $(id -u) -ne 0 ]]; then
      say "no Docker engine answers and starting dockerd needs root"
      exit 1
    fi
    mkdir -p "$cache"
    say "starting $dockerd (log: $logfile)"
    # setsid: the engine outlives this shell and make
    # shellcheck disable=SC2086 # DOCKERD_EXTRA_ARGS is a list of flags
    setsid "$dockerd" --bridge=none --iptables=false --ip6tables=false ${DOCKERD_EXTRA_ARGS:-} \
      >>"$logfile" 2>&1 </dev/null &
    pid=$!
    printf '%s\n' "$pid" >"$marker"
  fi
  local waited=0
  until engine_answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$marker"
      say "dockerd exited; last lines of $logfile:"
      tail -n 20 "$logfile" >&2 || true
      exit 1
    fi
    if ((waited >= wait_seconds)); then
      say "dockerd (pid $pid) does not answer after ${wait_seconds}s; see $logfile"
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  say "Docker engine up (dockerd pid $pid)"
}

down() {
  local pid
  if ! pid="$(our_pid)"; then
    if [[ -f "$marker" ]]; then
      rm -f "$marker"
      say "the dockerd we started is gone; removed the stale marker"
    else
      say "dockerd was not started by scripts/dockerd.sh; leaving it alone"
    fi
    return 0
  fi
  say "stopping dockerd (pid $pid)"
  kill -TERM "$pid"
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= 30)); then
      say "dockerd (pid $pid) did not stop after 30s; still running"
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  rm -f "$marker"
  say "dockerd stopped"
}

status() {
  local pid who="not started by scripts/dockerd.sh"
  pid="$(our_pid)" && who="started by scripts/dockerd.sh (pid $pid)"
  if engine_answers; then
    say "a Docker engine answers ($(docker info --format '{{.ServerVersion}}' 2>/dev/null)); $who"
  else
    say "no Docker engine answers; $who"
    return 1
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *)
    say "usage: $0 up|down|status"
    exit 2
    ;;
esac
