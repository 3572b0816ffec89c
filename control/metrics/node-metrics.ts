/**
 * The node's Prometheus metrics, read at scrape time from what the node already keeps (the store for the
 * control plane, the mesh's and the DNS resolver's own counters), so nothing is polled between scrapes. Names follow
 * Prometheus conventions: `shoal_` prefix, base units, `_total` for counters, bounded labels (service name and ID
 * yes, task ID never).
 */
import { Registry, collectDefaultMetrics } from 'prom-client';
import { mirrored, scrapeFamily, scrapeHistogram, type Emit } from './scrape-family';
import { iptablesMeshMetrics, type IptablesMeshSource } from './iptables-mesh-metrics';
import type { Store } from '../store/store';
import type { ProxyCounters } from '../../mesh/userspace/port-proxy';
import type { MeshCounterRow } from '../../mesh/userspace/userspace-mesh';
import type { DnsResolverCounters } from '../../dns/dns-resolver';
import { SESSION_STATES, type SessionState } from '../agent/agent';
import type { TaskState } from '../api/types';
import type { ReadTx } from '../store/store';

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

  /**
   * A gauge read from the store in one read transaction; nothing when this node is not a manager. Its text is
   * reused until the store commits again (a steady swarm of 1,000 services rewrote ~4 ms of identical lines per scrape).
   */
  const storeVersion = () => {
    const s = src.store();
    return s ? [s, s.lastIndex()] : undefined;
  };
  const storeGauge = <L extends string>(name: string, help: string, labelNames: L[], read: (tx: ReadTx, emit: Emit<L>) => void) =>
    scrapeFamily(registry, { name, help, type: 'gauge', labelNames, read: (emit) => src.store()?.view((tx) => read(tx, emit)), sourceVersion: storeVersion });
  const service = ['service_name', 'service_id'] as ('service_name' | 'service_id')[];

  storeGauge('shoal_service_tasks_desired', 'Tasks each service should run (replicas, or eligible nodes for global services).', service, (tx, emit) => {
    for (const s of tx.list('service')) {
      const desired = s.Spec.Mode.Global ? tx.tasksByService(s.ID).filter((t) => t.DesiredState === 'running').length : (s.Spec.Mode.Replicated?.Replicas ?? 1);
      emit({ service_name: s.Spec.Name, service_id: s.ID }, desired);
    }
  });
  storeGauge('shoal_service_tasks_running', 'Tasks of each service that are running and meant to run.', service, (tx, emit) => {
    for (const s of tx.list('service')) {
      let running = 0;
      for (const t of tx.tasksByService(s.ID)) if (t.Status.State === 'running' && t.DesiredState === 'running') running++;
      emit({ service_name: s.Spec.Name, service_id: s.ID }, running);
    }
  });
  storeGauge(
    'shoal_service_update_state',
    "Each service's rolling update or rollback state (UpdateStatus.State): 1 on the current state; absent for a service never updated.",
    [...service, 'state'],
    (tx, emit) => {
      for (const s of tx.list('service')) {
        const state = s.UpdateStatus?.State;
        if (state) emit({ service_name: s.Spec.Name, service_id: s.ID, state }, 1);
      }
    },
  );
  storeGauge('shoal_tasks', 'Tasks in the store by state.', ['state'], (tx, emit) => {
    const byState = new Map<string, number>();
    for (const t of tx.list('task')) byState.set(t.Status.State, (byState.get(t.Status.State) ?? 0) + 1);
    for (const [state, n] of byState) emit({ state }, n);
  });
  storeGauge('shoal_tasks_pending_unschedulable', 'Pending tasks the scheduler could place nowhere (their reason is in the task status).', [], (tx, emit) => {
    emit({}, tx.list('task').filter((t) => t.Status.State === 'pending' && t.Status.Err).length);
  });
  storeGauge('shoal_nodes', 'Nodes by state, availability and role.', ['state', 'availability', 'role'], (tx, emit) => {
    const counts = new Map<string, number>();
    for (const n of tx.list('node')) {
      const key = `${n.Status.State}/${n.Spec.Availability}/${n.Spec.Role}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    for (const [key, n] of counts) {
      const [state, availability, role] = key.split('/');
      emit({ state, availability, role }, n);
    }
  });
  scrapeFamily(registry, {
    name: 'shoal_manager_leader',
    help: "1 when this node is the swarm's leader (a single manager always is), 0 when it is not a manager.",
    type: 'gauge',
    labelNames: [],
    read: (emit) => emit({}, src.store() ? 1 : 0),
  });

  scrapeFamily(registry, {
    name: 'shoal_agent_tasks',
    help: 'Tasks on this node by the state the agent last reported.',
    type: 'gauge',
    labelNames: ['state'],
    read: (emit) => {
      for (const [state, n] of src.agent?.()?.tasksByState() ?? []) emit({ state }, n);
    },
  });
  scrapeFamily(registry, {
    name: 'shoal_agent_session_state',
    help: "The agent's dispatcher session: 1 on its current state (connecting, open, reconnecting).",
    type: 'gauge',
    labelNames: ['state'],
    read: (emit) => {
      const agent = src.agent?.();
      if (!agent) return;
      const now = agent.sessionState();
      for (const state of SESSION_STATES) emit({ state }, state === now ? 1 : 0);
    },
  });

  const meshLabels: ('service_name' | 'port' | 'protocol')[] = ['service_name', 'port', 'protocol'];
  const meshFamily = (name: string, help: string, type: 'counter' | 'gauge', value: (c: ProxyCounters) => number) =>
    scrapeFamily(registry, {
      name,
      help,
      type,
      labelNames: meshLabels,
      read: (emit) => {
        for (const { serviceName, protocol, port, counters } of src.mesh()?.values() ?? []) emit({ service_name: serviceName, port: String(port), protocol }, value(counters));
      },
    });
  meshFamily('shoal_mesh_connections_total', 'Connections accepted (UDP: flows begun) by the userspace mesh on published ports and VIPs.', 'counter', (c) => c.connectionsTotal);
  meshFamily('shoal_mesh_backend_errors_total', 'Backends that refused or did not answer a connection.', 'counter', (c) => c.backendErrors);
  meshFamily('shoal_mesh_received_bytes_total', 'Bytes received from clients on published ports and VIPs (TCP: counted when the connection closes).', 'counter', (c) => c.bytesIn);
  meshFamily('shoal_mesh_sent_bytes_total', 'Bytes sent to clients on published ports and VIPs (TCP: counted when the connection closes).', 'counter', (c) => c.bytesOut);
  meshFamily('shoal_mesh_connections_active', 'Connections (UDP: flows) open now on published ports and VIPs.', 'gauge', (c) => c.connectionsActive);

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
  scrapeHistogram(registry, 'shoal_dns_answer_duration_seconds', 'Time from a query read to its answer sent, forwarded ones included (all readers).', () => {
    const l = src.dns()?.latency;
    return l && { bounds: l.bucketsMs.map((ms) => ms / 1000), counts: l.counts, sum: l.sumMs / 1000, count: l.count };
  });
  // Upstreams come from resolv.conf or --dns-upstream: a handful, so one series each stays bounded.
  const upstreams = (read: (u: DnsResolverCounters['upstreams'][number], emit: (v: number) => void) => void) => (emit: Emit<'upstream'>) => {
    for (const u of src.dns()?.upstreams ?? []) read(u, (v) => emit({ upstream: `${u.host}:${u.port}` }, v));
  };
  mirrored(registry, 'shoal_dns_upstream_queries_total', 'Queries sent to each upstream resolver (tries, retries over TCP included).', ['upstream'], upstreams((u, emit) => emit(u.queries)));
  mirrored(registry, 'shoal_dns_upstream_failures_total', 'Tries that failed at each upstream resolver (timeout, refused, SERVFAIL), each followed by the next upstream.', ['upstream'], upstreams((u, emit) => emit(u.errors)));
  scrapeFamily(registry, { name: 'shoal_dns_upstream_up', help: 'Whether each upstream resolver is in use (0 while it is skipped after consecutive failures).', type: 'gauge', labelNames: ['upstream'], read: upstreams((u, emit) => emit(u.healthy ? 1 : 0)) });
  return registry;
}
