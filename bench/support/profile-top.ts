/**
 * Reads V8 .cpuprofile files (from `node --cpu-prof`) and prints where the time went: the functions with the
 * most self time, and self time summed per source file. Paths under this repo are shown relative to it.
 * With `--callers NAME`, also the first repo-code frames on the stacks under every function named NAME (e.g.
 * `--callers spawn`: who starts all those processes).
 * Run: `node dist/bench/support/profile-top.js FILE.cpuprofile [...] [--top 25] [--callers NAME]`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { printTable } from './table';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const ROOT = join(__dirname, '..', '..', '..');

function place(url: string): string {
  if (!url) return '(native)';
  const path = url.replace(/^file:\/\//, '');
  return path.startsWith(ROOT) ? path.slice(ROOT.length + 1) : path.replace(/^.*node_modules\//, 'node_modules/');
}

function main(): void {
  const args = process.argv.slice(2);
  const t = args.indexOf('--top');
  const top = t >= 0 ? Number(args.splice(t, 2)[1]) : 25;
  const c = args.indexOf('--callers');
  const callersOf = c >= 0 ? args.splice(c, 2)[1] : undefined;
  const byCaller = new Map<string, number>();
  if (!args.length) throw new Error('usage: profile-top FILE.cpuprofile [...] [--top N]');
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (const file of args) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const ch of n.children ?? []) parent.set(ch, n.id);
    // The nearest frame from this repo (not node: or node_modules) above a node, as "fn file:line".
    const repoCaller = (id: number): string => {
      for (let cur = parent.get(id); cur !== undefined; cur = parent.get(cur)) {
        const f = nodes.get(cur)!.callFrame;
        const where = place(f.url);
        if (f.url && !where.startsWith('node:') && !where.startsWith('node_modules/')) return `${f.functionName || '(anonymous)'}  ${where}:${f.lineNumber + 1}`;
      }
      return '(no repo frame)';
    };
    // Self time per node: each sample's time delta goes to the node sampled.
    for (let i = 0; i < p.samples.length; i++) {
      const n = nodes.get(p.samples[i])!;
      const us = p.timeDeltas[i] ?? 0;
      const { functionName, url, lineNumber } = n.callFrame;
      if (functionName === '(idle)') continue;
      total += us;
      const where = place(url);
      const fnKey = `${functionName || '(anonymous)'}  ${where}${url ? `:${lineNumber + 1}` : ''}`;
      byFn.set(fnKey, (byFn.get(fnKey) ?? 0) + us);
      if (callersOf && functionName === callersOf) {
        const k = repoCaller(n.id);
        byCaller.set(k, (byCaller.get(k) ?? 0) + us);
      }
      const fileKey = url ? where : functionName;
      byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
    }
  }
  const rows = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => [k, (us / 1000).toFixed(0), `${((100 * us) / total).toFixed(1)}%`]);
  process.stdout.write(`busy time (idle excluded): ${(total / 1e6).toFixed(2)} s over ${args.length} profile(s)\n\nself time by function\n`);
  printTable(['function  file:line', 'ms', 'share'], rows(byFn));
  process.stdout.write('\nself time by file\n');
  printTable(['file', 'ms', 'share'], rows(byFile));
  if (callersOf) {
    process.stdout.write(`\nself time of ${callersOf}, by the nearest caller in this repo\n`);
    printTable(['caller  file:line', 'ms', 'share'], rows(byCaller));
  }
}

main();
