/**
 * How the benchmarks' child processes (a relay, a mesh, a node) live: main() sets the thing up; once it serves,
 * serve(stop) prints "ready" (what the bench waits for) and runs stop() once on the first SIGTERM or SIGINT, then
 * exits 0 — normally, so `node --cpu-prof` writes its profile. A failing main() prints its stack and exits 1.
 */
export function runChild(label: string, main: () => Promise<void>): void {
  main().catch((e) => {
    process.stderr.write(`${label}: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}

export function serve(stop: () => Promise<void>): void {
  let stopping = false;
  const once = async () => {
    if (stopping) return;
    stopping = true;
    await stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void once());
  process.on('SIGINT', () => void once());
  process.stdout.write('ready\n');
}
