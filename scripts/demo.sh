#!/usr/bin/env bash
# Starts Shoal's main job on this machine: a single-node swarm (swarmd with the embedded store) running a demo
# web service published on port 8080 through the routing mesh. Installs what it needs first (Debian packages,
# npm packages, the build). Ctrl-C stops swarmd; the swarm and its tasks are kept and come back on the next run.
#
#   bash scripts/demo.sh            then: curl http://127.0.0.1:8080/
#
# Environment: SHOAL_DATA_DIR (default /var/lib/shoal), SWARMD_HOST (default unix:///var/run/swarmd.sock),
# SHOAL_DEMO_PORT (default 8080).
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${SHOAL_DATA_DIR:-/var/lib/shoal}
HOST=${SWARMD_HOST:-unix:///var/run/swarmd.sock}
PORT=${SHOAL_DEMO_PORT:-8080}
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (swarmd makes network namespaces and bridges)" >&2; exit 1; }

missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v busybox >/dev/null || missing+=(busybox-static)
command -v unshare >/dev/null || missing+=(util-linux)
command -v iptables-restore >/dev/null || missing+=(iptables)  # the fast mesh; without it swarmd uses userspace proxies
command -v cc >/dev/null || missing+=(gcc libc6-dev)           # the native DNS socket and TCP relay; without them, slower Node paths
if [ ${#missing[@]} -gt 0 ]; then
  echo "--- installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build --silent

swarmctl() { node dist/control/cli/swarmctl.js -H "$HOST" "$@"; }

echo "--- starting swarmd ($HOST, data in $DATA)"
node dist/control/swarmd.js --host "$HOST" --data-dir "$DATA" --executor process &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM
for _ in $(seq 1 100); do swarmctl version >/dev/null 2>&1 && break; sleep 0.1; done

if ! swarmctl node ls >/dev/null 2>&1; then swarmctl swarm init --advertise-addr 127.0.0.1; fi
if ! swarmctl service inspect demo >/dev/null 2>&1; then
  # Each task writes a page naming itself (its hostname is demo-SLOT) and serves it with busybox-static's httpd.
  # The process executor runs the command from this machine's filesystem, each task in network and UTS
  # namespaces of its own; the image name is recorded but not unpacked.
  page='mkdir -p "$0/$(hostname)" && echo "Hello from $(hostname), a task of the demo service, through the routing mesh." > "$0/$(hostname)/index.html" && exec busybox httpd -f -p 80 -h "$0/$(hostname)"'
  swarmctl service create --name demo --replicas 3 --hostname 'demo-{{.Task.Slot}}' --publish "$PORT:80" busybox sh -c "$page" "$DATA/demo-www"
fi
swarmctl service ls
echo
echo "--- four requests to 127.0.0.1:$PORT, spread over the replicas by the mesh:"
for _ in 1 2 3 4; do timeout 3 busybox wget -q -O - "http://127.0.0.1:$PORT/" || echo "(no answer yet)"; done
echo
echo "Shoal is running. Try: curl http://127.0.0.1:$PORT/   (Ctrl-C stops swarmd; tasks keep running and are adopted on restart)"
wait $pid
