/**
 * One userspace TCP listener alone in a process, for bench/mesh-relay: `relay-child.js DIST_DIR LISTEN_PORT
 * BACKEND_PORT [handles|native]` loads the relay from DIST_DIR (so an older build can be measured beside the
 * current one) — tcp-proxy.js on Node's TCP handles, or native-tcp-proxy.js on the native relay (the default
 * where that build has it) — listens on 127.0.0.1:LISTEN_PORT towards one backend on 127.0.0.1:BACKEND_PORT,
 * prints "ready", and on SIGTERM prints its counters and exits normally (so --cpu-prof writes its profile).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { silentLogger } from '../../control/base/log';
import { runChild, serve } from './child-lifecycle';
import type { TcpProxy as TcpProxyType } from '../../mesh/userspace/tcp-proxy';

const [dist, listenPort, backendPort, kindArg] = process.argv.slice(2);
if (!backendPort) throw new Error('usage: relay-child DIST_DIR LISTEN_PORT BACKEND_PORT [handles|native]');
const userspace = join(resolve(dist), 'mesh', 'userspace');
const kind = kindArg ?? (existsSync(join(userspace, 'native-tcp-proxy.js')) ? 'native' : 'handles');
const TcpProxy = (
  kind === 'native' ? require(join(userspace, 'native-tcp-proxy.js')).NativeTcpProxy : require(join(userspace, 'tcp-proxy.js')).TcpProxy
) as typeof TcpProxyType;

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
