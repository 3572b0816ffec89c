/**
 * A Prometheus counter whose value lives elsewhere (a proxy's or the resolver's own tallies): at scrape time it
 * is reset and set from the source, so nothing is copied between scrapes. The source only ever grows, so the
 * series stays a counter.
 */
import { Counter, type Registry } from 'prom-client';

export function mirrored<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: L[],
  read: (set: (labels: Record<L, string>, v: number) => void) => void | Promise<void>,
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      const values: [Record<L, string>, number][] = [];
      await read((labels, v) => values.push([labels, v]));
      // Reset only once the read is in: a slow async read must not leave the series empty meanwhile.
      this.reset();
      for (const [labels, v] of values) this.inc(labels as never, v);
    },
  });
}
