/**
 * The dispatcher: the manager's side of every node's session. It registers nodes (READY, with their
 * description and address), expires them when heartbeats stop (DOWN, "heartbeat failure", after three
 * periods), streams each node the tasks assigned to it, and writes the task states nodes report — only forward,
 * only for the node's own tasks, batched into few store transactions.
 */
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import type { Component } from '../../base/component';
import type { Clock, Timer } from '../../base/clock';
import { CoalescingRunner } from '../../base/coalescing-runner';
import type { Logger } from '../../base/log';
import { canMove, rank } from '../../api/task-state';
import type { Task } from '../../api/types';
import { edit, type Store, type StoreEvent } from '../../store/store';
import {
  dispatcherService,
  type AssignmentChange,
  type AssignmentsMessage,
  type AssignmentsRequest,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type SessionMessage,
  type SessionRequest,
  type TaskStatusUpdate,
  type UpdateTaskStatusRequest,
} from './protocol';

export const DEFAULT_HEARTBEAT_PERIOD_MS = 5000;
/** Changes per assignments message: a node with thousands of tasks gets several messages, none near gRPC's 4 MiB. */
const CHANGES_PER_MESSAGE = 500;

/** Sends changes in messages of bounded size; a complete set spans several messages, the last without `more`. */
function writeChunks(call: grpc.ServerWritableStream<AssignmentsRequest, AssignmentsMessage>, type: AssignmentsMessage['type'], changes: AssignmentChange[]): void {
  if (changes.length === 0 && type === 'incremental') return;
  for (let i = 0; i === 0 || i < changes.length; i += CHANGES_PER_MESSAGE) {
    const chunk = changes.slice(i, i + CHANGES_PER_MESSAGE);
    const more = i + CHANGES_PER_MESSAGE < changes.length;
    call.write(more ? { type, changes: chunk, more } : { type, changes: chunk });
  }
}
const GRACE_MULTIPLIER = 3;

interface Session {
  id: string;
  nodeId: string;
  expiry?: Timer;
}

export interface DispatcherOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  server: grpc.Server;
}

export class Dispatcher implements Component {
  readonly name = 'dispatcher';
  private sessions = new Map<string, Session>(); // by session ID
  private streams = new Set<() => void>();
  private queued = new Map<string, TaskStatusUpdate & { nodeId: string }>();
  private writer: CoalescingRunner;
  private stopped = false;

  constructor(private readonly opts: DispatcherOptions) {
    this.writer = new CoalescingRunner(() => this.flushStatuses(), {
      clock: opts.clock,
      onError: (e) => opts.log.error('writing task status failed', { err: e }),
    });
    opts.server.addService(dispatcherService, {
      session: (call: grpc.ServerWritableStream<SessionRequest, SessionMessage>) => void this.session(call),
      heartbeat: (call: grpc.ServerUnaryCall<HeartbeatRequest, HeartbeatResponse>, cb: grpc.sendUnaryData<HeartbeatResponse>) =>
        this.heartbeat(call.request, cb),
      assignments: (call: grpc.ServerWritableStream<AssignmentsRequest, AssignmentsMessage>) => this.assignments(call),
      updateTaskStatus: (call: grpc.ServerUnaryCall<UpdateTaskStatusRequest, object>, cb: grpc.sendUnaryData<object>) =>
        this.updateTaskStatus(call.request, cb),
    });
  }

  async start(): Promise<void> {
    this.stopped = false;
    // Nodes that were READY before this manager started get one grace period to re-open their session.
    const ready = this.opts.store.view((tx) => tx.list('node').filter((n) => n.Status.State === 'ready'));
    for (const n of ready) this.armExpiry({ id: '', nodeId: n.ID }, this.period() * GRACE_MULTIPLIER * 2);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.sessions.values()) s.expiry?.cancel();
    this.sessions.clear();
    for (const end of [...this.streams]) end();
    await this.writer.stop();
  }

  private period(): number {
    const cluster = this.opts.store.view((tx) => tx.list('cluster')[0]);
    const ns = cluster?.Spec.Dispatcher.HeartbeatPeriod;
    return ns ? ns / 1e6 : DEFAULT_HEARTBEAT_PERIOD_MS;
  }

  private async session(call: grpc.ServerWritableStream<SessionRequest, SessionMessage>): Promise<void> {
    const req = call.request;
    const node = this.opts.store.view((tx) => tx.get('node', req.nodeId));
    if (!node || this.stopped) {
      call.destroy(Object.assign(new Error(`node not found: ${req.nodeId}`), { code: grpc.status.NOT_FOUND }));
      return;
    }
    for (const [id, s] of this.sessions) if (s.nodeId === req.nodeId) (s.expiry?.cancel(), this.sessions.delete(id));
    const session: Session = { id: randomUUID(), nodeId: req.nodeId };
    this.sessions.set(session.id, session);
    const addr = req.addr ?? call.getPeer().replace(/^ipv4:|^ipv6:|:\d+$/g, '').replace(/^\[|\]$/g, '');
    await this.opts.store.update((tx) => {
      const n = edit(tx.get('node', req.nodeId)!);
      n.Description = { ...req.description, TLSInfo: n.Description.TLSInfo };
      n.Status = { State: 'ready', Addr: addr || n.Status.Addr };
      tx.update('node', n);
    });
    this.armExpiry(session, this.period() * GRACE_MULTIPLIER);
    this.opts.log.info('node session opened', { node: req.nodeId, session: session.id });
    call.write({ sessionId: session.id, heartbeatPeriodMs: this.period() });
    const end = () => {
      this.streams.delete(end);
      call.end();
    };
    this.streams.add(end);
    call.on('cancelled', () => this.streams.delete(end));
  }

  private heartbeat(req: HeartbeatRequest, cb: grpc.sendUnaryData<HeartbeatResponse>): void {
    const s = this.sessions.get(req.sessionId);
    if (!s) return cb({ code: grpc.status.INVALID_ARGUMENT, details: 'session invalid' });
    const period = this.period();
    // Jitter (±10%) spreads many nodes' heartbeats apart, as swarmkit's ±500 ms does for the 5 s default.
    const next = Math.round(period * (0.9 + Math.random() * 0.2));
    this.armExpiry(s, next * GRACE_MULTIPLIER);
    cb(null, { periodMs: next });
  }

  private armExpiry(s: Session, ms: number): void {
    s.expiry?.cancel();
    s.expiry = this.opts.clock.setTimeout(() => void this.expire(s), ms);
  }

  private async expire(s: Session): Promise<void> {
    if (this.stopped) return;
    if (s.id) this.sessions.delete(s.id);
    else if ([...this.sessions.values()].some((o) => o.nodeId === s.nodeId)) return;
    this.opts.log.warn('node heartbeat expired', { node: s.nodeId });
    await this.opts.store.update((tx) => {
      const current = tx.get('node', s.nodeId);
      if (!current || current.Status.State === 'down') return;
      const n = edit(current);
      n.Status = { ...n.Status, State: 'down', Message: 'heartbeat failure' };
      tx.update('node', n);
    });
  }

  private assignments(call: grpc.ServerWritableStream<AssignmentsRequest, AssignmentsMessage>): void {
    const s = this.sessions.get(call.request.sessionId);
    if (!s) {
      call.destroy(Object.assign(new Error('session invalid'), { code: grpc.status.INVALID_ARGUMENT }));
      return;
    }
    const nodeId = s.nodeId;
    const visible = (t: Task) => t.NodeID === nodeId && rank(t.Status.State) >= rank('assigned');
    // What the agent was last sent per task: only a new task, a new desired state or removal is news to it
    // (the states it reports itself are not sent back).
    const sentDesired = new Map<string, string>();
    let pending: AssignmentChange[] = [];
    let flushQueued = false;
    // Watch first, then snapshot: a commit between the two is sent twice at worst, never lost.
    const unwatch = this.opts.store.watch((events: StoreEvent[]) => {
      for (const e of events) {
        if (e.kind !== 'task') continue;
        const t = e.object as Task;
        if (e.action !== 'delete' && visible(t)) {
          if (sentDesired.get(t.ID) === t.DesiredState) continue;
          sentDesired.set(t.ID, t.DesiredState);
          pending.push({ action: 'update', task: t });
        } else if (sentDesired.has(t.ID) && (e.action === 'delete' || t.NodeID !== nodeId)) {
          sentDesired.delete(t.ID);
          pending.push({ action: 'remove', task: t });
        }
      }
      if (pending.length && !flushQueued) {
        flushQueued = true;
        setImmediate(() => {
          flushQueued = false;
          const changes = pending;
          pending = [];
          writeChunks(call, 'incremental', changes);
        });
      }
    });
    const tasks = this.opts.store.view((tx) => tx.tasksByNode(nodeId).filter(visible));
    for (const t of tasks) sentDesired.set(t.ID, t.DesiredState);
    writeChunks(call, 'complete', tasks.map((task) => ({ action: 'update', task })));
    const end = () => {
      unwatch();
      this.streams.delete(end);
      call.end();
    };
    this.streams.add(end);
    call.on('cancelled', () => {
      unwatch();
      this.streams.delete(end);
    });
  }

  private updateTaskStatus(req: UpdateTaskStatusRequest, cb: grpc.sendUnaryData<object>): void {
    const s = this.sessions.get(req.sessionId);
    if (!s) return cb({ code: grpc.status.INVALID_ARGUMENT, details: 'session invalid' });
    for (const u of req.updates) this.queued.set(u.taskId, { ...u, nodeId: s.nodeId });
    this.writer.kick();
    cb(null, {});
  }

  /** Writes all queued reports in one transaction; stale, backward or foreign reports are dropped. */
  private async flushStatuses(): Promise<void> {
    if (this.queued.size === 0) return;
    const batch = [...this.queued.values()];
    this.queued.clear();
    const appliedAt = new Date(this.opts.clock.now()).toISOString();
    await this.opts.store.update((tx) => {
      for (const u of batch) {
        const current = tx.get('task', u.taskId);
        if (!current || current.NodeID !== u.nodeId) continue;
        if (!canMove(current.Status.State, u.status.State)) continue;
        // A shallow copy: only Status and AppliedAt change, and stored objects are never mutated.
        tx.update('task', { ...current, Status: u.status, AppliedAt: appliedAt });
      }
    });
  }
}
