// The test run (scripts/test.sh starts it under `node --import tsx`, which each test file's process
// inherits): node's own runner through its run() API, so the files start in the order given here.
// The CLI (`node --test a b c`) sorts them by path on Node 20, which starts the longest files last:
// test/vm/vm.test.ts (~3 min) and test/e2e/ (1–2.5 min each) after ~300 short unit files, so the run
// ended with one slot busy and one idle for minutes. Starting them first (reverse path order:
// test/vm, test/e2e, then src/) leaves the short files to fill the end.
// Arguments: test files; --test-name-pattern=RE (repeatable) as for node --test.
import process from 'node:process';
import { run } from 'node:test';
import reporter from './test-reporter.mjs';

const files = [];
const testNamePatterns = [];
for (const arg of process.argv.slice(2)) {
  const pattern = /^--test-name-pattern=(.*)$/.exec(arg);
  if (pattern) testNamePatterns.push(pattern[1]);
  else if (arg.startsWith('--')) {
    console.error(`scripts/run-tests.mjs: unknown option ${arg}`);
    process.exit(2);
  } else files.push(arg);
}
if (files.length === 0) {
  console.error('scripts/run-tests.mjs: no test files given');
  process.exit(1);
}
files.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));

let failed = 0;
let tests = 0;
const stream = run({
  files,
  concurrency: 2,
  // bounds every test, a whole file included: the heaviest e2e files (stats accuracy over three
  // runtimes, workloads with helm) take 110–175 s on this 2-core machine, so a 180 s limit failed them
  // under load; the VM file takes ~3–5 min in CI and more when a benchmark holds the bench lock, hence 15
  // min; suites with their own timeout option keep it.
  timeout: 900_000,
  ...(testNamePatterns.length > 0 ? { testNamePatterns } : {}),
});
stream.on('test:fail', (data) => {
  if (!data.todo && !data.skip) failed += 1;
});
stream.on('test:diagnostic', (data) => {
  const count = /^tests (\d+)$/.exec(data.message);
  if (data.nesting === 0 && count) tests = Number(count[1]);
});
stream.on('end', () => {
  if (tests === 0) {
    console.log('# no tests ran: not a pass');
    process.exitCode = 1;
  } else if (failed > 0) process.exitCode = 1;
});
stream.compose(reporter).pipe(process.stdout);
