/**
 * Clients for mesh tests, as node scripts run with `node -e` (often inside a namespace with `ip netns exec`):
 * one GET, and a loop of GETs that counts failures while something changes under it. Every request opens a
 * fresh connection, so each one is balanced anew.
 */
import { networkInterfaces } from 'node:os';

/** One GET: prints the body; exits 1 on an error or after 2 s. argv: URL. */
export const GET_SCRIPT = `require('http').get(process.argv[1], { timeout: 2000, agent: false }, (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => process.stdout.write(b)); }).on('error', () => process.exit(1)).on('timeout', () => process.exit(1));`;

/** GETs one after another until the file STOP exists, then prints {ok, failed, errors, seen}. argv: URL STOP. */
export const LOOP_SCRIPT = `const http = require('http'), fs = require('fs'); const [url, stop] = process.argv.slice(1);
let ok = 0, failed = 0; const errors = [], seen = {};
const once = () => { if (fs.existsSync(stop)) return process.stdout.write(JSON.stringify({ ok, failed, errors: errors.slice(0, 5), seen }));
  http.get(url, { timeout: 3000, agent: false }, (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => { if (r.statusCode === 200) { ok++; seen[b.trim()] = (seen[b.trim()] || 0) + 1; } else { failed++; errors.push('HTTP ' + r.statusCode); } setTimeout(once, 5); }); })
    .on('error', (e) => { failed++; errors.push(e.message); setTimeout(once, 5); }).on('timeout', function () { this.destroy(new Error('timeout')); }); };
once();`;

export interface LoopTally {
  ok: number;
  failed: number;
  errors: string[];
  /** Response bodies and how often each came. */
  seen: Record<string, number>;
}

/** The first IPv4 address of this machine that is not loopback: what a client on the network would use. */
export function nodeAddress(): string {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  throw new Error('this machine has no non-loopback IPv4 address to test a published port on');
}
