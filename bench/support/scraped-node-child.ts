/**
 * A node as swarmd composes it for bench/metrics-under-load, alone in a process inside the lab's node namespace:
 * a mesh (argv[2]: userspace, in this process as swarmd's default, or iptables) serving the endpoint table in
 * argv[3] plus filler services up to argv[4] in all, a manager's store of the same size, and the daemon's
 * registry (Instruments + nodeMetrics, the same sources daemon.ts wires) served by a MetricsServer on argv[5]
 * (HOST:PORT). Prints "ready" once the mesh is in force; stops everything on SIGTERM/SIGINT.
 */
import { createLogger } from '../../control/base/log';
import { Instruments } from '../../control/metrics/instruments';
import { MetricsServer } from '../../control/metrics/metrics-server';
import { nodeMetrics } from '../../control/metrics/node-metrics';
import { IptablesMesh } from '../../mesh/iptables/iptables-mesh';
import { UserspaceMesh } from '../../mesh/userspace/userspace-mesh';
import type { EndpointTable } from '../../mesh/endpoint-table';
import { bigEndpointTable } from './big-endpoint-table';
import { metricsStore } from './metrics-store';
import { runChild, serve } from './child-lifecycle';

async function main(): Promise<void> {
  const [kind, tableJson, servicesArg, metricsAt] = process.argv.slice(2);
  if (kind !== 'userspace' && kind !== 'iptables') throw new Error(`mesh kind: userspace or iptables, not ${kind}`);
  const own = JSON.parse(tableJson) as EndpointTable;
  const services = Number(servicesArg);
  // Filler services publish 30000+ with backends at 10.0.x.y (no task answers there: nobody connects to them).
  const filler = bigEndpointTable(Math.max(0, services - own.services.length));
  const table: EndpointTable = { ...own, services: [...own.services, ...filler.services] };
  const log = createLogger('warn');
  const instruments = new Instruments();
  const store = await metricsStore(services, instruments);
  const [host, port] = metricsAt.split(':');
  const userspace = kind === 'userspace' ? new UserspaceMesh(log) : undefined;
  const iptables = kind === 'iptables' ? new IptablesMesh({ nodeId: 'n1', addresses: () => [host], logger: log, bridgeName: () => 'br-ing', minSyncIntervalMs: 0, observer: instruments }) : undefined;
  const mesh = (userspace ?? iptables)!;
  await mesh.start();
  await mesh.apply(table);
  await mesh.settled?.();
  const registry = nodeMetrics({ store: () => store, mesh: () => userspace?.counters(), dns: () => undefined, iptables: () => iptables }, instruments.registry);
  const metrics = new MetricsServer({ host, port: Number(port), registry, health: () => undefined, log });
  await metrics.start();
  serve(async () => {
    await metrics.stop();
    await mesh.stop();
  });
}

runChild('scraped node child', main);
