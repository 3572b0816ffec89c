/**
 * Task network namespaces made and deleted in batches: every `add`/`del` asked for while a batch runs joins the
 * next one, and a batch is ONE `ip -force -batch -` (at most MAX_BATCH names), instead of one `ip` process per
 * task — a thousand task starts cost a few dozen execs, not a thousand synchronous spawns on swarmd's loop.
 *
 * `ip -batch` reports failures only by line number, so the outcome is read from the kernel afterwards: a name
 * that should exist (or be gone) and is not gets its own `ip netns add|del`, whose ExecError names the exact
 * reason. An existing namespace on add and a missing one on del count as done, so both are idempotent.
 */
import { existsSync } from 'node:fs';
import { ExecError, type Exec } from '../base/exec';

export const MAX_BATCH = 128;

type Op = 'add' | 'del';

interface Waiter {
  name: string;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class NetnsBatcher {
  private readonly queued: Record<Op, Waiter[]> = { add: [], del: [] };
  private running = false;

  constructor(private readonly exec: Exec) {}

  add(name: string): Promise<void> {
    return this.enqueue('add', name);
  }

  del(name: string): Promise<void> {
    return this.enqueue('del', name);
  }

  private enqueue(op: Op, name: string): Promise<void> {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) return Promise.reject(new Error(`invalid namespace name "${name}"`));
    if (done(op, name)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queued[op].push({ name, resolve, reject });
      if (!this.running) setImmediate(() => void this.drain());
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        // Deletions first: they free what additions may need (a task restarted under the same name).
        const op: Op | undefined = this.queued.del.length ? 'del' : this.queued.add.length ? 'add' : undefined;
        if (!op) return;
        const batch = this.queued[op].splice(0, MAX_BATCH);
        await this.runBatch(op, batch);
      }
    } finally {
      this.running = false;
    }
  }

  private async runBatch(op: Op, batch: Waiter[]): Promise<void> {
    const todo = [...new Set(batch.map((w) => w.name))].filter((n) => !done(op, n));
    if (todo.length > 1) {
      await this.exec(['ip', '-force', '-batch', '-'], { input: todo.map((n) => `netns ${op} ${n}\n`).join('') }).catch(() => undefined);
    }
    const failures = new Map<string, Error>();
    for (const name of todo) {
      if (done(op, name)) continue;
      try {
        await this.exec(['ip', 'netns', op, name]);
      } catch (e) {
        const tolerated = e instanceof ExecError && (op === 'add' ? /File exists/ : /No such file|not exist/).test(e.stderr);
        if (!tolerated) failures.set(name, e as Error);
      }
    }
    for (const w of batch) {
      const err = failures.get(w.name);
      if (err) w.reject(err);
      else w.resolve();
    }
  }
}

function done(op: Op, name: string): boolean {
  return existsSync(`/run/netns/${name}`) === (op === 'add');
}
