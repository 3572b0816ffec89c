#!/usr/bin/env bash
# A private Docker engine for Shoal's docker e2e tests: Debian's dockerd on its own socket, data root, exec root
# and pid file, so it never meets a system Docker. It is told to leave the host's network alone: no docker0
# bridge, no iptables rules (so the FORWARD policy stays as it is), no ip_forward change. Shoal starts every
# container with NetworkMode "none" and plugs interfaces in itself, so none of Docker's networking is needed.
#
#   scripts/dockerd.sh start   starts it (idempotent) and waits until `docker version` answers
#   scripts/dockerd.sh stop    stops it and waits until it is gone
#   scripts/dockerd.sh status  exits 0 when it answers
set -euo pipefail

SOCK=/run/shoal-docker.sock
HOST="unix://$SOCK"
PIDFILE=/run/shoal-docker.pid
DATA_ROOT=/var/lib/shoal-docker
EXEC_ROOT=/run/shoal-docker
LOG=${SHOAL_DOCKERD_LOG:-/tmp/shoal-dockerd.log}
TIMEOUT=${SHOAL_DOCKERD_TIMEOUT:-60}

die() { echo "dockerd.sh: $*" >&2; exit 1; }

# Debian's client first: /usr/local/bin may hold a newer client that is not the one the package ships.
docker_cli() {
  if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else command -v docker || true; fi
}

need() {
  command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] \
    || die "dockerd not found: install Debian's docker.io (apt-get install docker.io)"
  [ -n "$(docker_cli)" ] || die "docker client not found: install Debian's docker.io (apt-get install docker.io)"
}

answers() { "$(docker_cli)" -H "$HOST" version >/dev/null 2>&1; }

running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid; pid=$(cat "$PIDFILE")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
  need
  if answers; then echo "dockerd already answers at $HOST"; return 0; fi
  if pid=$(running_pid); then
    echo "dockerd (pid $pid) is starting; waiting for it"
  else
    mkdir -p "$DATA_ROOT" "$EXEC_ROOT"
    rm -f "$PIDFILE" # a stale pid file from a killed daemon makes dockerd refuse to start
    local dockerd; dockerd=$(command -v dockerd || echo /usr/sbin/dockerd)
    # --bridge=none: no docker0 (containers use NetworkMode none). --iptables=false / --ip-forward=false /
    # --ip-masq=false: leave the host firewall and sysctls alone. --userland-proxy=false: no docker-proxy.
    # No --containerd: dockerd then supervises a containerd of its own under EXEC_ROOT.
    setsid "$dockerd" \
      --host "$HOST" \
      --data-root "$DATA_ROOT" \
      --exec-root "$EXEC_ROOT" \
      --pidfile "$PIDFILE" \
      --bridge=none \
      --iptables=false \
      --ip6tables=false \
      --ip-forward=false \
      --ip-masq=false \
      --userland-proxy=false \
      --log-level=warn \
      </dev/null >>"$LOG" 2>&1 &
    echo "dockerd started (pid $!), log $LOG"
  fi
  local waited=0
  until answers; do
    if ! running_pid >/dev/null && [ "$waited" -gt 2 ]; then
      echo "dockerd exited before answering; last lines of $LOG:" >&2; tail -n 30 "$LOG" >&2; exit 1
    fi
    if [ "$waited" -ge "$((TIMEOUT * 4))" ]; then
      echo "dockerd did not answer at $HOST within ${TIMEOUT}s; last lines of $LOG:" >&2; tail -n 30 "$LOG" >&2; exit 1
    fi
    sleep 0.25; waited=$((waited + 1))
  done
  echo "dockerd answers at $HOST"
}

stop() {
  local pid
  if ! pid=$(running_pid); then echo "dockerd is not running"; rm -f "$PIDFILE"; return 0; fi
  kill -TERM "$pid"
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || { echo "dockerd stopped"; return 0; }; sleep 0.25; done
  echo "dockerd (pid $pid) still running after 30s; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) need; answers && echo "dockerd answers at $HOST" || { echo "no dockerd at $HOST"; exit 1; } ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
