/**
 * The filter pipeline: the checks a node must pass to receive a task, in swarmkit's order (ready, resources,
 * constraints, platform, host-mode ports, max replicas per node). The first failing filter is charged with the
 * node, and each filter can explain its failures in Docker's words ("insufficient resources on 3 nodes"); the
 * explanations, most frequent first, become the task's "no suitable node (...)" error.
 *
 * A filter is prepared once per task group (the tasks of one service spec version share requirements) and
 * returns a cheap per-node check, or null when it has nothing to check for that spec. Filters marked `dynamic`
 * read counters that change as tasks are placed, so the spread re-checks them after every placement; the others
 * depend only on the node and the spec and are checked once per node per group.
 */
import type { Service, Task } from '../../api/types';
import { compileConstraints } from './constraints';
import { hostPortsOf, portKey, type NodeInfo } from './node-info';

export type NodeCheck = (info: NodeInfo) => boolean;

export interface Filter {
  readonly name: string;
  /** Whether the verdict can change while tasks are placed in the same pass. */
  readonly dynamic: boolean;
  /** The check for this task's spec, or null when the filter does not apply to it. */
  prepare(task: Task, service?: Service): NodeCheck | null;
  /** Docker's explanation for `failed` nodes failing this filter. */
  explain(failed: number): string;
}

const onNodes = (failed: number): string => (failed === 1 ? 'on 1 node' : `on ${failed} nodes`);

export const readyFilter: Filter = {
  name: 'ready',
  dynamic: false,
  prepare: () => (info) => info.node.Status?.State === 'ready' && info.node.Spec.Availability === 'active',
  explain: (n) => (n === 1 ? '1 node not available for new tasks' : `${n} nodes not available for new tasks`),
};

export const resourceFilter: Filter = {
  name: 'resources',
  dynamic: true,
  prepare(task) {
    const cpu = task.Spec?.Resources?.Reservations?.NanoCPUs ?? 0;
    const mem = task.Spec?.Resources?.Reservations?.MemoryBytes ?? 0;
    if (cpu <= 0 && mem <= 0) return null;
    return (info) => cpu <= info.freeNanoCPUs && mem <= info.freeMemoryBytes;
  },
  explain: (n) => `insufficient resources ${onNodes(n)}`,
};

export const constraintFilter: Filter = {
  name: 'constraints',
  dynamic: false,
  prepare(task) {
    const list = task.Spec?.Placement?.Constraints;
    if (!list || list.length === 0) return null;
    const matches = compileConstraints(list);
    return (info) => matches(info.node);
  },
  explain: (n) => `scheduling constraints not satisfied ${onNodes(n)}`,
};

/** Docker's architecture aliases: images say amd64/arm64 where kernels say x86_64/aarch64. */
function normalizeArch(arch: string): string {
  const a = arch.toLowerCase();
  if (a === 'x86_64') return 'amd64';
  if (a === 'aarch64') return 'arm64';
  return a;
}

export const platformFilter: Filter = {
  name: 'platform',
  dynamic: false,
  prepare(task) {
    const platforms = task.Spec?.Placement?.Platforms;
    if (!platforms || platforms.length === 0) return null;
    const wanted = platforms.map((p) => ({
      arch: normalizeArch(p.Architecture ?? ''),
      os: (p.OS ?? '').toLowerCase(),
    }));
    return (info) => {
      const arch = normalizeArch(info.node.Description?.Platform?.Architecture ?? '');
      const os = (info.node.Description?.Platform?.OS ?? '').toLowerCase();
      // An empty field in the spec is a wildcard (an image built for "linux" of any architecture).
      return wanted.some((w) => (w.arch === '' || w.arch === arch) && (w.os === '' || w.os === os));
    };
  },
  explain: (n) => `unsupported platform ${onNodes(n)}`,
};

export const hostPortFilter: Filter = {
  name: 'host-ports',
  dynamic: true,
  prepare(task, service) {
    const keys = hostPortsOf(task, service).map(portKey);
    if (keys.length === 0) return null;
    return (info) => {
      for (const k of keys) if (info.hostPorts.has(k)) return false;
      return true;
    };
  },
  explain: (n) => `host-mode port already in use ${onNodes(n)}`,
};

export const maxReplicasFilter: Filter = {
  name: 'max-replicas',
  dynamic: true,
  prepare(task) {
    const max = task.Spec?.Placement?.MaxReplicas ?? 0;
    if (max <= 0) return null;
    const service = task.ServiceID;
    return (info) => (info.activeByService.get(service) ?? 0) < max;
  },
  // Docker's text, grammar and all, and without a count.
  explain: () => 'max replicas per node limit exceed',
};

/** Swarmkit's order: cheap, common refusals first, so a node is charged to the most telling filter. */
export const DEFAULT_FILTERS: readonly Filter[] = [
  readyFilter,
  resourceFilter,
  constraintFilter,
  platformFilter,
  hostPortFilter,
  maxReplicasFilter,
];

interface Prepared {
  filter: Filter;
  check: NodeCheck;
  failed: number;
}

/** The filters prepared for one task group, with per-filter failure counts for the explanation. */
export class FilterPipeline {
  private readonly all: Prepared[];
  private readonly dynamicOnly: Prepared[];

  constructor(task: Task, service?: Service, filters: readonly Filter[] = DEFAULT_FILTERS) {
    this.all = [];
    for (const filter of filters) {
      const check = filter.prepare(task, service);
      if (check) this.all.push({ filter, check, failed: 0 });
    }
    this.dynamicOnly = this.all.filter((p) => p.filter.dynamic);
  }

  /** Runs every filter in order; the first failure is charged and stops the run. */
  check(info: NodeInfo): boolean {
    for (const p of this.all) {
      if (!p.check(info)) {
        p.failed++;
        return false;
      }
    }
    return true;
  }

  /** Re-runs only the filters whose verdict placements can change; charges nothing. */
  checkDynamic(info: NodeInfo): boolean {
    for (const p of this.dynamicOnly) if (!p.check(info)) return false;
    return true;
  }

  resetCounts(): void {
    for (const p of this.all) p.failed = 0;
  }

  /** The failing filters' explanations, most failures first (pipeline order among equals), joined by "; ". */
  explain(): string {
    return this.all
      .filter((p) => p.failed > 0)
      .sort((a, b) => b.failed - a.failed)
      .map((p) => p.filter.explain(p.failed))
      .join('; ');
  }
}
