#!/usr/bin/env bash
# Builds the native parts with the C compiler and the headers of the Node.js that runs them (no node-gyp: one
# file each, no downloads):
#   dns/native/udp-batch.c  → dist/dns/native/udp-batch.node   the resolver's batch UDP socket
#   mesh/native/tcp-relay.c → dist/mesh/native/tcp-relay.node  the userspace mesh's TCP relay
# Without a compiler or the headers it says what to install and exits 0: the build goes on, the resolver uses
# Node's dgram (about half the throughput) and the mesh relays through Node's TCP handles (tcp-proxy.ts); the
# tests of the native parts then fail saying the same. The same for a file that does not compile (an older libc,
# say). SHOAL_NATIVE_REQUIRED=1 makes either an error instead.
set -euo pipefail
cd "$(dirname "$0")/.."
INCLUDE=$(node -p 'require("path").join(process.execPath, "..", "..", "include", "node")')
missing() {
  echo "build-native: $1; the DNS resolver will use Node's dgram and the userspace mesh Node's TCP handles. Install: apt-get install -y gcc libc6-dev" >&2
  [ "${SHOAL_NATIVE_REQUIRED:-0}" = 1 ] && exit 1
  exit 0
}
CC=${CC:-cc}
command -v "$CC" >/dev/null || missing "no C compiler ($CC)"
[ -f "$INCLUDE/node_api.h" ] || missing "no Node.js headers in $INCLUDE"
# Included by both (errors, callbacks, ports, arguments).
SUPPORT=control/base/native/napi-support.h
build() {
  local src=$1 out=dist/${1%.c}.node
  mkdir -p "$(dirname "$out")"
  if [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ] && [ "$out" -nt "$SUPPORT" ]; then return 0; fi
  if ! "$CC" -O2 -Wall -Wextra -Wno-unused-parameter -shared -fPIC -I"$INCLUDE" -o "$out.tmp" "$src"; then
    rm -f "$out.tmp" "$out" # never leave an older build to be loaded against newer JavaScript
    (missing "$src did not compile (the compiler said why, above)") || exit 1
    return 0
  fi
  mv "$out.tmp" "$out"
}
build dns/native/udp-batch.c
build mesh/native/tcp-relay.c
