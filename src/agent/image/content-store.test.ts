import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { isHedgeError } from '../../lib/errors.ts';
import { ContentStore } from './content-store.ts';
import { sha256Digest } from './digest.ts';

let dir = '';
let store: ContentStore;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hedge-cs-'));
  store = new ContentStore(dir);
  await store.init();
});
after(async () => rm(dir, { recursive: true, force: true }));

const data = Buffer.alloc(100_000, 7).fill(3, 50_000);
const digest = sha256Digest(data);
const signal = AbortSignal.timeout(10_000);

test('a digest mismatch is an error and keeps nothing', async () => {
  const bad = Buffer.from(data);
  bad[10] = 9;
  await assert.rejects(
    store.ingest(digest, async () => ({ body: Readable.from([bad]), offset: 0 }), { size: data.length, signal }),
    (e: unknown) => isHedgeError(e, 'Invalid') && /digest mismatch/.test(e.message),
  );
  assert.equal(await store.has(digest), false);
  assert.equal(existsSync(store.ingestPath(digest)), false);
});

test('a partial download resumes with the right offset and verifies the whole blob', async () => {
  await writeFile(store.ingestPath(digest), data.subarray(0, 30_000));
  const asked: number[] = [];
  const fetched = await store.ingest(digest, async (offset) => {
    asked.push(offset);
    return { body: Readable.from([data.subarray(offset)]), offset };
  }, { size: data.length, signal });
  assert.equal(fetched, true);
  assert.deepEqual(asked, [30_000]);
  assert.deepEqual(await readFile(store.blobPath(digest)), data);
});

test('a server ignoring Range restarts from zero; concurrent ingests share one download; present blobs are not fetched', async () => {
  const other = Buffer.from('other blob');
  const d2 = sha256Digest(other);
  await writeFile(store.ingestPath(d2), other.subarray(0, 4));
  let calls = 0;
  const src = async (): Promise<{ body: Readable; offset: number }> => {
    calls++;
    return { body: Readable.from([other]), offset: 0 };
  };
  const results = await Promise.all([store.ingest(d2, src, { signal }), store.ingest(d2, src, { signal })]);
  assert.equal(calls, 1);
  assert.deepEqual(results.sort(), [false, true]);
  assert.deepEqual(await store.read(d2), other);
  assert.equal(await store.ingest(d2, src, { signal }), false);
  assert.equal(calls, 1);
});
