/**
 * A UDP round-trip load for bench/mesh: FLOWS sockets (one source port each, so a mesh that balances per flow
 * spreads them), each keeping WINDOW datagrams in flight to HOST:PORT against an echo server; every echo is timed.
 * A datagram not echoed within 500 ms counts as lost and is replaced, so loss never stalls the load. Prints one
 * JSON line: round trips per second, p50/p99 round-trip time, lost datagrams. If nothing at all comes back in the
 * first second (nothing serves UDP there) it stops early and says so ({"answered": false}).
 * Run: `node dist/bench/support/udp-load.js HOST PORT SECONDS [FLOWS] [WINDOW]`.
 */
import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';

const [host, portText, secondsText, flowsText = '8', windowText = '4'] = process.argv.slice(2);
const port = Number(portText);
const durationMs = Number(secondsText) * 1000;
const flows = Number(flowsText);
const window = Number(windowText);
const LOSS_MS = 500;
const PAYLOAD = 64;

const rtts: number[] = [];
let lost = 0;
let received = 0;
let measuring = true;
const sockets: Socket[] = [];

for (let f = 0; f < flows; f++) {
  const socket = createSocket('udp4');
  sockets.push(socket);
  /** Send time by sequence number, for the datagrams in flight. */
  const inFlight = new Map<number, number>();
  let seq = 0;
  const send = () => {
    if (!measuring) return;
    const n = seq++;
    const buf = Buffer.alloc(PAYLOAD); // a fresh one: send() reads it later, asynchronously
    buf.writeUInt32BE(n, 0);
    inFlight.set(n, performance.now());
    socket.send(buf);
  };
  socket.on('message', (msg) => {
    const n = msg.readUInt32BE(0);
    const sent = inFlight.get(n);
    if (sent === undefined) return; // already counted as lost
    inFlight.delete(n);
    received++;
    if (measuring) rtts.push(performance.now() - sent);
    send();
  });
  socket.on('error', () => undefined); // ICMP port unreachable on a connected socket: the sweep counts the loss
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const [n, t] of inFlight) {
      if (now - t < LOSS_MS) continue;
      inFlight.delete(n);
      lost++;
      send();
    }
  }, 100);
  sweep.unref();
  socket.connect(port, host, () => {
    for (let i = 0; i < window; i++) send();
  });
}

const start = performance.now();
const finish = (answered: boolean) => {
  measuring = false;
  const seconds = (performance.now() - start) / 1000;
  rtts.sort((a, b) => a - b);
  const pct = (p: number) => (rtts.length ? rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))] : NaN);
  process.stdout.write(JSON.stringify({ answered, perSec: rtts.length / seconds, p50Ms: pct(0.5), p99Ms: pct(0.99), lost, roundTrips: rtts.length }) + '\n');
  for (const s of sockets) s.close();
};
setTimeout(() => {
  if (received === 0) finish(false);
  else setTimeout(() => finish(true), durationMs - 1000);
}, 1000);
