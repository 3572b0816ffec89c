/**
 * The iptables mesh backend: an EndpointSink and a Component. apply(table) only records the newest table and
 * kicks the sync runner, so a burst of updates costs one sync. A sync plans and renders: the first one, a retry,
 * and any sync after drift write everything (full) and repair the built-in jumps; later ones write only changed
 * chains. The periodic run reads our chains back (iptables-save) and repairs drift — a rule deleted by hand, a
 * flushed chain, a jump pushed out of first place. stop() removes every chain and jump of ours. UDP backends
 * that go away get their conntrack entries deleted, or long-lived "flows" (DNS from a fixed port) keep hitting
 * the dead task. Everything can run inside one network namespace (`netns`), which is how the tests run it.
 */
import type { Clock } from '../../control/base/clock';
import { systemClock } from '../../control/base/clock';
import type { Component } from '../../control/base/component';
import { exec as realExec, type Exec } from '../../control/base/exec';
import type { Logger } from '../../control/base/log';
import type { EndpointSink, EndpointTable } from '../endpoint-table';
import { IptablesApplier, driftOf } from './applier';
import { IncrementalPlanner } from './incremental-planner';
import { CHAIN, type NodeContext, type RulesModel } from './plan';
import { renderCleanup, renderRestore } from './render';
import { SyncRunner, type SyncReason } from './sync-runner';
import { DISPATCH_CHAINS, countEntryPoints, parseAccountCounters, parseDispatchCounters, type EntryPointCount } from './rule-counters';

/** Told of every sync that wrote rules, full or partial, with its duration (the sync latency histogram). */
export interface IptablesSyncObserver {
  synced(kind: 'full' | 'partial', seconds: number): void;
}

/** Two scrapes within this long share one read of the kernel's counters (one exec, not two). */
export const COUNTERS_CACHE_MS = 1000;

export interface IptablesMeshOptions {
  nodeId: string;
  /** This node's addresses, read at every sync (host_ip checks). */
  addresses: () => string[];
  logger: Logger;
  clock?: Clock;
  exec?: Exec;
  /** Run every command inside this named network namespace. */
  netns?: string;
  bridgeName?: NodeContext['bridgeName'];
  remoteBackends?: NodeContext['remoteBackends'];
  notIngress?: string[];
  minSyncIntervalMs?: number;
  resyncIntervalMs?: number;
  retryMs?: number;
  observer?: IptablesSyncObserver;
}

export interface IptablesMeshCounters {
  fullSyncs: number;
  partialSyncs: number;
  /** Periodic checks that found the kernel differing from what we wrote, and rewrote it. */
  driftRepairs: number;
  failures: number;
  conntrackDeleted: number;
  lastSyncMs: number;
  rules: number;
}

export class IptablesMesh implements Component, EndpointSink {
  readonly name = 'iptables-mesh';
  private readonly applier: IptablesApplier;
  private readonly runner: SyncRunner;
  private readonly clock: Clock;
  /** Re-plans only the services that changed since the last sync. */
  private readonly planner = new IncrementalPlanner();
  private table: EndpointTable = { networks: {}, services: [] };
  /** What the kernel holds, as far as we know; undefined forces the next sync to be full. */
  private applied?: RulesModel;
  private lastNotes = '';
  private countersRead?: { at: number; rows: Promise<EntryPointCount[]> };
  private readonly stats: IptablesMeshCounters = { fullSyncs: 0, partialSyncs: 0, driftRepairs: 0, failures: 0, conntrackDeleted: 0, lastSyncMs: 0, rules: 0 };

  constructor(private readonly opts: IptablesMeshOptions) {
    this.applier = new IptablesApplier({ exec: opts.exec ?? realExec, netns: opts.netns });
    const clock = (this.clock = opts.clock ?? systemClock);
    this.runner = new SyncRunner((reason) => this.sync(reason), {
      clock,
      minIntervalMs: opts.minSyncIntervalMs,
      resyncIntervalMs: opts.resyncIntervalMs,
      retryMs: opts.retryMs,
      onError: (e) => {
        this.stats.failures++;
        this.applied = undefined; // the kernel is in an unknown state: the retry writes everything
        this.opts.logger.error('iptables sync failed', { err: e, lines: (e as { lines?: unknown }).lines });
      },
    });
  }

  /** The first sync is full and awaited, so a node that cannot program iptables says so at start. */
  async start(): Promise<void> {
    this.runner.kick('retry');
    await this.runner.settled();
  }

  apply(table: EndpointTable): void {
    this.table = table;
    this.runner.kick('change');
  }

  /** Resolves when every table handed to apply() is in the kernel (the endpoint gate waits on this). */
  settled(): Promise<void> {
    return this.runner.flushed();
  }

  /** Resolves when no sync is running or due now, even if one failed and waits for its retry (tests). */
  quiescent(): Promise<void> {
    return this.runner.settled();
  }

  counters(): IptablesMeshCounters {
    return { ...this.stats };
  }

  /**
   * Connections (and, for accounted services, bytes) per service entry point, from the kernel's rule counters, read when asked (at scrape time) and
   * cached for COUNTERS_CACHE_MS so back-to-back scrapes list the dispatch chains once.
   */
  entryPointCounts(): Promise<EntryPointCount[]> {
    const now = this.clock.now();
    if (this.countersRead && now - this.countersRead.at < COUNTERS_CACHE_MS) return this.countersRead.rows;
    const entryPoints = this.applied?.entryPoints ?? [];
    // SHOAL-ACCOUNT is listed only when some service asked for byte accounting (it is empty otherwise).
    const accounting = (this.applied?.tables.filter.get(CHAIN.account)?.length ?? 0) > 0;
    const rows = Promise.all([
      this.applier.readChainCounters('nat', DISPATCH_CHAINS),
      accounting ? this.applier.readChainCounters('filter', [CHAIN.account]) : Promise.resolve(''),
    ]).then(([nat, filter]) => countEntryPoints(entryPoints, parseDispatchCounters(nat), parseAccountCounters(filter)));
    this.countersRead = { at: now, rows };
    // A failed read is retried at the next scrape.
    rows.catch(() => {
      if (this.countersRead?.rows === rows) this.countersRead = undefined;
    });
    return rows;
  }

  /** Backends (tasks serving) per service in the newest endpoint table. */
  backendsPerService(): { serviceId: string; serviceName: string; backends: number }[] {
    return this.table.services.map((s) => ({ serviceId: s.serviceId, serviceName: s.serviceName, backends: s.backends.length }));
  }

  async stop(): Promise<void> {
    await this.runner.stop();
    const kernel = await this.applier.readKernel();
    await this.applier.restore(renderCleanup(kernel));
    this.applied = undefined;
  }

  private async sync(reason: SyncReason): Promise<void> {
    const started = this.clock.now();
    const model = this.planner.plan(this.table, {
      nodeId: this.opts.nodeId,
      addresses: this.opts.addresses(),
      bridgeName: this.opts.bridgeName,
      remoteBackends: this.opts.remoteBackends,
      notIngress: this.opts.notIngress,
    });
    const notes = model.notes.join('\n');
    if (notes !== this.lastNotes) this.opts.logger.info('iptables plan notes', { notes: model.notes });
    this.lastNotes = notes;

    let full = !this.applied || reason === 'retry';
    let kernel;
    if (!full && reason === 'periodic') {
      kernel = await this.applier.readKernel();
      const drift = driftOf(this.applied!, kernel);
      if (drift.length) {
        this.stats.driftRepairs++;
        this.opts.logger.warn('iptables drift: rewriting our chains', { drift: drift.slice(0, 10) });
        full = true;
      }
    }
    if (full) {
      await this.applier.sysctls(model.sysctls);
      kernel ??= await this.applier.readKernel();
      await this.applier.restore(renderRestore(model, { kernel }));
      this.stats.fullSyncs++;
      this.opts.observer?.synced('full', (this.clock.now() - started) / 1000);
    } else {
      const text = renderRestore(model, { previous: this.applied });
      if (!text) return;
      await this.applier.restore(text);
      this.stats.partialSyncs++;
      this.opts.observer?.synced('partial', (this.clock.now() - started) / 1000);
    }
    const before = this.applied;
    this.applied = model;
    this.stats.lastSyncMs = this.clock.now() - started;
    this.stats.rules = [...model.tables.nat.values(), ...model.tables.filter.values()].reduce((n, r) => n + r.length, 0);
    if (before) await this.flushStaleUdp(before, model);
  }

  private async flushStaleUdp(before: RulesModel, after: RulesModel): Promise<void> {
    for (const [key, filter] of before.udpFlows) {
      if (after.udpFlows.has(key)) continue;
      try {
        this.stats.conntrackDeleted += await this.applier.conntrackDelete(filter);
      } catch (e) {
        this.opts.logger.warn('conntrack delete failed', { err: e, key });
      }
    }
  }
}
