/**
 * Service spec normalization: the body of POST /services/create and /services/{id}/update goes in, a validated
 * ServiceSpec with Docker's stored defaults filled comes out — exactly what `docker service inspect` shows for
 * the same request on Docker 20.10 (Labels {}, Mode Replicated 1, UpdateConfig/RollbackConfig {1, pause, 5s,
 * 0, stop-first}, EndpointSpec {Mode vip}, and the TaskTemplate defaults of normalize-task.ts). Normalizing a
 * normalized spec returns it unchanged, so the store can hold the output and re-validate it freely.
 * Every error is an invalidArgument naming the field path (relative to the spec, e.g.
 * `Mode.Replicated.Replicas`); messages are swarmkit's or moby's where Docker has one.
 */
import { isIP } from 'node:net';
import type { EndpointSpec, PortConfig, ServiceMode, ServiceSpec, UpdateConfig } from './types';
import { invalidArgument } from '../base/errors';
import {
  Json, arrayAt, countAt, durationAt, isObject, join, labelsAt, numberAt, objectAt, show, strip, stringAt,
} from './json-fields';
import { normalizeTaskTemplate } from './normalize-task';
import { validateObjectName } from './object-name';
import { ACCOUNTING_LABEL, ACCOUNTING_VALUES, BALANCE_LABEL, BALANCE_STRATEGIES } from '../../mesh/endpoint-table';

export const DEFAULT_UPDATE_MONITOR = 5e9;

export interface NormalizeServiceOptions {
  /** Docker's daemon names an unnamed service randomly ("quirky_hopper"); without this, a name is required. */
  randomName?: () => string;
}

export function normalizeServiceSpec(spec: unknown, options: NormalizeServiceOptions = {}): ServiceSpec {
  if (!isObject(spec)) throw invalidArgument('Spec', `invalid service spec ${show(spec)}: the body must be a JSON object`);
  const out = {
    Name: validateObjectName(stringAt(spec, 'Name', '') || options.randomName?.()),
    Labels: checkMeshLabels(labelsAt(spec, 'Labels', '') ?? {}),
    TaskTemplate: normalizeTaskTemplate(objectAt(spec, 'TaskTemplate', ''), 'TaskTemplate', arrayAt(spec, 'Networks', '')),
    Mode: normalizeMode(objectAt(spec, 'Mode', '')),
    UpdateConfig: normalizeUpdateConfig(objectAt(spec, 'UpdateConfig', ''), 'UpdateConfig', 'update'),
    RollbackConfig: normalizeUpdateConfig(objectAt(spec, 'RollbackConfig', ''), 'RollbackConfig', 'rollback'),
    EndpointSpec: normalizeEndpointSpec(objectAt(spec, 'EndpointSpec', ''), 'EndpointSpec'),
  };
  return out;
}

/**
 * Docker refuses some changes on update that a fresh create would allow: a different mode (the orchestrators
 * reconcile per mode and cannot convert) and a different name (DNS and task names are derived from it).
 */
export function checkUpdateAllowed(old: ServiceSpec, next: ServiceSpec): void {
  if (modeKind(old.Mode) !== modeKind(next.Mode)) throw invalidArgument('Mode', 'service mode change is not allowed');
  if (old.Name !== next.Name) throw invalidArgument('Name', 'renaming services is not supported');
}

/** Shoal's own service labels steer the mesh; a typo there must be refused, not silently ignored. */
function checkMeshLabels(labels: Record<string, string>): Record<string, string> {
  const balance = labels[BALANCE_LABEL];
  if (balance !== undefined && !(BALANCE_STRATEGIES as readonly string[]).includes(balance)) {
    throw invalidArgument(
      `Labels.${BALANCE_LABEL}`,
      `invalid label ${BALANCE_LABEL}=${show(balance)}: use ${BALANCE_STRATEGIES.join(' or ')} (round-robin when the label is absent)`,
    );
  }
  const accounting = labels[ACCOUNTING_LABEL];
  if (accounting !== undefined && !(ACCOUNTING_VALUES as readonly string[]).includes(accounting)) {
    throw invalidArgument(
      `Labels.${ACCOUNTING_LABEL}`,
      `invalid label ${ACCOUNTING_LABEL}=${show(accounting)}: use ${ACCOUNTING_VALUES.join(' or ')} (connections only when the label is absent)`,
    );
  }
  return labels;
}

function modeKind(m: ServiceMode): 'replicated' | 'global' {
  return m.Global !== undefined ? 'global' : 'replicated';
}

function normalizeMode(m: Json | undefined): ServiceMode {
  if (m === undefined) return { Replicated: { Replicas: 1 } };
  const given = Object.keys(m).filter((k) => m[k] !== null && m[k] !== undefined);
  for (const k of given) {
    if (k === 'ReplicatedJob' || k === 'GlobalJob') {
      throw invalidArgument(`Mode.${k}`, `invalid Mode.${k}: job services are not supported yet; use Replicated or Global`);
    }
    if (k !== 'Replicated' && k !== 'Global') {
      throw invalidArgument(`Mode.${k}`, `invalid Mode: unknown service mode ${show(k)} (use Replicated or Global)`);
    }
  }
  if (given.length > 1) throw invalidArgument('Mode', 'must specify only one service mode');
  const global = objectAt(m, 'Global', 'Mode');
  if (global !== undefined) {
    if (global.Replicas !== undefined && global.Replicas !== null) {
      throw invalidArgument('Mode.Global.Replicas', 'replicas can only be used with replicated mode');
    }
    return { Global: {} };
  }
  const replicated = objectAt(m, 'Replicated', 'Mode') ?? {};
  return { Replicated: { Replicas: countAt(replicated, 'Replicas', 'Mode.Replicated', 'replicas') ?? 1 } };
}

const FAILURE_ACTIONS = ['pause', 'continue', 'rollback'];
const ORDERS = ['stop-first', 'start-first'];

/**
 * A missing config gets Docker's full defaults. A given one is taken literally except where Docker itself fills
 * in: FailureAction and Order "" → pause / stop-first, Monitor 0 → 5s. Parallelism 0 therefore stays 0 (= all
 * tasks at once), as on Docker.
 */
function normalizeUpdateConfig(u: Json | undefined, path: string, kind: 'update' | 'rollback'): UpdateConfig {
  if (u === undefined) {
    return { Parallelism: 1, FailureAction: 'pause', Monitor: DEFAULT_UPDATE_MONITOR, MaxFailureRatio: 0, Order: 'stop-first' };
  }
  const delay = durationAt(u, 'Delay', path);
  if (delay !== undefined && delay < 0) throw invalidArgument(join(path, 'Delay'), `TaskSpec: ${kind}-delay cannot be negative`);
  const monitor = durationAt(u, 'Monitor', path);
  if (monitor !== undefined && monitor < 0) {
    throw invalidArgument(join(path, 'Monitor'), `TaskSpec: ${kind}-monitor cannot be negative`);
  }
  const ratio = numberAt(u, 'MaxFailureRatio', path) ?? 0;
  if (ratio < 0 || ratio > 1) {
    throw invalidArgument(join(path, 'MaxFailureRatio'), `TaskSpec: ${kind}-maxfailureratio cannot be less than 0 or bigger than 1`);
  }
  const action = stringAt(u, 'FailureAction', path) || 'pause';
  if (!FAILURE_ACTIONS.includes(action)) {
    throw invalidArgument(join(path, 'FailureAction'), `unrecognized ${kind} failure action ${action} (use pause, continue or rollback)`);
  }
  const order = stringAt(u, 'Order', path) || 'stop-first';
  if (!ORDERS.includes(order)) {
    throw invalidArgument(join(path, 'Order'), `unrecognized ${kind} order ${order} (use stop-first or start-first)`);
  }
  return strip({
    Parallelism: countAt(u, 'Parallelism', path, 'parallelism') ?? 0,
    Delay: delay || undefined,
    FailureAction: action as UpdateConfig['FailureAction'],
    Monitor: monitor || DEFAULT_UPDATE_MONITOR,
    MaxFailureRatio: ratio,
    Order: order as UpdateConfig['Order'],
  });
}

const PROTOCOLS = ['tcp', 'udp', 'sctp'];
const PUBLISH_MODES = ['ingress', 'host'];

function normalizeEndpointSpec(e: Json | undefined, path: string): EndpointSpec {
  const spec = e ?? {};
  const mode = stringAt(spec, 'Mode', path) || 'vip';
  if (mode !== 'vip' && mode !== 'dnsrr') {
    throw invalidArgument(join(path, 'Mode'), `invalid resolution mode: ${show(mode)} (use vip or dnsrr)`);
  }
  const ports = (arrayAt(spec, 'Ports', path) ?? []).map((p, i) => normalizePort(p, join(join(path, 'Ports'), i)));
  const published = new Set<string>();
  ports.forEach((p, i) => {
    const field = join(join(path, 'Ports'), i);
    if (mode === 'dnsrr' && p.PublishMode === 'ingress') {
      throw invalidArgument(field, "EndpointSpec: port published with ingress mode can't be used with dnsrr mode");
    }
    if (!p.PublishedPort) return; // 0 = allocate one: never a duplicate
    const key = `${p.PublishedPort}/${p.Protocol}`;
    if (published.has(key)) throw invalidArgument(field, 'EndpointSpec: duplicate published ports provided');
    published.add(key);
  });
  return ports.length > 0 ? { Mode: mode, Ports: ports } : { Mode: mode };
}

function normalizePort(p: unknown, path: string): PortConfig {
  if (!isObject(p)) throw invalidArgument(path, `invalid ${path} ${show(p)}: must be an object`);
  const protocol = stringAt(p, 'Protocol', path) || 'tcp';
  if (!PROTOCOLS.includes(protocol)) {
    throw invalidArgument(join(path, 'Protocol'), `invalid ${join(path, 'Protocol')} ${show(protocol)}: use tcp, udp or sctp`);
  }
  const target = countAt(p, 'TargetPort', path, 'the target port', 65535);
  if (!target) {
    throw invalidArgument(join(path, 'TargetPort'), `invalid ${join(path, 'TargetPort')} ${target ?? 0}: the target port must be 1-65535`);
  }
  const published = countAt(p, 'PublishedPort', path, 'the published port (0 = pick one)', 65535);
  const publishMode = stringAt(p, 'PublishMode', path) || 'ingress';
  if (!PUBLISH_MODES.includes(publishMode)) {
    const f = join(path, 'PublishMode');
    throw invalidArgument(f, `invalid ${f} ${show(publishMode)}: use ingress or host`);
  }
  const hostIP = stringAt(p, 'HostIP', path) || undefined;
  if (hostIP !== undefined && isIP(hostIP) === 0) {
    const f = join(path, 'HostIP');
    throw invalidArgument(f, `invalid ${f} ${show(hostIP)}: must be an IP address of the node, like 192.0.2.10`);
  }
  return strip({
    Name: stringAt(p, 'Name', path) || undefined,
    Protocol: protocol as PortConfig['Protocol'],
    TargetPort: target,
    PublishedPort: published || undefined,
    PublishMode: publishMode as PortConfig['PublishMode'],
    HostIP: hostIP,
  });
}

// The control API imports every body normalizer from here.
export { normalizeNodeSpec } from './normalize-node';
export { normalizeNetworkCreate, type NetworkCreateRequest } from './normalize-network';
