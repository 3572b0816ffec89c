import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, formatDuration, parseDuration } from '../../control/base/clock';

test('parseDuration reads Go durations', () => {
  assert.equal(parseDuration('10s'), 10e9);
  assert.equal(parseDuration('1m30s'), 90e9);
  assert.equal(parseDuration('500ms'), 500e6);
  assert.equal(parseDuration('0'), 0);
  assert.throws(() => parseDuration('10'), /invalid duration "10"/);
  assert.throws(() => parseDuration('ten'), /invalid duration/);
});

test('formatDuration writes Go durations', () => {
  assert.equal(formatDuration(10e9), '10s');
  assert.equal(formatDuration(90e9), '1m30s');
  assert.equal(formatDuration(5e9), '5s');
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(500e6), '500ms');
  assert.equal(formatDuration(3600e9), '1h0m0s');
});

test('FakeClock fires timers in due order only when advanced', () => {
  const clock = new FakeClock(0);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push('b'), 20);
  clock.setTimeout(() => fired.push('a'), 10);
  const c = clock.setTimeout(() => fired.push('c'), 15);
  c.cancel();
  clock.advance(5);
  assert.deepEqual(fired, []);
  clock.advance(20);
  assert.deepEqual(fired, ['a', 'b']);
  assert.equal(clock.now(), 25);
});
