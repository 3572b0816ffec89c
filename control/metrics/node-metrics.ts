/**
 * The node's Prometheus metrics, read at scrape time from what the node already keeps (the store for the
 * control plane, the mesh's and the DNS resolver's own counters), so nothing is polled between scrapes. Names follow
 * Prometheus conventions: `shoal_` prefix, base units, `_total` for counters, bounded labels (service name and ID
 * yes, task ID never).
 */
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { mirrored } from './mirrored-counter';
import { iptablesMeshMetrics, type IptablesMeshSource } from './iptables-mesh-metrics';
import type { Store } from '../store/store';
import type { ProxyCounters } from '../../mesh/userspace/port-proxy';
import type { MeshCounterRow } from '../../mesh/userspace/userspace-mesh';
import type { DnsResolverCounters } from '../../dns/dns-resolver';
import { SESSION_STATES, type SessionState } from '../agent/agent';
import type { TaskState } from '../api/types';

export interface MetricSources {
  /** The store, when this node is a manager in a swarm. */
  store(): Store | undefined;
  /** Userspace mesh counters by "service/proto/port" (published ports and VIP ports), when that mesh runs. */
  mesh(): Map<string, MeshCounterRow> | undefined;
  /** The DNS resolver's counters, when it runs. */
  dns(): DnsResolverCounters | undefined;
  /** This node's agent, when the node is in a swarm. */
  agent?(): { sessionState(): SessionState; tasksByState(): Map<TaskState, number> } | undefined;
  /** The iptables mesh, when it runs (its kernel counters and sync statistics). */
  iptables?(): IptablesMeshSource | undefined;
  /** Hook for gossip membership and overlay metrics: when gossip (SWIM) and the VXLAN overlay's endpoint tables
   * land, add their source here (members by state, messages and bytes sent/received by type, FDB entries per
   * network) and register its metrics beside iptablesMeshMetrics below. Nothing is exported until they exist. */
}

/** Adds the scrape-time metrics to `registry` (a fresh one when absent: the event-driven ones live in
 * instruments.ts and share the daemon's) and returns it. */
export function nodeMetrics(src: MetricSources, registry = new Registry()): Registry {
  collectDefaultMetrics({ register: registry, prefix: 'shoal_' });
  // prom-client's totals of the per-type gauges are gauges named *_total, which promtool (rightly) flags as
  // counter-looking gauges; the per-type gauges beside them carry the same numbers.
  for (const what of ['resources', 'handles', 'requests']) registry.removeSingleMetric(`shoal_nodejs_active_${what}_total`);

  new Gauge({
    name: 'shoal_service_tasks_desired',
    help: 'Tasks each service should run (replicas, or eligible nodes for global services).',
    labelNames: ['service_name', 'service_id'],
    registers: [registry],
    collect() {
      this.reset();
      const store = src.store();
      if (!store) return;
      store.view((tx) => {
        for (const s of tx.list('service')) {
          const desired = s.Spec.Mode.Global
            ? tx.tasksByService(s.ID).filter((t) => t.DesiredState === 'running').length
            : (s.Spec.Mode.Replicated?.Replicas ?? 1);
          this.set({ service_name: s.Spec.Name, service_id: s.ID }, desired);
        }
      });
    },
  });
  new Gauge({
    name: 'shoal_service_tasks_running',
    help: 'Tasks of each service that are running and meant to run.',
    labelNames: ['service_name', 'service_id'],
    registers: [registry],
    collect() {
      this.reset();
      src.store()?.view((tx) => {
        for (const s of tx.list('service')) {
          const running = tx.tasksByService(s.ID).filter((t) => t.Status.State === 'running' && t.DesiredState === 'running').length;
          this.set({ service_name: s.Spec.Name, service_id: s.ID }, running);
        }
      });
    },
  });
  new Gauge({
    name: 'shoal_tasks',
    help: 'Tasks in the store by state.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset();
      src.store()?.view((tx) => {
        const byState = new Map<string, number>();
        for (const t of tx.list('task')) byState.set(t.Status.State, (byState.get(t.Status.State) ?? 0) + 1);
        for (const [state, n] of byState) this.set({ state }, n);
      });
    },
  });
  new Gauge({
    name: 'shoal_tasks_pending_unschedulable',
    help: 'Pending tasks the scheduler could place nowhere (their reason is in the task status).',
    registers: [registry],
    collect() {
      this.reset();
      src.store()?.view((tx) => this.set(tx.list('task').filter((t) => t.Status.State === 'pending' && t.Status.Err).length));
    },
  });
  new Gauge({
    name: 'shoal_nodes',
    help: 'Nodes by state, availability and role.',
    labelNames: ['state', 'availability', 'role'],
    registers: [registry],
    collect() {
      this.reset();
      src.store()?.view((tx) => {
        for (const n of tx.list('node')) this.inc({ state: n.Status.State, availability: n.Spec.Availability, role: n.Spec.Role });
      });
    },
  });

  new Gauge({
    name: 'shoal_service_update_state',
    help: 'Each service\'s rolling update or rollback state (UpdateStatus.State): 1 on the current state; absent for a service never updated.',
    labelNames: ['service_name', 'service_id', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      src.store()?.view((tx) => {
        for (const s of tx.list('service')) {
          const state = s.UpdateStatus?.State;
          if (state) this.set({ service_name: s.Spec.Name, service_id: s.ID, state }, 1);
        }
      });
    },
  });
  new Gauge({
    name: 'shoal_manager_leader',
    help: '1 when this node is the swarm\'s leader (a single manager always is), 0 when it is not a manager.',
    registers: [registry],
    collect() {
      this.set(src.store() ? 1 : 0);
    },
  });

  new Gauge({
    name: 'shoal_agent_tasks',
    help: 'Tasks on this node by the state the agent last reported.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [state, n] of src.agent?.()?.tasksByState() ?? []) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'shoal_agent_session_state',
    help: 'The agent\'s dispatcher session: 1 on its current state (connecting, open, reconnecting).',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset();
      const agent = src.agent?.();
      if (!agent) return;
      const now = agent.sessionState();
      for (const state of SESSION_STATES) this.set({ state }, state === now ? 1 : 0);
    },
  });

  const meshRows = (each: (labels: { service_name: string; port: string; protocol: string }, c: ProxyCounters) => void) => {
    for (const { serviceName, protocol, port, counters } of src.mesh()?.values() ?? []) {
      each({ service_name: serviceName, port: String(port), protocol }, counters);
    }
  };
  const meshLabels: ('service_name' | 'port' | 'protocol')[] = ['service_name', 'port', 'protocol'];
  mirrored(registry, 'shoal_mesh_connections_total', 'Connections accepted (UDP: flows begun) on published ports and VIPs.', meshLabels, (set) => meshRows((l, c) => set(l, c.connectionsTotal)));
  mirrored(registry, 'shoal_mesh_backend_errors_total', 'Backends that refused or did not answer a connection.', meshLabels, (set) => meshRows((l, c) => set(l, c.backendErrors)));
  mirrored(registry, 'shoal_mesh_received_bytes_total', 'Bytes received from clients on published ports and VIPs (TCP: counted when the connection closes).', meshLabels, (set) => meshRows((l, c) => set(l, c.bytesIn)));
  mirrored(registry, 'shoal_mesh_sent_bytes_total', 'Bytes sent to clients on published ports and VIPs (TCP: counted when the connection closes).', meshLabels, (set) => meshRows((l, c) => set(l, c.bytesOut)));
  new Gauge({
    name: 'shoal_mesh_connections_active',
    help: 'Connections (UDP: flows) open now on published ports and VIPs.',
    labelNames: meshLabels,
    registers: [registry],
    collect() {
      this.reset();
      meshRows((l, c) => this.set(l, c.connectionsActive));
    },
  });

  iptablesMeshMetrics(registry, () => src.iptables?.());

  mirrored(registry, 'shoal_dns_queries_total', 'DNS queries by type.', ['type'], (set) => {
    for (const [type, n] of Object.entries(src.dns()?.queries ?? {})) set({ type }, n);
  });
  mirrored(registry, 'shoal_dns_responses_total', 'DNS responses by response code.', ['rcode'], (set) => {
    for (const [rcode, n] of Object.entries(src.dns()?.answers ?? {})) set({ rcode }, n);
  });
  mirrored(registry, 'shoal_dns_forwarded_total', 'DNS queries forwarded to upstream resolvers.', [], (set) => {
    const d = src.dns();
    if (d) set({}, d.forwarded);
  });
  mirrored(registry, 'shoal_dns_cache_hits_total', 'Forwarded names answered from the cache.', [], (set) => {
    const d = src.dns();
    if (d) set({}, d.cacheHits);
  });
  return registry;
}
