/**
 * A metric family whose samples are read from their source at scrape time (the store, a proxy's or the
 * resolver's own tallies, the kernel's rule counters) and handed straight to the registry's text writer. Why not
 * prom-client's Gauge/Counter with collect(): their set()/inc() hash and validate every label set on every
 * scrape, which at 1,000 services × a dozen per-service families was most of a 100 ms scrape budget; a family
 * built fresh per scrape has nothing to look up. Counters read this way are the source's own monotonic tallies.
 *
 * The registry accepts any object with prom-client's metric shape (name, help, type, get(), reset()); that
 * duck-typed contract is how prom-client's own registry reads its metrics (registerMetric / getMetricsAsString).
 * /metrics does not use get(), though: a family writes its own text (exposition.ts says why); get() stays for
 * getMetricsAsJSON() and anyone reading the registry as prom-client's.
 */
import type { Registry } from 'prom-client';
import { header, PREFETCH, RENDER, sampleLine } from './exposition';

export type Emit<L extends string> = (labels: Record<L, string>, value: number) => void;

export interface FamilyOptions<L extends string> {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labelNames: readonly L[];
  /** Emits this scrape's samples; may be async (the kernel's counters). */
  read: (emit: Emit<L>) => void | Promise<void>;
  /** Starts what read() will wait for, before any family is written (exposition.ts): slow reads overlap. */
  prefetch?: () => void;
  /**
   * What the samples depend on, when that is known (the store and its last commit index): while every element
   * is the same (===) as at the last write, /metrics reuses the text written then instead of reading again.
   * Undefined: read every time.
   */
  sourceVersion?: () => readonly unknown[] | undefined;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function scrapeFamily<L extends string>(registry: Registry, o: FamilyOptions<L>): void {
  if (!NAME.test(o.name)) throw new Error(`invalid metric name ${o.name}`);
  for (const l of o.labelNames) if (!LABEL.test(l) || l.startsWith('__')) throw new Error(`invalid label name ${l} on ${o.name}`);
  /** The last text written, and the source version it was read at (sourceVersion). */
  let written: { version: readonly unknown[]; text: string } | undefined;
  const family = {
    name: o.name,
    help: o.help,
    type: o.type,
    labelNames: [...o.labelNames],
    aggregator: 'sum',
    async get() {
      const values: { labels: Record<L, string>; value: number }[] = [];
      await o.read((labels, value) => values.push({ labels, value }));
      return { name: o.name, help: o.help, type: o.type, values, aggregator: 'sum' };
    },
    [PREFETCH]() {
      o.prefetch?.();
    },
    async [RENDER]() {
      const version = o.sourceVersion?.();
      if (version && written && sameVersion(written.version, version)) return written.text;
      const lines = [header(o.name, o.help, o.type)];
      await o.read((labels, value) => lines.push(sampleLine(o.name, o.labelNames, labels, value)));
      const text = lines.join('\n');
      written = version ? { version, text } : undefined;
      return text;
    },
    reset() {
      /* nothing to reset: the samples are the source's */
    },
  };
  registry.registerMetric(family as never);
}

function sameVersion(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A counter whose value lives elsewhere: set from the source's own tally at scrape time. */
export function mirrored<L extends string>(registry: Registry, name: string, help: string, labelNames: L[], read: FamilyOptions<L>['read'], prefetch?: () => void): void {
  scrapeFamily(registry, { name, help, type: 'counter', labelNames, read, prefetch });
}

/** A histogram whose buckets are kept by its source (per-bucket counts, not cumulative: the overflow last). */
export interface BucketCounts {
  /** Upper bounds in base units (seconds), ascending. */
  bounds: readonly number[];
  /** counts[i] observations in (bounds[i-1], bounds[i]]; counts[bounds.length] above the last bound. */
  counts: readonly number[];
  sum: number;
  count: number;
}

/**
 * A histogram read at scrape time from its source's own buckets (the resolver counts latencies on its hot path
 * with plain array increments; a prom-client Histogram there would cost a label lookup per query).
 */
export function scrapeHistogram(registry: Registry, name: string, help: string, read: () => BucketCounts | undefined): void {
  if (!NAME.test(name)) throw new Error(`invalid metric name ${name}`);
  const samples = (): { labels: Record<string, string | number>; value: number; metricName: string }[] => {
    const h = read();
    if (!h) return [];
    const out = [];
    let cumulative = 0;
    for (let i = 0; i < h.bounds.length; i++) {
      cumulative += h.counts[i] ?? 0;
      out.push({ labels: { le: h.bounds[i] }, value: cumulative, metricName: `${name}_bucket` });
    }
    out.push({ labels: { le: '+Inf' }, value: h.count, metricName: `${name}_bucket` });
    out.push({ labels: {}, value: h.sum, metricName: `${name}_sum` });
    out.push({ labels: {}, value: h.count, metricName: `${name}_count` });
    return out;
  };
  const family = {
    name,
    help,
    type: 'histogram',
    labelNames: [],
    aggregator: 'sum',
    async get() {
      return { name, help, type: 'histogram', values: samples(), aggregator: 'sum' };
    },
    async [RENDER]() {
      const lines = [header(name, help, 'histogram')];
      for (const s of samples()) lines.push(sampleLine(s.metricName, s.labels.le === undefined ? [] : ['le'], { le: String(s.labels.le) }, s.value));
      return lines.join('\n');
    },
    reset() {
      /* the source keeps the buckets */
    },
  };
  registry.registerMetric(family as never);
}
