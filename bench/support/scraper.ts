/**
 * Prometheus's part in bench/metrics-under-load: GET argv[2] every argv[3] ms on a fixed schedule (a scrape still
 * running when the next is due is not doubled, as Prometheus skips), reading each body whole. On SIGTERM/SIGINT it
 * prints one JSON line: scrapes, failures, median and p95 duration in ms, and the last body's size.
 */
const [url, intervalArg] = process.argv.slice(2);
const durations: number[] = [];
let failures = 0;
let bytes = 0;
let busy = false;

const timer = setInterval(() => {
  if (busy) return;
  busy = true;
  const t0 = performance.now();
  fetch(url)
    .then(async (r) => {
      const body = await r.text();
      if (r.status !== 200) throw new Error(String(r.status));
      durations.push(performance.now() - t0);
      bytes = body.length;
    })
    .catch(() => failures++)
    .finally(() => (busy = false));
}, Number(intervalArg));

const pct = (p: number) => [...durations].sort((a, b) => a - b)[Math.min(durations.length - 1, Math.floor(p * durations.length))] ?? NaN;

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    clearInterval(timer);
    process.stdout.write(`${JSON.stringify({ scrapes: durations.length, failures, medianMs: pct(0.5), p95Ms: pct(0.95), bytes })}\n`);
    process.exit(0);
  });
}
process.stdout.write('scraping\n');
