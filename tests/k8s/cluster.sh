#!/usr/bin/env bash
# TenantHub's Kubernetes test tier: a single-node Kubernetes v1.20.2 built from the Debian 12
# "kubernetes" source package, on loopback only: etcd + kube-apiserver + kube-controller-manager +
# kube-scheduler + kubelet (dockershim -> docker.io 20.10). No CNI: pods must use
# hostNetwork: true (their pod IP is then 127.0.0.1). Adapted from shared/k8s/cluster.sh
# (see shared/k8s/NOTES.md for why each flag and patch is here).
#
# The kubelet runs its pods on the project's own Docker engine, the one scripts/dockerd.sh
# manages (DOCKER_HOST, default unix:///var/run/docker.sock), so the notebook images that
# scripts/build-images.sh builds there are what pods run: no docker save/load. `make test`
# does: scripts/dockerd.sh up, build images, cluster.sh up, tests, cluster.sh down,
# scripts/dockerd.sh down (in that order: the kubelet's containers live in that engine).
#
# Usage: cluster.sh up|down|status|env|build|images|purge|restart <component>
#   up      install packages (if missing), build/cached binaries, pause image, certs, start all,
#           wait node Ready. Already up -> returns at once. Needs the Docker engine to answer
#           (scripts/dockerd.sh up) unless K8S_OWN_DOCKERD=1.
#   down    stop only the processes this script started (PID files), remove the kubelet's
#           containers (label io.kubernetes.docker.type) from the engine, unmount the kubelet's
#           mounts, drop its /var/log/pods entries, wipe etcd + kubelet state (certs and caches
#           are kept). Never stops the shared Docker engine. Safe when nothing runs.
#   purge   down + remove the state dir (keeps the binary cache)
#   env     print "export KUBECONFIG=... TENANTHUB_TEST_KUBECONFIG=..." (+ DOCKER_HOST when the
#           kubelet's engine is not the default one)
#   status  one line per component; exit 1 unless the node is Ready
#   restart <component>  one of etcd kube-apiserver kube-controller-manager kube-scheduler kubelet:
#           TERM it (its PID file; KILL after 10 s), wait until it has exited, then start it again
#           the way up does (up starts what is not running) and wait until the cluster is ready
#           again. For fault tests (tests/k8s/test_apiserver_restarted_k8s.py): the cluster is
#           shared, so only while nothing else uses it. Logs the outage (TERM to ready) in ms.
#
# Tunables (env): K8S_HOME (state), K8S_CACHE (binaries), K8S_SRC (source tree),
#   K8S_API_PORT (6443), K8S_ETCD_PORT (2379; peer = +1, metrics = +2),
#   K8S_OWN_DOCKERD (0: the project's engine at DOCKER_HOST; 1: a private dockerd on
#   $K8S_HOME/docker.sock, started and stopped by this script),
#   K8S_BASE_IMAGE (0; 1: also build a debootstrap base:bookworm image into the engine).
set -euo pipefail

cache_root=${TENANTHUB_CACHE:-$HOME/.cache/tenanthub}/k8s
K8S_HOME=${K8S_HOME:-$cache_root/cluster}
K8S_CACHE=${K8S_CACHE:-$cache_root/k8s-1.20}
K8S_SRC=${K8S_SRC:-$cache_root/src}
API_PORT=${K8S_API_PORT:-6443}
ETCD_PORT=${K8S_ETCD_PORT:-2379}
K8S_BASE_IMAGE=${K8S_BASE_IMAGE:-0}
K8S_OWN_DOCKERD=${K8S_OWN_DOCKERD:-0}
NODE=127.0.0.1                      # node name == InternalIP (hostname-override trick, see notes)
PAUSE_IMAGE=k8s.gcr.io/pause:3.2    # kubelet 1.20 default; built locally, never pulled
BINS="kube-apiserver kube-controller-manager kube-scheduler kubelet"
STAMP="v1.20.2+debian-1.1+deb12u1+oomclamp1+reflect2-1.0.2+statussync1s"
PKI=$K8S_HOME/pki PIDS=$K8S_HOME/pids LOGS=$K8S_HOME/logs
PRIVATE_SOCK=$K8S_HOME/docker.sock
ENDPOINT_FILE=$K8S_HOME/docker-endpoint   # the engine the running kubelet uses (written by up)
DEFAULT_ENDPOINT=unix:///var/run/docker.sock

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s%N; }
ms_since() { echo $(( ($(now) - $1) / 1000000 )); }

wait_for() { # wait_for <seconds> <description> <command...>
  local t=$1 what=$2; shift 2
  local end=$(( $(date +%s) + t ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || die "timed out after ${t}s waiting for $what"
    sleep 0.3
  done
}

# The Docker engine of the kubelet: what a running cluster recorded, else from the settings.
configured_endpoint() {
  if [ "$K8S_OWN_DOCKERD" = 1 ]; then echo "unix://$PRIVATE_SOCK"; else echo "${DOCKER_HOST:-$DEFAULT_ENDPOINT}"; fi
}
check_endpoint() {
  case "$DOCKER_ENDPOINT" in
    unix://*) ;;
    *) die "the kubelet needs a local Docker socket (unix://...), not DOCKER_HOST=$DOCKER_ENDPOINT" ;;
  esac
}
if [ -s "$ENDPOINT_FILE" ]; then DOCKER_ENDPOINT=$(cat "$ENDPOINT_FILE"); else DOCKER_ENDPOINT=$(configured_endpoint); fi
check_endpoint
own_dockerd() { [ "$DOCKER_ENDPOINT" = "unix://$PRIVATE_SOCK" ]; }

# ---------------------------------------------------------------- packages
# What build and up need; scripts/install-system.sh test installs the same list for make test.
install_packages() {
  local need="" p wanted="golang-go etcd-server openssl rsync jq dpkg-dev gcc libc6-dev curl golang-github-modern-go-reflect2-dev"
  if own_dockerd; then wanted="$wanted docker.io iptables"; fi
  if [ "$K8S_BASE_IMAGE" = 1 ]; then wanted="$wanted debootstrap"; fi
  for p in $wanted; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
  done
  [ -n "$need" ] || return 0
  [ "$(id -u)" = 0 ] || die "missing Debian packages:$need (run as root or: sudo apt-get install -y$need)"
  log "apt-get install$need"
  apt-get update -qq
  # shellcheck disable=SC2086 # a list of package names
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >"$K8S_HOME/apt.log" 2>&1 \
    || { tail -20 "$K8S_HOME/apt.log"; die "apt-get install failed"; }
}

# ---------------------------------------------------------------- build (cached)
have_cached_bins() {
  [ -f "$K8S_CACHE/STAMP" ] && [ "$(cat "$K8S_CACHE/STAMP")" = "$STAMP" ] || return 1
  local b; for b in $BINS; do [ -x "$K8S_CACHE/$b" ] || return 1; done
}

build() {
  if have_cached_bins; then log "binaries cached in $K8S_CACHE"; return; fi
  local t0; t0=$(now)
  if ! apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes'; then
    # deb-src entry mirroring the existing deb822 source (Debian 12 default layout)
    local uri
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$uri" ] || die "no Debian mirror URI found in /etc/apt/sources.list.d/debian.sources"
    cat >/etc/apt/sources.list.d/k8s-1.20-src.sources <<EOF
Types: deb-src
URIs: $uri
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt-get update -qq
  fi
  mkdir -p "$K8S_SRC"
  local dir
  dir=$(ls -d "$K8S_SRC"/kubernetes-1.20*/ 2>/dev/null | head -1 || true)
  if [ -z "$dir" ]; then
    log "apt-get source kubernetes"
    (cd "$K8S_SRC" && apt-get source -qq kubernetes >"$K8S_SRC/apt-source.log" 2>&1) || die "apt-get source failed"
    dir=$(ls -d "$K8S_SRC"/kubernetes-1.20*/ | head -1)
  fi
  dir=${dir%/}
  # Patch: dockershim hard-codes oom_score_adj -998 for the sandbox (and -997 for Guaranteed pods).
  # Lowering oom_score_adj needs CAP_SYS_RESOURCE; without it runc fails with
  # "can't get final child's PID from pipe: EOF". Clamp to >= 0 (harmless elsewhere).
  sed -i 's|^\tdefaultSandboxOOMAdj int = -998$|\tdefaultSandboxOOMAdj int = 0 // k8s-test: no CAP_SYS_RESOURCE|' \
    "$dir/pkg/kubelet/dockershim/docker_sandbox.go"
  sed -i 's|^\t\t\tcreateConfig.HostConfig.OomScoreAdj = int(rOpts.OomScoreAdj)$|\t\t\tif rOpts.OomScoreAdj > 0 { createConfig.HostConfig.OomScoreAdj = int(rOpts.OomScoreAdj) } // k8s-test: clamp|' \
    "$dir/pkg/kubelet/dockershim/helpers_linux.go"
  grep -q 'k8s-test' "$dir/pkg/kubelet/dockershim/docker_sandbox.go" || die "oom patch did not apply"
  # Patch: vendored github.com/modern-go/reflect2 v1.0.1 corrupts memory with Go >= 1.18 (map iteration
  # via linkname'd runtime.mapiterinit with a too-small hiter); kube-apiserver dies at random with
  # "unexpected fault address 0x0 / fatal error: fault ... aeshashbody ... reflect2.(*UnsafeMapType).UnsafeIterate".
  # Debian 12 ships reflect2 1.0.2 (the upstream fix), API-compatible with the vendored json-iterator 1.1.10.
  rsync -a --delete --exclude BUILD --exclude go.mod /usr/share/gocode/src/github.com/modern-go/reflect2/ \
    "$dir/vendor/github.com/modern-go/reflect2/"
  [ -f "$dir/vendor/github.com/modern-go/reflect2/go_above_118.go" ] || die "reflect2 patch did not apply"
  # Optional speed-up: the kubelet status manager retries the final pod DELETE only on its 10s batch
  # sync, so 'kubectl delete pod' takes ~10-16s even with grace 1s. 1s batch sync -> ~3-4s.
  sed -i 's|^const syncPeriod = 10 \* time.Second$|const syncPeriod = 1 * time.Second // k8s-test: faster pod deletion|' \
    "$dir/pkg/kubelet/status/status_manager.go"
  grep -q 'k8s-test' "$dir/pkg/kubelet/status/status_manager.go" || die "status manager patch did not apply"
  log "building $BINS (Go $(go version | awk '{print $3}'), ~4 min on 2 cores)"
  # Upstream make: runs code generators (zz_generated.openapi.go is NOT in the tarball, a plain
  # 'go build ./cmd/kube-apiserver' fails with 'undefined: openapi.GetOpenAPIDefinitions'),
  # GOPATH mode, GOCACHE in _output/, version v1.20.2 from the git-archive stamp, -s -w.
  # shellcheck disable=SC2046,SC2086
  (cd "$dir" && env -u GOPATH -u GOFLAGS -u GO111MODULE CGO_ENABLED=0 \
     make WHAT="$(printf 'cmd/%s ' $BINS)" >"$K8S_SRC/build.log" 2>&1) \
    || { tail -30 "$K8S_SRC/build.log"; die "build failed (log: $K8S_SRC/build.log)"; }
  mkdir -p "$K8S_CACHE"
  local b; for b in $BINS; do install -m755 "$dir/_output/bin/$b" "$K8S_CACHE/$b"; done
  cp "$dir/build/pause/linux/pause.c" "$K8S_CACHE/pause.c"
  echo "$STAMP" >"$K8S_CACHE/STAMP"
  log "build done in $(( $(ms_since "$t0") / 1000 ))s"
}

# ---------------------------------------------------------------- docker
docker_cli() {
  local cli=/usr/bin/docker
  [ -x "$cli" ] || cli=docker
  "$cli" -H "$DOCKER_ENDPOINT" "$@"
}

ensure_docker() {
  if docker_cli info >/dev/null 2>&1; then return; fi
  if ! own_dockerd; then
    die "no Docker engine answers at $DOCKER_ENDPOINT: start the project's engine first" \
      "(scripts/dockerd.sh up), or use a private one with K8S_OWN_DOCKERD=1"
  fi
  command -v dockerd >/dev/null || die "dockerd is missing (apt-get install docker.io)"
  mkdir -p "$K8S_HOME/docker-data" "$K8S_HOME/docker-exec"
  log "starting a private dockerd (socket $PRIVATE_SOCK, --bridge=none --iptables=false)"
  nohup dockerd -H "unix://$PRIVATE_SOCK" --pidfile "$K8S_HOME/docker.pidfile" \
    --data-root "$K8S_HOME/docker-data" --exec-root "$K8S_HOME/docker-exec" \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false \
    </dev/null >"$LOGS/dockerd.log" 2>&1 &
  echo $! >"$PIDS/dockerd.pid"; echo dockerd >"$PIDS/dockerd.cmd"
  wait_for 60 dockerd docker_cli info
}

images() {
  # pause image: upstream pause.c, static, imported as k8s.gcr.io/pause:3.2 (never pulled).
  # It stays in the engine after down (a 700 kB image; the next up finds it).
  if ! docker_cli image inspect "$PAUSE_IMAGE" >/dev/null 2>&1; then
    local d; d=$(mktemp -d "$K8S_HOME/pause.XXXX")
    [ -f "$K8S_CACHE/pause" ] || { gcc -Os -static -o "$K8S_CACHE/pause" "$K8S_CACHE/pause.c" && strip "$K8S_CACHE/pause"; }
    cp "$K8S_CACHE/pause" "$d/pause"
    tar -C "$d" -c . | docker_cli import -c 'ENTRYPOINT ["/pause"]' - "$PAUSE_IMAGE" >/dev/null
    rm -rf "$d"
    log "imported $PAUSE_IMAGE into $DOCKER_ENDPOINT"
  fi
  # base:bookworm (debootstrap minbase + python3), tarball cached. Off by default: TenantHub's
  # pods run its own notebook images (scripts/build-images.sh).
  if [ "$K8S_BASE_IMAGE" = 1 ] && ! docker_cli image inspect base:bookworm >/dev/null 2>&1; then
    if [ ! -f "$K8S_CACHE/base-bookworm.tar" ]; then
      local r="$K8S_HOME/rootfs" uri
      uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
      log "debootstrap bookworm (~1 min)"
      rm -rf "$r"
      debootstrap --variant=minbase --include=python3 bookworm "$r" "${uri:?no Debian mirror URI in /etc/apt/sources.list.d/debian.sources}" \
        >"$LOGS/debootstrap.log" 2>&1 || die "debootstrap failed (see $LOGS/debootstrap.log)"
      rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/*
      tar -C "$r" -cf "$K8S_CACHE/base-bookworm.tar" .
      rm -rf "$r"
    fi
    docker_cli import -c 'CMD ["/bin/bash"]' "$K8S_CACHE/base-bookworm.tar" base:bookworm >/dev/null
  fi
}

# ---------------------------------------------------------------- certs + tokens
pki() {
  [ -f "$PKI/admin.kubeconfig" ] && return
  mkdir -p "$PKI"; chmod 700 "$PKI"
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=k8s-test-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 -extfile apiserver.ext 2>/dev/null
    # client cert the apiserver presents to the kubelet (logs/exec/port-forward)
    openssl req -newkey rsa:2048 -nodes -keyout kubelet-client.key -out kubelet-client.csr -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out kubelet-client.crt -days 3650 -extfile client.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    tok() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
    local admin cm sched kubelet
    admin=$(tok) cm=$(tok) sched=$(tok) kubelet=$(tok)
    cat >tokens.csv <<EOF
$admin,admin,admin,"system:masters"
$cm,system:kube-controller-manager,kcm
$sched,system:kube-scheduler,ksched
$kubelet,system:node:$NODE,kubelet,"system:nodes"
EOF
    mkcfg() {
      cat >"$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$PKI/ca.crt"}
users:
- name: $1
  user: {token: "$2"}
contexts:
- name: local
  context: {cluster: local, user: $1}
current-context: local
EOF
    }
    mkcfg admin "$admin"; mkcfg controller-manager "$cm"; mkcfg scheduler "$sched"; mkcfg kubelet "$kubelet"
    chmod 600 ./*.key tokens.csv ./*.kubeconfig
  )
}

# ---------------------------------------------------------------- processes
COMPONENTS="etcd kube-apiserver kube-controller-manager kube-scheduler kubelet"

start_bg() { # start_bg <name> <cmd...>   (PID recorded, logs in $LOGS/<name>.log)
  local name=$1; shift
  nohup "$@" </dev/null >"$LOGS/$name.log" 2>&1 &
  echo $! >"$PIDS/$name.pid"
}

pid_alive() { # pid_alive <name> -> PID file exists and the PID still runs the same executable
  local f="$PIDS/$1.pid" pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -d "/proc/$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$(cat "$PIDS/$1.cmd" 2>/dev/null || echo "$1")"
}

api() { curl -sf --max-time 5 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $(cut -d, -f1 <"$PKI/tokens.csv" | head -1)" "https://127.0.0.1:$API_PORT$1"; }
node_ready() { api "/api/v1/nodes/$NODE" | jq -e '.status.conditions[] | select(.type=="Ready") | .status=="True"' | grep -q true; }
default_sa_ready() { api /api/v1/namespaces/default/serviceaccounts/default | jq -e '.secrets | length > 0' | grep -q true; }
all_up() {
  [ -f "$PKI/tokens.csv" ] || return 1
  local n; for n in $COMPONENTS; do pid_alive "$n" || return 1; done
  node_ready
}

up() {
  local T0; T0=$(now)
  mkdir -p "$K8S_HOME" "$PIDS" "$LOGS" "$K8S_CACHE"
  if all_up >/dev/null 2>&1; then
    log "already up (node $NODE Ready, engine $DOCKER_ENDPOINT)"
    env_
    return 0
  fi
  # nothing of ours runs on the engine recorded by an earlier up: take the one configured now
  if ! pid_alive kubelet; then DOCKER_ENDPOINT=$(configured_endpoint); check_endpoint; fi
  install_packages
  build
  local tstart; tstart=$(now)
  ensure_docker
  echo "$DOCKER_ENDPOINT" >"$ENDPOINT_FILE"
  images
  pki
  local B=$K8S_CACHE
  local cgdriver; cgdriver=$(docker_cli info -f '{{.CgroupDriver}}')

  echo etcd >"$PIDS/etcd.cmd"
  pid_alive etcd || start_bg etcd etcd --name k8s-test --data-dir "$K8S_HOME/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT+1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT+1))" \
    --initial-cluster "k8s-test=http://127.0.0.1:$((ETCD_PORT+1))" --listen-metrics-urls "http://127.0.0.1:$((ETCD_PORT+2))"
  wait_for 30 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"

  # TTLAfterFinished (alpha in 1.20): Jobs' ttlSecondsAfterFinished, for TenantHub's job runner
  local gates=TTLAfterFinished=true

  echo "$B/kube-apiserver" >"$PIDS/kube-apiserver.cmd"
  pid_alive kube-apiserver || start_bg kube-apiserver "$B/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" --bind-address=127.0.0.1 --secure-port="$API_PORT" \
    --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" --client-ca-file="$PKI/ca.crt" \
    --token-auth-file="$PKI/tokens.csv" --authorization-mode=Node,RBAC \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range=10.96.0.0/16 \
    --kubelet-client-certificate="$PKI/kubelet-client.crt" --kubelet-client-key="$PKI/kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP \
    --enable-admission-plugins=NodeRestriction --allow-privileged=true \
    --feature-gates="$gates"
  wait_for 60 kube-apiserver curl -sf --cacert "$PKI/ca.crt" "https://127.0.0.1:$API_PORT/readyz"

  echo "$B/kube-controller-manager" >"$PIDS/kube-controller-manager.cmd"
  pid_alive kube-controller-manager || start_bg kube-controller-manager "$B/kube-controller-manager" \
    --kubeconfig="$PKI/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10257 --port=0 --leader-elect=false \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --use-service-account-credentials=true \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --pvclaimbinder-sync-period=2s \
    --feature-gates="$gates"

  echo "$B/kube-scheduler" >"$PIDS/kube-scheduler.cmd"
  pid_alive kube-scheduler || start_bg kube-scheduler "$B/kube-scheduler" \
    --kubeconfig="$PKI/scheduler.kubeconfig" --bind-address=127.0.0.1 --secure-port=10259 --port=0 --leader-elect=false

  echo "$B/kubelet" >"$PIDS/kubelet.cmd"
  mkdir -p "$K8S_HOME/kubelet"
  # AWS_EC2_METADATA_DISABLED: the in-tree ECR credential provider otherwise probes 169.254.169.254.
  # Image GC off (high threshold 100): the engine holds the project's notebook images.
  pid_alive kubelet || start_bg kubelet env AWS_EC2_METADATA_DISABLED=true "$B/kubelet" \
    --kubeconfig="$PKI/kubelet.kubeconfig" --hostname-override="$NODE" \
    --address=127.0.0.1 --port=10250 --read-only-port=0 --healthz-bind-address=127.0.0.1 --healthz-port=10248 \
    --container-runtime=docker --docker-endpoint="$DOCKER_ENDPOINT" --pod-infra-container-image="$PAUSE_IMAGE" \
    --cgroup-driver="$cgdriver" --fail-swap-on=false --oom-score-adj=0 --make-iptables-util-chains=false \
    --root-dir="$K8S_HOME/kubelet/root" --cert-dir="$K8S_HOME/kubelet/pki" \
    --experimental-dockershim-root-directory="$K8S_HOME/kubelet/dockershim" \
    --volume-plugin-dir="$K8S_HOME/kubelet/volume-plugins" \
    --anonymous-auth=false --authentication-token-webhook=true --authorization-mode=Webhook --client-ca-file="$PKI/ca.crt" \
    --node-status-update-frequency=4s --node-status-max-images=-1 --image-gc-high-threshold=100 --image-gc-low-threshold=99 \
    --eviction-hard='nodefs.available<1%,imagefs.available<1%,memory.available<50Mi'
  wait_for 120 "node $NODE Ready" node_ready
  wait_for 60 "default serviceaccount token" default_sa_ready
  log "cluster up on $DOCKER_ENDPOINT: $(( $(ms_since "$tstart") ))ms since start (total incl. install/build $(( $(ms_since "$T0") / 1000 ))s)"
  env_
}

env_() {
  local line="export KUBECONFIG=$PKI/admin.kubeconfig TENANTHUB_TEST_KUBECONFIG=$PKI/admin.kubeconfig"
  [ "$DOCKER_ENDPOINT" = "$DEFAULT_ENDPOINT" ] || line="$line DOCKER_HOST=$DOCKER_ENDPOINT"
  echo "$line"
}

kill_names() { # kill_names <name>...: only PIDs we recorded that still run what we started; all
  # at once (TERM, up to 10 s, then KILL): each takes 1-3 s to shut down gracefully
  local name pid pids=""
  for name in "$@"; do
    if pid_alive "$name"; then
      pid=$(cat "$PIDS/$name.pid")
      kill -TERM "$pid" 2>/dev/null || true
      pids="$pids $pid"
    fi
  done
  for _ in $(seq 1 100); do
    local alive=""
    for pid in $pids; do if [ -d "/proc/$pid" ]; then alive="$alive $pid"; fi; done
    pids=$alive
    [ -n "$pids" ] || break
    sleep 0.1
  done
  # shellcheck disable=SC2086 # a list of pids
  if [ -n "$pids" ]; then kill -KILL $pids 2>/dev/null || true; fi
  for name in "$@"; do rm -f "$PIDS/$name.pid"; done
}

other_kubelet() { # a kubelet process runs that is not one this script recorded (and still runs)
  local p exe ours=""
  if pid_alive kubelet; then ours=$(cat "$PIDS/kubelet.pid"); fi
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    case "$exe" in */kubelet) [ "${p#/proc/}" = "$ours" ] || return 0 ;; esac
  done
  return 1
}

down() {
  [ -d "$PIDS" ] || { log "nothing to stop"; return 0; }
  local t0; t0=$(now)
  kill_names kubelet
  # The kubelet's containers (dockershim labels every one io.kubernetes.docker.type), nothing else:
  # the engine may be the project's shared one. Remember their pods for the log cleanup below.
  local uids="" ids=""
  if [ -d "$K8S_HOME/kubelet/root/pods" ]; then uids=$(ls "$K8S_HOME/kubelet/root/pods"); fi
  if docker_cli info >/dev/null 2>&1; then
    ids=$(docker_cli ps -aq --filter label=io.kubernetes.docker.type || true)
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086 # a list of container ids
      uids="$uids $(docker_cli inspect -f '{{index .Config.Labels "io.kubernetes.pod.uid"}}' $ids 2>/dev/null || true)"
      # shellcheck disable=SC2086
      docker_cli rm -f $ids >/dev/null 2>&1 || log "WARNING: could not remove all kubelet containers from $DOCKER_ENDPOINT"
    fi
  elif [ -f "$PIDS/kubelet.cmd" ]; then
    log "WARNING: no Docker engine answers at $DOCKER_ENDPOINT; kubelet containers in it (if any) are left" \
      "(stop the cluster before the engine; the next up + down removes them)"
  fi
  # etcd's data is wiped below, so it need not outlive the API server
  kill_names kube-scheduler kube-controller-manager kube-apiserver etcd
  kill_names dockerd   # only the private one (K8S_OWN_DOCKERD=1) has a PID file; never the shared engine
  # kubelet bind-mounts its root dir (rshared) and tmpfs for secret volumes; a private dockerd leaves
  # exec-root/netns/default mounted: unmount everything under $K8S_HOME before deleting
  { findmnt -rn -o TARGET | grep "^$K8S_HOME/" || true; } | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
  if findmnt -rn -o TARGET | grep -q "^$K8S_HOME/"; then
    die "mounts left under $K8S_HOME; not deleting kubelet state"
  fi
  rm -rf "$K8S_HOME/kubelet" "$K8S_HOME/etcd"
  # kubelet hard-codes /var/log/pods/<ns>_<pod>_<uid>/<ctr>/N.log (links to the engine's json logs)
  # and /var/log/containers/<pod>_<ns>_<ctr>-<id>.log -> /var/log/pods/...: drop those of our pods
  local uid l d
  for uid in $uids; do
    [ -n "$uid" ] || continue
    rm -rf /var/log/pods/*_"$uid"
    for l in /var/log/containers/*.log; do
      [ -L "$l" ] || continue
      case "$(readlink "$l")" in /var/log/pods/*_"$uid"/*) rm -f "$l" ;; esac
    done
  done
  # What the kubelet writes outside $K8S_HOME whatever its flags: log dirs of pods deleted just
  # before down (its GC would have dropped them a minute later), /var/lib/kubelet/device-plugins,
  # the kubepods cgroups. Cleaned only when no other kubelet runs on this machine (ours is stopped).
  if ! other_kubelet; then
    for d in /var/log/pods/*_*_*; do
      [ -d "$d" ] || continue
      # nothing live left in it (only dangling links to removed containers' logs): a dead pod's
      [ -n "$(find "$d" -type f -o -type l -xtype f)" ] || rm -rf "$d"
    done
    find /var/log/containers -maxdepth 1 -name '*.log' -xtype l -delete 2>/dev/null || true
    rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/DEPRECATION
    rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet 2>/dev/null || true
    # empty cgroups only (rmdir fails on one with processes in it)
    find /sys/fs/cgroup/*/kubepods -depth -type d -exec rmdir {} + 2>/dev/null || true
  fi
  rmdir /var/log/containers /var/log/pods 2>/dev/null || true
  rm -f "$ENDPOINT_FILE"
  log "stopped in $(( $(ms_since "$t0") ))ms"
}

restart() { # restart <component>: a component restarted in place, through up's start path
  local name=${1:-} n known="" t0
  for n in $COMPONENTS; do [ "$n" != "$name" ] || known=1; done
  [ -n "$known" ] || die "restart: unknown component '$name' (one of: $COMPONENTS)"
  pid_alive "$name" || die "$name is not running: start the cluster with up"
  t0=$(now)
  log "restarting $name (pid $(cat "$PIDS/$name.pid"))"
  kill_names "$name"
  log "$name stopped after $(ms_since "$t0")ms; starting it again"
  up >/dev/null
  log "$name restarted: $(ms_since "$t0")ms from TERM to ready"
}

status() {
  local n
  for n in dockerd $COMPONENTS; do
    if pid_alive "$n"; then echo "$n: running (pid $(cat "$PIDS/$n.pid"))"
    elif [ "$n" != dockerd ]; then echo "$n: stopped"; fi
  done
  echo "docker engine of the kubelet: $DOCKER_ENDPOINT"
  if [ -f "$PKI/tokens.csv" ] && node_ready; then echo "node $NODE: Ready"; else echo "node $NODE: not ready"; return 1; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  purge) down; rm -rf "$K8S_HOME" ;;
  status) status ;;
  env) env_ ;;
  build) mkdir -p "$K8S_HOME" "$LOGS" "$PIDS"; install_packages; build ;;
  images) mkdir -p "$K8S_HOME" "$LOGS" "$PIDS"; ensure_docker; images ;;
  restart) restart "${2:-}" ;;
  *) echo "usage: $0 up|down|purge|status|env|build|images|restart <component>" >&2; exit 2 ;;
esac
