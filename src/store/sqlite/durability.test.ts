import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { SqliteStore } from './sqlite-store.ts';

interface Ack {
  kind: 'C' | 'U';
  key: string;
  revision: number;
  value?: string;
}

test('every acknowledged write survives kill -9 of the writer', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hedge-durability-'));
  const dbPath = join(dir, 'state.db');
  try {
    const writer = fileURLToPath(new URL('./durability-writer.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), writer, dbPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acks: Ack[] = [];
    let buffered = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          const [kind, key, rev, value] = line.split(' ');
          if (kind !== 'C' && kind !== 'U') continue;
          acks.push({ kind, key, revision: Number(rev), value });
        }
        if (acks.length >= 600) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => reject(new Error(`writer exited before enough acks (${acks.length}): ${stderr}`)));
    });
    assert.equal(await exited, 'SIGKILL');

    const store = new SqliteStore({ path: dbPath, compactIntervalMs: 0 });
    try {
      const revision = await store.currentRevision();
      const lastCounter = new Map<string, Ack>();
      for (const ack of acks) {
        assert.ok(ack.revision <= revision, `ack at ${ack.revision} beyond recovered revision ${revision}`);
        const atAck = await store.get(ack.key, { revision: ack.revision });
        assert.equal(atAck?.modRevision, ack.revision, `${ack.kind} ${ack.key}@${ack.revision} lost`);
        if (ack.kind === 'C') {
          assert.equal(atAck?.createRevision, ack.revision);
          assert.equal((await store.get(ack.key))?.modRevision, ack.revision, 'items are written once');
        } else {
          assert.equal(atAck?.value, ack.value);
          lastCounter.set(ack.key, ack);
        }
      }
      for (const ack of lastCounter.values()) {
        const now = await store.get(ack.key);
        assert.ok(now !== undefined && now.modRevision >= ack.revision, `${ack.key} went back in time`);
      }
      // Unacknowledged writes may or may not have landed, but the log has no holes.
      const all = await store.list('/');
      assert.ok(all.items.length >= new Set(acks.map((a) => a.key)).size);
      const next = await store.create('/after-crash', 'x');
      assert.equal(next.modRevision, revision + 1);
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
