import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeAtomic } from './atomic-writer.ts';

const file = (path: string, text: string, mode = 0o644) => ({ path, data: Buffer.from(text), mode });

test('writeAtomic swaps ..data to a new directory when the payload changes, and leaves an equal payload where it is (as kubelet)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atomic-writer-'));
  try {
    await writeAtomic(dir, [file('token', 't1'), file('ns/name', 'default')], 'one');
    assert.equal(readlinkSync(join(dir, '..data')), '..one');
    assert.equal(readFileSync(join(dir, 'token'), 'utf8'), 't1');
    assert.equal(readFileSync(join(dir, 'ns', 'name'), 'utf8'), 'default');

    // the same payload again (a refresh): nothing is rewritten
    await writeAtomic(dir, [file('token', 't1'), file('ns/name', 'default')], 'two');
    assert.equal(readlinkSync(join(dir, '..data')), '..one');
    assert.equal(existsSync(join(dir, '..two')), false);

    // a changed byte, a changed mode, a file fewer: each is a new directory, the old one goes
    for (const [stamp, payload] of [
      ['three', [file('token', 't2'), file('ns/name', 'default')]],
      ['four', [file('token', 't2', 0o600), file('ns/name', 'default')]],
      ['five', [file('token', 't2', 0o600)]],
    ] as const) {
      const before = readlinkSync(join(dir, '..data'));
      await writeAtomic(dir, [...payload], stamp);
      assert.equal(readlinkSync(join(dir, '..data')), `..${stamp}`);
      assert.equal(existsSync(join(dir, before)), false, `${before} removed`);
    }
    assert.equal(statSync(join(dir, 'token')).mode & 0o777, 0o600);
    assert.equal(existsSync(join(dir, 'ns')), false, 'a name no longer in the payload is unlinked');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
