/**
 * Network create normalization for POST /networks/create. Shoal's networks are swarm-scoped overlays, so the
 * driver defaults to "overlay" and anything else is refused with the reason, instead of being created as a
 * network no task can use. A user subnet must be a strict IPv4 CIDR (no host bits) with room for tasks; the
 * allocator later checks it against the pool. Messages follow swarmkit's `ipam configuration: ...` wording.
 */
import type { IPAMConfig, Labels } from './types';
import { invalidArgument } from '../base/errors';
import { Json, arrayAt, boolAt, isObject, join, labelsAt, nonEmpty, objectAt, show, stringAt } from './json-fields';
import { validateObjectName } from './object-name';
import { contains, formatCidr, hostBitsSet, lastOf, parseCidr, parseIPv4 } from '../manager/allocator/ipv4';

export interface NetworkCreateRequest {
  Name: string;
  Driver: 'overlay';
  Scope: 'swarm';
  EnableIPv6: false;
  IPAM: { Driver: 'default'; Options: Record<string, string> | null; Config: IPAMConfig[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  Options: Record<string, string>;
  Labels: Labels;
}

const PREDEFINED = ['bridge', 'host', 'none'];
/** /31 and /32 leave no address for a task once network, gateway and broadcast are taken. */
const MAX_PREFIX = 30;

export function normalizeNetworkCreate(body: unknown): NetworkCreateRequest {
  if (!isObject(body)) throw invalidArgument('Name', `invalid network create request ${show(body)}: the body must be a JSON object`);
  const name = validateObjectName(stringAt(body, 'Name', '') || undefined, 'Name');
  if (PREDEFINED.includes(name)) throw invalidArgument('Name', `${name} is a pre-defined network and cannot be created`);
  const driver = stringAt(body, 'Driver', '') || 'overlay';
  if (driver !== 'overlay') {
    throw invalidArgument('Driver', `invalid Driver ${show(driver)}: swarm-scoped networks use the "overlay" driver only`);
  }
  const scope = stringAt(body, 'Scope', '') || 'swarm';
  if (scope !== 'swarm') throw invalidArgument('Scope', `invalid Scope ${show(scope)}: Shoal creates swarm-scoped networks only`);
  if (boolAt(body, 'EnableIPv6', '')) throw invalidArgument('EnableIPv6', 'invalid EnableIPv6 true: IPv6 networks are not supported yet');
  const ingress = boolAt(body, 'Ingress', '') ?? false;
  const attachable = boolAt(body, 'Attachable', '') ?? false;
  if (ingress && attachable) throw invalidArgument('Attachable', 'ingress network cannot be attachable');
  return {
    Name: name,
    Driver: 'overlay',
    Scope: 'swarm',
    EnableIPv6: false,
    IPAM: normalizeIpam(objectAt(body, 'IPAM', '')),
    Internal: boolAt(body, 'Internal', '') ?? false,
    Attachable: attachable,
    Ingress: ingress,
    Options: labelsAt(body, 'Options', '') ?? {},
    Labels: labelsAt(body, 'Labels', '') ?? {},
  };
}

function normalizeIpam(ipam: Json | undefined): NetworkCreateRequest['IPAM'] {
  const driver = (ipam && stringAt(ipam, 'Driver', 'IPAM')) || 'default';
  if (driver !== 'default') {
    throw invalidArgument('IPAM.Driver', `invalid IPAM.Driver ${show(driver)}: only the "default" IPAM driver is supported`);
  }
  const configs = (ipam && arrayAt(ipam, 'Config', 'IPAM')) ?? [];
  if (configs.length > 1) {
    throw invalidArgument('IPAM.Config', 'ipam configuration: give at most one subnet (Shoal networks have one IPv4 subnet)');
  }
  return {
    Driver: 'default',
    Options: (ipam && nonEmpty(labelsAt(ipam, 'Options', 'IPAM'))) ?? null,
    Config: configs.map((c, i) => normalizeIpamConfig(c, join('IPAM.Config', i))),
  };
}

function normalizeIpamConfig(c: unknown, path: string): IPAMConfig {
  if (!isObject(c)) throw invalidArgument(path, `invalid ${path} ${show(c)}: must be {"Subnet": "10.1.2.0/24"}`);
  if (stringAt(c, 'IPRange', path)) {
    throw invalidArgument(join(path, 'IPRange'), 'ipam configuration: IPRange is not supported; give a smaller Subnet instead');
  }
  const subnetText = stringAt(c, 'Subnet', path) || undefined;
  const gatewayText = stringAt(c, 'Gateway', path) || undefined;
  if (subnetText === undefined) {
    if (gatewayText !== undefined) {
      throw invalidArgument(join(path, 'Gateway'), 'ipam configuration: a Gateway needs a Subnet to belong to');
    }
    throw invalidArgument(join(path, 'Subnet'), 'ipam configuration: cannot be empty (give a Subnet, or leave Config out for an automatic one)');
  }
  const subnetField = join(path, 'Subnet');
  const subnet = parseCidr(subnetText);
  if (subnet === undefined) {
    const fix = hostBitsSet(subnetText)
      ? `host bits are set; use ${formatCidr(parseCidr(subnetText, false)!)}`
      : 'use IPv4 CIDR notation like 10.1.2.0/24';
    throw invalidArgument(subnetField, `ipam configuration: invalid subnet ${subnetText}: ${fix}`);
  }
  if (subnet.prefix > MAX_PREFIX) {
    throw invalidArgument(subnetField, `ipam configuration: invalid subnet ${subnetText}: too small for tasks; use a prefix of /${MAX_PREFIX} or shorter`);
  }
  const out: IPAMConfig = { Subnet: subnetText };
  if (gatewayText !== undefined) {
    const gw = parseIPv4(gatewayText);
    const field = join(path, 'Gateway');
    if (gw === undefined) throw invalidArgument(field, `ipam configuration: invalid gateway ${gatewayText}`);
    if (!contains(subnet, gw) || gw === subnet.base || gw === lastOf(subnet)) {
      throw invalidArgument(field, `ipam configuration: subnet ${subnetText} does not contain gateway ${gatewayText}`);
    }
    out.Gateway = gatewayText;
  }
  return out;
}
