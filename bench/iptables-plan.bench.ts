/**
 * The iptables mesh at kube-proxy's reference size, 1,000 services × 10 backends: plan + render time (pure), and
 * iptables-restore time full vs incremental (one service's backends changed) inside a throw-away namespace —
 * the anchor is §5.4's measurement of the same shape (iptables-nft full 3.8 s, partial 55 ms). Prints; never
 * asserts. Run (root): `npm run build && node dist/bench/iptables-plan.bench.js [--services 1000]`.
 */
import { randomBytes } from 'node:crypto';
import { exec } from '../control/base/exec';
import { IptablesApplier } from '../mesh/iptables/applier';
import { IncrementalPlanner } from '../mesh/iptables/incremental-planner';
import { plan, type NodeContext } from '../mesh/iptables/plan';
import { renderCleanup, renderRestore } from '../mesh/iptables/render';
import type { EndpointTable } from '../mesh/endpoint-table';
import { bigEndpointTable } from './support/big-endpoint-table';

const arg = process.argv.indexOf('--services');
const SERVICES = arg > 0 ? Number(process.argv[arg + 1]) : 1000;
const NODE: NodeContext = { nodeId: 'n1', addresses: ['192.0.2.10'], bridgeName: () => 'br-ing' };

const table = (shift = 0): EndpointTable => bigEndpointTable(SERVICES, shift);

const ms = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;

async function main(): Promise<void> {
  const t0 = table();
  let start = process.hrtime.bigint();
  const m0 = plan(t0, NODE);
  const planMs = ms(start);
  start = process.hrtime.bigint();
  const full = renderRestore(m0, { kernel: { tables: { nat: new Map(), filter: new Map() } } });
  const renderMs = ms(start);
  // What the mesh does on a one-service change: the planner re-plans that service, the render skips the rest.
  const planner = new IncrementalPlanner();
  const warm = planner.plan(t0, NODE);
  const t1 = table(1);
  start = process.hrtime.bigint();
  const m1 = planner.plan(t1, NODE);
  const replanMs = ms(start);
  start = process.hrtime.bigint();
  const partial = renderRestore(m1, { previous: warm });
  const partialRenderMs = ms(start);
  start = process.hrtime.bigint();
  renderRestore(plan(t1, NODE), { previous: m0 });
  const uncachedMs = ms(start);
  const rules = full.split('\n').filter((l) => l.startsWith('-A')).length;
  const chains = full.split('\n').filter((l) => l.startsWith(':')).length;
  console.log(`${SERVICES} services × 10 backends: ${rules} rules in ${chains} chains, ${full.length} bytes full, ${partial.length} bytes incremental`);
  console.log(`plan ${planMs.toFixed(1)} ms, render full ${renderMs.toFixed(1)} ms`);
  console.log(`one-service change: re-plan ${replanMs.toFixed(1)} ms (${planner.replanned()} service), render incremental ${partialRenderMs.toFixed(1)} ms; uncached plan + diff ${uncachedMs.toFixed(1)} ms`);

  const ns = `shl-ipt-bench-${randomBytes(3).toString('hex')}`;
  await exec(['ip', 'netns', 'add', ns]);
  try {
    const applier = new IptablesApplier({ exec: (argv, o) => exec(argv, { ...o, timeoutMs: 600_000 }), netns: ns });
    start = process.hrtime.bigint();
    await applier.restore(full);
    const fullMs = ms(start);
    start = process.hrtime.bigint();
    await applier.restore(partial);
    const partialMs = ms(start);
    start = process.hrtime.bigint();
    const kernel = await applier.readKernel();
    const saveMs = ms(start);
    start = process.hrtime.bigint();
    await applier.restore(renderRestore(m1, { kernel }));
    const refullMs = ms(start);
    start = process.hrtime.bigint();
    await applier.restore(renderCleanup(await applier.readKernel()));
    const cleanupMs = ms(start);
    console.log('restore (iptables-nft)   ours ms    §5.4 anchor   ratio');
    console.log(`full                  ${fullMs.toFixed(0).padStart(8)}    3800          ${(fullMs / 3800).toFixed(2)}×`);
    console.log(`incremental (1 svc)   ${partialMs.toFixed(0).padStart(8)}    55            ${(partialMs / 55).toFixed(2)}×`);
    console.log(`re-full over existing ${refullMs.toFixed(0).padStart(8)}    4000          ${(refullMs / 4000).toFixed(2)}×  (writes only chains differing from iptables-save; the save is timed below)`);
    console.log(`iptables-save both tables ${saveMs.toFixed(0)} ms; cleanup ${cleanupMs.toFixed(0)} ms`);
  } finally {
    await exec(['ip', 'netns', 'del', ns]);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
