import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { writeTar, type TarEntry } from '../../../test/fixtures/images/tar-writer.ts';
import { isHedgeError } from '../../lib/errors.ts';
import { applyLayer } from './layer-apply.ts';

const run = promisify(execFile);
let dir = '';
/** stands for the host: nothing a layer does may touch it */
let host = '';
let n = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hedge-layer-'));
  host = join(dir, 'host');
  await mkdir(join(host, 'etc'), { recursive: true });
  await writeFile(join(host, 'etc', 'passwd'), 'host\n');
  await writeFile(join(host, 'victim'), 'host\n');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function apply(entries: TarEntry[] | Buffer, opts: { gzip?: boolean; parents?: string[] } = {}): Promise<{ root: string; diffId: string; want: string }> {
  const tar = Buffer.isBuffer(entries) ? entries : writeTar(entries);
  const blob = join(dir, `blob-${++n}`);
  await writeFile(blob, opts.gzip ? gzipSync(tar) : tar);
  const root = join(dir, `root-${n}`);
  await mkdir(root);
  const { diffId } = await applyLayer(blob, root, { parents: opts.parents ?? [], signal: AbortSignal.timeout(30_000) });
  return { root, diffId, want: `sha256:${createHash('sha256').update(tar).digest('hex')}` };
}

async function rejects(entries: TarEntry[] | Buffer, re: RegExp, opts: { gzip?: boolean } = {}): Promise<void> {
  await assert.rejects(apply(entries, opts), (e: unknown) => {
    assert.ok(isHedgeError(e, 'Invalid'), String(e));
    assert.match(e.message, re);
    return true;
  });
}

async function hostUntouched(): Promise<void> {
  assert.deepEqual((await readdir(host)).sort(), ['etc', 'victim']);
  assert.deepEqual(await readdir(join(host, 'etc')), ['passwd']);
  assert.equal(await readFile(join(host, 'etc', 'passwd'), 'utf8'), 'host\n');
  assert.equal(await readFile(join(host, 'victim'), 'utf8'), 'host\n');
  assert.ok((await lstat(join(host, 'victim'))).isFile());
  const { stdout } = await run('getfattr', ['-d', '-m', '-', '--absolute-names', host, join(host, 'etc')]);
  assert.equal(stdout.trim(), '', 'no xattr on the host dirs');
}

/** vfs_cap_data revision 2: cap_net_raw (13) permitted and effective */
const CAP_NET_RAW = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

test('a distribution-like layer: absolute names and hard-link targets inside the root, symlinks as written, setuid, capabilities, xattrs', async () => {
  const binary = Buffer.from([0x00, 0xff, 0x0a, 0x3d, 0x20, 0x80]);
  const { root, diffId, want } = await apply(
    [
      { type: 'dir', path: 'usr/', mode: 0o755 },
      { type: 'dir', path: 'usr/bin/', mode: 0o755 },
      { type: 'file', path: 'usr/bin/perl', data: 'perl\n', mode: 0o755 },
      // as some layer writers store them: leading slash on the name and on the link target
      { type: 'hardlink', path: '/usr/bin/perl5.36', target: '/usr/bin/perl' },
      { type: 'hardlink', path: 'usr/bin/perl-again', target: 'usr/lib/../bin/perl' },
      { type: 'file', path: '/abs/file.txt', data: 'abs\n' },
      { type: 'file', path: 'usr/bin/su', data: 'su\n', mode: 0o4755 },
      { type: 'file', path: 'usr/bin/newgrp', data: 'ng\n', mode: 0o2755, uid: 1000, gid: 42 },
      { type: 'file', path: 'usr/bin/ping', data: 'ping\n', mode: 0o755, xattrs: { 'security.capability': CAP_NET_RAW, 'user.bin': binary } },
      { type: 'dir', path: 'var/www/', mode: 0o2775, uid: 33, gid: 33, xattrs: { 'user.dir': 'y' } },
      { type: 'dir', path: 'tmp/', mode: 0o1777 },
      { type: 'symlink', path: 'etc/nginx/sites-enabled/default', target: '/etc/nginx/sites-available/default' },
      { type: 'symlink', path: 'usr/lib/os-release', target: '../../etc/os-release' },
      { type: 'symlink', path: 'bin', target: 'usr/bin' },
      { type: 'fifo', path: 'run/initctl' },
      // a layer may not forge overlayfs metadata
      { type: 'file', path: 'forged', data: 'x', xattrs: { 'trusted.overlay.redirect': '/etc', 'user.ok': '1' } },
    ],
    { gzip: true },
  );
  assert.equal(diffId, want, 'diff id is the sha256 of the uncompressed tar');
  const perl = await stat(join(root, 'usr/bin/perl'));
  assert.equal((await stat(join(root, 'usr/bin/perl5.36'))).ino, perl.ino);
  assert.equal((await stat(join(root, 'usr/bin/perl-again'))).ino, perl.ino);
  assert.equal(perl.nlink, 3);
  assert.equal(await readFile(join(root, 'abs/file.txt'), 'utf8'), 'abs\n');
  assert.equal((await stat(join(root, 'usr/bin/su'))).mode & 0o7777, 0o4755);
  const ng = await stat(join(root, 'usr/bin/newgrp'));
  assert.deepEqual([ng.mode & 0o7777, ng.uid, ng.gid], [0o2755, 1000, 42], 'setgid survives the chown');
  const www = await stat(join(root, 'var/www'));
  assert.deepEqual([www.mode & 0o7777, www.uid, www.gid], [0o2775, 33, 33]);
  assert.equal((await stat(join(root, 'tmp'))).mode & 0o7777, 0o1777);
  assert.equal(await readlink(join(root, 'etc/nginx/sites-enabled/default')), '/etc/nginx/sites-available/default');
  assert.equal(await readlink(join(root, 'usr/lib/os-release')), '../../etc/os-release');
  assert.equal(await readlink(join(root, 'bin')), 'usr/bin');
  await assert.rejects(lstat(join(root, 'run/initctl')), { code: 'ENOENT' });
  const { stdout: caps } = await run('getcap', [join(root, 'usr/bin/ping')]);
  assert.match(caps, /cap_net_raw[=+]ep/);
  const { stdout: raw } = await run('getfattr', ['--only-values', '-n', 'user.bin', join(root, 'usr/bin/ping')], { encoding: 'buffer' });
  assert.deepEqual(raw, binary, 'binary xattr values arrive byte-exact');
  const { stdout: d } = await run('getfattr', ['-d', join(root, 'var/www')]);
  assert.match(d, /user\.dir="y"/);
  const { stdout: forged } = await run('getfattr', ['-d', '-m', '-', join(root, 'forged')]);
  assert.match(forged, /user\.ok="1"/);
  assert.doesNotMatch(forged, /overlay/);
});

test('whiteouts and opaque directories become overlayfs ones', async () => {
  const { root } = await apply([
    { type: 'dir', path: 'data/' },
    { type: 'file', path: 'data/.wh.gone.txt', data: '' },
    { type: 'dir', path: 'opq/', mode: 0o750 },
    { type: 'file', path: 'opq/.wh..wh..opq', data: '' },
    { type: 'file', path: 'opq/z.txt', data: 'z\n' },
    { type: 'file', path: '/abs/.wh.x', data: '' },
  ]);
  const wh = await lstat(join(root, 'data/gone.txt'));
  assert.ok(wh.isCharacterDevice());
  assert.equal(wh.rdev, 0);
  assert.ok((await lstat(join(root, 'abs/x'))).isCharacterDevice());
  const { stdout } = await run('getfattr', ['-n', 'trusted.overlay.opaque', join(root, 'opq')]);
  assert.match(stdout, /trusted\.overlay\.opaque="y"/);
  assert.equal((await stat(join(root, 'opq'))).mode & 0o7777, 0o750);
  assert.deepEqual(await readdir(join(root, 'opq')), ['z.txt']);
});

test('malicious layers: `..` names and hard links above the root fail; the host stays untouched', async () => {
  await rejects([{ type: 'file', path: '../escape.txt', data: 'x' }], /"\.\.\/escape\.txt" points outside the rootfs/);
  await rejects([{ type: 'file', path: `a/../../..${host}/victim`, data: 'x' }], /points outside the rootfs/);
  await rejects([{ type: 'hardlink', path: 'hl', target: `../../../../../..${host}/etc/passwd` }], /hard link "hl" → .* points outside the rootfs/);
  // an absolute target is inside the root: the host file is not there
  await rejects([{ type: 'hardlink', path: 'hl', target: `${host}/etc/passwd` }], /the target is not in this layer/);
  await hostUntouched();
});

test('malicious layers: symlinks are never followed out of the root while unpacking', async () => {
  const { root } = await apply([
    // absolute and relative symlinks to the host, then writes through them
    { type: 'symlink', path: 'evil', target: host },
    { type: 'symlink', path: 'up', target: '../../../../../../../../..' },
    { type: 'file', path: 'evil/pwned.txt', data: 'pwned\n' },
    { type: 'file', path: `up${host}/pwned2.txt`, data: 'pwned\n' },
    { type: 'file', path: 'evil/etc/passwd', data: 'pwned\n' },
    // a file entry over a symlink replaces the symlink
    { type: 'symlink', path: 'victim', target: `${host}/victim` },
    { type: 'file', path: 'victim', data: 'layer\n' },
    // a whiteout, an opaque marker and a directory through the symlink
    { type: 'file', path: 'evil/.wh.victim', data: '' },
    { type: 'file', path: 'evil/.wh..wh..opq', data: '' },
    { type: 'dir', path: 'evil/etc/', mode: 0o777 },
    // a hard link through the symlink names the rootfs copy
    { type: 'hardlink', path: 'hl', target: 'evil/etc/passwd' },
  ]);
  await hostUntouched();
  // the writes landed inside the root, where the symlinks point when the root is "/"
  assert.equal(await readFile(join(root, host, 'pwned.txt'), 'utf8'), 'pwned\n');
  assert.equal(await readFile(join(root, host, 'pwned2.txt'), 'utf8'), 'pwned\n');
  assert.equal((await stat(join(root, 'hl'))).ino, (await stat(join(root, host, 'etc/passwd'))).ino);
  assert.equal(await readFile(join(root, 'victim'), 'utf8'), 'layer\n');
  assert.equal(await readlink(join(root, 'evil')), host, 'the symlink itself is kept as written');
  assert.ok((await lstat(join(root, host, 'victim'))).isCharacterDevice());
});

test('malicious layers: a parent replaced by a symlink after a whiteout does not redirect the whiteout', async () => {
  const { root } = await apply([
    { type: 'dir', path: 'd/' },
    { type: 'file', path: 'd/.wh.victim', data: '' },
    { type: 'symlink', path: 'd', target: host },
  ]);
  await hostUntouched();
  assert.equal(await readlink(join(root, 'd')), host);
});

test('truncated and corrupt layers fail with a clear message', async () => {
  const tar = writeTar([
    { type: 'file', path: 'a.txt', data: Buffer.alloc(5000, 0x61) },
    { type: 'file', path: 'b.txt', data: 'b\n' },
  ]);
  await rejects(tar.subarray(0, 2048), /truncated layer: stream ends inside "a\.txt"/);
  await rejects(tar.subarray(0, 5632 + 100), /truncated layer: stream ends inside the header/);
  const gz = gzipSync(tar);
  await rejects(gz.subarray(0, gz.length - 30), /truncated layer/, {});
  const bad = Buffer.from(tar);
  bad[10] ^= 0xff;
  await rejects(bad, /corrupt layer: bad header checksum at byte 0/);
  const badGz = Buffer.from(gz);
  badGz[20] ^= 0xff;
  await rejects(badGz, /corrupt layer|truncated layer/);
  await rejects(Buffer.from('x'.repeat(1024)), /corrupt layer/);
});

test('a directory the layer needs but does not list is made like the one in the layer below', async () => {
  const { root: lower } = await apply([
    { type: 'dir', path: 'var/', mode: 0o755 },
    { type: 'dir', path: 'var/www/', mode: 0o2770, uid: 33, gid: 33 },
    { type: 'symlink', path: 'lnk', target: host },
  ]);
  const { root } = await apply(
    [
      { type: 'file', path: 'var/www/index.html', data: 'hi' },
      { type: 'file', path: 'new/dir/f', data: 'f' },
    ],
    { parents: [lower] },
  );
  const www = await stat(join(root, 'var/www'));
  assert.deepEqual([www.mode & 0o7777, www.uid, www.gid], [0o2770, 33, 33]);
  const nd = await stat(join(root, 'new/dir'));
  assert.deepEqual([nd.mode & 0o7777, nd.uid, nd.gid], [0o755, 0, 0]);
  await hostUntouched();
});

test('a whiteout followed by an entry of the same name in one layer: the entry wins, as applied in order (found by the fuzzer)', async () => {
  const { root } = await apply([
    { type: 'dir', path: 'd' },
    { type: 'file', path: 'd/.wh.a', data: '' },
    { type: 'file', path: 'd/.wh.a', data: '' },
    { type: 'file', path: 'd/a', data: 'later\n' },
    { type: 'file', path: 'd/.wh.b', data: '' },
    { type: 'file', path: 'd/.wh.b', data: '' },
  ]);
  assert.equal(await readFile(join(root, 'd', 'a'), 'utf8'), 'later\n');
  const b = await stat(join(root, 'd', 'b'));
  assert.ok(b.isCharacterDevice() && b.rdev === 0, 'a name whited out twice is one whiteout');
  await hostUntouched();
});

test('an extended attribute value the kernel refuses is the layer\'s fault: Invalid, not Internal (found by the fuzzer)', async () => {
  await rejects([{ type: 'file', path: 'f', data: 'x', xattrs: { 'security.capability': 'y' } }], /setting extended attributes: .*Invalid argument/);
  await hostUntouched();
});
