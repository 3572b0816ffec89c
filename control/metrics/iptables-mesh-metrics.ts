/**
 * The iptables mesh's metrics, read at scrape time: connections per service entry point from the kernel's rule
 * counters (the dispatch chains listed with their counters, cached by the mesh; bytes for services that opted
 * in), backends per service, and the sync loop's health (rules
 * applied, failures, drift repairs, conntrack entries flushed). The sync duration histogram is event-driven and
 * lives in instruments.ts.
 */
import type { Registry } from 'prom-client';
import type { IptablesMeshCounters } from '../../mesh/iptables/iptables-mesh';
import type { EntryPointCount } from '../../mesh/iptables/rule-counters';
import { mirrored, scrapeFamily } from './scrape-family';

export interface IptablesMeshSource {
  counters(): IptablesMeshCounters;
  entryPointCounts(): Promise<EntryPointCount[]>;
  backendsPerService(): { serviceId: string; serviceName: string; backends: number }[];
}

export function iptablesMeshMetrics(registry: Registry, mesh: () => IptablesMeshSource | undefined): void {
  mirrored(
    registry,
    'shoal_mesh_iptables_connections_total',
    'Connections (UDP: flows) the kernel sent into a service, per entry point (ingress or host published port, or the VIP), from the nat rule counters of the dispatch chains; traffic to 127.0.0.1 is the userspace mesh\'s (shoal_mesh_connections_total).',
    ['service_name', 'service_id', 'entry', 'port', 'protocol'],
    async (set) => {
      const m = mesh();
      if (!m) return;
      for (const r of await m.entryPointCounts()) {
        set({ service_name: r.serviceName, service_id: r.serviceId, entry: r.entry, port: r.port, protocol: r.protocol }, r.connections);
      }
    },
    // The read runs iptables (cached for a second by the mesh): start it before the other families are written.
    () => void mesh()?.entryPointCounts().catch(() => undefined),
  );
  // Bytes only for services labelled shoal.mesh.accounting=bytes (per-packet rules: opt-in; see mesh/iptables/plan.ts).
  const bytes = (name: string, help: string, pick: (r: EntryPointCount) => number | undefined) =>
    mirrored(registry, name, help, ['service_name', 'service_id', 'entry', 'port', 'protocol'], async (set) => {
      for (const r of (await mesh()?.entryPointCounts()) ?? []) {
        const v = pick(r);
        if (v !== undefined) set({ service_name: r.serviceName, service_id: r.serviceId, entry: r.entry, port: r.port, protocol: r.protocol }, v);
      }
    });
  bytes('shoal_mesh_iptables_received_bytes_total', 'Bytes clients sent into a service per entry point (IP packets), from the kernel\'s rule counters; services labelled shoal.mesh.accounting=bytes only.', (r) => r.bytesIn);
  bytes('shoal_mesh_iptables_sent_bytes_total', 'Bytes a service sent back to its clients per entry point (IP packets), from the kernel\'s rule counters; services labelled shoal.mesh.accounting=bytes only.', (r) => r.bytesOut);
  scrapeFamily(registry, {
    name: 'shoal_mesh_backends',
    help: 'Tasks serving each service in the mesh (running and healthy, on any node).',
    type: 'gauge',
    labelNames: ['service_name', 'service_id'],
    read: (emit) => {
      for (const s of mesh()?.backendsPerService() ?? []) emit({ service_name: s.serviceName, service_id: s.serviceId }, s.backends);
    },
  });
  scrapeFamily(registry, {
    name: 'shoal_mesh_iptables_rules',
    help: 'Rules of ours in the kernel (nat and filter) after the last sync.',
    type: 'gauge',
    labelNames: [],
    read: (emit) => {
      const m = mesh();
      if (m) emit({}, m.counters().rules);
    },
  });
  const stat = (name: string, help: string, key: keyof IptablesMeshCounters) =>
    mirrored(registry, name, help, [], (set) => {
      const m = mesh();
      if (m) set({}, m.counters()[key]);
    });
  stat('shoal_mesh_iptables_sync_failures_total', 'Syncs that failed (iptables-restore refused); each is retried with a full write.', 'failures');
  stat('shoal_mesh_iptables_drift_repairs_total', 'Periodic checks that found our rules changed by someone else, and rewrote them.', 'driftRepairs');
  stat('shoal_mesh_iptables_conntrack_deleted_total', 'Conntrack entries flushed because their UDP backend went away.', 'conntrackDeleted');
}
