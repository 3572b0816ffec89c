/**
 * Per-resolver counters, shaped for a metrics endpoint: queries by type, answers by code, the fast path's share,
 * forwarded queries and cache hits, drops, truncations, and a latency histogram (cumulative-friendly buckets in
 * milliseconds). Plain numbers incremented on the hot path; snapshot() copies them for readers.
 */
export const LATENCY_BUCKETS_MS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

export interface DnsCountersSnapshot {
  queries: Record<string, number>;
  answers: Record<string, number>;
  fastPath: number;
  forwarded: number;
  cacheHits: number;
  dropped: number;
  formErrors: number;
  truncated: number;
  tcpConnections: number;
  errors: number;
  latency: { bucketsMs: number[]; counts: number[]; sumMs: number; count: number };
}

export class DnsCounters {
  readonly queries = new Map<string, number>();
  readonly answers = new Map<string, number>();
  fastPath = 0;
  forwarded = 0;
  cacheHits = 0;
  dropped = 0;
  formErrors = 0;
  truncated = 0;
  tcpConnections = 0;
  /** Exceptions caught at the server loop: should stay 0; counted so a bug shows up in metrics, not a crash. */
  errors = 0;
  private readonly latencyCounts = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  private latencySum = 0;
  private latencyN = 0;

  count(qtype: string, rcode: string): void {
    this.queries.set(qtype, (this.queries.get(qtype) ?? 0) + 1);
    this.answers.set(rcode, (this.answers.get(rcode) ?? 0) + 1);
  }

  observe(ms: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS_MS.length && ms > LATENCY_BUCKETS_MS[i]) i++;
    this.latencyCounts[i]++;
    this.latencySum += ms;
    this.latencyN++;
  }

  snapshot(): DnsCountersSnapshot {
    return {
      queries: Object.fromEntries(this.queries),
      answers: Object.fromEntries(this.answers),
      fastPath: this.fastPath,
      forwarded: this.forwarded,
      cacheHits: this.cacheHits,
      dropped: this.dropped,
      formErrors: this.formErrors,
      truncated: this.truncated,
      tcpConnections: this.tcpConnections,
      errors: this.errors,
      latency: { bucketsMs: LATENCY_BUCKETS_MS.slice(), counts: this.latencyCounts.slice(), sumMs: this.latencySum, count: this.latencyN },
    };
  }
}

/** The sum of several readers' snapshots (one resolver, many sockets readers): every field added up. */
export function sumSnapshots(list: DnsCountersSnapshot[]): DnsCountersSnapshot {
  const add = (a: Record<string, number>, b: Record<string, number>): Record<string, number> => {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  const [first, ...rest] = list;
  let acc: DnsCountersSnapshot = { ...first, latency: { ...first.latency, counts: first.latency.counts.slice() } };
  for (const s of rest) {
    acc = {
      queries: add(acc.queries, s.queries),
      answers: add(acc.answers, s.answers),
      fastPath: acc.fastPath + s.fastPath,
      forwarded: acc.forwarded + s.forwarded,
      cacheHits: acc.cacheHits + s.cacheHits,
      dropped: acc.dropped + s.dropped,
      formErrors: acc.formErrors + s.formErrors,
      truncated: acc.truncated + s.truncated,
      tcpConnections: acc.tcpConnections + s.tcpConnections,
      errors: acc.errors + s.errors,
      latency: {
        bucketsMs: acc.latency.bucketsMs,
        counts: acc.latency.counts.map((c, i) => c + (s.latency.counts[i] ?? 0)),
        sumMs: acc.latency.sumMs + s.latency.sumMs,
        count: acc.latency.count + s.latency.count,
      },
    };
  }
  return acc;
}
