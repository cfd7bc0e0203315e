import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { backupName, listBackups, RotatingFile } from './rotating-file.ts';

const MB = 1024 * 1024;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hedge-audit-rot-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('RotatingFile (lumberjack semantics)', () => {
  it('names backups as lumberjack: <name>-<UTC time with ms, - for :><ext>', () => {
    assert.equal(backupName('/var/log/audit.log', new Date('2024-01-02T03:04:05.678Z')), '/var/log/audit-2024-01-02T03-04-05.678.log');
    assert.equal(backupName('/var/log/audit', new Date('2024-01-02T03:04:05.678Z')), '/var/log/audit-2024-01-02T03-04-05.678');
  });

  it('appends to an existing file, rotates before a write would pass maxsize, keeps the mode', async () => {
    await withDir(async (dir) => {
      const path = join(dir, 'audit.log');
      await writeFile(path, 'old\n', { mode: 0o640 });
      let t = Date.parse('2024-01-02T03:04:05.000Z');
      const f = new RotatingFile({ path, maxSizeMb: 1, maxAgeDays: 0, maxBackups: 0, now: () => new Date((t += 1000)) });
      const line = Buffer.alloc(400 * 1024, 'a');
      await f.write(Buffer.from('new\n'));
      await f.write(line);
      await f.write(line); // 4 + 4 + 800 KiB: still under 1 MiB
      assert.equal((await readdir(dir)).length, 1);
      await f.write(line); // would pass 1 MiB: rotate first
      await f.close();
      const files = (await readdir(dir)).sort();
      assert.deepEqual(files, ['audit-2024-01-02T03-04-06.000.log', 'audit.log']);
      const backup = await readFile(join(dir, files[0]!), 'utf8');
      assert.ok(backup.startsWith('old\nnew\n'));
      assert.equal(backup.length, 8 + 2 * line.length);
      assert.equal((await stat(path)).size, line.length);
      assert.equal((await stat(path)).mode & 0o777, 0o640);
    });
  });

  it('refuses a write larger than maxsize (lumberjack\'s error)', async () => {
    await withDir(async (dir) => {
      const f = new RotatingFile({ path: join(dir, 'a.log'), maxSizeMb: 1, maxAgeDays: 0, maxBackups: 0 });
      await assert.rejects(f.write(Buffer.alloc(MB + 1)), /write length 1048577 exceeds maximum file size 1048576/);
      await f.close();
    });
  });

  it('maxbackup keeps the newest backups; maxage deletes older ones; other files are left alone', async () => {
    await withDir(async (dir) => {
      const path = join(dir, 'audit.log');
      // backups from earlier runs, and unrelated files (the clock ticks on each read: rotations and the age check)
      for (const name of ['audit-2020-01-01T00-00-00.000.log', 'audit-2024-01-01T00-00-00.000.log', 'audit-2024-01-01T12-00-00.000.log', 'audit-notatime.log', 'other.log']) {
        await writeFile(join(dir, name), 'x\n');
      }
      let t = Date.parse('2024-01-02T00:00:00.000Z');
      const f = new RotatingFile({ path, maxSizeMb: 1, maxAgeDays: 30, maxBackups: 2, now: () => new Date((t += 1000)) });
      const big = Buffer.alloc(700 * 1024, 'b');
      await f.write(big);
      await f.write(big); // rotation 1
      await f.write(big); // rotation 2
      await f.close();
      const files = (await readdir(dir)).sort();
      assert.deepEqual(files, ['audit-2024-01-02T00-00-01.000.log', 'audit-2024-01-02T00-00-03.000.log', 'audit-notatime.log', 'audit.log', 'other.log']);
      assert.deepEqual((await listBackups(path)).map((b) => b.file.slice(dir.length + 1)), ['audit-2024-01-02T00-00-03.000.log', 'audit-2024-01-02T00-00-01.000.log']);
    });
  });

  it('maxage alone removes backups older than the cutoff', async () => {
    await withDir(async (dir) => {
      const path = join(dir, 'audit.log');
      await writeFile(join(dir, 'audit-2023-12-01T00-00-00.000.log'), 'x\n');
      await writeFile(join(dir, 'audit-2023-12-30T00-00-00.000.log'), 'x\n');
      const now = new Date('2024-01-02T00:00:00.000Z');
      const f = new RotatingFile({ path, maxSizeMb: 1, maxAgeDays: 7, maxBackups: 0, now: () => now });
      await f.write(Buffer.alloc(700 * 1024));
      await f.write(Buffer.alloc(700 * 1024));
      await f.close();
      assert.deepEqual((await readdir(dir)).sort(), ['audit-2023-12-30T00-00-00.000.log', 'audit-2024-01-02T00-00-00.000.log', 'audit.log']);
    });
  });
});
