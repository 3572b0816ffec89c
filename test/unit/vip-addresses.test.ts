import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseVips, vipBatch, wantedVips, VipAddresses } from '../../overlay/vip-addresses';
import { silentLogger } from '../../control/base/log';
import type { Exec } from '../../control/base/exec';
import type { EndpointTable, ServiceEndpoint } from '../../mesh/endpoint-table';

const svc = (name: string, mode: 'vip' | 'dnsrr', vips: Record<string, string>): ServiceEndpoint => ({ serviceId: name, serviceName: name, mode, vips, aliases: {}, ports: [], backends: [] });
const table = (services: ServiceEndpoint[]): EndpointTable => ({ networks: {}, services });

test('every VIP of vip-mode services is wanted; dnsrr services have none', () => {
  const t = table([svc('a', 'vip', { n1: '10.0.0.2', n2: '10.0.1.2' }), svc('b', 'dnsrr', { n1: '10.0.0.3' })]);
  assert.deepEqual([...wantedVips(t)].sort(), ['10.0.0.2', '10.0.1.2']);
});

test('the batch removes what is no longer wanted and adds the rest, labelled', () => {
  assert.deepEqual(vipBatch(new Set(['10.0.0.2', '10.0.0.9']), new Set(['10.0.0.2', '10.0.0.3'])), ['addr del 10.0.0.9/32 dev lo', 'addr replace 10.0.0.3/32 dev lo label lo:shoal']);
  assert.deepEqual(vipBatch(new Set(['10.0.0.2']), new Set(['10.0.0.2'])), []);
});

test('ip -o addr output is read for /32s only', () => {
  const out = '1: lo    inet 10.0.0.2/32 scope global lo:shoal\\       valid_lft forever preferred_lft forever\n1: lo    inet 10.0.1.7/32 scope global lo:shoal\n';
  assert.deepEqual([...parseVips(out)].sort(), ['10.0.0.2', '10.0.1.7']);
});

test('the component learns leftovers at start, converges on apply, and removes its VIPs at stop', async () => {
  let kernel = new Set(['10.0.0.9']);
  const calls: string[] = [];
  const exec: Exec = async (argv, opts) => {
    calls.push(argv.join(' '));
    if (argv.includes('show')) return { stdout: [...kernel].map((a) => `1: lo inet ${a}/32 scope global lo:shoal`).join('\n'), stderr: '' };
    for (const line of (opts?.input ?? '').split('\n').filter(Boolean)) {
      const [, op, addr] = /^addr (del|replace) ([\d.]+)\/32/.exec(line)!;
      if (op === 'del') kernel.delete(addr);
      else kernel.add(addr);
    }
    return { stdout: '', stderr: '' };
  };
  const v = new VipAddresses({ log: silentLogger, exec });
  await v.start();
  await v.apply(table([svc('a', 'vip', { n1: '10.0.0.2' })]));
  assert.deepEqual([...kernel], ['10.0.0.2']);
  const before = calls.length;
  await v.apply(table([svc('a', 'vip', { n1: '10.0.0.2' })]));
  assert.equal(calls.length, before, 'nothing to do, nothing run');
  await v.stop();
  assert.deepEqual([...kernel], []);
  kernel = new Set();
});
