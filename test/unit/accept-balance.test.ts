import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AcceptBalance, slack } from '../../mesh/userspace/accept-balance';

/** One worker accepting `n` connections in a row; returns how many it kept. */
function burst(b: AcceptBalance, n: number, open = 0): number {
  let mine = open;
  for (let i = 0; i < n; i++) if (b.keep(mine)) mine++;
  return mine - open;
}

test('a single worker keeps everything', () => {
  const b = new AcceptBalance(1);
  assert.equal(burst(b, 100), 100);
  assert.equal(b.handedTotal, 0);
});

test('a burst of 32 on one of 2 idle workers: it keeps its share and a little slack, hands on the rest', () => {
  const b = new AcceptBalance();
  b.update(2, 0);
  const kept = burst(b, 32);
  assert.equal(kept + b.handedTotal, 32);
  assert.ok(kept >= 16 && kept <= 16 + slack(16), `kept ${kept}`);
});

test('with 4 workers a burst of 100 leaves about a quarter here', () => {
  const b = new AcceptBalance();
  b.update(4, 0);
  const kept = burst(b, 100);
  assert.ok(kept >= 25 && kept <= 25 + slack(25), `kept ${kept}`);
});

test('steady traffic near the share is kept: nothing is handed around for small differences', () => {
  const b = new AcceptBalance();
  b.update(2, 16); // the other worker holds 16
  for (let mine = 10; mine < 16 + slack(17); mine++) assert.ok(b.keep(mine), `kept at ${mine}`);
  assert.equal(b.handedTotal, 0);
});

test('a worker already far above the others hands on new connections until the next report', () => {
  const b = new AcceptBalance();
  b.update(2, 2);
  assert.equal(b.keep(30), false);
  assert.equal(b.keep(30), false);
  assert.equal(b.handedTotal, 2);
  b.update(2, 40); // the others now hold more
  assert.equal(b.keep(30), true);
});
