/**
 * Keeps the endpoint table up to date from the store (endpoint-table-builder.ts: only what a commit touched is
 * read again) and hands it to the data plane (mesh, DNS) after each change, coalesced: a burst of task updates
 * costs one build. A backend is a task that is RUNNING and still wanted
 * running. (With several nodes the table will come from gossip; the sinks do not change.)
 *
 * It is also this node's data-plane gate (TaskGate), which closes two races Docker has:
 *   - admit: the agent asks before it reports a task RUNNING; the task joins the table (DNS answers for it, the
 *     mesh sends it traffic) and the call returns once every sink holds it. So RUNNING means reachable by name
 *     and through the mesh (moby#34596: Docker reports running before its resolver knows the task).
 *   - evict: the agent asks before it stops a task; the task leaves the table and the call returns once every
 *     sink has dropped it. So no new connection or DNS answer goes to a task that is being stopped, and the
 *     connections it has get the stop grace period.
 * Both waits are bounded: a sink that is stuck must delay a task, never wedge it.
 */
import type { Component } from '../base/component';
import type { Clock } from '../base/clock';
import type { Logger } from '../base/log';
import { rank } from '../api/task-state';
import type { ReadTx, Store, StoreEvent } from '../store/store';
import { StoreReactor } from '../store/store-reactor';
import type { EndpointSink } from '../../mesh/endpoint-table';
import { EndpointTableBuilder } from './endpoint-table-builder';
import type { TaskGate } from '../agent/task-gate';

const GATE_TIMEOUT_MS = 5000;

export class EndpointPublisher implements Component, TaskGate {
  readonly name = 'endpoint-publisher';
  private reactor: StoreReactor;
  private readonly builder = new EndpointTableBuilder();
  /** Tasks the agent started and is about to report RUNNING: backends already. */
  private readonly admitted = new Set<string>();
  /** Tasks the agent is about to stop: backends no more, whatever the store says. */
  private readonly evicted = new Set<string>();
  /** Gate requests are numbered; a publish that began after request n and finished releases its waiter. */
  private requested = 0;
  private published = 0;
  private waiters: { gen: number; resolve: () => void }[] = [];

  constructor(
    private readonly opts: {
      store: Store;
      clock: Clock;
      log: Logger;
      sinks: EndpointSink[];
      gateTimeoutMs?: number;
      /** After an eviction is confirmed, this long before the task is stopped: a connection the mesh handed to the
       * task just before it left gets its request answered rather than cut (0 in tests). */
      evictLingerMs?: number;
    },
  ) {
    // Every commit's events go to the builder (what to read again); the run itself is coalesced as ever.
    const on = (events: StoreEvent[]): boolean => {
      this.builder.note(events);
      return events.some((e) => e.kind === 'task' || e.kind === 'service' || e.kind === 'network');
    };
    this.reactor = new StoreReactor({ ...opts, on, job: () => this.publish(), what: 'publishing endpoints' });
  }

  async start(): Promise<void> {
    await this.publish();
    this.reactor.start();
    this.builder.invalidate(); // commits during the first publish came before the watch: the next run reads all
  }

  async stop(): Promise<void> {
    await this.reactor.stop();
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  admit(taskId: string): Promise<void> {
    this.evicted.delete(taskId);
    this.admitted.add(taskId);
    this.builder.noteTask(taskId);
    return this.waitForPublish('admit', taskId);
  }

  async evict(taskId: string): Promise<void> {
    this.admitted.delete(taskId);
    this.evicted.add(taskId);
    this.builder.noteTask(taskId);
    await this.waitForPublish('evict', taskId);
    const linger = this.opts.evictLingerMs ?? 0;
    if (linger > 0) await new Promise<void>((r) => this.opts.clock.setTimeout(r, linger));
  }

  private waitForPublish(what: string, taskId: string): Promise<void> {
    const gen = ++this.requested;
    return new Promise<void>((resolve) => {
      const timer = this.opts.clock.setTimeout(() => {
        this.opts.log.warn(`data plane did not confirm ${what} in time; going on`, { task: taskId });
        done();
      }, this.opts.gateTimeoutMs ?? GATE_TIMEOUT_MS);
      const done = () => {
        timer.cancel();
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        resolve();
      };
      this.waiters.push({ gen, resolve: done });
      this.reactor.kick();
    });
  }

  private async publish(): Promise<void> {
    const gen = this.requested;
    const { table, changed } = this.opts.store.view((tx) => {
      this.forgetSettled(tx);
      return this.builder.build(tx, { admitted: this.admitted, evicted: this.evicted });
    });
    if (changed) for (const sink of this.opts.sinks) await sink.apply(table);
    // Confirmation is awaited aside, so a slow sink holds the gate's callers, never the next table.
    if (this.waiters.length) void Promise.all(this.opts.sinks.map((sink) => sink.settled?.())).then(() => this.release(gen), () => this.release(gen));
  }

  private release(gen: number): void {
    this.published = Math.max(this.published, gen);
    for (const w of this.waiters.filter((x) => x.gen <= this.published)) w.resolve();
  }

  /** Gate entries end once the store agrees: an admitted task shows RUNNING, an evicted one has ended or gone. */
  private forgetSettled(tx: ReadTx): void {
    for (const id of this.admitted) {
      const t = tx.get('task', id);
      if (!t || rank(t.Status.State) >= rank('running') || t.DesiredState !== 'running') this.admitted.delete(id);
    }
    for (const id of this.evicted) {
      const t = tx.get('task', id);
      if (!t || rank(t.Status.State) > rank('running')) this.evicted.delete(id);
    }
  }
}
