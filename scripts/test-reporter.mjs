// The test run's reporter: node's TAP, plus a list of every test that did not pass (failed, timed out or
// cancelled) printed just above the closing counts, so a log read from its tail names what went wrong,
// and the files whose tests took longest (the sum of each file's top-level test durations: the runner
// reports a file's events when it ends, so their arrival times say nothing), so a run that got longer
// says where.
import { relative } from 'node:path';
import process from 'node:process';
import { tap } from 'node:test/reporters';

export default async function* reporter(source) {
  const bad = [];
  const fileMs = new Map();
  let listed = false;
  async function* withList() {
    for await (const event of source) {
      if (event.type === 'test:fail' && !event.data.todo && !event.data.skip) {
        const { name, file } = event.data;
        const error = event.data.details?.error;
        const message = String(error?.cause?.message ?? error?.message ?? '').split('\n')[0]?.slice(0, 300);
        bad.push(`${error?.failureType ?? 'failed'} ${file ? relative(process.cwd(), file) : '?'}: ${name}: ${message}`);
      }
      if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0 && event.data.file) {
        fileMs.set(event.data.file, (fileMs.get(event.data.file) ?? 0) + (event.data.details?.duration_ms ?? 0));
      }
      if (!listed && event.type === 'test:diagnostic' && event.data.nesting === 0 && /^tests \d+$/.test(event.data.message)) {
        listed = true;
        yield { type: 'test:diagnostic', data: { nesting: 0, message: `did not pass: ${bad.length}` } };
        for (const line of bad) yield { type: 'test:diagnostic', data: { nesting: 0, message: `  ${line}` } };
        const slowest = [...fileMs].sort((a, b) => b[1] - a[1]).slice(0, 12);
        yield { type: 'test:diagnostic', data: { nesting: 0, message: 'slowest files (s, their tests summed):' } };
        for (const [file, ms] of slowest) {
          yield { type: 'test:diagnostic', data: { nesting: 0, message: `  ${(ms / 1000).toFixed(1).padStart(6)} ${relative(process.cwd(), file)}` } };
        }
      }
      yield event;
    }
  }
  yield* tap(withList());
}
