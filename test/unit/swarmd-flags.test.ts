import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSwarmdFlags } from '../../control/swarmd-flags';

test('--mesh-workers takes a process count or auto, defaults to 1, and names the flag when wrong', () => {
  assert.equal(parseSwarmdFlags([], {}).meshWorkers, 1);
  assert.equal(parseSwarmdFlags(['--mesh-workers', '4'], {}).meshWorkers, 4);
  assert.equal(parseSwarmdFlags(['--mesh-workers=auto'], {}).meshWorkers, 'auto');
  for (const bad of ['0', '-1', '1.5', 'two', '65']) {
    assert.throws(() => parseSwarmdFlags(['--mesh-workers', bad], {}), new RegExp(`invalid --mesh-workers "${bad.replace('.', '\\.')}": use a number of processes from 1 to 64, or auto`));
  }
});
