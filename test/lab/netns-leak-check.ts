/**
 * Loaded by scripts/run-tests.js into every test file's process (`--require`): at exit, names the task network
 * namespaces (`shoal-*`) that appeared while this file ran and are still there — a test that leaked one, since
 * files run one at a time. It reports (on stderr, with the file) and does not fail the run: a leak is a bug to
 * chase, and the line says where.
 */
import { readdirSync } from 'node:fs';

const list = (): string[] => {
  try {
    return readdirSync('/run/netns').filter((n) => n.startsWith('shoal-'));
  } catch {
    return [];
  }
};

const before = new Set(list());
// The runner's own process (it has the whole file list in argv) is not a test file's: only children report.
const file = process.env.NODE_TEST_CONTEXT ? process.argv.find((a) => a.endsWith('.test.js')) : undefined;

if (file) {
  process.on('exit', () => {
    const left = list().filter((n) => !before.has(n));
    if (left.length) process.stderr.write(`\nnetns leak: ${file} left ${left.length} task namespace(s) behind: ${left.join(' ')}\n`);
  });
}
