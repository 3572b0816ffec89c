/** Loopback helpers for tests of the userspace mesh: a free TCP port, and reading whatever a server sends. */
import * as net from 'node:net';

/** A TCP port nothing listens on right now (bound and released on 127.0.0.1). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Connects and resolves with everything the server sends before it closes (the test servers send a name). */
export function fetchName(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, host);
    let out = '';
    c.on('data', (d) => (out += d));
    c.on('end', () => resolve(out));
    c.on('error', reject);
  });
}
