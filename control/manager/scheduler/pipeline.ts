/**
 * The scheduler's decision, as one pure function: given the pending tasks, the nodes and every task in the
 * store, say which node each pending task goes to, or why none can take it. No I/O and no clock: the
 * store-watching component (scheduler.ts) gathers the input, calls this, and writes the outcome.
 *
 * Tasks already bound to a node (global services) are checked against that node first, as swarmkit does, so
 * their reservations are in place before replicated tasks spread. The rest are grouped by service spec version,
 * services in order of first appearance; each group runs the filters over every node once, then spreads its tasks
 * through the tree of candidates, re-checking only the filters that placements change. Counters are shared
 * across groups, so a later group sees the resources and ports an earlier one took.
 */
import type { Node, Service, Task } from '../../api/types';
import { FilterPipeline } from './filters';
import { addTask, buildNodeInfos, footprintOf, groupKey, isActive, place, type NodeInfo } from './node-info';
import { SpreadTree } from './spread';

export interface ScheduleInput {
  /** Tasks in state pending with desired state ≤ running, in creation order. */
  pending: readonly Task[];
  nodes: readonly Node[];
  /** Every task in the store, to count what each node already holds (pending ones are ignored). */
  tasks: Iterable<Task>;
  services: ReadonlyMap<string, Service>;
  /** Milliseconds since the epoch; enables the recent-failure underweighting. */
  now?: number;
}

export interface Assignment {
  taskId: string;
  nodeId: string;
  /** The task came bound to this node (global service): "scheduler confirmed task can run on preassigned node". */
  preassigned?: true;
}

export interface Unschedulable {
  taskId: string;
  /** The task's Status.Err: `no suitable node (...)`, or the bare explanation for a preassigned task. */
  err: string;
}

export interface ScheduleDecisions {
  assigned: Assignment[];
  unschedulable: Unschedulable[];
}

export const NO_SUITABLE_NODE = 'no suitable node';

export function scheduleTasks(input: ScheduleInput): ScheduleDecisions {
  const infos = buildNodeInfos(input.nodes, input.tasks, input.services, input.now);
  const out: ScheduleDecisions = { assigned: [], unschedulable: [] };
  // Grouped by service, then spec version: nested maps spare building a string key per task.
  const groups = new Map<string, Map<number | undefined, Task[]>>();
  const preassigned: Task[] = [];
  for (const t of input.pending) {
    if (t.NodeID) {
      preassigned.push(t);
      continue;
    }
    let byVersion = groups.get(t.ServiceID);
    if (!byVersion) groups.set(t.ServiceID, (byVersion = new Map()));
    const g = byVersion.get(t.SpecVersion?.Index);
    if (g) g.push(t);
    else byVersion.set(t.SpecVersion?.Index, [t]);
  }
  schedulePreassigned(preassigned, infos, input.services, out);
  for (const byVersion of groups.values()) {
    for (const group of byVersion.values()) scheduleGroup(group, infos, input.services, out);
  }
  return out;
}

function schedulePreassigned(
  tasks: readonly Task[],
  infos: Map<string, NodeInfo>,
  services: ReadonlyMap<string, Service>,
  out: ScheduleDecisions,
): void {
  // One pipeline per spec version: a global service's tasks share the spec, only the node differs.
  const pipelines = new Map<string, FilterPipeline>();
  for (const t of tasks) {
    const nodeId = t.NodeID as string;
    const info = infos.get(nodeId);
    if (!info) {
      // Swarmkit leaves such a task silently pending; we say why. The global orchestrator retires it.
      out.unschedulable.push({ taskId: t.ID, err: `node ${nodeId} not found` });
      continue;
    }
    const key = groupKey(t);
    let pipeline = pipelines.get(key);
    if (!pipeline) pipelines.set(key, (pipeline = new FilterPipeline(t, services.get(t.ServiceID))));
    pipeline.resetCounts();
    if (pipeline.check(info)) {
      addTask(info, t, services.get(t.ServiceID));
      out.assigned.push({ taskId: t.ID, nodeId, preassigned: true });
    } else {
      out.unschedulable.push({ taskId: t.ID, err: pipeline.explain() });
    }
  }
}

function scheduleGroup(
  group: readonly Task[],
  infos: Map<string, NodeInfo>,
  services: ReadonlyMap<string, Service>,
  out: ScheduleDecisions,
): void {
  const first = group[0];
  const service = services.get(first.ServiceID);
  const pipeline = new FilterPipeline(first, service);
  const candidates: NodeInfo[] = [];
  for (const info of infos.values()) if (pipeline.check(info)) candidates.push(info);
  const preferences = (first.Spec?.Placement?.Preferences ?? [])
    .map((p) => p.Spread?.SpreadDescriptor)
    .filter((d): d is string => !!d);
  const tree = new SpreadTree(candidates, infos.values(), first.ServiceID, groupKey(first), preferences);
  const fp = footprintOf(first, service);

  let i = 0;
  for (; i < group.length; i++) {
    const info = tree.choose();
    if (!info) break;
    place(info, fp, isActive(group[i]));
    tree.commit(pipeline.checkDynamic(info));
    out.assigned.push({ taskId: group[i].ID, nodeId: info.id });
  }
  if (i === group.length) return;

  // Explain against the counters as they stand now, so each node is charged exactly once with its present reason.
  pipeline.resetCounts();
  for (const info of infos.values()) pipeline.check(info);
  const why = pipeline.explain();
  const err = why ? `${NO_SUITABLE_NODE} (${why})` : NO_SUITABLE_NODE;
  for (; i < group.length; i++) out.unschedulable.push({ taskId: group[i].ID, err });
}
