#!/usr/bin/env bash
# Builds the one native part, the resolver's batch UDP socket (dns/native/udp-batch.c), into
# dist/dns/native/udp-batch.node with the C compiler and the headers of the Node.js that runs it (no node-gyp:
# one file, no downloads). Without a compiler or the headers it says what to install and exits 0: the build goes
# on and the resolver uses Node's dgram (about half the throughput); the tests of the batch socket then fail
# saying the same. The same when it does not compile (an older libc, say). SHOAL_NATIVE_REQUIRED=1 makes either an
# error instead.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=dns/native/udp-batch.c
OUT=dist/dns/native/udp-batch.node
INCLUDE=$(node -p 'require("path").join(process.execPath, "..", "..", "include", "node")')
missing() {
  echo "build-native: $1; the DNS resolver will use Node's dgram. Install: apt-get install -y gcc libc6-dev" >&2
  [ "${SHOAL_NATIVE_REQUIRED:-0}" = 1 ] && exit 1
  exit 0
}
CC=${CC:-cc}
command -v "$CC" >/dev/null || missing "no C compiler ($CC)"
[ -f "$INCLUDE/node_api.h" ] || missing "no Node.js headers in $INCLUDE"
mkdir -p "$(dirname "$OUT")"
if [ "$OUT" -nt "$SRC" ] && [ "$OUT" -nt "$0" ]; then exit 0; fi
if ! "$CC" -O2 -Wall -Wextra -Wno-unused-parameter -shared -fPIC -I"$INCLUDE" -o "$OUT.tmp" "$SRC"; then
  rm -f "$OUT.tmp" "$OUT" # never leave an older build to be loaded against newer JavaScript
  missing "$SRC did not compile (the compiler said why, above)"
fi
mv "$OUT.tmp" "$OUT"
