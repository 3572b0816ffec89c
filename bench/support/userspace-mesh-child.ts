/**
 * Shoal's userspace mesh alone in a process, for bench/mesh: applies the endpoint table given as JSON in argv[2]
 * (exactly what swarmd would hand it) with its TCP listeners in argv[3] worker processes (default 1: in this
 * process), prints "ready", and serves until SIGTERM/SIGINT; then it prints its
 * counters as one JSON line (and, with workers, the connections each one accepted), stops the mesh (closing every listener) and exits — normally, so that
 * `node --cpu-prof` writes its profile. Run it inside the node namespace with `ip netns exec`.
 */
import { createLogger } from '../../control/base/log';
import { UserspaceMesh } from '../../mesh/userspace/userspace-mesh';
import type { EndpointTable } from '../../mesh/endpoint-table';
import { runChild, serve } from './child-lifecycle';

async function main(): Promise<void> {
  const table = JSON.parse(process.argv[2] ?? '') as EndpointTable;
  const mesh = new UserspaceMesh(createLogger('warn'), { tcpWorkers: Number(process.argv[3] ?? '1') });
  await mesh.start();
  await mesh.apply(table);
  serve(async () => {
    process.stdout.write(`counters ${JSON.stringify(Object.fromEntries(mesh.counters()))}\n`);
    if (mesh.workers().length) process.stdout.write(`workers ${JSON.stringify(mesh.workers())}\n`);
    await mesh.stop();
  });
}

runChild('userspace mesh child', main);
