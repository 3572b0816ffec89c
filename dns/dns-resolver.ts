/**
 * The node's embedded resolver as one Component and EndpointSink: start() binds the listeners, apply(table)
 * updates the record table in place — only the services that changed, in one synchronous step, so the hot path
 * never sees half a change (records.ts) — and sends the same change to the extra UDP readers; stop() closes
 * everything. Upstreams come from the options or from the host's resolv.conf.
 */
import type { Component } from '../control/base/component';
import type { Clock } from '../control/base/clock';
import type { Logger } from '../control/base/log';
import type { EndpointSink, EndpointTable } from '../mesh/endpoint-table';
import { Records } from './records';
import { Answerer } from './answer';
import { Forwarder, Upstream } from './forwarder';
import { DnsServer, type UdpIo } from './server';
import { readResolvConf } from './resolv-conf';
import { sumSnapshots, type DnsCountersSnapshot } from './counters';
import { UdpReaderPool } from './udp-reader-pool';
import type { ReaderConfig } from './udp-reader-protocol';

export interface DnsResolverOptions {
  /** An address every task namespace can reach (and the port, 53 in production; 0 in tests). */
  address: string;
  port: number;
  clock: Clock;
  logger: Logger;
  /** Upstreams; when absent, the nameservers of resolvConfPath. */
  upstreams?: Upstream[];
  /** Default /etc/resolv.conf. */
  resolvConfPath?: string;
  /** Search domains stripped before lookup; when absent, the search line of resolv.conf. */
  searchDomains?: string[];
  vipTtl?: number;
  taskTtl?: number;
  forwardTimeoutMs?: number;
  maxInFlight?: number;
  cacheSize?: number;
  /** Shuffle randomness (tests). */
  random?: () => number;
  /** How UDP is read (server.ts); default: in batches when that is built. */
  udpIo?: UdpIo;
  /**
   * Extra processes answering UDP (udp-reader-pool.ts), so answers use more than one CPU. With batch UDP they do
   * all the UDP reading (the main process's event loop, busy with the control plane, then never delays an answer);
   * with dgram they share the main process's socket. Default 0: the main process alone. TCP is always served by
   * the main process.
   */
  udpReaders?: number;
}

export interface DnsResolverCounters extends DnsCountersSnapshot {
  forwarder: Forwarder['stats'];
  upstreams: ReturnType<Forwarder['upstreams']>;
}

const EMPTY: EndpointTable = { networks: {}, services: [] };

export class DnsResolver implements Component, EndpointSink {
  readonly name = 'dns';
  private readonly forwarder: Forwarder;
  private readonly server: DnsServer;
  private readonly search: string[];
  private readonly upstreams: Upstream[];
  private readers?: UdpReaderPool;
  private table: EndpointTable = EMPTY;
  private readonly answerer: Answerer;

  constructor(private readonly opts: DnsResolverOptions) {
    const conf =
      opts.upstreams && opts.searchDomains
        ? { upstreams: opts.upstreams, search: opts.searchDomains }
        : readResolvConf(opts.resolvConfPath, [opts.address]);
    this.search = opts.searchDomains ?? conf.search;
    const upstreams = (this.upstreams = opts.upstreams ?? conf.upstreams);
    if (upstreams.length === 0) opts.logger.warn('dns: no upstream resolvers; names that are not ours get SERVFAIL');
    this.forwarder = new Forwarder({
      upstreams,
      clock: opts.clock,
      logger: opts.logger,
      timeoutMs: opts.forwardTimeoutMs,
      maxInFlight: opts.maxInFlight,
      cacheSize: opts.cacheSize,
    });
    this.answerer = new Answerer(Records.build(EMPTY), {
      vipTtl: opts.vipTtl,
      taskTtl: opts.taskTtl,
      searchDomains: this.search,
      random: opts.random,
    });
    this.server = new DnsServer({
      address: opts.address,
      port: opts.port,
      logger: opts.logger,
      answerer: this.answerer,
      forwarder: this.forwarder,
      udpIo: opts.udpIo,
      udpReadersElsewhere: (opts.udpReaders ?? 0) > 0,
    });
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    return this.server.port;
  }

  async start(): Promise<void> {
    await this.server.listen();
    const extra = this.opts.udpReaders ?? 0;
    if (extra > 0) {
      const batch = this.server.udpIo === 'batch';
      const config: ReaderConfig = { ...this.readerConfig(), batchUdp: batch ? { address: this.opts.address, port: this.server.port } : undefined };
      this.readers = new UdpReaderPool(
        { readers: extra, socket: batch ? undefined : this.server.udpSocket, config, clock: this.opts.clock, logger: this.opts.logger },
        this.table,
      );
      await this.readers.start();
    }
    this.opts.logger.info('dns resolver listening', { address: this.opts.address, port: this.server.port, udp: this.server.udpIo });
  }

  async stop(): Promise<void> {
    await this.readers?.stop();
    this.readers = undefined;
    this.forwarder.close();
    await this.server.close();
  }

  /** Resolves once every reader answers from this table (at once without extra readers). */
  apply(table: EndpointTable): void | Promise<void> {
    this.table = table;
    const change = this.answerer.update(table);
    return this.readers?.apply(change, table);
  }

  /** How UDP is read; undefined before start(). */
  get udpIo(): UdpIo | undefined {
    return this.server.udpIo;
  }

  /** Process ids of the extra UDP readers running now. */
  readerPids(): number[] {
    return this.readers?.pids() ?? [];
  }

  /** Queries and answers of every reader (extra readers report once a second); forwarder figures of the main one. */
  counters(): DnsResolverCounters {
    const all = sumSnapshots([this.server.counters.snapshot(), ...(this.readers?.counters() ?? [])]);
    return { ...all, forwarder: { ...this.forwarder.stats }, upstreams: this.forwarder.upstreams() };
  }

  private readerConfig(): ReaderConfig {
    return {
      answer: { vipTtl: this.opts.vipTtl, taskTtl: this.opts.taskTtl, searchDomains: this.search },
      upstreams: this.upstreams,
      forwardTimeoutMs: this.opts.forwardTimeoutMs,
      maxInFlight: this.opts.maxInFlight,
      cacheSize: this.opts.cacheSize,
    };
  }
}
