// The test run's reporter: node's TAP, plus a list of every test that did not pass (failed, timed out or
// cancelled) printed just above the closing counts, so a log read from its tail names what went wrong.
import { relative } from 'node:path';
import process from 'node:process';
import { tap } from 'node:test/reporters';

export default async function* reporter(source) {
  const bad = [];
  let listed = false;
  async function* withList() {
    for await (const event of source) {
      if (event.type === 'test:fail' && !event.data.todo && !event.data.skip) {
        const { name, file } = event.data;
        const error = event.data.details?.error;
        const message = String(error?.cause?.message ?? error?.message ?? '').split('\n')[0]?.slice(0, 300);
        bad.push(`${error?.failureType ?? 'failed'} ${file ? relative(process.cwd(), file) : '?'}: ${name}: ${message}`);
      }
      if (!listed && event.type === 'test:diagnostic' && event.data.nesting === 0 && /^tests \d+$/.test(event.data.message)) {
        listed = true;
        yield { type: 'test:diagnostic', data: { nesting: 0, message: `did not pass: ${bad.length}` } };
        for (const line of bad) yield { type: 'test:diagnostic', data: { nesting: 0, message: `  ${line}` } };
      }
      yield event;
    }
  }
  yield* tap(withList());
}
