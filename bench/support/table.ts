/**
 * Plain-text tables and number formats for benchmark output: left-aligned first column, right-aligned numbers.
 */
export function printTable(headers: string[], rows: (string | number)[][], write: (s: string) => void = (s) => process.stdout.write(s)): void {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  write(line(headers) + '\n');
  write(widths.map((w) => '-'.repeat(w)).join('  ') + '\n');
  for (const r of cells.slice(1)) write(line(r) + '\n');
}

export const secs = (ms: number): string => (ms / 1000).toFixed(2);
export const ratio = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '-');
export const perSec = (n: number, ms: number): string => Math.round((n * 1000) / ms).toLocaleString('en-US');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls fn every intervalMs until it returns a value other than undefined; throws with describe() on timeout. */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, describe: () => Promise<string> | string, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; last: ${await describe()}`);
    await sleep(intervalMs);
  }
}
