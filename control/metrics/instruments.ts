/**
 * The node's event-driven metrics: what can only be measured when it happens (an API request, a store commit, a
 * task's scheduling, an executor call, a heartbeat), as prom-client histograms and counters on one registry. The
 * components never see prom-client: each takes a narrow observer interface of its own (router, store, scheduler,
 * agent) and this class implements them all, so the daemon hands the same object to each. One per daemon, no
 * module-level registry. Everything read from state at scrape time lives in node-metrics.ts instead.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import type { RequestObserver } from '../manager/api/router';
import type { CommitObserver } from '../store/memory-store';
import type { SchedulingObserver } from '../manager/scheduler/scheduler';
import type { IptablesSyncObserver } from '../../mesh/iptables/iptables-mesh';
import type { AgentObserver, ExecutorOperation, FailureReason } from '../agent/agent-observer';

/** Seconds, from sub-millisecond store commits to multi-second container starts. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Instruments implements RequestObserver, CommitObserver, SchedulingObserver, AgentObserver, IptablesSyncObserver {
  readonly registry = new Registry();

  private readonly apiRequests = new Counter({
    name: 'shoal_api_requests_total',
    help: 'Control API requests by route template (not raw path), method and HTTP status code.',
    labelNames: ['route', 'method', 'code'] as const,
    registers: [this.registry],
  });
  private readonly apiLatency = this.latency('shoal_api_request_duration_seconds', 'Control API request latency by route template and method (streams: until the handler returns).', ['route', 'method'] as const);
  private readonly commitLatency = this.latency('shoal_store_commit_duration_seconds', 'Store transaction commit latency: persisting the changes and applying them in memory.');
  private readonly schedulingLatency = this.latency('shoal_scheduler_scheduling_latency_seconds', 'Time from a task\'s creation to its assignment to a node.');
  private readonly executorLatency = this.latency('shoal_executor_operation_duration_seconds', 'Executor operation latency by executor kind, operation (prepare, start, stop) and result.', ['executor', 'operation', 'result'] as const);
  private readonly taskFailures = new Counter({
    name: 'shoal_agent_task_failures_total',
    help: 'Tasks on this node that ended FAILED or REJECTED, by reason class.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  private readonly heartbeatRtt = this.latency('shoal_agent_heartbeat_rtt_seconds', 'Round trip of the agent\'s heartbeats to its dispatcher.');
  private readonly sessions = new Counter({
    name: 'shoal_agent_sessions_total',
    help: 'Dispatcher sessions the agent opened (more than one: the session broke and was reopened).',
    registers: [this.registry],
  });

  private readonly iptablesSyncs = this.latency('shoal_mesh_iptables_sync_duration_seconds', 'iptables mesh syncs that wrote rules, by kind (full: every chain; partial: changed chains only), with their duration.', ['kind'] as const);

  /** A latency histogram on this registry, in seconds with the shared buckets. */
  private latency<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Histogram<L> {
    return new Histogram({ name, help, labelNames, buckets: LATENCY_BUCKETS, registers: [this.registry] });
  }

  request(r: { route: string; method: string; code: number; seconds: number }): void {
    this.apiRequests.inc({ route: r.route, method: r.method, code: String(r.code) });
    this.apiLatency.observe({ route: r.route, method: r.method }, r.seconds);
  }

  committed(seconds: number): void {
    this.commitLatency.observe(seconds);
  }

  scheduled(seconds: number): void {
    this.schedulingLatency.observe(Math.max(0, seconds));
  }

  operation(executor: string, operation: ExecutorOperation, ok: boolean, seconds: number): void {
    this.executorLatency.observe({ executor, operation, result: ok ? 'ok' : 'error' }, seconds);
  }

  taskFailed(reason: FailureReason): void {
    this.taskFailures.inc({ reason });
  }

  heartbeat(seconds: number): void {
    this.heartbeatRtt.observe(seconds);
  }

  sessionOpened(): void {
    this.sessions.inc();
  }

  synced(kind: 'full' | 'partial', seconds: number): void {
    this.iptablesSyncs.observe({ kind }, seconds);
  }
}
