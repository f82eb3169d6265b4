#!/usr/bin/env bash
# Single-node Kubernetes v1.20.2 built from the Debian 12 "kubernetes" source package,
# running on loopback only: etcd + kube-apiserver + kube-controller-manager +
# kube-scheduler + kubelet (dockershim -> docker.io 20.10). No CNI: pods must use
# hostNetwork: true (their pod IP is then 127.0.0.1).
#
# Usage: cluster.sh up|down|status|env|build|images|purge
#   up      install packages (if missing), build/cached binaries, images, certs, start all, wait node Ready
#   down    stop only the processes this script started (PID files), remove kubelet-made containers,
#           unmount kubelet tmpfs mounts, wipe etcd + kubelet state (certs and caches are kept)
#   purge   down + remove state dir (keeps binary/image cache)
#   env     print "export KUBECONFIG=... DOCKER_HOST=..." for the running cluster
#
# Tunables (env): K8S_HOME (state), K8S_CACHE (binaries + image tarballs), K8S_SRC (source tree),
#   K8S_API_PORT (6443), K8S_ETCD_PORT (2379; peer = +1, metrics = +2), K8S_BASE_IMAGE (1: build base:bookworm)
set -euo pipefail

K8S_HOME=${K8S_HOME:-$HOME/.cache/tenanthub/k8s/cluster}
K8S_CACHE=${K8S_CACHE:-$HOME/.cache/tenanthub/k8s/k8s-1.20}
K8S_SRC=${K8S_SRC:-$HOME/.cache/tenanthub/k8s/src}
API_PORT=${K8S_API_PORT:-6443}
ETCD_PORT=${K8S_ETCD_PORT:-2379}
K8S_BASE_IMAGE=${K8S_BASE_IMAGE:-1}
NODE=127.0.0.1                      # node name == InternalIP (hostname-override trick, see notes)
PAUSE_IMAGE=k8s.gcr.io/pause:3.2    # kubelet 1.20 default; built locally, never pulled
BINS="kube-apiserver kube-controller-manager kube-scheduler kubelet"
STAMP="v1.20.2+debian-1.1+deb12u1+oomclamp1+reflect2-1.0.2+statussync1s"
PKI=$K8S_HOME/pki PIDS=$K8S_HOME/pids LOGS=$K8S_HOME/logs
DOCKER_SOCK=$K8S_HOME/docker.sock

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

# ---------------------------------------------------------------- packages
install_packages() {
  local need="" p
  for p in docker.io golang-go etcd-server openssl rsync jq dpkg-dev debootstrap gcc libc6-dev curl iptables \
           golang-github-modern-go-reflect2-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
  done
  if [ -n "$need" ]; then
    log "apt-get install$need"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >"$K8S_HOME/apt.log" 2>&1 \
      || { tail -20 "$K8S_HOME/apt.log"; die "apt-get install failed"; }
  fi
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
docker_cli() { /usr/bin/docker -H "unix://$DOCKER_SOCK" "$@"; }

start_docker() {
  if docker_cli info >/dev/null 2>&1; then return; fi
  mkdir -p "$K8S_HOME/docker-data" "$K8S_HOME/docker-exec"
  log "starting dockerd (private socket $DOCKER_SOCK, --bridge=none --iptables=false)"
  nohup dockerd -H "unix://$DOCKER_SOCK" --pidfile "$K8S_HOME/docker.pidfile" \
    --data-root "$K8S_HOME/docker-data" --exec-root "$K8S_HOME/docker-exec" \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false \
    </dev/null >"$LOGS/dockerd.log" 2>&1 &
  echo $! >"$PIDS/dockerd.pid"; echo dockerd >"$PIDS/dockerd.cmd"
  wait_for 60 dockerd docker_cli info
}

images() {
  # pause image: upstream pause.c, static, imported as k8s.gcr.io/pause:3.2 (never pulled)
  if ! docker_cli image inspect "$PAUSE_IMAGE" >/dev/null 2>&1; then
    local d; d=$(mktemp -d "$K8S_HOME/pause.XXXX")
    [ -f "$K8S_CACHE/pause" ] || { gcc -Os -static -o "$K8S_CACHE/pause" "$K8S_CACHE/pause.c" && strip "$K8S_CACHE/pause"; }
    cp "$K8S_CACHE/pause" "$d/pause"
    tar -C "$d" -c . | docker_cli import -c 'ENTRYPOINT ["/pause"]' - "$PAUSE_IMAGE" >/dev/null
    rm -rf "$d"
  fi
  # base:bookworm (debootstrap minbase + python3), tarball cached
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

api() { curl -sf --cacert "$PKI/ca.crt" -H "Authorization: Bearer $(cut -d, -f1 <"$PKI/tokens.csv" | head -1)" "https://127.0.0.1:$API_PORT$1"; }
node_ready() { api "/api/v1/nodes/$NODE" | jq -e '.status.conditions[] | select(.type=="Ready") | .status=="True"' | grep -q true; }
default_sa_ready() { api /api/v1/namespaces/default/serviceaccounts/default | jq -e '.secrets | length > 0' | grep -q true; }

up() {
  local T0; T0=$(now)
  mkdir -p "$K8S_HOME" "$PIDS" "$LOGS" "$K8S_CACHE"
  install_packages
  build
  local tstart; tstart=$(now)
  start_docker
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
    --enable-admission-plugins=NodeRestriction --allow-privileged=true
  wait_for 60 kube-apiserver curl -sf --cacert "$PKI/ca.crt" "https://127.0.0.1:$API_PORT/readyz"

  echo "$B/kube-controller-manager" >"$PIDS/kube-controller-manager.cmd"
  pid_alive kube-controller-manager || start_bg kube-controller-manager "$B/kube-controller-manager" \
    --kubeconfig="$PKI/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10257 --port=0 --leader-elect=false \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --use-service-account-credentials=true \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --pvclaimbinder-sync-period=2s

  echo "$B/kube-scheduler" >"$PIDS/kube-scheduler.cmd"
  pid_alive kube-scheduler || start_bg kube-scheduler "$B/kube-scheduler" \
    --kubeconfig="$PKI/scheduler.kubeconfig" --bind-address=127.0.0.1 --secure-port=10259 --port=0 --leader-elect=false

  echo "$B/kubelet" >"$PIDS/kubelet.cmd"
  mkdir -p "$K8S_HOME/kubelet"
  # AWS_EC2_METADATA_DISABLED: the in-tree ECR credential provider otherwise probes 169.254.169.254
  pid_alive kubelet || start_bg kubelet env AWS_EC2_METADATA_DISABLED=true "$B/kubelet" \
    --kubeconfig="$PKI/kubelet.kubeconfig" --hostname-override="$NODE" \
    --address=127.0.0.1 --port=10250 --read-only-port=0 --healthz-bind-address=127.0.0.1 --healthz-port=10248 \
    --container-runtime=docker --docker-endpoint="unix://$DOCKER_SOCK" --pod-infra-container-image="$PAUSE_IMAGE" \
    --cgroup-driver="$cgdriver" --fail-swap-on=false --oom-score-adj=0 --make-iptables-util-chains=false \
    --root-dir="$K8S_HOME/kubelet/root" --cert-dir="$K8S_HOME/kubelet/pki" \
    --experimental-dockershim-root-directory="$K8S_HOME/kubelet/dockershim" \
    --volume-plugin-dir="$K8S_HOME/kubelet/volume-plugins" \
    --anonymous-auth=false --authentication-token-webhook=true --authorization-mode=Webhook --client-ca-file="$PKI/ca.crt" \
    --node-status-update-frequency=4s --image-gc-high-threshold=100 --image-gc-low-threshold=99 \
    --eviction-hard='nodefs.available<1%,imagefs.available<1%,memory.available<50Mi'
  wait_for 120 "node $NODE Ready" node_ready
  wait_for 60 "default serviceaccount token" default_sa_ready
  log "cluster up: $(( $(ms_since "$tstart") ))ms since start (total incl. install/build $(( $(ms_since "$T0") / 1000 ))s)"
  env_
}

env_() {
  echo "export KUBECONFIG=$PKI/admin.kubeconfig DOCKER_HOST=unix://$DOCKER_SOCK"
}

kill_name() { # kill only a PID we recorded, and only if it still runs what we started
  local name=$1 pid i
  [ -f "$PIDS/$name.pid" ] || return 0
  pid=$(cat "$PIDS/$name.pid")
  if pid_alive "$name"; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
    [ -d "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDS/$name.pid"
}

down() {
  [ -d "$PIDS" ] || { log "nothing to stop"; return 0; }
  kill_name kubelet
  # containers created by the kubelet (dockershim labels them), only on our own dockerd socket
  if docker_cli info >/dev/null 2>&1; then
    local ids; ids=$(docker_cli ps -aq --filter label=io.kubernetes.docker.type || true)
    [ -z "$ids" ] || docker_cli rm -f $ids >/dev/null 2>&1 || true
  fi
  kill_name kube-scheduler
  kill_name kube-controller-manager
  kill_name kube-apiserver
  kill_name etcd
  kill_name dockerd
  # kubelet bind-mounts its root dir (rshared) and tmpfs for secret volumes; dockerd leaves
  # exec-root/netns/default mounted: unmount everything under $K8S_HOME before deleting
  { findmnt -rn -o TARGET | grep "^$K8S_HOME/" || true; } | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
  rm -rf "$K8S_HOME/kubelet"
  rm -rf "$K8S_HOME/etcd"
  # kubelet hard-codes /var/log/pods/<ns>_<pod>_<uid>/<ctr>/N.log -> docker json logs (under $K8S_HOME)
  # and /var/log/containers/*.log -> /var/log/pods/...; drop ours (links into $K8S_HOME, or left empty)
  local d l keep
  for d in /var/log/pods/*_*_*; do
    [ -d "$d" ] || continue
    keep=0
    while read -r l; do case "$(readlink "$l")" in "$K8S_HOME"/*) ;; *) keep=1 ;; esac; done < <(find "$d" -type l)
    if [ "$keep" = 0 ]; then rm -rf "$d"; fi
  done
  find /var/log/containers -maxdepth 1 -xtype l -name '*.log' -delete 2>/dev/null || true
  log "stopped"
}

status() {
  local n
  for n in dockerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet; do
    if pid_alive "$n"; then echo "$n: running (pid $(cat "$PIDS/$n.pid"))"; else echo "$n: stopped"; fi
  done
  node_ready && echo "node $NODE: Ready" || echo "node $NODE: not ready"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  purge) down; rm -rf "$K8S_HOME" ;;
  status) status ;;
  env) env_ ;;
  build) mkdir -p "$K8S_HOME" "$LOGS" "$PIDS"; install_packages; build ;;
  images) mkdir -p "$K8S_HOME" "$LOGS" "$PIDS"; start_docker; images ;;
  *) echo "usage: $0 up|down|purge|status|env|build|images" >&2; exit 2 ;;
esac
