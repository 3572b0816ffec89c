/**
 * `service create` flags → the ServiceSpec the docker CLI would send, as a pure function. What the user did not
 * set stays unset, so the daemon fills Docker's defaults in one place; the few objects docker always sends
 * (Labels, Resources, Placement, DNSConfig, Init, EndpointSpec.Mode) are sent here too, so `inspect` prints the
 * same JSON. Every value is checked before anything goes to the daemon. Network names are kept as given;
 * the command turns them into IDs, as docker does.
 */
import type { HealthConfig, Placement, RestartPolicy, ServiceMode, ServiceSpec, TaskSpec, UpdateConfig } from '../api/types';
import { ParsedFlags, UsageError } from './flags';
import { parsePublish } from './publish';
import { splitShell } from './shell-words';

export type EnvLookup = (name: string) => string | undefined;

function oneOf<T extends string>(flags: ParsedFlags, name: string, allowed: readonly T[]): T | undefined {
  const v = flags.str(name);
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) {
    throw new UsageError(`invalid argument "${v}" for "--${name}" flag: must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
  }
  return v as T;
}

/** `k=v` → k: v and `k` → k: "", as Docker's ConvertKVStringsToMap. */
export function kvMap(items: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (key === '') throw new UsageError(`invalid argument "${item}" for "--${flag}" flag: use key=value`);
    out[key] = eq < 0 ? '' : item.slice(eq + 1);
  }
  return out;
}

/** `-e NAME` takes NAME's value from the client's environment when it has one (Docker's ValidateEnv). */
export function envEntries(items: string[], lookup: EnvLookup, flag = 'env'): string[] {
  return items.map((item) => {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (key === '') throw new UsageError(`invalid argument "${item}" for "--${flag}" flag: invalid environment variable: use NAME=value`);
    if (eq >= 0) return item;
    const v = lookup(item);
    return v === undefined ? item : `${item}=${v}`;
  });
}

export function placementPrefs(items: string[], flag: string): NonNullable<Placement['Preferences']> {
  return items.map((item) => {
    const eq = item.indexOf('=');
    if (eq < 0 || item.slice(0, eq) !== 'spread' || item.slice(eq + 1) === '') {
      throw new UsageError(`invalid argument "${item}" for "--${flag}" flag: only spread=<label> is supported, like spread=node.labels.zone`);
    }
    return { Spread: { SpreadDescriptor: item.slice(eq + 1) } };
  });
}

export function checkRatio(flags: ParsedFlags, name: string): void {
  const v = flags.num(name);
  if (v !== undefined && (v < 0 || v > 1)) {
    throw new UsageError(`invalid argument "${v}" for "--${name}" flag: must be a ratio from 0 to 1, like 0.2`);
  }
}

/** The update (or rollback) config from its six flags; only the changed fields, or undefined if none changed. */
/** The --update-* / --rollback-* flag defaults (swarmkit's), Delay 0 left out as Docker stores it. */
const UPDATE_CONFIG_DEFAULTS: UpdateConfig = { Parallelism: 1, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' };

export function updateConfigFrom(flags: ParsedFlags, prefix: 'update' | 'rollback', base?: UpdateConfig): UpdateConfig | undefined {
  const f = (s: string): string => `${prefix}-${s}`;
  const names = ['parallelism', 'delay', 'failure-action', 'monitor', 'max-failure-ratio', 'order'].map(f);
  const actions = prefix === 'update' ? (['pause', 'continue', 'rollback'] as const) : (['pause', 'continue'] as const);
  const action = oneOf(flags, f('failure-action'), actions);
  const order = oneOf(flags, f('order'), ['stop-first', 'start-first'] as const);
  checkRatio(flags, f('max-failure-ratio'));
  if (!flags.anyChanged(...names)) return base;
  // Like docker's CLI, a config named on the command line is sent whole, with the flag defaults for what was not
  // given: the daemon takes a given config literally (a missing Parallelism would mean "all at once").
  const c = { ...(base ?? UPDATE_CONFIG_DEFAULTS) } as UpdateConfig;
  if (flags.changed(f('parallelism'))) c.Parallelism = flags.num(f('parallelism')) as number;
  if (flags.changed(f('delay'))) c.Delay = flags.num(f('delay'));
  if (action) c.FailureAction = action;
  if (flags.changed(f('monitor'))) c.Monitor = flags.num(f('monitor'));
  if (flags.changed(f('max-failure-ratio'))) c.MaxFailureRatio = flags.num(f('max-failure-ratio')) as number;
  if (order) c.Order = order;
  return c;
}

export function restartPolicyFrom(flags: ParsedFlags, base?: RestartPolicy): RestartPolicy | undefined {
  const condition = oneOf(flags, 'restart-condition', ['none', 'on-failure', 'any'] as const);
  if (!flags.anyChanged('restart-condition', 'restart-delay', 'restart-max-attempts', 'restart-window')) return base;
  const r: RestartPolicy = { ...(base ?? {}) };
  if (condition) r.Condition = condition;
  if (flags.changed('restart-delay')) r.Delay = flags.num('restart-delay');
  if (flags.changed('restart-max-attempts')) r.MaxAttempts = flags.num('restart-max-attempts');
  if (flags.changed('restart-window')) r.Window = flags.num('restart-window');
  return r;
}

const HEALTH_FLAGS = ['health-cmd', 'health-interval', 'health-timeout', 'health-retries', 'health-start-period'];

/** Docker's toHealthConfig: --no-healthcheck → Test ["NONE"]; any --health-* → a config with what was set. */
export function healthConfigFrom(flags: ParsedFlags, base?: HealthConfig): HealthConfig | undefined {
  const any = flags.anyChanged(...HEALTH_FLAGS);
  if (flags.bool('no-healthcheck')) {
    if (any) throw new UsageError('--no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  if (!any) return base;
  const h: HealthConfig = { ...(base ?? {}) };
  if (base?.Test?.[0] === 'NONE') delete h.Test;
  if (flags.changed('health-cmd')) h.Test = ['CMD-SHELL', flags.str('health-cmd') as string];
  if (flags.changed('health-interval')) {
    h.Interval = flags.num('health-interval');
    // Docker reads 0 as "the default (30s)": with retries asked for, that is almost surely not what was meant.
    if (h.Interval === 0 && flags.changed('health-retries')) {
      throw new UsageError('invalid --health-interval 0 with --health-retries: give the time between checks (at least 1ms), or leave --health-interval out for the default 30s');
    }
  }
  if (flags.changed('health-timeout')) h.Timeout = flags.num('health-timeout');
  if (flags.changed('health-retries')) h.Retries = flags.num('health-retries');
  if (flags.changed('health-start-period')) h.StartPeriod = flags.num('health-start-period');
  return h;
}

export function endpointMode(flags: ParsedFlags): 'vip' | 'dnsrr' | undefined {
  return oneOf(flags, 'endpoint-mode', ['vip', 'dnsrr'] as const);
}

/** Builds the create request; args are IMAGE [COMMAND] [ARG...]. */
export function buildCreateSpec(flags: ParsedFlags, args: string[], lookup: EnvLookup = (n) => process.env[n]): ServiceSpec {
  if (args.length === 0) throw new UsageError('"service create" requires at least 1 argument: IMAGE [COMMAND] [ARG...]');
  const [image, ...cmdArgs] = args;
  const modeName = oneOf(flags, 'mode', ['replicated', 'global'] as const) ?? 'replicated';
  let mode: ServiceMode;
  if (modeName === 'global') {
    if (flags.changed('replicas')) throw new UsageError('replicas can only be used with replicated mode: drop --replicas or use --mode replicated');
    if ((flags.num('replicas-max-per-node') ?? 0) > 0) {
      throw new UsageError('replicas-max-per-node can only be used with replicated mode');
    }
    mode = { Global: {} };
  } else {
    mode = { Replicated: flags.changed('replicas') ? { Replicas: flags.num('replicas') } : {} };
  }
  const epMode = endpointMode(flags) ?? 'vip';
  const ports = flags.list('publish').flatMap(parsePublish);

  const task: TaskSpec = {
    ContainerSpec: { Image: image },
    Resources: { Limits: {}, Reservations: {} },
  };
  const cs = task.ContainerSpec;
  if (cmdArgs.length > 0) cs.Args = cmdArgs;
  if (flags.changed('entrypoint')) cs.Command = splitShell(flags.str('entrypoint') as string);
  const env = envEntries(flags.list('env'), lookup);
  if (env.length) cs.Env = env;
  if (flags.changed('hostname')) cs.Hostname = flags.str('hostname');
  const clabels = kvMap(flags.list('container-label'), 'container-label');
  if (Object.keys(clabels).length) cs.Labels = clabels;
  if (flags.changed('workdir')) cs.Dir = flags.str('workdir');
  if (flags.changed('user')) cs.User = flags.str('user');
  if (flags.changed('stop-signal')) cs.StopSignal = flags.str('stop-signal');
  if (flags.changed('stop-grace-period')) cs.StopGracePeriod = flags.num('stop-grace-period');
  cs.Init = flags.bool('init');
  const health = healthConfigFrom(flags);
  if (health) cs.Healthcheck = health;
  cs.DNSConfig = {};
  if (flags.list('dns').length) cs.DNSConfig.Nameservers = flags.list('dns');
  if (flags.list('dns-search').length) cs.DNSConfig.Search = flags.list('dns-search');
  if (flags.list('dns-option').length) cs.DNSConfig.Options = flags.list('dns-option');

  const res = task.Resources as { Limits: Record<string, number>; Reservations: Record<string, number> };
  if (flags.changed('limit-cpu')) res.Limits.NanoCPUs = flags.num('limit-cpu') as number;
  if (flags.changed('limit-memory')) res.Limits.MemoryBytes = flags.num('limit-memory') as number;
  if (flags.changed('limit-pids')) res.Limits.Pids = flags.num('limit-pids') as number;
  if (flags.changed('reserve-cpu')) res.Reservations.NanoCPUs = flags.num('reserve-cpu') as number;
  if (flags.changed('reserve-memory')) res.Reservations.MemoryBytes = flags.num('reserve-memory') as number;

  const restart = restartPolicyFrom(flags);
  if (restart) task.RestartPolicy = restart;
  const placement: Placement = {};
  if (flags.list('constraint').length) placement.Constraints = flags.list('constraint');
  const prefs = placementPrefs(flags.list('placement-pref'), 'placement-pref');
  if (prefs.length) placement.Preferences = prefs;
  if (flags.num('replicas-max-per-node')) placement.MaxReplicas = flags.num('replicas-max-per-node');
  task.Placement = placement;
  const networks = flags.list('network');
  if (networks.length) task.Networks = networks.map((n) => ({ Target: n }));

  const spec: ServiceSpec = {
    Name: flags.str('name') ?? '',
    Labels: kvMap(flags.list('label'), 'label'),
    TaskTemplate: task,
    Mode: mode,
  };
  const update = updateConfigFrom(flags, 'update');
  if (update) spec.UpdateConfig = update;
  const rollback = updateConfigFrom(flags, 'rollback');
  if (rollback) spec.RollbackConfig = rollback;
  spec.EndpointSpec = { Mode: epMode };
  if (ports.length) spec.EndpointSpec.Ports = ports;
  return spec;
}
