/**
 * Test support for the resolver (used by test/unit/dns-*.test.ts and bench/dns-*.ts, never by the daemon): a
 * fixture endpoint table with every name form, query builders, one-shot UDP/TCP clients, and a fake upstream —
 * a tiny DNS server on loopback that answers, stays silent, truncates or fails, as told.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { EndpointTable } from '../mesh/endpoint-table';

/**
 * Networks: ingress (no DNS), front (n1), back (n2). web: VIP on front, alias www, 2 tasks; db: dnsrr on back,
 * 2 tasks; api: VIP on both; six: dnsrr with one IPv6 task on back.
 */
export function fixtureTable(): EndpointTable {
  return {
    ingressNetworkId: 'ing',
    networks: {
      ing: { name: 'ingress', subnet: '10.0.0.0/24' },
      n1: { name: 'front', subnet: '10.0.1.0/24' },
      n2: { name: 'back', subnet: '10.0.2.0/24' },
    },
    services: [
      {
        serviceId: 's-web', serviceName: 'web', mode: 'vip',
        vips: { ing: '10.0.0.2', n1: '10.0.1.2' }, aliases: { n1: ['www'] },
        ports: [{ name: 'http', protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }],
        backends: [
          { taskId: 'aaa', name: 'web.1.aaa', nodeId: 'node1', addrs: { ing: '10.0.0.5', n1: '10.0.1.5' } },
          { taskId: 'bbb', name: 'web.2.bbb', nodeId: 'node2', addrs: { ing: '10.0.0.6', n1: '10.0.1.6' } },
        ],
      },
      {
        serviceId: 's-db', serviceName: 'db', mode: 'dnsrr', vips: {}, aliases: {},
        ports: [{ name: 'pg', protocol: 'tcp', targetPort: 5432, publishedPort: 0, publishMode: 'host' }],
        backends: [
          { taskId: 'ccc', name: 'db.1.ccc', nodeId: 'node1', addrs: { n2: '10.0.2.5' } },
          { taskId: 'ddd', name: 'db.2.ddd', nodeId: 'node2', addrs: { n2: '10.0.2.6' } },
        ],
      },
      {
        serviceId: 's-api', serviceName: 'api', mode: 'vip', vips: { n1: '10.0.1.3', n2: '10.0.2.3' }, aliases: {},
        ports: [{ protocol: 'udp', targetPort: 53, publishedPort: 0, publishMode: 'ingress' }],
        backends: [{ taskId: 'eee', name: 'api.1.eee', nodeId: 'node1', addrs: { n1: '10.0.1.7', n2: '10.0.2.7' } }],
      },
      {
        serviceId: 's-six', serviceName: 'six', mode: 'dnsrr', vips: {}, aliases: {}, ports: [],
        backends: [{ taskId: 'fff', name: 'six.1.fff', nodeId: 'node1', addrs: { n2: 'fd00:2::5' } }],
      },
    ],
  };
}

/** A table of `n` VIP services svcN, each with `tasks` tasks, on one network 10.1.0.0/16 (bench and fuzz). */
export function bigTable(n: number, tasks: number): EndpointTable {
  const services = [];
  for (let i = 0; i < n; i++) {
    const backends = [];
    for (let t = 0; t < tasks; t++) {
      const ip = `10.1.${Math.floor((i * tasks + t) / 250) + 1}.${((i * tasks + t) % 250) + 2}`;
      backends.push({ taskId: `t${i}x${t}`, name: `svc${i}.${t + 1}.t${i}x${t}`, nodeId: 'node1', addrs: { net: ip } });
    }
    services.push({
      serviceId: `s${i}`, serviceName: `svc${i}`, mode: 'vip' as const, vips: { net: `10.1.0.${(i % 250) + 2}` }, aliases: {},
      ports: [], backends,
    });
  }
  return { networks: { net: { name: 'net', subnet: '10.1.0.0/16' } }, services };
}

export function query(name: string, type: dnsPacket.RecordType = 'A', opts: { id?: number; edns?: number; rd?: boolean } = {}): Buffer {
  const additionals = opts.edns
    ? [{ name: '.', type: 'OPT', udpPayloadSize: opts.edns, ednsVersion: 0, flags: 0, options: [] } as unknown as dnsPacket.Answer]
    : [];
  return dnsPacket.encode({ id: opts.id ?? 4242, type: 'query', flags: opts.rd === false ? 0 : dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }], additionals });
}

/** Sends one datagram and resolves with the first reply, or undefined after timeoutMs. */
export function udpAsk(port: number, host: string, msg: Buffer, opts: { from?: string; timeoutMs?: number } = {}): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => done(undefined), opts.timeoutMs ?? 2000);
    const done = (b: Buffer | undefined): void => {
      clearTimeout(t);
      s.close();
      resolve(b);
    };
    s.on('message', (m) => done(m));
    s.on('error', () => done(undefined));
    s.bind(0, opts.from ?? '127.0.0.1', () => s.send(msg, port, host));
  });
}

/** One length-framed query over a new TCP connection; the reply, or undefined. */
export function tcpAsk(port: number, host: string, msg: Buffer, opts: { from?: string; timeoutMs?: number } = {}): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host, localAddress: opts.from });
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => done(undefined), opts.timeoutMs ?? 2000);
    const done = (b: Buffer | undefined): void => {
      clearTimeout(t);
      s.destroy();
      resolve(b);
    };
    s.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(msg.length);
      s.write(Buffer.concat([len, msg]));
    });
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(buf.subarray(2, 2 + buf.readUInt16BE(0)));
    });
    s.on('error', () => done(undefined));
  });
}

export type UpstreamBehaviour = 'answer' | 'nxdomain' | 'silent' | 'truncate' | 'servfail';

/** A fake upstream resolver on loopback (UDP and TCP on one port). */
export class FakeUpstream {
  udpQueries = 0;
  tcpQueries = 0;
  private udp = dgram.createSocket('udp4');
  private tcp = net.createServer((s) => this.onTcp(s));
  port = 0;

  constructor(
    readonly host: string,
    public behaviour: UpstreamBehaviour,
    /** TTL and address of the A answer; `records` A records per answer (many makes a big one). */
    public answer: { ttl: number; ip: string; records?: number } = { ttl: 60, ip: '192.0.2.1' },
  ) {}

  async start(): Promise<this> {
    this.udp.on('message', (m, r) => {
      this.udpQueries++;
      const resp = this.respond(m, 'udp');
      if (resp) this.udp.send(resp, r.port, r.address);
    });
    await new Promise<void>((res) => this.udp.bind(0, this.host, () => res()));
    this.port = this.udp.address().port;
    await new Promise<void>((res) => this.tcp.listen(this.port, this.host, () => res()));
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.udp.close(() => r()));
    await new Promise<void>((r) => this.tcp.close(() => r()));
  }

  private onTcp(s: net.Socket): void {
    let buf = Buffer.alloc(0);
    s.on('error', () => {});
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const m = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + m.length);
        this.tcpQueries++;
        const resp = this.respond(m, 'tcp');
        if (resp) {
          const len = Buffer.alloc(2);
          len.writeUInt16BE(resp.length);
          s.write(Buffer.concat([len, resp]));
        }
      }
    });
  }

  private respond(m: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    let q: dnsPacket.DecodedPacket;
    try {
      q = dnsPacket.decode(m);
    } catch {
      return undefined;
    }
    const base = { id: q.id, type: 'response' as const, questions: q.questions };
    switch (this.behaviour) {
      case 'silent':
        return undefined;
      case 'servfail':
        return dnsPacket.encode({ ...base, flags: dnsPacket.RECURSION_AVAILABLE | 2 });
      case 'nxdomain':
        return dnsPacket.encode({
          ...base, flags: dnsPacket.RECURSION_AVAILABLE | 3,
          authorities: [{ name: 'example', type: 'SOA', ttl: 300, data: { mname: 'ns.example', rname: 'h.example', minimum: 30 } }],
        });
      case 'truncate':
      case 'answer': {
        // Truncate: over UDP an empty answer with TC; over TCP the whole answer.
        if (this.behaviour === 'truncate' && transport === 'udp') {
          return dnsPacket.encode({ ...base, flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.TRUNCATED_RESPONSE });
        }
        const n = this.answer.records ?? 1;
        const answers: dnsPacket.Answer[] = [];
        for (let i = 0; i < n; i++) {
          const ip = n === 1 ? this.answer.ip : `198.51.${Math.floor(i / 250)}.${(i % 250) + 1}`;
          answers.push({ name: q.questions![0].name, type: 'A', ttl: this.answer.ttl, data: ip });
        }
        return dnsPacket.encode({ ...base, flags: dnsPacket.RECURSION_AVAILABLE, answers });
      }
    }
  }
}

/** A deterministic random source (mulberry32), so two runs shuffle alike. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
