/**
 * Scheduler throughput: how many pending tasks `scheduleTasks` places per second, at fixed sizes (1,000 and
 * 10,000 tasks of one service over 1, 10 and 100 nodes, with 1,000 running tasks of another service already in
 * the store). The anchor in the same run is a naive scheduler — for each task, scan every node and run the full
 * filter pipeline — which is what the heap-based spread replaces; the ratio column is naive time / ours.
 * Run: `npm run build && node dist/bench/scheduler.bench.js`.
 */
import type { Node, Service, Task } from '../control/api/types';
import { FilterPipeline } from '../control/manager/scheduler/filters';
import { addTask, buildNodeInfos } from '../control/manager/scheduler/node-info';
import { scheduleTasks, type ScheduleInput } from '../control/manager/scheduler/pipeline';
import { fakeNode, fakePendingTasks, fakeService, fakeTask } from '../test/fakes/objects';

interface Case {
  name: string;
  input: ScheduleInput;
}

function makeCase(tasks: number, nodeCount: number, variant: 'plain' | 'placement'): Case {
  const nodes: Node[] = Array.from({ length: nodeCount }, (_, i) =>
    fakeNode({ id: `node-${String(i).padStart(3, '0')}`, cpus: 1000, labels: { zone: `z${i % 3}`, tier: 'web' } }),
  );
  const svc =
    variant === 'plain'
      ? fakeService({ id: 'svc', reserveCpus: 0.01 })
      : fakeService({
          id: 'svc',
          reserveCpus: 0.01,
          placement: {
            Constraints: ['node.labels.tier==web', 'node.role!=manager'],
            Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }],
            MaxReplicas: 1_000_000,
          },
        });
  const other = fakeService({ id: 'other', reserveCpus: 0.01 });
  const running: Task[] = Array.from({ length: 1000 }, (_, i) =>
    fakeTask(other, { nodeId: nodes[i % nodeCount].ID, state: 'running' }),
  );
  const pending = fakePendingTasks(svc, tasks);
  const services = new Map<string, Service>([
    [svc.ID, svc],
    [other.ID, other],
  ]);
  return {
    name: `${tasks} tasks / ${nodeCount} node${nodeCount === 1 ? '' : 's'}${variant === 'plain' ? '' : ' +placement'}`,
    input: { pending, nodes, tasks: [...running, ...pending], services, now: Date.now() },
  };
}

/** The anchor: per task, every node through the whole pipeline, then the least-loaded survivor. */
function naiveSchedule(input: ScheduleInput): number {
  const infos = [...buildNodeInfos(input.nodes, input.tasks, input.services, input.now).values()];
  let placed = 0;
  for (const t of input.pending) {
    const pipeline = new FilterPipeline(t, input.services.get(t.ServiceID));
    let best;
    for (const info of infos) {
      if (!pipeline.check(info)) continue;
      const s = info.activeByService.get(t.ServiceID) ?? 0;
      const bs = best ? (best.activeByService.get(t.ServiceID) ?? 0) : Infinity;
      if (!best || s < bs || (s === bs && info.activeTotal < best.activeTotal)) best = info;
    }
    if (best) {
      addTask(best, t);
      placed++;
    }
  }
  return placed;
}

/** Median milliseconds per call over enough repetitions to fill ~300 ms. */
function time(fn: () => void): number {
  fn(); // warm up
  const samples: number[] = [];
  const deadline = performance.now() + 300;
  while (samples.length < 5 || (performance.now() < deadline && samples.length < 200)) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1];
}

function main(): void {
  const rows: string[][] = [['case', 'ms/call', 'tasks/s', 'naive ms', 'naive/ours']];
  for (const variant of ['plain', 'placement'] as const) {
    for (const tasks of [1_000, 10_000]) {
      for (const nodeCount of [1, 10, 100]) {
        const c = makeCase(tasks, nodeCount, variant);
        const out = scheduleTasks(c.input);
        if (out.assigned.length !== tasks) throw new Error(`${c.name}: placed ${out.assigned.length}`);
        const ours = time(() => scheduleTasks(c.input));
        const naive = time(() => naiveSchedule(c.input));
        rows.push([
          c.name,
          ours.toFixed(2),
          Math.round((tasks / ours) * 1000).toLocaleString('en-US'),
          naive.toFixed(2),
          (naive / ours).toFixed(1) + 'x',
        ]);
      }
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const pad = (cell: string, i: number): string => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]));
  for (const r of rows) console.log(r.map(pad).join('  '));
}

main();
