import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { buildInitramfs } from './build-initramfs.ts';

describe('buildInitramfs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hedge-initramfs-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  for (const f of ['agent', 'busybox', 'init.sh']) writeFileSync(join(dir, f), `#${f}\n`);
  const inputs = { agentBinary: join(dir, 'agent'), busyboxBinary: join(dir, 'busybox'), initScript: join(dir, 'init.sh') };

  it('Debian kernel: the wanted modules and their dependencies, dependencies first', () => {
    const mods = join(dir, 'modules');
    mkdirSync(join(mods, 'kernel'), { recursive: true });
    for (const m of ['virtio.ko', 'virtio_ring.ko', 'virtio_blk.ko']) writeFileSync(join(mods, 'kernel', m), `ko:${m}`);
    writeFileSync(join(mods, 'modules.dep'), 'kernel/virtio_blk.ko: kernel/virtio_ring.ko kernel/virtio.ko\nkernel/virtio_ring.ko: kernel/virtio.ko\nkernel/virtio.ko:\n');
    const out = join(dir, 'debian.gz');
    const r = buildInitramfs({ ...inputs, modulesDir: mods, modules: ['virtio_blk'], out });
    assert.deepEqual(r.modules, ['kernel/virtio.ko', 'kernel/virtio_ring.ko', 'kernel/virtio_blk.ko']);
    const cpio = gunzipSync(readFileSync(out)).toString('latin1');
    assert.ok(cpio.includes('lib/modules/kernel/virtio_blk.ko') && cpio.includes('ko:virtio_blk.ko'));
    assert.ok(cpio.includes('kernel/virtio.ko\nkernel/virtio_ring.ko\nkernel/virtio_blk.ko\n'));
  });

  it('tailored kernel (modulesDir null): no modules, an empty load order, same base files', () => {
    const out = join(dir, 'tailored.gz');
    const r = buildInitramfs({ ...inputs, modulesDir: null, out });
    assert.deepEqual(r.modules, []);
    const cpio = gunzipSync(readFileSync(out)).toString('latin1');
    assert.ok(!cpio.includes('lib/modules/'), 'no module files');
    for (const name of ['init', 'bin/busybox', 'sbin/hedge-agent', 'etc/modules.order', '#agent']) assert.ok(cpio.includes(name), name);
  });

  it('is deterministic for the same inputs', () => {
    const a = join(dir, 'a.gz');
    const b = join(dir, 'b.gz');
    buildInitramfs({ ...inputs, modulesDir: null, out: a });
    buildInitramfs({ ...inputs, modulesDir: null, out: b });
    assert.deepEqual(readFileSync(a), readFileSync(b));
  });
});
