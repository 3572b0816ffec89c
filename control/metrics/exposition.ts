/**
 * The text `/metrics` serves: every family of the registry in Prometheus's text format, as prom-client's own
 * `registry.metrics()` writes it (HELP, TYPE, one line per sample, families separated by a blank line), except
 * that families read at scrape time (scrape-family.ts) write their own lines. Why: at 1,000 services those are
 * ~9,000 samples, and prom-client's writer builds a label object, merges default labels and runs three regex
 * replaces per sample — 44 % of a scrape's CPU and most of its garbage in a profile (bench/metrics-scrape). A
 * family that writes plain strings, escaping only values that need it, has none of that. prom-client's own
 * metrics (histograms, process metrics) still go through its writer, unchanged.
 */
import type { Registry } from 'prom-client';

/** A family that writes its own exposition text (HELP, TYPE and samples, no trailing newline). */
export const RENDER = Symbol('shoal.metrics.render');
/** Starts a family's slow read (the kernel's counters: a process to run) so it overlaps writing the others. */
export const PREFETCH = Symbol('shoal.metrics.prefetch');

export interface SelfRendering {
  [RENDER](): Promise<string>;
  [PREFETCH]?(): void;
}

/**
 * Families are written one after the other, and the event loop gets a turn whenever a slice of this has run
 * YIELD_AFTER_MS: in userspace mode the mesh relays in this same loop, and one 1,000-service scrape written in a
 * single go held every proxied request behind it (wrk's p99 went from 5 to 26 ms when scraped each second,
 * bench/metrics-under-load). The samples of one family are still read in one go, so each stays consistent.
 */
const YIELD_AFTER_MS = 2;

export async function exposition(registry: Registry): Promise<string> {
  const metrics = registry.getMetricsAsArray();
  for (const m of metrics) (m as unknown as Partial<SelfRendering>)[PREFETCH]?.();
  const parts: string[] = [];
  let slice = performance.now();
  for (const m of metrics) {
    const own = (m as unknown as Partial<SelfRendering>)[RENDER];
    parts.push(await (own ? own.call(m) : registry.getSingleMetricAsString(m.name)));
    if (performance.now() - slice >= YIELD_AFTER_MS) {
      await new Promise((r) => setImmediate(r));
      slice = performance.now();
    }
  }
  return `${parts.join('\n\n')}\n`;
}

/** The HELP and TYPE lines of a family. */
export function header(name: string, help: string, type: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}`;
}

/** One sample line, `name{a="x",b="y"} value`; labels in the order given. */
export function sampleLine(name: string, labelNames: readonly string[], labels: Record<string, string>, value: number): string {
  let line = name;
  if (labelNames.length) {
    let sep = '{';
    for (const l of labelNames) {
      const v = labels[l];
      if (v === undefined) continue;
      line += `${sep}${l}="${escapeLabelValue(String(v))}"`;
      sep = ',';
    }
    if (sep === ',') line += '}';
  }
  return `${line} ${formatValue(value)}`;
}

/** The text format's number spelling (as prom-client's: Nan, +Inf, -Inf). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'Nan';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return `${v}`;
}

function escapeHelp(s: string): string {
  return s.includes('\\') || s.includes('\n') ? s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n') : s;
}

/** Service names and IDs almost never hold a backslash, quote or newline: test before replacing. */
function escapeLabelValue(s: string): string {
  return s.includes('\\') || s.includes('\n') || s.includes('"') ? escapeHelp(s).replace(/"/g, '\\"') : s;
}
