#!/bin/bash
# Hypothesis check (bench/README.md, dns section), for Node dgram readers (the fallback when the batch socket is not
# built; the batch socket gets sockets of its own through SO_REUSEPORT): do extra UDP readers gain from sockets of their own instead of
# sharing the resolver's one socket (every reader polling it wakes for each datagram: a thundering herd)?
# In a scratch network namespace, alternating, each round:
#   shared: one resolver process on ADDR:53 with one extra reader process sharing its socket (swarmd's way);
#   spread: two resolver processes, on ADDR:53 and ADDR:5399, and an nth-statistic DNAT in nat OUTPUT sending
#           every second new flow (conntrack pins a flow: one dnsperf client socket) to :5399.
# Prints dnsperf qps and average latency, and the resolvers' CPU µs and voluntary context switches per query
# (the cost figures that hold on a shared machine). Needs root, dnsperf, iptables; run `npx tsc -p .` first.
# The namespace (and with it every rule) is removed on exit, error or Ctrl-C.
# Usage: bash bench/dns-reader-spread.sh [ROUNDS=3] [SECONDS=6]
set -euo pipefail
ROUNDS=${1:-3}
SECS=${2:-6}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NS=shoal-dnsspread-$$
ADDR=169.254.99.1
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for bin in dnsperf iptables ip; do command -v $bin >/dev/null || { echo "$bin is missing: apt-get install -y dnsperf iptables iproute2" >&2; exit 2; }; done

for i in $(seq 0 99); do echo "svc$i A"; echo "tasks.svc$i A"; done > "$WORK/queries.txt"
cat > "$WORK/resolver.js" <<JS
const { DnsResolver } = require('$ROOT/dist/dns/dns-resolver');
const { systemClock } = require('$ROOT/dist/control/base/clock');
const { silentLogger } = require('$ROOT/dist/control/base/log');
const { bigTable } = require('$ROOT/dist/dns/test-kit');
const [port, readers] = process.argv.slice(2).map(Number);
(async () => {
  const s = new DnsResolver({ address: '$ADDR', port, clock: systemClock, logger: silentLogger, upstreams: [{ host: '127.0.0.1', port: 9 }], searchDomains: [], udpReaders: readers, udpIo: 'dgram' });
  await s.start();
  await s.apply(bigTable(100, 3));
  process.on('SIGTERM', () => s.stop().then(() => process.exit(0)));
})();
JS

ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip addr add "$ADDR/32" dev lo

# Sum over a process and its children: CPU ticks (utime+stime), voluntary context switches.
ticks() { local t=0; for p in $(pgrep -P "$1") "$1"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
csw() { local t=0; for p in $(pgrep -P "$1") "$1"; do t=$((t + $(awk '/^voluntary_ctxt_switches/{print $2}' "/proc/$p/status"))); done; echo $t; }
sum() { local f=$1 t=0; shift; for p in "$@"; do t=$((t + $($f "$p"))); done; echo $t; }
HZ=$(getconf CLK_TCK)

measure() {
  local label=$1; shift
  sleep 2 # readers started and the table applied
  local t0 c0 t1 c1 out
  t0=$(sum ticks "$@"); c0=$(sum csw "$@")
  out=$(ip netns exec "$NS" dnsperf -s "$ADDR" -p 53 -d "$WORK/queries.txt" -l "$SECS" -c 4 -Q 500000 2>&1)
  t1=$(sum ticks "$@"); c1=$(sum csw "$@")
  echo "$out" | awk -v label="$label" -v dt=$((t1 - t0)) -v dc=$((c1 - c0)) -v hz="$HZ" -v load="$(cut -d' ' -f1 /proc/loadavg)" '
    /Queries completed/ {n=$3} /Queries per second/ {q=$4} /Average Latency/ {l=$4*1000}
    END {printf "%-7s load %5s  qps %7.0f  avg %.3f ms  CPU %5.1f µs/query  %.2f ctxsw/query\n", label, load, q, l, dt*1e6/hz/n, dc/n}'
}

for round in $(seq 1 "$ROUNDS"); do
  ip netns exec "$NS" node "$WORK/resolver.js" 53 1 & PIDS=($!)
  measure shared "${PIDS[@]}"
  kill "${PIDS[@]}"; wait "${PIDS[@]}" 2>/dev/null || true

  ip netns exec "$NS" node "$WORK/resolver.js" 53 0 & PIDS=($!)
  ip netns exec "$NS" node "$WORK/resolver.js" 5399 0 & PIDS+=($!)
  ip netns exec "$NS" iptables -w -t nat -A OUTPUT -d "$ADDR" -p udp --dport 53 -m statistic --mode nth --every 2 --packet 0 -j DNAT --to-destination "$ADDR:5399"
  measure spread "${PIDS[@]}"
  kill "${PIDS[@]}"; wait "${PIDS[@]}" 2>/dev/null || true
  ip netns exec "$NS" iptables -w -t nat -F OUTPUT
  # New flows next round: dnsperf picks new source ports, and this namespace's conntrack entries go with the rules.
done
