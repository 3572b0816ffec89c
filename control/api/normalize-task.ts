/**
 * TaskTemplate normalization: resources, restart policy, placement, networks and log driver around the
 * ContainerSpec. Defaults are the ones Docker's daemon stores (Resources {Limits:{}, Reservations:{}},
 * RestartPolicy {any, 5s, 0}, Placement {}, ForceUpdate 0, Runtime "container"); checks carry swarmkit's
 * messages where it has them (`invalid cpu value 0.0005: Must be at least 0.001`, `TaskSpec: restart-delay
 * cannot be negative`). Keys are emitted in Docker's Go struct order.
 */
import type { NetworkAttachmentConfig, Placement, ResourceSpec, RestartPolicy, TaskSpec } from './types';
import { invalidArgument } from '../base/errors';
import {
  Json, arrayAt, countAt, durationAt, isObject, join, labelsAt, nonEmpty, objectAt, show, strip, stringArrayAt,
  stringAt,
} from './json-fields';
import { normalizeContainerSpec } from './normalize-container';
import { parseConstraint } from './constraint-syntax';

export const DEFAULT_RESTART_DELAY = 5e9;
const MIN_NANO_CPUS = 1e6; // 0.001 CPU
const MIN_MEMORY_BYTES = 4 * 1024 * 1024;

/** Go's %g for a float64 (shortest digits; exponent form below 1e-4 or from 1e21), for Docker's cpu message. */
export function goFloat(x: number): string {
  if (x === 0) return '0';
  const [mantissa, e] = x.toExponential().split('e');
  const exp = Number(e);
  if (exp < -4 || exp >= 21) return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(x);
}

/**
 * `legacyNetworks` is the deprecated ServiceSpec.Networks; Docker still accepts it, and Shoal moves it here so
 * the rest of the system reads one place.
 */
export function normalizeTaskTemplate(t: Json | undefined, path: string, legacyNetworks?: unknown[]): TaskSpec {
  const tt: Json = t ?? {};
  const runtime = stringAt(tt, 'Runtime', path) || 'container';
  if (runtime !== 'container') {
    const f = join(path, 'Runtime');
    throw invalidArgument(f, `invalid ${f} ${show(runtime)}: unsupported runtime (Shoal runs "container" tasks only)`);
  }
  const out: Json = {
    ContainerSpec: normalizeContainerSpec(objectAt(tt, 'ContainerSpec', path), join(path, 'ContainerSpec')),
    Resources: normalizeResources(objectAt(tt, 'Resources', path), join(path, 'Resources')),
    RestartPolicy: normalizeRestartPolicy(objectAt(tt, 'RestartPolicy', path), join(path, 'RestartPolicy')),
    Placement: normalizePlacement(objectAt(tt, 'Placement', path), join(path, 'Placement')),
    Networks: nonEmpty(normalizeNetworks(tt, path, legacyNetworks)),
    LogDriver: normalizeLogDriver(objectAt(tt, 'LogDriver', path), join(path, 'LogDriver')),
    ForceUpdate: countAt(tt, 'ForceUpdate', path, 'ForceUpdate') ?? 0,
    Runtime: runtime,
  };
  return strip(out) as unknown as TaskSpec;
}

function normalizeResources(r: Json | undefined, path: string): TaskSpec['Resources'] {
  const one = (key: 'Limits' | 'Reservations'): ResourceSpec => {
    const p = join(path, key);
    const o = objectAt(r ?? {}, key, path) ?? {};
    const cpus = countAt(o, 'NanoCPUs', p, 'NanoCPUs');
    if (cpus && cpus < MIN_NANO_CPUS) {
      throw invalidArgument(join(p, 'NanoCPUs'), `invalid cpu value ${goFloat(cpus / 1e9)}: Must be at least ${goFloat(MIN_NANO_CPUS / 1e9)}`);
    }
    const memory = countAt(o, 'MemoryBytes', p, 'MemoryBytes');
    if (memory && memory < MIN_MEMORY_BYTES) {
      throw invalidArgument(join(p, 'MemoryBytes'), `invalid memory value ${memory}: Must be at least 4MiB`);
    }
    const res: Json = { NanoCPUs: cpus || undefined, MemoryBytes: memory || undefined };
    if (key === 'Limits') res.Pids = countAt(o, 'Pids', p, 'Pids') || undefined;
    else res.GenericResources = nonEmpty(arrayAt(o, 'GenericResources', p));
    return strip(res) as ResourceSpec;
  };
  return { Limits: one('Limits'), Reservations: one('Reservations') };
}

const RESTART_CONDITIONS = ['none', 'on-failure', 'any'];

function normalizeRestartPolicy(r: Json | undefined, path: string): RestartPolicy {
  const rp = r ?? {};
  const condition = stringAt(rp, 'Condition', path) || 'any';
  if (!RESTART_CONDITIONS.includes(condition)) {
    throw invalidArgument(join(path, 'Condition'), `invalid RestartCondition: ${show(condition)} (use none, on-failure or any)`);
  }
  const delay = durationAt(rp, 'Delay', path) ?? DEFAULT_RESTART_DELAY;
  if (delay < 0) throw invalidArgument(join(path, 'Delay'), 'TaskSpec: restart-delay cannot be negative');
  const window = durationAt(rp, 'Window', path);
  if (window !== undefined && window < 0) {
    throw invalidArgument(join(path, 'Window'), 'TaskSpec: restart-window cannot be negative');
  }
  return strip({
    Condition: condition as RestartPolicy['Condition'],
    Delay: delay,
    MaxAttempts: countAt(rp, 'MaxAttempts', path, 'MaxAttempts') ?? 0,
    Window: window,
  });
}

function normalizePlacement(p: Json | undefined, path: string): Placement {
  if (p === undefined) return {};
  const constraints = stringArrayAt(p, 'Constraints', path);
  constraints?.forEach((c, i) => parseConstraint(c, join(join(path, 'Constraints'), i)));
  const preferences = arrayAt(p, 'Preferences', path)?.map((pref, i) => {
    const pp = join(join(path, 'Preferences'), i);
    const spread = isObject(pref) ? objectAt(pref, 'Spread', pp) : undefined;
    const descriptor = spread && stringAt(spread, 'SpreadDescriptor', join(pp, 'Spread'));
    if (!descriptor) {
      throw invalidArgument(pp, `invalid ${pp} ${show(pref)}: a preference is {"Spread": {"SpreadDescriptor": "node.labels.<name>"}}`);
    }
    return { Spread: { SpreadDescriptor: descriptor } };
  });
  const platforms = arrayAt(p, 'Platforms', path)?.map((plat, i) => {
    const pp = join(join(path, 'Platforms'), i);
    if (!isObject(plat)) throw invalidArgument(pp, `invalid ${pp} ${show(plat)}: must be {"Architecture": ..., "OS": ...}`);
    return strip({ Architecture: stringAt(plat, 'Architecture', pp) || undefined, OS: stringAt(plat, 'OS', pp) || undefined });
  });
  return strip({
    Constraints: nonEmpty(constraints),
    Preferences: nonEmpty(preferences),
    MaxReplicas: countAt(p, 'MaxReplicas', path, 'MaxReplicas') || undefined,
    Platforms: nonEmpty(platforms),
  });
}

function normalizeNetworks(tt: Json, path: string, legacy?: unknown[]): NetworkAttachmentConfig[] | undefined {
  let list = arrayAt(tt, 'Networks', path);
  let listPath = join(path, 'Networks');
  if (legacy !== undefined && legacy.length > 0) {
    if (list !== undefined && list.length > 0) {
      throw invalidArgument('Networks', 'invalid Networks: give networks in TaskTemplate.Networks only (Spec.Networks is deprecated)');
    }
    list = legacy;
    listPath = 'Networks';
  }
  if (list === undefined) return undefined;
  const seen = new Set<string>();
  return list.map((n, i) => {
    const np = join(listPath, i);
    const target = isObject(n) ? stringAt(n, 'Target', np) : undefined;
    if (!target) throw invalidArgument(join(np, 'Target'), `invalid ${np}: a network attachment needs a Target (network name or ID)`);
    if (seen.has(target)) throw invalidArgument(join(np, 'Target'), `invalid ${np}: network ${show(target)} is attached twice`);
    seen.add(target);
    const o = n as Json;
    const out: Json = {
      Target: target,
      Aliases: nonEmpty(stringArrayAt(o, 'Aliases', np)),
      DriverOpts: nonEmpty(labelsAt(o, 'DriverOpts', np)),
    };
    return strip(out) as unknown as NetworkAttachmentConfig;
  });
}

function normalizeLogDriver(l: Json | undefined, path: string): TaskSpec['LogDriver'] {
  if (l === undefined) return undefined;
  const name = stringAt(l, 'Name', path);
  if (!name) throw invalidArgument(join(path, 'Name'), `invalid ${path}: a log driver needs a Name (e.g. "json-file")`);
  return strip({ Name: name, Options: nonEmpty(labelsAt(l, 'Options', path)) });
}
