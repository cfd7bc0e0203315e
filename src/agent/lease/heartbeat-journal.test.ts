import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { offlineHeartbeatsAnnotation, HeartbeatJournal } from './heartbeat-journal.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');

describe('heartbeat journal', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-hb-journal-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('counts heartbeats with first and last, persisted so a reopened journal continues', async () => {
    const path = join(dir, 'a', 'lease', 'offline-heartbeats.json');
    const j = await HeartbeatJournal.open(path);
    assert.equal(j.pending, undefined);
    await j.record(T0);
    await j.record(T0 + 10_000);
    assert.deepEqual(j.pending, { count: 2, firstMs: T0, lastMs: T0 + 10_000 });
    assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), { count: 2, firstMs: T0, lastMs: T0 + 10_000 });

    // the agent restarts while still offline: the count goes on
    const again = await HeartbeatJournal.open(path);
    await again.record(T0 + 20_000);
    assert.deepEqual(again.pending, { count: 3, firstMs: T0, lastMs: T0 + 20_000 });
    assert.equal(offlineHeartbeatsAnnotation(again.pending!), '{"count":3,"first":"2026-01-01T00:00:00Z","last":"2026-01-01T00:00:20Z"}');
  });

  it('clear forgets what was delivered, and only that; a cleared journal stays empty after reopen', async () => {
    const path = join(dir, 'b.json');
    const j = await HeartbeatJournal.open(path);
    await j.record(T0);
    const delivered = j.pending!;
    await j.record(T0 + 10_000); // journaled while the report was in flight
    await j.clear(delivered);
    assert.equal(j.pending?.count, 2, 'a newer heartbeat keeps the journal for the next report');
    await j.clear(j.pending!);
    assert.equal(j.pending, undefined);
    assert.equal((await HeartbeatJournal.open(path)).pending, undefined);
    await j.record(T0 + 30_000);
    assert.deepEqual((await HeartbeatJournal.open(path)).pending, { count: 1, firstMs: T0 + 30_000, lastMs: T0 + 30_000 });
  });

  it('a torn or foreign file counts as no evidence rather than failing the agent', async () => {
    for (const text of ['{"count":3,"firstMs"', '[]', '{"count":"3","firstMs":1,"lastMs":2}', '{"count":0,"firstMs":1,"lastMs":2}']) {
      const path = join(dir, 'c.json');
      await writeFile(path, text);
      const j = await HeartbeatJournal.open(path);
      const found = j.pending;
      assert.equal(found, undefined, text);
      await j.record(T0);
      assert.equal(j.pending?.count, 1);
    }
  });

  it('concurrent records are all counted and the file holds the last state', async () => {
    const path = join(dir, 'd.json');
    const j = await HeartbeatJournal.open(path);
    await Promise.all([1, 2, 3, 4, 5].map((i) => j.record(T0 + i)));
    assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), { count: 5, firstMs: T0 + 1, lastMs: T0 + 5 });
  });
});
