// Extra UDP reader processes (with batch UDP each binds its own socket in a SO_REUSEPORT group and the main process
// reads none; with dgram they share the main process's socket): while the main process's event loop is blocked (a
// synchronous child client runs), only the readers can answer, so these tests see exactly what they serve. They
// check that readers answer at all, that apply() returns only once every reader answers from the new table (and
// with the right scoping), that a change reaches them as a delta they apply to their own records, that a reader
// that dies is replaced, and that stop() leaves no process behind.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { systemClock } from '../../control/base/clock';
import { silentLogger } from '../../control/base/log';
import { DnsResolver } from '../../dns/dns-resolver';
import { bigTable } from '../../dns/test-kit';
import { Records } from '../../dns/records';
import type { UdpIo } from '../../dns/server';

const HOST = '127.0.0.41';
const resolvers: DnsResolver[] = [];
after(async () => {
  for (const r of resolvers) await r.stop();
});

async function started(readers: number, services: number, udpIo: UdpIo = 'batch'): Promise<DnsResolver> {
  const r = new DnsResolver({ address: HOST, port: 0, clock: systemClock, logger: silentLogger, upstreams: [], searchDomains: [], udpReaders: readers, udpIo });
  resolvers.push(r);
  await r.start();
  await r.apply(bigTable(services, 2));
  return r;
}

/**
 * Asks `count` A queries for `name` from a separate process, each from its own socket (so the kernel's choice
 * of reader varies), while this process is blocked in spawnSync and cannot read. Returns 'RCODE ADDRESSES' per
 * query ('' for no answer within 2 s).
 */
function askBlocked(port: number, name: string, count: number): string[] {
  const script = `
    const dgram = require('node:dgram'); const pkt = require('dns-packet');
    const out = []; let left = ${count};
    for (let i = 0; i < ${count}; i++) {
      const s = dgram.createSocket('udp4');
      const done = (v) => { if (out[i] !== undefined) return; out[i] = v; s.close(); if (--left === 0) console.log(JSON.stringify(out)); };
      s.on('message', (m) => { const d = pkt.decode(m); done(d.rcode + ' ' + (d.answers || []).map((a) => a.data).join(',')); });
      s.send(pkt.encode({ id: i, type: 'query', questions: [{ name: ${JSON.stringify(name)}, type: 'A' }] }), ${port}, '${HOST}');
      setTimeout(() => done(''), 2000);
    }`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: process.cwd() });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}


for (const udpIo of ['batch', 'dgram'] as const)
test(`${udpIo}: readers answer while the main process cannot, and apply() waits until all of them answer from the new table`, async () => {
  const dns = await started(2, 3, udpIo);
  assert.equal(dns.udpIo, udpIo);
  assert.equal(dns.readerPids().length, 2);
  assert.deepEqual(new Set(askBlocked(dns.port, 'svc1', 40)), new Set(['NOERROR 10.1.0.3']));
  assert.deepEqual(new Set(askBlocked(dns.port, 'svc5', 10)), new Set(['SERVFAIL ']), 'svc5 does not exist yet (SERVFAIL: no upstream)');
  await dns.apply(bigTable(6, 2));
  assert.deepEqual(new Set(askBlocked(dns.port, 'svc5', 40)), new Set(['NOERROR 10.1.0.7']), 'every reader knows svc5 once apply() resolved');
  await dns.apply(bigTable(2, 2));
  assert.deepEqual(new Set(askBlocked(dns.port, 'svc5', 40)), new Set(['SERVFAIL ']), 'and forgets it with the next table');
  await dns.stop();
});

test('a task that starts in one service reaches every reader as a delta, and one that stops is gone from all', async () => {
  const dns = await started(2, 5);
  const before = bigTable(5, 2);
  const next = structuredClone(before);
  next.services[3].backends.push({ taskId: 'new1', name: 'svc3.3.new1', nodeId: 'node1', addrs: { net: '10.1.9.9' } });
  assert.equal(Records.build(before).update(next).kind, 'delta', 'a one-service change travels as a delta');
  assert.deepEqual(new Set(askBlocked(dns.port, 'svc3.3.new1', 10)), new Set(['SERVFAIL ']), 'not there yet');
  await dns.apply(next);
  assert.deepEqual(new Set(askBlocked(dns.port, 'svc3.3.new1', 40)), new Set(['NOERROR 10.1.9.9']), 'every reader answers for the new task');
  assert.deepEqual(new Set(askBlocked(dns.port, 'svc2', 20)), new Set(['NOERROR 10.1.0.4']), 'and still for the others');
  const stopped = structuredClone(next);
  stopped.services[3].backends.splice(0, 1);
  await dns.apply(stopped);
  assert.deepEqual(new Set(askBlocked(dns.port, 'svc3.1.t3x0', 40)), new Set(['SERVFAIL ']), 'the stopped task is gone from every reader');
  assert.deepEqual(new Set(askBlocked(dns.port, 'svc3.3.new1', 20)), new Set(['NOERROR 10.1.9.9']));
  await dns.stop();
});

test('a reader that dies is replaced and gets the current table; stop() leaves no reader behind', async () => {
  const dns = await started(2, 4);
  const pids = dns.readerPids();
  assert.equal(pids.length, 2);
  assert.ok(pids.every(alive));
  process.kill(pids[0], 'SIGKILL');
  while (dns.readerPids().includes(pids[0]) || dns.readerPids().length < 2) await new Promise((r) => setTimeout(r, 50));
  await dns.apply(bigTable(8, 2)); // also waits for the replacement to take a table
  assert.deepEqual(new Set(askBlocked(dns.port, 'svc7', 40)), new Set(['NOERROR 10.1.0.9']));
  const now = dns.readerPids();
  assert.equal(alive(pids[0]), false);
  await dns.stop();
  for (const pid of now) assert.equal(alive(pid), false, `reader ${pid} outlived stop()`);
  assert.deepEqual(dns.readerPids(), []);
});
