/**
 * `--publish` values, in Docker's two syntaxes: the short `[HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]` (ranges like
 * `8080-8081:80-81` too) and the long comma list `published=8080,target=80,protocol=udp,mode=host,host_ip=...`.
 * Both become PortConfig entries with Docker's field order. host_ip is Shoal's extension: bind the published
 * port on one node address only. Errors say which part of the value is wrong.
 */
import type { PortConfig } from '../api/types';
import { UsageError } from './flags';

type Protocol = NonNullable<PortConfig['Protocol']>;
const PROTOCOLS = ['tcp', 'udp', 'sctp'];

function port(text: string, what: string, spec: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new UsageError(`invalid publish "${spec}": ${what} port "${text}" must be a number from 1 to 65535`);
  }
  return Number(text);
}

function range(text: string, what: string, spec: string): [number, number] {
  const [a, b] = text.split('-');
  const lo = port(a, what, spec);
  const hi = b === undefined ? lo : port(b, what, spec);
  if (hi < lo) throw new UsageError(`invalid publish "${spec}": ${what} range "${text}" ends before it starts`);
  return [lo, hi];
}

function make(protocol: Protocol, target: number, published: number | undefined, mode: 'ingress' | 'host', hostIP?: string): PortConfig {
  const p: PortConfig = { Protocol: protocol, TargetPort: target };
  if (published !== undefined) p.PublishedPort = published;
  p.PublishMode = mode;
  if (hostIP) p.HostIP = hostIP;
  return p;
}

function checkIP(ip: string, spec: string): string {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (v4 && v4.slice(1).every((o) => Number(o) <= 255)) return ip;
  if (/^\[?[0-9a-fA-F:]+\]?$/.test(ip) && ip.includes(':')) return ip.replace(/^\[|\]$/g, '');
  throw new UsageError(`invalid publish "${spec}": host IP "${ip}" is not an IP address`);
}

/** Parses one --publish value into one or more PortConfigs. */
export function parsePublish(spec: string): PortConfig[] {
  return spec.includes('=') ? [parseLong(spec)] : parseShort(spec);
}

function parseShort(spec: string): PortConfig[] {
  let rest = spec;
  let protocol: Protocol = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const proto = rest.slice(slash + 1).toLowerCase();
    if (!PROTOCOLS.includes(proto)) {
      throw new UsageError(`invalid publish "${spec}": protocol "${proto}" must be tcp, udp or sctp`);
    }
    protocol = proto as Protocol;
    rest = rest.slice(0, slash);
  }
  // An IPv6 host address comes in brackets: [::1]:8080:80.
  let hostIP: string | undefined;
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  const parts = v6 ? [v6[1], ...v6[2].split(':')] : rest.split(':');
  if (v6 && parts.length < 3) throw new UsageError(`invalid publish "${spec}": use [HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]`);
  if (parts.length > 3 || parts.some((p, i) => p === '' && !(i === 1 && parts.length === 3))) {
    throw new UsageError(`invalid publish "${spec}": use [HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL], like 8080:80 or 53:53/udp`);
  }
  if (parts.length === 3) hostIP = checkIP(parts.shift() as string, spec);
  const [target] = [parts.pop() as string];
  const [tlo, thi] = range(target, 'target', spec);
  const publishedText = parts.pop();
  if (publishedText === undefined || publishedText === '') {
    const out: PortConfig[] = [];
    for (let t = tlo; t <= thi; t++) out.push(make(protocol, t, undefined, 'ingress', hostIP));
    return out;
  }
  const [plo, phi] = range(publishedText, 'published', spec);
  if (phi - plo !== thi - tlo) {
    throw new UsageError(`invalid publish "${spec}": published range "${publishedText}" and target range "${target}" differ in length`);
  }
  const out: PortConfig[] = [];
  for (let k = 0; k <= thi - tlo; k++) out.push(make(protocol, tlo + k, plo + k, 'ingress', hostIP));
  return out;
}

function parseLong(spec: string): PortConfig {
  let protocol: Protocol = 'tcp';
  let mode: 'ingress' | 'host' = 'ingress';
  let target: number | undefined;
  let published: number | undefined;
  let hostIP: string | undefined;
  for (const field of spec.split(',')) {
    const eq = field.indexOf('=');
    if (eq < 0) throw new UsageError(`invalid publish "${spec}": field "${field}" must be a key=value pair`);
    const key = field.slice(0, eq).trim().toLowerCase();
    const value = field.slice(eq + 1).trim();
    switch (key) {
      case 'protocol':
        if (!PROTOCOLS.includes(value.toLowerCase())) {
          throw new UsageError(`invalid publish "${spec}": protocol "${value}" must be tcp, udp or sctp`);
        }
        protocol = value.toLowerCase() as Protocol;
        break;
      case 'mode':
        if (value !== 'ingress' && value !== 'host') {
          throw new UsageError(`invalid publish "${spec}": mode "${value}" must be ingress or host`);
        }
        mode = value;
        break;
      case 'target':
        target = port(value, 'target', spec);
        break;
      case 'published':
        published = port(value, 'published', spec);
        break;
      case 'host_ip':
      case 'hostip':
        hostIP = checkIP(value, spec);
        break;
      default:
        throw new UsageError(`invalid publish "${spec}": unknown field "${key}": use published, target, protocol, mode or host_ip`);
    }
  }
  if (target === undefined) throw new UsageError(`invalid publish "${spec}": missing mandatory field "target"`);
  return make(protocol, target, published, mode, hostIP);
}
