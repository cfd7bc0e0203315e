import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { writeTar, type TarEntry } from '../../../../test/fixtures/images/tar-writer.ts';
import { applyLayer } from '../../image/layer-apply.ts';
import { ensureRootfsImage } from './rootfs-image.ts';

const run = promisify(execFile);
const skip = process.getuid?.() !== 0 ? 'needs root (overlay mount, owners)' : !existsSync('/usr/sbin/mkfs.ext4') || !existsSync('/usr/sbin/debugfs') ? 'needs e2fsprogs' : undefined;
let dir = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hedge-rootfs-image-'));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const CAP_NET_RAW = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

async function layer(name: string, entries: TarEntry[], parents: string[] = []): Promise<string> {
  const blob = join(dir, `${name}.tar`);
  await writeFile(blob, writeTar(entries));
  const out = join(dir, name);
  await mkdir(out);
  await applyLayer(blob, out, { parents, signal: AbortSignal.timeout(30_000) });
  return out;
}

async function debugfs(img: string, cmd: string): Promise<string> {
  const { stdout } = await run('debugfs', ['-R', cmd, img]);
  return stdout;
}

test('the block image of a two-layer overlay keeps owners, modes, setuid, capabilities, hard links, symlinks and whiteouts', { skip }, async () => {
  const l1 = await layer('l1', [
    { type: 'dir', path: 'usr/bin/' },
    { type: 'file', path: 'usr/bin/ping', data: 'ping', mode: 0o755, xattrs: { 'security.capability': CAP_NET_RAW } },
    { type: 'file', path: 'usr/bin/su', data: 'su', mode: 0o4755 },
    { type: 'file', path: 'usr/bin/chage', data: 'chage', mode: 0o2755, gid: 42 },
    { type: 'file', path: 'usr/bin/perl', data: 'perl', mode: 0o755 },
    { type: 'hardlink', path: '/usr/bin/perl5', target: '/usr/bin/perl' },
    { type: 'symlink', path: 'etc/default-site', target: '/etc/sites/default' },
    { type: 'dir', path: 'var/www/', mode: 0o2775, uid: 33, gid: 33 },
    { type: 'file', path: 'var/www/stock.html', data: 'stock' },
    { type: 'dir', path: 'opq/' },
    { type: 'file', path: 'opq/old', data: 'old' },
  ]);
  const l2 = await layer('l2', [
    { type: 'file', path: 'var/www/.wh.stock.html', data: '' },
    { type: 'file', path: 'var/www/index.html', data: 'hi' },
    { type: 'dir', path: 'opq/' },
    { type: 'file', path: 'opq/.wh..wh..opq', data: '' },
    { type: 'file', path: 'opq/new', data: 'new' },
    // no entry for var/www itself in this layer: it is made like the parent layer's
  ], [l1]);
  const img = await ensureRootfsImage({
    imagesDir: join(dir, 'images'),
    digest: 'sha256:test',
    rootfs: [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${l2}:${l1}`] }],
    signal: AbortSignal.timeout(120_000),
  });
  assert.equal(img.fstype, 'ext4');
  const ping = await debugfs(img.path, 'stat /usr/bin/ping');
  assert.match(ping, /security\.capability \(20\) = 01 00 00 02 00 20 00 00 00 00/);
  assert.match(await debugfs(img.path, 'stat /usr/bin/su'), /Mode:\s+04755/);
  const chage = await debugfs(img.path, 'stat /usr/bin/chage');
  assert.match(chage, /Mode:\s+02755/);
  assert.match(chage, /User:\s+0\s+Group:\s+42/);
  const www = await debugfs(img.path, 'stat /var/www');
  assert.match(www, /Mode:\s+02775/);
  assert.match(www, /User:\s+33\s+Group:\s+33/);
  const inode = async (p: string): Promise<string> => /Inode:\s+(\d+)/.exec(await debugfs(img.path, `stat ${p}`))?.[1] ?? '';
  assert.equal(await inode('/usr/bin/perl5'), await inode('/usr/bin/perl'), 'the hard link stays one inode');
  assert.match(await debugfs(img.path, 'stat /etc/default-site'), /Fast link dest: "\/etc\/sites\/default"/);
  const lsWww = await debugfs(img.path, 'ls /var/www');
  assert.match(lsWww, /index\.html/);
  assert.doesNotMatch(lsWww, /stock\.html/, 'the whiteout hides the lower file');
  const lsOpq = await debugfs(img.path, 'ls /opq');
  assert.match(lsOpq, /new/);
  assert.doesNotMatch(lsOpq, /old/, 'the opaque directory hides the lower content');
});

test('an image of many tiny files gets enough inodes and blocks (a single layer: bind mount)', { skip }, async () => {
  const files: TarEntry[] = Array.from({ length: 5000 }, (_, i) => ({ type: 'file', path: `many/f${i}`, data: `${i}\n` }));
  const l = await layer('tiny', [{ type: 'dir', path: 'many/' }, ...files]);
  const img = await ensureRootfsImage({ imagesDir: join(dir, 'images'), digest: 'sha256:tiny', rootfs: [{ type: 'bind', source: l, options: ['ro', 'rbind'] }], signal: AbortSignal.timeout(120_000) });
  assert.match(await debugfs(img.path, 'cat /many/f4999'), /^4999\n$/);
});
