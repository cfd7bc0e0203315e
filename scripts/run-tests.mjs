// The test run (scripts/test.sh starts it under `node --import tsx`, which every test file's process
// inherits): node:test's run() with the options `node --test` would get, but with the files in the
// order given here. `node --test FILES` sorts its files by path, so the one long VM file
// (test/vm/vm.test.ts: TCG guests, ~5 min on one core) ran last, beside nothing once the other
// files were done; started first, it runs beside them. The order after it: the e2e files (the
// longest after the VM's), then the unit tests, so the run does not end on one long file.
//
// Arguments: `--test-name-pattern=RE` (repeatable) as node's; `--list` prints the files in their
// order and runs none; any other argument is a test file, and then only those run, in that order.
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import process from 'node:process';
import { run } from 'node:test';
import reporter from './test-reporter.mjs';

/**
 * Bounds each test file (as `node --test --test-timeout`; suites with their own timeout option keep
 * it): the heaviest e2e files (stats accuracy over three runtimes, workloads with helm) take
 * 110–175 s on this 2-core machine, so a 180 s limit failed them under load; the VM file takes ~5
 * min in CI, more while a benchmark holds the bench lock.
 */
const TIMEOUT_MS = 900_000;
const CONCURRENCY = 2;
const FIRST = ['test/vm/vm.test.ts'];

function testFiles(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...testFiles(p));
    else if (e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const rank = (f) => (FIRST.includes(f) ? 0 : f.startsWith('test/e2e/') ? 1 : f.startsWith('test/') ? 2 : 3);

const patterns = [];
const given = [];
let list = false;
for (const a of process.argv.slice(2)) {
  const m = /^--test-name-pattern=(.*)$/s.exec(a);
  if (m) patterns.push(m[1]);
  else if (a === '--list') list = true;
  else if (a.startsWith('-')) {
    process.stderr.write(`scripts/run-tests.mjs: unknown option ${a} (only --test-name-pattern=RE, --list, and test files)\n`);
    process.exit(2);
  } else if (!existsSync(a)) {
    process.stderr.write(`scripts/run-tests.mjs: no such test file: ${a}\n`);
    process.exit(2);
  } else given.push(relative(process.cwd(), a));
}
const files = given.length > 0 ? given : [...testFiles('src'), ...testFiles('test')].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
if (files.length === 0) {
  process.stderr.write('scripts/run-tests.mjs: no test files found\n');
  process.exit(1);
}

if (list) {
  process.stdout.write(`${files.join('\n')}\n`);
  process.exit(0);
}
run({ files, concurrency: CONCURRENCY, timeout: TIMEOUT_MS, ...(patterns.length > 0 ? { testNamePatterns: patterns } : {}) })
  .on('test:fail', (data) => {
    // as `node --test`: a todo test's failure does not fail the run
    if (data.todo === undefined || data.todo === false) process.exitCode = 1;
  })
  .compose(reporter)
  .pipe(process.stdout);
