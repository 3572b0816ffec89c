/**
 * The "naive Node pipe() proxy", as an anchor for bench/mesh: accept, connect to one fixed backend,
 * pipe() both ways, nothing else (no picker, no retry, no counters, no half-close handling). It shows in the
 * same run what a bare Node relay gets on this machine, so the userspace mesh can be judged against Node itself
 * as well as against HAProxy. Run inside the node namespace: `naive-pipe-proxy.js LISTEN_HOST:PORT BACKEND_HOST:PORT`;
 * prints "ready", serves until SIGTERM/SIGINT, then exits normally (so `node --cpu-prof` writes its profile).
 */
import * as net from 'node:net';

const [listenHost, listenPort] = (process.argv[2] ?? '').split(':');
const [backendHost, backendPort] = (process.argv[3] ?? '').split(':');
if (!listenPort || !backendPort) throw new Error('usage: naive-pipe-proxy LISTEN_HOST:PORT BACKEND_HOST:PORT');

const server = net.createServer({ noDelay: true }, (client) => {
  const up = net.connect({ host: backendHost, port: Number(backendPort), noDelay: true });
  client.pipe(up).pipe(client);
  client.on('error', () => up.destroy());
  up.on('error', () => client.destroy());
});
server.listen(Number(listenPort), listenHost, () => process.stdout.write('ready\n'));
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
