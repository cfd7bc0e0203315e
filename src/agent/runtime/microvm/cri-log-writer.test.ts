import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseCriLine } from '../../logs/cri-log.ts';
import { CriLogWriter } from './cri-log-writer.ts';

const tmp = mkdtempSync(join(tmpdir(), 'hedge-crilog-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const records = (p: string): { stream: string; tag: string; message: string }[] =>
  readFileSync(p, 'utf8').trimEnd().split('\n').map((l) => {
    const r = parseCriLine(l);
    assert.ok(r, l);
    return { stream: r.stream, tag: r.partial ? 'P' : 'F', message: r.message };
  });

test('lines split anywhere (inside a UTF-8 character too) become whole records; the partial rest is pending', () => {
  const p = join(tmp, 'a', 'c.log');
  const w = new CriLogWriter(p);
  const all = Buffer.from('héllo wörld\nzweite Zeile €\nrest');
  for (let i = 0; i < all.length; i += 3) w.write('stdout', all.subarray(i, i + 3));
  assert.equal(w.pending('stdout'), 4);
  assert.equal(w.pending('stderr'), 0);
  w.write('stderr', Buffer.from('e1\n'));
  assert.deepEqual(records(p), [
    { stream: 'stdout', tag: 'F', message: 'héllo wörld' },
    { stream: 'stdout', tag: 'F', message: 'zweite Zeile €' },
    { stream: 'stderr', tag: 'F', message: 'e1' },
  ]);
  // a reconnect drops the pending bytes: the guest sends them again
  assert.equal(w.discardPending('stdout'), 4);
  w.write('stdout', Buffer.from('rest of it\n'));
  w.write('stdout', Buffer.from('last'));
  w.flush();
  assert.deepEqual(records(p).slice(3), [
    { stream: 'stdout', tag: 'F', message: 'rest of it' },
    { stream: 'stdout', tag: 'F', message: 'last' },
  ]);
  assert.equal(w.pending('stdout'), 0);
});

test('a line longer than 16 KiB is split into P records, the rest stays pending', () => {
  const p = join(tmp, 'long.log');
  const w = new CriLogWriter(p);
  w.write('stdout', Buffer.alloc(40 * 1024, 'a'));
  const r = records(p);
  assert.deepEqual(r.map((x) => [x.tag, x.message.length]), [['P', 16384], ['P', 16384]]);
  assert.equal(w.pending('stdout'), 40 * 1024 - 32768);
});
