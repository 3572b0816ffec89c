import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../control/base/clock';
import { HealthMonitor, MAX_OUTPUT_BYTES, type ProbeResult } from '../../control/agent/health-monitor';
import { healthTest, healthTimings, type HealthTimings } from '../../control/agent/health-config';

/** Lets the probe's promise and the monitor's continuation run. */
const flush = () => new Promise((r) => setImmediate(r));

/** Probes answer from a script: a number is an exit code, 'hang' never answers (until aborted). */
function scripted(script: (number | 'hang')[]) {
  const calls: { aborted: () => boolean }[] = [];
  const probe = (signal: AbortSignal): Promise<ProbeResult> => {
    calls.push({ aborted: () => signal.aborted });
    const next = script.shift() ?? 0;
    if (next === 'hang') return new Promise(() => {});
    return Promise.resolve({ exitCode: next, output: `exit ${next}\n` });
  };
  return { probe, calls };
}

function monitor(timings: Partial<HealthTimings>, script: (number | 'hang')[]) {
  const clock = new FakeClock();
  const s = scripted(script);
  const m = new HealthMonitor({ timings: { intervalMs: 1000, timeoutMs: 500, startPeriodMs: 0, retries: 3, ...timings }, probe: s.probe, clock });
  const changes: string[] = [];
  m.onChange((st) => changes.push(st));
  m.start();
  /** Advances one interval (the next probe runs) and lets it finish. */
  const tick = async (ms = 1000) => {
    clock.advance(ms);
    await flush();
  };
  return { clock, m, changes, calls: s.calls, tick };
}

test('Docker defaults: 30s interval and timeout, 3 retries, no start period; zero means default', () => {
  assert.deepEqual(healthTimings(undefined), { intervalMs: 30_000, timeoutMs: 30_000, startPeriodMs: 0, retries: 3 });
  assert.deepEqual(healthTimings({ Interval: 500e6, Timeout: 0, Retries: 0, StartPeriod: 2e9 }), {
    intervalMs: 500,
    timeoutMs: 30_000,
    startPeriodMs: 2000,
    retries: 3,
  });
});

test('Test forms: NONE and empty disable, CMD runs as is, CMD-SHELL through /bin/sh -c; others are refused', () => {
  assert.equal(healthTest(undefined), undefined);
  assert.equal(healthTest({ Test: ['NONE'] }), undefined);
  assert.equal(healthTest({ Interval: 1e9 }), undefined);
  assert.deepEqual(healthTest({ Test: ['CMD', 'test', '-f', '/ready'] }), { argv: ['test', '-f', '/ready'] });
  assert.deepEqual(healthTest({ Test: ['CMD-SHELL', 'test -f /ready'] }), { argv: ['/bin/sh', '-c', 'test -f /ready'] });
  assert.throws(() => healthTest({ Test: ['SHELL', 'x'] }), /unsupported test type "SHELL"/);
  assert.throws(() => healthTest({ Test: ['CMD'] }), /CMD needs a command/);
});

test('starts "starting"; the first probe runs one interval later, and a success makes it healthy', async () => {
  const h = monitor({}, [0]);
  assert.equal(h.m.status, 'starting');
  await h.tick(999);
  assert.equal(h.calls.length, 0, 'no probe before the first interval');
  await h.tick(1);
  assert.equal(h.calls.length, 1);
  assert.equal(h.m.status, 'healthy');
  assert.deepEqual(h.changes, ['healthy']);
  const s = h.m.state();
  assert.equal(s.FailingStreak, 0);
  assert.equal(s.Log.length, 1);
  assert.equal(s.Log[0].ExitCode, 0);
  assert.equal(s.Log[0].Output, 'exit 0\n');
});

test('`retries` consecutive failures make it unhealthy; a success in between resets the streak', async () => {
  const h = monitor({ retries: 2 }, [1, 0, 1, 1]);
  await h.tick();
  assert.equal(h.m.status, 'starting');
  assert.equal(h.m.state().FailingStreak, 1);
  await h.tick();
  assert.equal(h.m.status, 'healthy');
  assert.equal(h.m.state().FailingStreak, 0);
  await h.tick();
  assert.equal(h.m.status, 'healthy', 'one failure is not enough');
  await h.tick();
  assert.equal(h.m.status, 'unhealthy');
  assert.equal(h.m.state().FailingStreak, 2);
  assert.deepEqual(h.changes, ['healthy', 'unhealthy']);
});

test('failures during the start period do not count; a success ends the period early', async () => {
  const h = monitor({ retries: 1, startPeriodMs: 2500 }, [1, 1, 1]);
  await h.tick(); // t=1000: in the start period
  await h.tick(); // t=2000: in the start period
  assert.equal(h.m.status, 'starting');
  assert.equal(h.m.state().FailingStreak, 0);
  await h.tick(); // t=3000: past it
  assert.equal(h.m.status, 'unhealthy');

  const e = monitor({ retries: 1, startPeriodMs: 10_000 }, [0, 1]);
  await e.tick();
  assert.equal(e.m.status, 'healthy');
  await e.tick(); // still inside 10s, but no longer starting: counts
  assert.equal(e.m.status, 'unhealthy');
});

test('a probe that outlives the timeout is aborted and fails with exit code -1 and Docker\'s message', async () => {
  const h = monitor({ retries: 1, timeoutMs: 500 }, ['hang']);
  await h.tick(1000);
  assert.equal(h.calls.length, 1);
  assert.equal(h.calls[0].aborted(), false);
  await h.tick(500);
  assert.equal(h.calls[0].aborted(), true);
  assert.equal(h.m.status, 'unhealthy');
  const entry = h.m.state().Log[0];
  assert.equal(entry.ExitCode, -1);
  assert.equal(entry.Output, 'Health check exceeded timeout (500ms)');
});

test('the next probe runs an interval after the previous one ended, not after it started', async () => {
  const clock = new FakeClock();
  let finish!: (r: ProbeResult) => void;
  let probes = 0;
  const m = new HealthMonitor({
    timings: { intervalMs: 1000, timeoutMs: 5000, startPeriodMs: 0, retries: 3 },
    clock,
    probe: () => {
      probes++;
      return new Promise((r) => (finish = r));
    },
  });
  m.start();
  clock.advance(1000);
  assert.equal(probes, 1);
  clock.advance(800); // the probe takes 800ms
  finish({ exitCode: 0, output: '' });
  await flush();
  clock.advance(999);
  assert.equal(probes, 1);
  clock.advance(1);
  assert.equal(probes, 2);
  m.close();
});

test('keeps the last 5 probes and at most 4096 bytes of output each', async () => {
  const clock = new FakeClock();
  let n = 0;
  const m = new HealthMonitor({
    timings: { intervalMs: 10, timeoutMs: 5, startPeriodMs: 0, retries: 100 },
    clock,
    probe: async () => ({ exitCode: ++n, output: 'é'.repeat(MAX_OUTPUT_BYTES) }),
  });
  m.start();
  for (let i = 0; i < 7; i++) {
    clock.advance(10);
    await flush();
  }
  const log = m.state().Log;
  assert.deepEqual(log.map((e) => e.ExitCode), [3, 4, 5, 6, 7]);
  assert.ok(log.every((e) => Buffer.byteLength(e.Output) <= MAX_OUTPUT_BYTES && e.Output.length === MAX_OUTPUT_BYTES / 2));
  m.close();
});

test('a probe that throws counts as a failure with the reason; close() stops probing and aborts one in flight', async () => {
  const clock = new FakeClock();
  let signal: AbortSignal | undefined;
  let calls = 0;
  const m = new HealthMonitor({
    timings: { intervalMs: 100, timeoutMs: 1000, startPeriodMs: 0, retries: 1 },
    clock,
    probe: (s) => {
      calls++;
      signal = s;
      return calls === 1 ? Promise.reject(new Error('no such process')) : new Promise(() => {});
    },
  });
  m.start();
  clock.advance(100);
  await flush();
  assert.equal(m.status, 'unhealthy');
  assert.match(m.state().Log[0].Output, /health check could not run: no such process/);
  clock.advance(100);
  assert.equal(calls, 2);
  m.close();
  assert.equal(signal?.aborted, true);
  clock.advance(10_000);
  assert.equal(calls, 2);
  assert.equal(clock.pending(), 0);
});
