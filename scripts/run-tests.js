#!/usr/bin/env node
// Runs the compiled tests with node's test runner: `node scripts/run-tests.js [unit|integration|e2e ...]`.
// With no argument every level runs. Files run one at a time (integration tests share the kernel: namespaces,
// bridges, iptables), and the runner's closing summary ("# pass N", "# fail N") is what CI reads.
'use strict';
const { readdirSync, statSync, existsSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

const levels = process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'integration', 'e2e'];
const root = join(__dirname, '..', 'dist', 'test');
const files = [];
const walk = (dir) => {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
};
for (const level of levels) walk(join(root, level));
if (files.length === 0) {
  console.error(`no test files under ${levels.map((l) => join(root, l)).join(', ')}: run npm run build first`);
  process.exit(1);
}
// Each file's process also loads the namespace leak check (it names a file that leaves task namespaces behind).
const leakCheck = join(root, 'lab', 'netns-leak-check.js');
const r = spawnSync(process.execPath, ['--require', leakCheck, '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
