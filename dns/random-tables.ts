/**
 * Seeded random endpoint-table sequences for the resolver's property tests (test/unit/dns-records-incremental,
 * dns-answer-incremental; never the daemon): services added, removed and changed one step at a time, with the
 * awkward cases dense — aliases that are other services' names (names with several owners), both endpoint modes,
 * named ports, tasks on several networks, a few addresses two services claim, table order reversed, network
 * renamed, and changes to fields DNS does not read.
 */
import type { EndpointTable, ServiceEndpoint } from '../mesh/endpoint-table';
import { seeded } from './test-kit';

export const NETWORKS: EndpointTable['networks'] = {
  ing: { name: 'ingress', subnet: '10.0.0.0/24' },
  n1: { name: 'front', subnet: '10.0.1.0/24' },
  n2: { name: 'Back', subnet: '10.0.2.0/24' },
  n3: { name: 'third', subnet: '10.0.3.0/24' },
};
const NET_IDS = ['ing', 'n1', 'n2', 'n3'];
const NAMES = ['web', 'api', 'db', 'cache', 'Queue', 'search', 'auth', 'mail'];
/** Aliases deliberately include other services' names, so names have several owners. */
const ALIASES = ['www', 'shared', 'api', 'Web', 'common', 'db'];
const PORT_NAMES = ['http', 'grpc', 'HTTP', undefined];

/** Random choices, and random services built from them, from one seed. */
class Gen {
  private readonly r: () => number;
  private nextTask = 0;
  constructor(seed: number) {
    this.r = seeded(seed);
  }
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  some<T>(xs: readonly T[], p: number): T[] {
    return xs.filter(() => this.chance(p));
  }
  /** Few addresses per network, so two services sometimes claim one (PTR and asker owners must cope). */
  ip(net: string): string {
    const subnet = NET_IDS.indexOf(net);
    if (net === 'n2' && this.chance(0.15)) return `fd00:2::${this.int(12) + 1}`;
    return `10.0.${subnet}.${this.int(40) + 2}`;
  }

  service(id: string, name: string): ServiceEndpoint {
    const mode = this.chance(0.35) ? 'dnsrr' : 'vip';
    const vips: Record<string, string> = {};
    for (const n of this.some(NET_IDS, 0.5)) vips[n] = this.ip(n);
    const aliases: Record<string, string[]> = {};
    for (const n of this.some(NET_IDS.slice(1), 0.4)) aliases[n] = this.some(ALIASES, 0.3);
    const ports = this.some(PORT_NAMES, 0.4).map((pn) => ({
      ...(pn ? { name: pn } : {}),
      protocol: this.pick(['tcp', 'udp'] as const),
      targetPort: this.pick([80, 53, 443]),
      publishedPort: this.int(2) * 8080,
      publishMode: 'ingress' as const,
    }));
    const backends = [];
    for (let t = this.int(4); t > 0; t--) {
      const taskId = `t${this.nextTask++}`;
      const addrs: Record<string, string> = {};
      for (const n of this.some(NET_IDS, 0.55)) addrs[n] = this.ip(n);
      backends.push({ taskId, name: `${name}.${t}.${taskId}`, nodeId: this.pick(['node1', 'node2']), addrs });
    }
    return { serviceId: id, serviceName: name, mode, vips, aliases, ports, backends };
  }

  /** One field of the service changes (most often its tasks, as when one task starts or stops). */
  changed(s: ServiceEndpoint): ServiceEndpoint {
    const fresh = this.service(s.serviceId, s.serviceName);
    const c: ServiceEndpoint = structuredClone(s);
    switch (this.int(6)) {
      case 0:
      case 1:
        if (c.backends.length && this.chance(0.5)) c.backends.splice(this.int(c.backends.length), 1);
        else c.backends.push(...fresh.backends.slice(0, 1));
        break;
      case 2:
        c.aliases = fresh.aliases;
        break;
      case 3:
        c.mode = c.mode === 'vip' ? 'dnsrr' : 'vip';
        break;
      case 4:
        c.ports = fresh.ports;
        c.vips = fresh.vips;
        break;
      default:
        // Not DNS fields: sameForDns sees no change, and the answers must not either.
        // Nor is the order of a record's keys (tables are rebuilt by code that may list networks differently).
        for (const b of c.backends) {
          b.nodeId = 'node9';
          b.addrs = Object.fromEntries(Object.entries(b.addrs).reverse());
        }
        c.vips = Object.fromEntries(Object.entries(c.vips).reverse());
        c.balance = 'least-connections';
        for (const p of c.ports) p.publishedPort = 9090;
    }
    return c;
  }
}

/** A table sequence: next() makes one random step from the current table (a new table, new objects throughout). */
export class RandomTables {
  private readonly g: Gen;
  private ids = 0;
  table: EndpointTable;

  constructor(seed: number) {
    this.g = new Gen(seed);
    this.table = { ingressNetworkId: 'ing', networks: NETWORKS, services: [] };
    for (let i = 0; i < 4; i++) this.table.services.push(this.g.service(`s${this.ids++}`, NAMES[i]));
  }

  /** Moves to a next table; returns what the step did. */
  next(): string {
    const g = this.g;
    let table = this.table;
    const services = table.services.slice();
    const op = g.int(100);
    let what: string;
    if (op < 20 && services.length < 10) {
      const used = new Set(services.map((s) => s.serviceName));
      const name = g.pick(NAMES.filter((n) => !used.has(n)).concat(`svc${this.ids}`));
      services.splice(g.int(services.length + 1), 0, g.service(`s${this.ids++}`, name));
      what = 'add';
    } else if (op < 38 && services.length > 0) {
      services.splice(g.int(services.length), 1);
      what = 'remove';
    } else if (op < 90 && services.length > 0) {
      const i = g.int(services.length);
      services[i] = g.changed(services[i]);
      what = 'change';
    } else if (op < 95) {
      services.reverse(); // table order must not matter
      what = 'reorder';
    } else if (op < 97) {
      table = { ...table, networks: { ...table.networks, n3: { name: g.pick(['third', 'fourth']), subnet: '10.0.3.0/24' } } };
      what = 'networks';
    } else {
      what = 'same table, new objects';
    }
    this.table = structuredClone({ ...table, services });
    return what;
  }
}

/** Every name form and address of some tables (the previous and the next: names that went away must be gone). */
export function namesOf(...tables: EndpointTable[]): { names: Set<string>; ips: Set<string> } {
  const names = new Set<string>(['nothing', 'tasks.nothing']);
  const ips = new Set<string>(['127.0.0.1', '10.0.1.250', '192.0.2.1']);
  for (const t of tables) {
    const netNames = Object.values(t.networks).map((n) => n.name.toLowerCase());
    const add = (n: string): void => {
      const l = n.toLowerCase();
      names.add(l);
      for (const nn of netNames) names.add(`${l}.${nn}`);
    };
    for (const s of t.services) {
      for (const b of [s.serviceName, ...Object.values(s.aliases).flat()]) {
        add(b);
        add(`tasks.${b}`);
        for (const p of s.ports) {
          if (p.name) names.add(`_${p.name}._${p.protocol}.${b}`.toLowerCase());
          names.add(`_${p.protocol}.${b}`.toLowerCase());
        }
      }
      for (const b of s.backends) {
        add(b.name);
        for (const ip of Object.values(b.addrs)) ips.add(ip);
      }
      for (const ip of Object.values(s.vips)) ips.add(ip);
    }
  }
  return { names, ips };
}
