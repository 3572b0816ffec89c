/**
 * What Node's public UDP send path costs per datagram, beside the kernel: CPU per socket.send() of a 60-byte
 * answer to a loopback socket that is not read (the kernel drops once its buffer is full, so the system call's
 * share stays about the same across variants), for the ways a resolver can call it:
 *   - default lookup: an IP literal still goes through dns.lookup (two regular expressions and a nextTick);
 *   - literal lookup, net.isIPv6: a lookup that answers at once, as the resolver's sockets did;
 *   - literal lookup, ':' test: the same without the regular expression (control/base/literal-lookup.ts);
 *   - with a callback: Node then cannot use its synchronous try-send;
 *   - offset/length arguments instead of a whole Buffer.
 * Variants alternate, five rounds, best round reported. Never asserts speed.
 * Usage: node dist/bench/dns-send-path.bench.js [--sends 200000]
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as os from 'node:os';
import { literalLookup } from '../control/base/literal-lookup';

const i = process.argv.indexOf('--sends');
const SENDS = i > 0 ? Number(process.argv[i + 1]) : 200_000;

type Lookup = (address: string, family: unknown, cb: (err: Error | null, address: string, family: number) => void) => void;
const regexLookup: Lookup = (address, _family, cb) => cb(null, address, net.isIPv6(address) ? 6 : 4);

async function socket(lookup?: Lookup): Promise<dgram.Socket> {
  const s = lookup ? dgram.createSocket({ type: 'udp4', lookup }) : dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

async function main(): Promise<void> {
  const sink = await socket();
  sink.removeAllListeners('message'); // what it receives is dropped unread
  const port = sink.address().port;
  const buf = Buffer.alloc(60, 1);
  const noop = (): void => {};
  const variants: Array<[string, dgram.Socket, (s: dgram.Socket) => void]> = [
    ['default lookup', await socket(), (s) => s.send(buf, port, '127.0.0.1')],
    ['literal lookup, net.isIPv6', await socket(regexLookup), (s) => s.send(buf, port, '127.0.0.1')],
    ["literal lookup, ':' test", await socket(literalLookup), (s) => s.send(buf, port, '127.0.0.1')],
    ['literal lookup + callback', await socket(literalLookup), (s) => s.send(buf, port, '127.0.0.1', noop)],
    ['literal lookup, offset/length', await socket(literalLookup), (s) => s.send(buf, 0, buf.length, port, '127.0.0.1')],
  ];
  const best = new Map<string, number>();
  for (let round = 0; round < 5; round++) {
    for (const [name, s, send] of variants) {
      const c0 = process.cpuUsage();
      for (let n = 0; n < SENDS; n++) send(s);
      await new Promise((r) => setImmediate(r)); // deferred sends (nextTick, callbacks) are counted too
      const c = process.cpuUsage(c0);
      best.set(name, Math.min(best.get(name) ?? Infinity, ((c.user + c.system) * 1000) / SENDS));
    }
  }
  console.log(`load ${os.loadavg()[0].toFixed(2)}; ${SENDS} sends per variant and round, best of 5`);
  for (const [name, ns] of best) console.log(`${name.padEnd(32)} ${ns.toFixed(0).padStart(6)} ns CPU per send`);
  for (const [, s] of variants) s.close();
  sink.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
