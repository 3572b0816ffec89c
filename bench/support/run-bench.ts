/**
 * How a benchmark that starts real things (swarmd, containers, namespaces) runs: main(), then its cleanups in
 * reverse order — also on an error or on Ctrl-C/SIGTERM, so an interrupted run leaves nothing behind.
 */
export type Cleanup = () => Promise<unknown>;

export function runBench(name: string, main: () => Promise<void>, cleanups: Cleanup[], finalCleanup: () => Promise<void> = async () => {}): void {
  const cleanupAll = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c().catch((e) => process.stderr.write(`cleanup: ${(e as Error).message}\n`));
    await finalCleanup();
  };
  let interrupted = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (interrupted) return;
      interrupted = true;
      process.stderr.write(`\n${sig}: cleaning up\n`);
      void cleanupAll().finally(() => process.exit(130));
    });
  }
  main()
    .catch((e) => {
      process.stderr.write(`${name}: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    })
    .finally(() => {
      if (!interrupted) return cleanupAll();
    });
}
