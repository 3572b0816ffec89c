/**
 * Waiting for a service to converge, as `docker service create/update` does without -d: poll the service and its
 * up-to-date tasks every 200 ms, feed the progress updater, and stop once all tasks have run for the update
 * monitor period ("verify: Service converged"). A paused update or rollback ends with docker's error; an update
 * the daemon rolled back reports "service rolled back: ...". Docker waits without a deadline, and so does this:
 * a stuck task shows its error on its line (e.g. "no suitable node (...)"), and Ctrl-C leaves it running
 * ("Operation continuing in background.").
 *
 * One step beyond docker: when an update this command started is rolled back by the daemon (failure action
 * rollback), docker exits 0 if the old tasks converge before the rollback is marked complete. Here that still
 * ends with "service rolled back: <reason>" and a non-zero exit, so scripts see the update did not take.
 */
import type { Node, Service, Task } from '../api/types';
import type { Client } from './client';
import { Frame, GlobalProgress, ReplicatedProgress, verifyWaiting, VERIFY_CONVERGED, type ProgressUpdater } from './progress';

export class ConvergeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConvergeError';
  }
}

export interface ConvergeOptions {
  write: (s: string) => void;
  tty: boolean;
  pollMs?: number;
  /** Resolves when the user presses Ctrl-C. */
  interrupted?: Promise<void>;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

const DEFAULT_MONITOR_NS = 5e9;

export async function waitForConvergence(client: Client, serviceId: string, opts: ConvergeOptions): Promise<void> {
  const frame = new Frame(opts.write, opts.tty);
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = opts.now ?? Date.now;
  let interrupted = false;
  opts.interrupted?.then(() => (interrupted = true));
  let updater: ProgressUpdater | undefined;
  let rollback = false;
  let converged = false;
  let convergedAt = 0;
  let firstPoll = true;
  /** Why the daemon rolled back the update this command started (not set for a requested rollback). */
  let rolledBack: string | undefined;
  for (;;) {
    if (interrupted) {
      if (!converged) {
        opts.write('Operation continuing in background.\n');
        opts.write(`Use \`swarmctl service ps ${serviceId}\` to check progress.\n`);
      }
      return;
    }
    const service: Service = await client.service(serviceId);
    updater ??= service.Spec.Mode.Global ? new GlobalProgress() : new ReplicatedProgress();
    const monitorMs = (service.Spec.UpdateConfig?.Monitor ?? DEFAULT_MONITOR_NS) / 1e6;
    const us = service.UpdateStatus;
    switch (us?.State) {
      case 'updating':
        rollback = false;
        break;
      case 'completed':
        if (!converged) return;
        break;
      case 'paused':
        throw new ConvergeError(`service update paused: ${us.Message ?? ''}`);
      case 'rollback_started':
        if (!rollback && us.Message) frame.apply([{ id: 'rollback', text: us.Message }]);
        if (!rollback && !firstPoll) rolledBack = us.Message ?? '';
        rollback = true;
        break;
      case 'rollback_paused':
        throw new ConvergeError(`service rollback paused: ${us.Message ?? ''}`);
      case 'rollback_completed':
        if (!converged) throw new ConvergeError(`service rolled back: ${us.Message ?? ''}`);
        break;
    }
    firstPoll = false;
    if (converged && now() - convergedAt >= monitorMs) {
      frame.apply([VERIFY_CONVERGED]);
      if (rolledBack !== undefined) throw new ConvergeError(`service rolled back: ${rolledBack}`);
      return;
    }
    const [tasks, nodes]: [Task[], Node[]] = await Promise.all([
      client.tasks({ service: [service.ID], '_up-to-date': ['true'] }),
      client.nodes(),
    ]);
    const active = new Set(nodes.filter((n) => n.Status?.State !== 'down').map((n) => n.ID));
    const result = updater.update(service, tasks, active, rollback);
    frame.apply(result.messages);
    converged = result.converged;
    if (converged) {
      if (convergedAt === 0) convergedAt = now();
      const wait = monitorMs - (now() - convergedAt);
      if (wait >= 0) frame.apply([verifyWaiting(wait)]);
    } else {
      if (convergedAt !== 0) frame.apply([{ id: 'verify', text: ' ' }]);
      convergedAt = 0;
    }
    await Promise.race([sleep(opts.pollMs ?? 200), opts.interrupted ?? new Promise<void>(() => undefined)]);
  }
}

/** A promise that resolves on the first SIGINT, and a function to stop listening. */
export function onInterrupt(): { interrupted: Promise<void>; dispose: () => void } {
  let handler: () => void = () => undefined;
  const interrupted = new Promise<void>((resolve) => {
    handler = () => resolve();
    process.once('SIGINT', handler);
  });
  return { interrupted, dispose: () => process.removeListener('SIGINT', handler) };
}
