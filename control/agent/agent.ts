/**
 * The agent: a node's worker side. It opens a session with the dispatcher (always over gRPC, even when manager
 * and worker share a process), heartbeats, receives the node's assignments and runs one TaskRunner per task,
 * reporting every state change back. When the session breaks it reconnects with swarmkit's backoff
 * (min(100 ms + 2 × previous, 8 s), jittered). Tasks keep running while the manager is away.
 */
import * as grpc from '@grpc/grpc-js';
import type { Component } from '../base/component';
import type { Clock, Timer } from '../base/clock';
import type { Logger } from '../base/log';
import type { NodeDescription, Task, TaskState, TaskStatus } from '../api/types';
import { DispatcherClientCtor, type AssignmentsMessage, type DispatcherClient, type TaskStatusUpdate } from '../manager/dispatcher/protocol';
import { taskRef, type Executor, type NodeFacts } from './executor';
import { expandTask } from './templates';
import { TaskRunner } from './task-runner';
import type { TaskGate } from './task-gate';
import type { AgentObserver } from './agent-observer';

/** The agent's session with its dispatcher: connecting (first time), open, or lost and reconnecting. */
export type SessionState = 'connecting' | 'open' | 'reconnecting';
export const SESSION_STATES: readonly SessionState[] = ['connecting', 'open', 'reconnecting'];

export interface AgentOptions {
  nodeId: string;
  /** host:port of a manager's dispatcher. */
  managerAddr: string;
  executor: Executor;
  clock: Clock;
  log: Logger;
  /** Overrides the executor's hostname (swarmd --hostname). */
  hostname?: string;
  /** The address this node advertises. */
  advertiseAddr?: string;
  /** The embedded resolver's address: tasks with networks use it unless their spec names nameservers. */
  dnsAddress?: string;
  /** The node's data plane, told before a task is reported RUNNING and before it is stopped. */
  gate?: TaskGate;
  /** Metrics: executor latencies, task failures, heartbeat round trips, sessions. */
  observer?: AgentObserver;
}

export class Agent implements Component {
  readonly name = 'agent';
  private client?: DispatcherClient;
  private sessionId?: string;
  private session: SessionState = 'connecting';
  private runners = new Map<string, TaskRunner>();
  private outbox = new Map<string, TaskStatusUpdate>();
  private sending = false;
  private stopped = false;
  private backoffMs = 0;
  /** Bumped on every (re)connect, so events from cancelled calls of an old session are ignored. */
  private generation = 0;
  private timers: Timer[] = [];
  private calls: grpc.ClientReadableStream<unknown>[] = [];
  private facts?: NodeFacts;
  private completeSeen?: Set<string>;
  private connected?: () => void;
  private readonly ready: Promise<void>;

  constructor(private readonly opts: AgentOptions) {
    this.ready = new Promise((r) => (this.connected = r));
  }

  async start(): Promise<void> {
    this.facts = await this.opts.executor.describe();
    if (this.opts.hostname) this.facts.hostname = this.opts.hostname;
    // Like swarmkit's agents, accept large messages: a node's task set can be big.
    this.client = new DispatcherClientCtor(this.opts.managerAddr, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
    });
    this.openSession();
  }

  /** Resolves once the first session is open (used by swarmd to report a ready node). */
  whenConnected(): Promise<void> {
    return this.ready;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) t.cancel();
    for (const c of this.calls) c.cancel();
    this.client?.close();
    // Tasks keep running (a restarted swarmd adopts them), but no step is left half done: a prepare still under
    // way could otherwise recreate a bridge that `swarm leave` removes next. Bounded, so a hung engine call
    // cannot hold the daemon's shutdown.
    const halted = Promise.all([...this.runners.values()].map((r) => r.halt()));
    let timer: Timer | undefined;
    await Promise.race([halted, new Promise<void>((r) => (timer = this.opts.clock.setTimeout(r, 10_000)))]);
    timer?.cancel();
  }

  /** The session's state now (metrics, read at scrape time). */
  sessionState(): SessionState {
    return this.session;
  }

  /** This node's tasks by the state last reported (metrics, read at scrape time). */
  tasksByState(): Map<TaskState, number> {
    const counts = new Map<TaskState, number>();
    for (const r of this.runners.values()) counts.set(r.current, (counts.get(r.current) ?? 0) + 1);
    return counts;
  }

  description(): NodeDescription {
    const f = this.facts!;
    return {
      Hostname: f.hostname,
      Platform: { Architecture: f.architecture, OS: f.os },
      Resources: { NanoCPUs: f.nanoCPUs, MemoryBytes: f.memoryBytes },
      Engine: { EngineVersion: f.engineVersion, Labels: f.engineLabels, Plugins: [] },
    };
  }

  private later(fn: () => void, ms: number): void {
    const t = this.opts.clock.setTimeout(() => {
      this.timers = this.timers.filter((x) => x !== t);
      fn();
    }, ms);
    this.timers.push(t);
  }

  private reconnect(reason: unknown, generation: number): void {
    if (this.stopped || generation !== this.generation) return;
    this.generation++;
    for (const c of this.calls) c.cancel();
    this.calls = [];
    this.sessionId = undefined;
    this.session = 'reconnecting';
    this.completeSeen = undefined;
    this.backoffMs = Math.min(100 + 2 * this.backoffMs, 8000);
    const delay = Math.random() * this.backoffMs;
    this.opts.log.warn('session lost, reconnecting', { err: reason, inMs: Math.round(delay) });
    this.later(() => this.openSession(), delay);
  }

  private openSession(): void {
    if (this.stopped) return;
    const gen = this.generation;
    const call = this.client!.session({
      nodeId: this.opts.nodeId,
      description: this.description(),
      addr: this.opts.advertiseAddr,
    });
    this.calls.push(call);
    let opened = false;
    call.on('data', (msg) => {
      if (opened) return;
      opened = true;
      this.sessionId = msg.sessionId;
      this.session = 'open';
      this.opts.observer?.sessionOpened();
      this.backoffMs = 0;
      this.opts.log.info('session open', { session: msg.sessionId });
      this.heartbeat(msg.sessionId, msg.heartbeatPeriodMs, gen);
      this.watchAssignments(msg.sessionId, gen);
      this.flush();
      this.connected?.();
    });
    call.on('error', (e) => this.reconnect(e, gen));
    call.on('end', () => this.reconnect('session ended by the manager', gen));
  }

  private heartbeat(sessionId: string, periodMs: number, gen: number): void {
    this.later(() => {
      if (this.stopped || gen !== this.generation) return;
      const sent = performance.now();
      this.client!.heartbeat({ sessionId }, { deadline: Date.now() + 5000 }, (err, res) => {
        if (err) return this.reconnect(err, gen);
        this.opts.observer?.heartbeat((performance.now() - sent) / 1000);
        this.heartbeat(sessionId, res!.periodMs, gen);
      });
    }, periodMs);
  }

  private watchAssignments(sessionId: string, gen: number): void {
    const call = this.client!.assignments({ sessionId });
    this.calls.push(call);
    call.on('data', (msg: AssignmentsMessage) => gen === this.generation && this.apply(msg));
    call.on('error', (e) => this.reconnect(e, gen));
    call.on('end', () => this.reconnect('assignments ended by the manager', gen));
  }

  /** Applies the manager's view of this node's tasks: start runners, pass on changes, remove what is gone. */
  private apply(msg: AssignmentsMessage): void {
    // A complete set may span several messages: collect what it names until the last one.
    const seen = msg.type === 'complete' ? (this.completeSeen ??= new Set<string>()) : new Set<string>();
    for (const change of msg.changes) {
      const task = change.task;
      seen.add(task.ID);
      if (change.action === 'remove') {
        this.removeTask(task);
        continue;
      }
      const runner = this.runners.get(task.ID);
      if (runner) runner.update(task);
      else this.runTask(task);
    }
    if (msg.type === 'complete' && !msg.more) {
      this.completeSeen = undefined;
      for (const [id, runner] of this.runners) if (!seen.has(id)) void runner.remove(10_000).finally(() => this.runners.delete(id));
      void this.removeStrays(seen);
    }
  }

  private runTask(task: Task): void {
    const f = this.facts!;
    let expanded: Task;
    try {
      expanded = withDefaultDns(
        expandTask(task, { id: this.opts.nodeId, hostname: f.hostname, os: f.os, architecture: f.architecture }),
        this.opts.dnsAddress,
      );
    } catch (e) {
      this.enqueue(task.ID, { Timestamp: new Date().toISOString(), State: 'rejected', Message: 'preparing', Err: String((e as Error).message) });
      return;
    }
    const runner = new TaskRunner(expanded, this.opts.executor.controller(expanded), (id, s) => this.enqueue(id, s), this.opts.log, this.opts.gate, this.opts.observer && { observer: this.opts.observer, executorKind: this.opts.executor.kind });
    this.runners.set(task.ID, runner);
    void runner.pump();
  }

  private removeTask(task: Task): void {
    const runner = this.runners.get(task.ID);
    if (!runner) return;
    this.runners.delete(task.ID);
    const grace = (task.Spec.ContainerSpec.StopGracePeriod ?? 10e9) / 1e6;
    runner.remove(grace).catch((e) => this.opts.log.warn('removing task failed', { task: task.ID, err: e }));
  }

  /** Tasks the executor still holds that the manager no longer knows (deleted while swarmd was down). */
  private async removeStrays(known: Set<string>): Promise<void> {
    const held = await this.opts.executor.listTaskIds().catch(() => []);
    for (const id of held) {
      if (known.has(id) || this.runners.has(id)) continue;
      this.opts.log.info('removing a task the manager no longer knows', { task: id });
      const c = this.opts.executor.controller(taskRef(id));
      await c.shutdown(10_000).catch(() => undefined);
      await c.remove().catch(() => undefined);
    }
  }

  private enqueue(taskId: string, status: TaskStatus): void {
    // Only the latest state matters: states only move forward, and the manager keeps the newest.
    this.outbox.set(taskId, { taskId, status });
    this.flush();
  }

  private flush(): void {
    // After stop() the channel is closed (a call on it throws): a step finishing during the stop keeps its state
    // here, and the next swarmd reports the task from what the executor finds.
    if (this.stopped || this.sending || !this.sessionId || this.outbox.size === 0) return;
    const updates = [...this.outbox.values()];
    const gen = this.generation;
    this.outbox.clear();
    this.sending = true;
    this.client!.updateTaskStatus({ sessionId: this.sessionId, updates }, { deadline: Date.now() + 5000 }, (err) => {
      this.sending = false;
      if (err) {
        for (const u of updates) if (!this.outbox.has(u.taskId)) this.outbox.set(u.taskId, u);
        this.reconnect(err, gen);
        return;
      }
      this.flush();
    });
  }
}

/** A task on a network resolves service names through the node's resolver, unless its spec names nameservers. */
function withDefaultDns(task: Task, dnsAddress: string | undefined): Task {
  const c = task.Spec.ContainerSpec;
  if (!dnsAddress || c.DNSConfig?.Nameservers?.length || !task.NetworksAttachments?.length) return task;
  return { ...task, Spec: { ...task.Spec, ContainerSpec: { ...c, DNSConfig: { ...c.DNSConfig, Nameservers: [dnsAddress] } } } };
}
