import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { CriLogRotator } from './rotator.ts';
import { formatCriLine, logTailMessage, parseCriLine, readCriLog, TERMINATION_LOG_BYTES, type CriLogLine } from './cri-log.ts';

const dir = mkdtempSync(join(tmpdir(), 'hedge-logs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const L = (sec: number, stream: string, tag: string, msg: string): string =>
  `2024-01-01T00:00:${String(sec).padStart(2, '0')}.123456789Z ${stream} ${tag} ${msg}\n`;

async function collect(it: AsyncIterable<CriLogLine>, n = Infinity): Promise<CriLogLine[]> {
  const out: CriLogLine[] = [];
  for await (const l of it) {
    out.push(l);
    if (out.length >= n) break;
  }
  return out;
}

test('parseCriLine handles tags, empty messages and junk', () => {
  assert.deepEqual(parseCriLine('2016-10-06T00:17:09.669794202Z stdout F hello world')?.message, 'hello world');
  assert.equal(parseCriLine('2016-10-06T00:17:09.669794202Z stderr P part')?.partial, true);
  assert.equal(parseCriLine('2016-10-06T00:17:09.669794202Z stdout F')?.message, '');
  assert.equal(parseCriLine('garbage'), undefined);
  assert.equal(parseCriLine('notatime stdout F x'), undefined);
  assert.equal(parseCriLine('2016-10-06T00:17:09Z stdin F x'), undefined);
});

test('joins partial lines per stream, filters, tails and formats timestamps', async () => {
  const p = join(dir, 'a.log');
  writeFileSync(
    p,
    L(1, 'stdout', 'P', 'hel') + L(1, 'stderr', 'F', 'err1') + L(2, 'stdout', 'F', 'lo') + L(3, 'stdout', 'F', 'three') + L(4, 'stderr', 'F', 'err2') + 'junk\n',
  );
  const all = await collect(readCriLog({ current: p }, { signal: AbortSignal.timeout(5000) }));
  assert.deepEqual(all.map((l) => `${l.stream}:${l.message}`), ['stderr:err1', 'stdout:hello', 'stdout:three', 'stderr:err2']);
  const tail = await collect(readCriLog({ current: p }, { tailLines: 2, signal: AbortSignal.timeout(5000) }));
  assert.deepEqual(tail.map((l) => l.message), ['three', 'err2']);
  const since = await collect(readCriLog({ current: p }, { sinceTime: new Date('2024-01-01T00:00:03Z'), signal: AbortSignal.timeout(5000) }));
  assert.deepEqual(since.map((l) => l.message), ['three', 'err2']);
  const errOnly = await collect(readCriLog({ current: p }, { stream: 'stderr', signal: AbortSignal.timeout(5000) }));
  assert.deepEqual(errOnly.map((l) => l.message), ['err1', 'err2']);
  assert.equal(formatCriLine(all[0], true), '2024-01-01T00:00:01.123456789Z err1\n');
  assert.equal(formatCriLine(all[0], false), 'err1\n');
  await assert.rejects(collect(readCriLog({ current: p }, { previous: true, signal: AbortSignal.timeout(5000) })), /previous/);
  await assert.rejects(collect(readCriLog({ current: join(dir, 'nope.log') }, { signal: AbortSignal.timeout(5000) })), /not found/);
});

test('follow sees appended lines and continues across a rotation', async () => {
  const p = join(dir, 'f.log');
  writeFileSync(p, L(1, 'stdout', 'F', 'one'));
  const ac = new AbortController();
  const it = readCriLog({ current: p }, { follow: true, tailLines: 10, signal: ac.signal, pollMs: 10 })[Symbol.asyncIterator]();
  assert.equal((await it.next()).value?.message, 'one');
  appendFileSync(p, L(2, 'stdout', 'F', 'two'));
  assert.equal((await it.next()).value?.message, 'two');
  // the writer appends a last line to the old file, then rotation + reopen
  appendFileSync(p, L(3, 'stdout', 'F', 'three'));
  renameSync(p, `${p}.20240101-000003`);
  writeFileSync(p, L(4, 'stdout', 'F', 'four'));
  assert.equal((await it.next()).value?.message, 'three');
  assert.equal((await it.next()).value?.message, 'four');
  ac.abort();
  assert.equal((await it.next()).done, true);
});

test('CriLogRotator renames by size, reopens, keeps maxFiles and compresses older ones', async () => {
  const sub = mkdtempSync(join(dir, 'rot-'));
  const p = join(sub, 'c.log');
  let t = Date.UTC(2024, 0, 1, 0, 0, 0);
  const r = new CriLogRotator({ maxSizeBytes: 100, maxFiles: 3, compress: true, now: () => new Date(t) });
  let reopened = 0;
  const target = {
    logPath: p,
    reopen: async () => {
      reopened++;
      writeFileSync(p, '');
    },
  };
  writeFileSync(p, 'x'.repeat(50));
  assert.equal(await r.rotateIfNeeded(target, AbortSignal.timeout(5000)), false);
  for (let i = 0; i < 4; i++) {
    writeFileSync(p, `${i}`.repeat(150));
    assert.equal(await r.rotateIfNeeded(target, AbortSignal.timeout(5000)), true);
    t += 1000;
  }
  assert.equal(reopened, 4);
  const files = readdirSync(sub).sort();
  // current + 2 rotated (maxFiles 3); the older rotated one is gzipped
  assert.deepEqual(files, ['c.log', 'c.log.20240101-000002.gz', 'c.log.20240101-000003']);
  assert.equal(gunzipSync(readFileSync(join(sub, 'c.log.20240101-000002.gz'))).toString(), '2'.repeat(150));
  assert.equal(readFileSync(join(sub, 'c.log.20240101-000003'), 'utf8'), '3'.repeat(150));
  assert.ok(existsSync(p));

  // a failing reopen puts the file back
  writeFileSync(p, 'y'.repeat(150));
  await assert.rejects(r.rotateIfNeeded({ logPath: p, reopen: async () => Promise.reject(new Error('conmon gone')) }, AbortSignal.timeout(5000)), /conmon gone/);
  assert.equal(readFileSync(p, 'utf8'), 'y'.repeat(150));
});

test('logTailMessage: the last 80 lines, both streams, cut to the last 2 KiB; none without a log', async () => {
  const sig = new AbortController().signal;
  const long = join(dir, 'long.log');
  writeFileSync(long, Array.from({ length: 90 }, (_, i) => L(i % 60, i % 2 ? 'stderr' : 'stdout', 'F', `${String(i).padStart(2, '0')} ${'x'.repeat(40)}`)).join(''));
  const m = await logTailMessage(long, sig);
  assert.equal(Buffer.byteLength(m), TERMINATION_LOG_BYTES);
  assert.ok(m.endsWith(`89 ${'x'.repeat(40)}`));
  const short = join(dir, 'short.log');
  writeFileSync(short, L(1, 'stdout', 'F', 'a') + L(2, 'stderr', 'P', 'b') + L(3, 'stderr', 'F', 'c'));
  assert.equal(await logTailMessage(short, sig), 'a\nbc');
  assert.equal(await logTailMessage(join(dir, 'missing.log'), sig), '');
});
