import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { missingTools, sandboxConfig } from '../oci/test-support.ts';
import { createSandboxDisk, DEFAULT_SANDBOX_DISK_BYTES, sandboxDiskBytes } from './sandbox-disk.ts';

const tmp = mkdtempSync(join(tmpdir(), 'hedge-sbxdisk-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('disk size: the pod ephemeral-storage limit when given, else the default; never below 64 MiB', () => {
  const cfg = sandboxConfig({ id: 's', stateDir: tmp, cgroupParent: '' });
  assert.equal(sandboxDiskBytes(cfg), DEFAULT_SANDBOX_DISK_BYTES);
  assert.equal(sandboxDiskBytes(cfg, 256 << 20), 256 << 20);
  const withLimit: typeof cfg = { ...cfg, resources: Object.assign({}, cfg.resources, { ephemeralStorageBytes: 2 * 1024 ** 3 + 1 }) };
  assert.equal(sandboxDiskBytes(withLimit), 2 * 1024 ** 3 + 4096, 'rounded up to whole blocks');
  assert.equal(sandboxDiskBytes(cfg, 1 << 20), 64 << 20);
});

test('a sparse, journal-less ext4 file', { skip: missingTools(['mkfs.ext4', 'dumpe2fs'])[0] && 'needs e2fsprogs' }, async () => {
  const path = join(tmp, 'disk.ext4');
  await createSandboxDisk({ path, sizeBytes: 1 << 30, signal: AbortSignal.timeout(30_000) });
  const st = statSync(path);
  assert.equal(st.size, 1 << 30);
  assert.ok(st.blocks * 512 < 4 << 20, `allocated ${st.blocks * 512} bytes`);
  assert.equal(st.mode & 0o777, 0o600);
  const sb = execFileSync('dumpe2fs', ['-h', path], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  assert.match(sb, /^Filesystem volume name:\s+hedge-sandbox$/m);
  assert.doesNotMatch(sb, /^Filesystem features:.*has_journal/m);
});
