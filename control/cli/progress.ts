/**
 * Convergence progress after create/update/scale/rollback, as docker draws it: "overall progress: N out of M
 * tasks", one bar per slot (replicated, up to 20) or per node (global, short node IDs), and "verify: ..." once
 * every task runs. The updaters are pure: each poll feeds them the service, its up-to-date tasks and the active
 * nodes, and they emit progress messages keyed by line ID. A Frame keeps those lines in first-seen order and
 * renders them: redrawn in place on a terminal, or only the changed lines otherwise.
 */
import type { Service, Task, TaskState } from '../api/types';

export interface ProgressMessage {
  id: string;
  text: string;
}

const NUMBERED: Partial<Record<TaskState, number>> = {
  new: 1,
  allocated: 2,
  pending: 3,
  assigned: 4,
  accepted: 5,
  preparing: 6,
  ready: 7,
  starting: 8,
  running: 9,
};
const MAX_PROGRESS = 9;
const MAX_BARS = 20;
const LONGEST_STATE = 'preparing'.length;

const terminal = (s: TaskState): boolean => (NUMBERED[s] ?? 10) > MAX_PROGRESS;

/** Docker's bar: 50 cells, filled by the state's step out of 9. */
export function bar(state: TaskState): string {
  const step = NUMBERED[state] ?? 0;
  const pct = Math.min(50, Math.trunc(Math.trunc((step / MAX_PROGRESS) * 100) / 2));
  return `[${'='.repeat(pct)}>${' '.repeat(50 - pct)}]`;
}

function truncError(msg: string): string {
  const one = msg.replace(/\n/g, ' ');
  return one.length > 75 ? one.slice(0, 74) + '…' : one;
}

function taskLine(t: Task): string {
  if (t.Status.Err) return truncError(t.Status.Err);
  return `${t.Status.State.padEnd(LONGEST_STATE)} ${bar(t.Status.State)}`;
}

function overall(running: number, total: number, rollback: boolean): ProgressMessage {
  return { id: 'overall progress', text: rollback ? `rolling back update: ${running} out of ${total} tasks` : `${running} out of ${total} tasks` };
}

/** Of several tasks for one slot (or node), the one with the lowest desired state, then the lowest state. */
function pickBy(tasks: Task[], key: (t: Task) => string, activeNodes: Set<string>, requireNode: boolean): Map<string, Task> {
  const out = new Map<string, Task>();
  for (const t of tasks) {
    const ds = NUMBERED[t.DesiredState];
    const st = NUMBERED[t.Status.State];
    if (!ds || !st) continue;
    const existing = out.get(key(t));
    if (existing) {
      const eds = NUMBERED[existing.DesiredState] as number;
      if (eds < ds) continue;
      if (eds === ds && (NUMBERED[existing.Status.State] as number) <= st) continue;
    }
    if ((t.NodeID || requireNode) && !activeNodes.has(t.NodeID ?? '')) continue;
    out.set(key(t), t);
  }
  return out;
}

export interface ProgressUpdater {
  /** Messages for this poll, and whether every task runs. */
  update(service: Service, tasks: Task[], activeNodes: Set<string>, rollback: boolean): { messages: ProgressMessage[]; converged: boolean };
}

export class ReplicatedProgress implements ProgressUpdater {
  private initialized = false;
  private done = false;
  private readonly slotMap = new Map<number, number>();

  update(service: Service, tasks: Task[], activeNodes: Set<string>, rollback: boolean): { messages: ProgressMessage[]; converged: boolean } {
    const replicas = service.Spec.Mode.Replicated?.Replicas ?? 1;
    const messages: ProgressMessage[] = [];
    if (!this.initialized) {
      messages.push(overall(0, replicas, rollback));
      if (replicas <= MAX_BARS) for (let i = 1; i <= replicas; i++) messages.push({ id: `${i}/${replicas}`, text: ' ' });
      this.initialized = true;
    }
    const bySlot = pickBy(tasks, (t) => String(t.Slot ?? 0), activeNodes, false);
    if (this.done && [...bySlot.values()].some((t) => t.Status.State !== 'running')) this.done = false;
    let running = 0;
    const slots = [...bySlot.values()].sort((a, b) => (a.Slot ?? 0) - (b.Slot ?? 0));
    for (const t of slots) {
      let mapped = this.slotMap.get(t.Slot ?? 0);
      if (mapped === undefined) {
        mapped = this.slotMap.size + 1;
        this.slotMap.set(t.Slot ?? 0, mapped);
      }
      if (!terminal(t.DesiredState) && t.Status.State === 'running') running++;
      if (replicas <= MAX_BARS && (t.Status.Err || (!terminal(t.DesiredState) && !terminal(t.Status.State)))) {
        messages.push({ id: `${mapped}/${replicas}`, text: taskLine(t) });
      }
    }
    if (!this.done) {
      messages.push(overall(running, replicas, rollback));
      if (running === replicas) this.done = true;
    }
    return { messages, converged: running === replicas };
  }
}

export class GlobalProgress implements ProgressUpdater {
  private initialized = false;
  private done = false;

  update(_service: Service, tasks: Task[], activeNodes: Set<string>, rollback: boolean): { messages: ProgressMessage[]; converged: boolean } {
    const byNode = pickBy(tasks, (t) => t.NodeID ?? '', activeNodes, false);
    const nodeCount = byNode.size;
    const messages: ProgressMessage[] = [];
    if (!this.initialized) {
      if (nodeCount === 0) return { messages: [{ id: 'overall progress', text: 'waiting for new tasks' }], converged: false };
      messages.push(overall(0, nodeCount, rollback));
      this.initialized = true;
    }
    if (this.done && [...byNode.values()].some((t) => t.Status.State !== 'running')) this.done = false;
    let running = 0;
    const sorted = [...byNode.values()].sort((a, b) => ((a.NodeID ?? '') < (b.NodeID ?? '') ? -1 : 1));
    for (const t of sorted) {
      if (!activeNodes.has(t.NodeID ?? '')) continue;
      if (!terminal(t.DesiredState) && t.Status.State === 'running') running++;
      if (nodeCount <= MAX_BARS && (t.Status.Err || (!terminal(t.DesiredState) && !terminal(t.Status.State)))) {
        messages.push({ id: (t.NodeID ?? '').slice(0, 12), text: taskLine(t) });
      }
    }
    if (!this.done) {
      messages.push(overall(running, nodeCount, rollback));
      if (running === nodeCount) this.done = true;
    }
    return { messages, converged: running === nodeCount };
  }
}

/**
 * Lines keyed by ID in first-seen order. On a terminal every change redraws the block in place (cursor up,
 * clear line); otherwise only lines whose text changed are printed, once.
 */
export class Frame {
  private readonly lines = new Map<string, string>();
  private printed = 0;
  private readonly lastWritten = new Map<string, string>();

  constructor(private readonly write: (s: string) => void, private readonly tty: boolean) {}

  apply(messages: ProgressMessage[]): void {
    let changed = false;
    for (const m of messages) {
      if (this.lines.get(m.id) !== m.text) {
        this.lines.set(m.id, m.text);
        changed = true;
      }
    }
    if (!changed) return;
    if (this.tty) {
      let s = this.printed > 0 ? `\x1b[${this.printed}A` : '';
      for (const [id, text] of this.lines) s += `\x1b[2K${id}: ${text}\n`;
      this.printed = this.lines.size;
      this.write(s);
      return;
    }
    let s = '';
    for (const [id, text] of this.lines) {
      if (this.lastWritten.get(id) === text) continue;
      if (text.trim() === '') continue;
      this.lastWritten.set(id, text);
      s += `${id}: ${text}\n`;
    }
    if (s) this.write(s);
  }

  /** The block as it stands, for tests: "id: text" per line. */
  snapshot(): string {
    return [...this.lines].map(([id, text]) => `${id}: ${text}\n`).join('');
  }
}

/** The verify line while waiting out the monitor period once everything runs. */
export function verifyWaiting(remainingMs: number): ProgressMessage {
  return { id: 'verify', text: `Waiting ${Math.trunc(remainingMs / 1000) + 1} seconds to verify that tasks are stable...` };
}

export const VERIFY_CONVERGED: ProgressMessage = { id: 'verify', text: 'Service converged' };
