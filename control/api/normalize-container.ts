/**
 * ContainerSpec normalization: validates what a task's container needs (an image reference that parses, mounts
 * with targets, health-check durations Docker accepts) and fills the defaults Docker's daemon stores — Init
 * false, StopGracePeriod 10s, DNSConfig {}, Isolation "default". Keys are emitted in the order of Docker's Go
 * struct, with Go's `omitempty` rules, so `docker service inspect` output matches Docker's byte for byte.
 * Fields Docker has but Shoal's types do not model yet (Secrets, Configs, Sysctls, ...) are shape-checked and
 * kept, so a client's spec is never silently cut down.
 */
import type { ContainerSpec, DNSConfig, HealthConfig, Mount } from './types';
import { invalidArgument } from '../base/errors';
import { formatDuration } from '../base/clock';
import {
  Json, arrayAt, boolAt, durationAt, isObject, join, labelsAt, nonEmpty, numberAt, objectAt, show,
  strip, stringArrayAt, stringAt,
} from './json-fields';

export const DEFAULT_STOP_GRACE_PERIOD = 10e9;
/** Docker refuses health-check durations below 1ms unless they are 0 (= use the image's or the default). */
const MIN_HEALTH_DURATION = 1e6;

// Docker's image reference grammar (distribution/reference), reduced to what a swarm image can be.
const DOMAIN_PART = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `${DOMAIN_PART}(?:\\.${DOMAIN_PART})*(?::[0-9]+)?`;
const PATH_PART = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^(?:${DOMAIN}/)?${PATH_PART}(?:/${PATH_PART})*(?::${TAG})?(?:@${DIGEST})?$`);

export function isValidImageReference(image: string): boolean {
  // Docker caps the name at 255 characters; a tag adds at most 129 and a digest ~140 more.
  return image.length <= 255 + 129 + 140 && REFERENCE.test(image);
}

/** Docker keys the Go struct has that Shoal's types do not model yet: kept when non-empty, in Go's order. */
type Extra = 'list' | 'object' | 'number';
const EXTRAS_AFTER_USER: [string, Extra][] = [['Groups', 'list'], ['Privileges', 'object']];
const EXTRAS_AFTER_DNS: [string, Extra][] = [['Secrets', 'list'], ['Configs', 'list']];
const EXTRAS_AFTER_ISOLATION: [string, Extra][] = [
  ['Sysctls', 'object'], ['CapabilityAdd', 'list'], ['CapabilityDrop', 'list'], ['Ulimits', 'list'],
  ['OomScoreAdj', 'number'],
];

function extras(c: Json, path: string, keys: [string, Extra][]): Json {
  const out: Json = {};
  for (const [key, kind] of keys) {
    const v = kind === 'list' ? nonEmpty(arrayAt(c, key, path)) : kind === 'object' ? nonEmpty(objectAt(c, key, path)) : numberAt(c, key, path) || undefined;
    if (v !== undefined) out[key] = v;
  }
  return out;
}

export function normalizeContainerSpec(c: Json | undefined, path: string): ContainerSpec {
  const imageField = join(path, 'Image');
  const image = c === undefined ? undefined : stringAt(c, 'Image', path);
  if (!image) throw invalidArgument(imageField, 'ContainerSpec: image reference must be provided');
  if (!isValidImageReference(image)) {
    throw invalidArgument(imageField, `ContainerSpec: ${show(image)} is not a valid repository/tag`);
  }
  const spec = c as Json;

  const stopGrace = durationAt(spec, 'StopGracePeriod', path) ?? DEFAULT_STOP_GRACE_PERIOD;
  if (stopGrace < 0) {
    const f = join(path, 'StopGracePeriod');
    throw invalidArgument(f, `invalid ${f} ${stopGrace}: the stop grace period cannot be negative`);
  }
  const isolation = stringAt(spec, 'Isolation', path) || 'default';
  if (!['default', 'process', 'hyperv'].includes(isolation)) {
    const f = join(path, 'Isolation');
    throw invalidArgument(f, `invalid isolation ${show(isolation)}: use default, process or hyperv`);
  }

  const out: Json = {
    Image: image,
    Labels: nonEmpty(labelsAt(spec, 'Labels', path)),
    Command: nonEmpty(stringArrayAt(spec, 'Command', path)),
    Args: nonEmpty(stringArrayAt(spec, 'Args', path)),
    Hostname: stringAt(spec, 'Hostname', path) || undefined,
    Env: nonEmpty(stringArrayAt(spec, 'Env', path)),
    Dir: stringAt(spec, 'Dir', path) || undefined,
    User: stringAt(spec, 'User', path) || undefined,
    ...extras(spec, path, EXTRAS_AFTER_USER),
    Init: boolAt(spec, 'Init', path) ?? false,
    StopSignal: stringAt(spec, 'StopSignal', path) || undefined,
    TTY: boolAt(spec, 'TTY', path) || undefined,
    OpenStdin: boolAt(spec, 'OpenStdin', path) || undefined,
    ReadOnly: boolAt(spec, 'ReadOnly', path) || undefined,
    Mounts: nonEmpty(normalizeMounts(spec, path)),
    StopGracePeriod: stopGrace,
    Healthcheck: normalizeHealthcheck(objectAt(spec, 'Healthcheck', path), join(path, 'Healthcheck')),
    Hosts: nonEmpty(stringArrayAt(spec, 'Hosts', path)),
    DNSConfig: normalizeDNSConfig(objectAt(spec, 'DNSConfig', path), join(path, 'DNSConfig')),
    ...extras(spec, path, EXTRAS_AFTER_DNS),
    Isolation: isolation,
    ...extras(spec, path, EXTRAS_AFTER_ISOLATION),
  };
  return strip(out) as unknown as ContainerSpec;
}

const MOUNT_TYPES = ['bind', 'volume', 'tmpfs'];

function normalizeMounts(c: Json, path: string): Mount[] | undefined {
  const list = arrayAt(c, 'Mounts', path);
  if (list === undefined) return undefined;
  const seen = new Set<string>();
  return list.map((m, i) => {
    const mp = join(join(path, 'Mounts'), i);
    if (!isObject(m)) throw invalidArgument(mp, `invalid ${mp} ${show(m)}: must be an object`);
    const type = stringAt(m, 'Type', mp) || 'bind'; // Docker stores an empty type as bind (enum value 0)
    if (!MOUNT_TYPES.includes(type)) {
      throw invalidArgument(join(mp, 'Type'), `invalid mount type ${show(type)} in ${mp}: use bind, volume or tmpfs`);
    }
    const source = stringAt(m, 'Source', mp) || undefined;
    const target = stringAt(m, 'Target', mp) || undefined;
    const bad = (field: string, why: string) =>
      invalidArgument(join(mp, field), `invalid mount config for type ${show(type)}: field ${field} ${why}`);
    if (!target) throw bad('Target', 'must not be empty');
    if (type === 'bind' && !source) throw bad('Source', 'must not be empty');
    if (type === 'tmpfs' && source) throw bad('Source', 'must not be specified');
    if (seen.has(target)) throw invalidArgument(join(mp, 'Target'), `ContainerSpec: duplicate mount point: ${target}`);
    seen.add(target);
    const out: Json = {
      Type: type,
      Source: source,
      Target: target,
      ReadOnly: boolAt(m, 'ReadOnly', mp) || undefined,
      Consistency: stringAt(m, 'Consistency', mp) || undefined,
      BindOptions: nonEmpty(objectAt(m, 'BindOptions', mp)),
      VolumeOptions: nonEmpty(objectAt(m, 'VolumeOptions', mp)),
      TmpfsOptions: nonEmpty(objectAt(m, 'TmpfsOptions', mp)),
    };
    return strip(out) as Mount;
  });
}

function normalizeHealthcheck(h: Json | undefined, path: string): HealthConfig | undefined {
  if (h === undefined) return undefined;
  const duration = (key: 'Interval' | 'Timeout' | 'StartPeriod' | 'StartInterval'): number | undefined => {
    const v = durationAt(h, key, path);
    if (v !== undefined && v !== 0 && v < MIN_HEALTH_DURATION) {
      throw invalidArgument(
        join(path, key),
        `ContainerSpec: ${key} in HealthConfig cannot be less than ${formatDuration(MIN_HEALTH_DURATION)}`,
      );
    }
    return v || undefined;
  };
  const test = nonEmpty(stringArrayAt(h, 'Test', path));
  checkHealthTest(test, join(path, 'Test'));
  const out: Json = {
    Test: test,
    Interval: duration('Interval'),
    Timeout: duration('Timeout'),
    StartPeriod: duration('StartPeriod'),
    StartInterval: duration('StartInterval'),
  };
  const retries = numberAt(h, 'Retries', path);
  if (retries !== undefined && (!Number.isInteger(retries) || retries < 0)) {
    throw invalidArgument(join(path, 'Retries'), 'ContainerSpec: Retries in HealthConfig cannot be negative');
  }
  out.Retries = retries || undefined;
  return strip(out) as HealthConfig;
}

/**
 * Docker's three forms, refused here rather than found out on every node as a task that never turns healthy:
 * ["NONE"], ["CMD", arg...] and ["CMD-SHELL", "command"]; an empty Test inherits the image's.
 */
function checkHealthTest(test: string[] | undefined, field: string): void {
  if (!test) return;
  const [kind, ...rest] = test;
  const ok =
    (kind === 'NONE' && rest.length === 0) ||
    (kind === 'CMD' && rest.length > 0 && rest[0] !== '') ||
    (kind === 'CMD-SHELL' && rest.length === 1 && rest[0] !== '');
  if (!ok) {
    throw invalidArgument(
      field,
      `invalid ${field} ${JSON.stringify(test)}: use ["NONE"], ["CMD", "executable", "arg"...] or ["CMD-SHELL", "command"]`,
    );
  }
}

function normalizeDNSConfig(d: Json | undefined, path: string): DNSConfig {
  if (d === undefined) return {};
  return strip({
    Nameservers: nonEmpty(stringArrayAt(d, 'Nameservers', path)),
    Search: nonEmpty(stringArrayAt(d, 'Search', path)),
    Options: nonEmpty(stringArrayAt(d, 'Options', path)),
  });
}
