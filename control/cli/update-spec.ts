/**
 * `service update` flags applied to the spec read from the daemon, as a pure function: a deep copy is changed
 * field by field, in Docker's way (env-add replaces the same name, label-rm removes by key, publish-rm matches the
 * target port and protocol, --force bumps ForceUpdate, the list is sorted like docker's so an unchanged list
 * causes no update). The caller POSTs the result with the version it read.
 */
import type { PortConfig, ServiceSpec } from '../api/types';
import { ParsedFlags, UsageError } from './flags';
import { parsePublish } from './publish';
import { splitShell } from './shell-words';
import {
  endpointMode,
  EnvLookup,
  envEntries,
  healthConfigFrom,
  kvMap,
  placementPrefs,
  restartPolicyFrom,
  updateConfigFrom,
} from './spec-from-flags';
import { CLI_ONLY_FLAGS } from './service-flags';

const keyOf = (entry: string): string => (entry.includes('=') ? entry.slice(0, entry.indexOf('=')) : entry);

function updateLabels(labels: Record<string, string> | undefined, add: string[], rm: string[], flag: string): Record<string, string> {
  const out = { ...(labels ?? {}) };
  for (const k of rm) delete out[k];
  Object.assign(out, kvMap(add, flag));
  return out;
}

function updateList(list: string[] | undefined, add: string[], rm: string[], key: (s: string) => string = (s) => s): string[] {
  const removed = new Set(rm.map(key));
  const out = (list ?? []).filter((x) => !removed.has(key(x)));
  for (const a of add) {
    const i = out.findIndex((x) => key(x) === key(a));
    if (i >= 0) out[i] = a;
    else out.push(a);
  }
  return out;
}

const portKey = (p: PortConfig): string =>
  `${p.PublishedPort ?? 0}:${p.TargetPort ?? 0}/${p.Protocol ?? 'tcp'}/${p.PublishMode ?? 'ingress'}`;

/** Docker's updatePorts: drop ports matching a --publish-rm (target, protocol, mode), add new, sort. */
export function updatePorts(ports: PortConfig[] | undefined, add: string[], rm: string[]): PortConfig[] {
  const toRemove = rm.flatMap(parsePublish);
  const seen = new Map<string, PortConfig>();
  for (const p of ports ?? []) if (!seen.has(portKey(p))) seen.set(portKey(p), p);
  const out = [...seen.values()].filter(
    (p) =>
      !toRemove.some(
        (r) => (r.Protocol ?? 'tcp') === (p.Protocol ?? 'tcp') && r.TargetPort === p.TargetPort && (r.PublishMode ?? 'ingress') === (p.PublishMode ?? 'ingress'),
      ),
  );
  for (const p of add.flatMap(parsePublish)) if (!seen.has(portKey(p))) out.push(p);
  return out.sort((a, b) => (portKey(a) < portKey(b) ? -1 : portKey(a) > portKey(b) ? 1 : 0));
}

/** Whether any flag besides the CLI-only ones was given (those may not be combined with --rollback). */
export function specFlagsGiven(flags: ParsedFlags): string[] {
  return [...flags.values.keys()].filter((k) => !CLI_ONLY_FLAGS.includes(k));
}

export function applyUpdateFlags(current: ServiceSpec, flags: ParsedFlags, lookup: EnvLookup = (n) => process.env[n]): ServiceSpec {
  const spec = JSON.parse(JSON.stringify(current)) as ServiceSpec;
  const task = spec.TaskTemplate;
  const cs = task.ContainerSpec;

  if (flags.anyChanged('label-add', 'label-rm')) spec.Labels = updateLabels(spec.Labels, flags.list('label-add'), flags.list('label-rm'), 'label-add');
  if (flags.anyChanged('container-label-add', 'container-label-rm')) {
    cs.Labels = updateLabels(cs.Labels, flags.list('container-label-add'), flags.list('container-label-rm'), 'container-label-add');
  }
  if (flags.changed('image')) cs.Image = flags.str('image') as string;
  if (flags.changed('args')) cs.Args = splitShell(flags.str('args') as string);
  if (flags.changed('entrypoint')) cs.Command = splitShell(flags.str('entrypoint') as string);
  if (flags.anyChanged('env-add', 'env-rm')) {
    cs.Env = updateList(cs.Env, envEntries(flags.list('env-add'), lookup, 'env-add'), flags.list('env-rm'), keyOf);
  }
  if (flags.changed('hostname')) cs.Hostname = flags.str('hostname');
  if (flags.changed('workdir')) cs.Dir = flags.str('workdir');
  if (flags.changed('user')) cs.User = flags.str('user');
  if (flags.changed('init')) cs.Init = flags.bool('init');
  if (flags.changed('stop-signal')) cs.StopSignal = flags.str('stop-signal');
  if (flags.changed('stop-grace-period')) cs.StopGracePeriod = flags.num('stop-grace-period');
  const health = healthConfigFrom(flags, cs.Healthcheck);
  if (health) cs.Healthcheck = health;
  if (flags.anyChanged('dns-add', 'dns-rm', 'dns-search-add', 'dns-search-rm', 'dns-option-add', 'dns-option-rm')) {
    const dns = { ...(cs.DNSConfig ?? {}) };
    dns.Nameservers = updateList(dns.Nameservers, flags.list('dns-add'), flags.list('dns-rm'));
    dns.Search = updateList(dns.Search, flags.list('dns-search-add'), flags.list('dns-search-rm'));
    dns.Options = updateList(dns.Options, flags.list('dns-option-add'), flags.list('dns-option-rm'));
    cs.DNSConfig = dns;
  }

  if (flags.changed('replicas')) {
    if (!spec.Mode.Replicated) throw new UsageError('replicas can only be used with replicated mode');
    spec.Mode.Replicated = { Replicas: flags.num('replicas') };
  }
  if (flags.anyChanged('limit-cpu', 'limit-memory', 'limit-pids', 'reserve-cpu', 'reserve-memory')) {
    const res = { Limits: { ...(task.Resources?.Limits ?? {}) }, Reservations: { ...(task.Resources?.Reservations ?? {}) } };
    if (flags.changed('limit-cpu')) res.Limits.NanoCPUs = flags.num('limit-cpu');
    if (flags.changed('limit-memory')) res.Limits.MemoryBytes = flags.num('limit-memory');
    if (flags.changed('limit-pids')) res.Limits.Pids = flags.num('limit-pids');
    if (flags.changed('reserve-cpu')) res.Reservations.NanoCPUs = flags.num('reserve-cpu');
    if (flags.changed('reserve-memory')) res.Reservations.MemoryBytes = flags.num('reserve-memory');
    task.Resources = res;
  }
  const restart = restartPolicyFrom(flags, task.RestartPolicy);
  if (restart) task.RestartPolicy = restart;
  if (flags.anyChanged('constraint-add', 'constraint-rm', 'placement-pref-add', 'placement-pref-rm', 'replicas-max-per-node')) {
    const p = { ...(task.Placement ?? {}) };
    if (flags.anyChanged('constraint-add', 'constraint-rm')) {
      p.Constraints = updateList(p.Constraints, flags.list('constraint-add'), flags.list('constraint-rm'));
    }
    if (flags.anyChanged('placement-pref-add', 'placement-pref-rm')) {
      const rm = new Set(placementPrefs(flags.list('placement-pref-rm'), 'placement-pref-rm').map((x) => x.Spread.SpreadDescriptor));
      p.Preferences = [
        ...(p.Preferences ?? []).filter((x) => !rm.has(x.Spread.SpreadDescriptor)),
        ...placementPrefs(flags.list('placement-pref-add'), 'placement-pref-add'),
      ];
    }
    if (flags.changed('replicas-max-per-node')) {
      if (!spec.Mode.Replicated) throw new UsageError('replicas-max-per-node can only be used with replicated mode');
      p.MaxReplicas = flags.num('replicas-max-per-node');
    }
    task.Placement = p;
  }
  if (flags.anyChanged('network-add', 'network-rm')) {
    const rm = new Set(flags.list('network-rm'));
    const nets = (task.Networks ?? spec.Networks ?? []).filter((n) => !rm.has(n.Target));
    for (const n of flags.list('network-add')) if (!nets.some((x) => x.Target === n)) nets.push({ Target: n });
    task.Networks = nets;
    delete spec.Networks;
  }
  const update = updateConfigFrom(flags, 'update', spec.UpdateConfig);
  if (update) spec.UpdateConfig = update;
  const rollback = updateConfigFrom(flags, 'rollback', spec.RollbackConfig);
  if (rollback) spec.RollbackConfig = rollback;
  const mode = endpointMode(flags);
  if (mode || flags.anyChanged('publish-add', 'publish-rm')) {
    const ep = { ...(spec.EndpointSpec ?? {}) };
    if (mode) ep.Mode = mode;
    if (flags.anyChanged('publish-add', 'publish-rm')) ep.Ports = updatePorts(ep.Ports, flags.list('publish-add'), flags.list('publish-rm'));
    spec.EndpointSpec = ep;
  }
  if (flags.bool('force')) task.ForceUpdate = (task.ForceUpdate ?? 0) + 1;
  return spec;
}
