import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../control/base/clock';
import type { HealthStatus } from '../../control/agent/health-monitor';
import { PolledHealthFeed, pollPeriod } from '../../control/agent/health-poll';

const flush = () => new Promise((r) => setImmediate(r));

test('poll period: half the probe interval, within 250ms..2s', () => {
  assert.equal(pollPeriod(30_000), 2000);
  assert.equal(pollPeriod(1000), 500);
  assert.equal(pollPeriod(100), 250);
});

test('reports each change of the engine\'s status once, keeps the last on a missing or failed read, stops on close', async () => {
  const clock = new FakeClock();
  const answers: (HealthStatus | undefined | Error)[] = ['starting', undefined, 'healthy', 'healthy', new Error('engine restarting'), 'unhealthy'];
  const errors: unknown[] = [];
  let reads = 0;
  const feed = new PolledHealthFeed(
    async () => {
      reads++;
      const a = answers.shift();
      if (a instanceof Error) throw a;
      return a;
    },
    clock,
    500,
    (e) => errors.push(e),
  );
  const seen: HealthStatus[] = [];
  feed.onChange((s) => seen.push(s));
  await feed.start();
  assert.equal(reads, 1, 'read at once');
  for (let i = 0; i < 5; i++) {
    clock.advance(500);
    await flush();
  }
  assert.deepEqual(seen, ['healthy', 'unhealthy']);
  assert.equal(feed.status, 'unhealthy');
  assert.equal(errors.length, 1);
  feed.close();
  clock.advance(10_000);
  assert.equal(reads, 6);
  assert.equal(clock.pending(), 0);
});

test('an engine already reporting healthy is seen by start()', async () => {
  const feed = new PolledHealthFeed(async () => 'healthy', new FakeClock(), 500);
  await feed.start();
  assert.equal(feed.status, 'healthy');
  feed.close();
});
