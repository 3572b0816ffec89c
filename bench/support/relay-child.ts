/**
 * One TcpProxy alone in a process, for bench/mesh-relay: `relay-child.js DIST_DIR LISTEN_PORT BACKEND_PORT`
 * loads tcp-proxy.js from DIST_DIR (so an older build can be measured beside the current one), listens on
 * 127.0.0.1:LISTEN_PORT towards one backend on 127.0.0.1:BACKEND_PORT, prints "ready", and on SIGTERM prints
 * its counters and exits normally (so --cpu-prof writes its profile).
 */
import { join, resolve } from 'node:path';
import { silentLogger } from '../../control/base/log';
import { runChild, serve } from './child-lifecycle';
import type { TcpProxy as TcpProxyType } from '../../mesh/userspace/tcp-proxy';

const [dist, listenPort, backendPort] = process.argv.slice(2);
if (!backendPort) throw new Error('usage: relay-child DIST_DIR LISTEN_PORT BACKEND_PORT');
const { TcpProxy } = require(join(resolve(dist), 'mesh', 'userspace', 'tcp-proxy.js')) as { TcpProxy: typeof TcpProxyType };

async function main(): Promise<void> {
  const proxy = new TcpProxy({ host: '127.0.0.1', port: Number(listenPort) }, silentLogger);
  proxy.setBackends([{ taskId: 't1', host: '127.0.0.1', port: Number(backendPort) }], 'round-robin');
  await proxy.listen();
  serve(async () => {
    process.stdout.write(`counters ${JSON.stringify(proxy.counters)}\n`);
    await proxy.close();
  });
}

runChild('relay child', main);
