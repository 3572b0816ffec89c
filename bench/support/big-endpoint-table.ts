/**
 * kube-proxy's reference size for rule programming as an endpoint table: N services, each publishing one TCP port
 * (30000 + index) with 10 backends on the ingress network. `shift` moves service 0's backends to other tasks and
 * addresses — the smallest change a sync can see (one service's endpoints). Shared by the iptables benchmarks.
 */
import type { EndpointTable, ServiceEndpoint } from '../../mesh/endpoint-table';

export const BACKENDS_PER_SERVICE = 10;

export function bigEndpointTable(services: number, shift = 0): EndpointTable {
  const list: ServiceEndpoint[] = [];
  for (let s = 0; s < services; s++) {
    const backends = [];
    const moved = s === 0 ? shift : 0;
    for (let b = 0; b < BACKENDS_PER_SERVICE; b++) {
      const n = s * BACKENDS_PER_SERVICE + b + moved;
      backends.push({ taskId: `t${s}-${b}-${moved}`, name: `svc${s}.${b + 1}`, nodeId: 'n1', addrs: { ing: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}` } });
    }
    list.push({ serviceId: `s${s}`, serviceName: `svc${s}`, mode: 'vip', vips: {}, aliases: {}, ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 30000 + s, publishMode: 'ingress' }], backends });
  }
  return { ingressNetworkId: 'ing', networks: { ing: { name: 'ingress', subnet: '10.0.0.0/8' } }, services: list };
}

/** The same table with one backend of service 0 replaced by a new task at a new address: a one-endpoint change. */
export function withOneEndpointReplaced(table: EndpointTable): EndpointTable {
  const [first, ...rest] = table.services;
  const backends = [{ taskId: 'replacement', name: `${first.serviceName}.1`, nodeId: 'n1', addrs: { ing: '10.255.255.254' } }, ...first.backends.slice(1)];
  return { ...table, services: [{ ...first, backends }, ...rest] };
}
