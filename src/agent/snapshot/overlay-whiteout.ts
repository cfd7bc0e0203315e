import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { promisify } from 'node:util';
import { HedgeError } from '../../lib/errors.ts';

const run = promisify(execFile);

/**
 * Overlayfs whiteouts need mknod(2) and setxattr(2), which Node lacks; we shell out.
 * `mknod` is coreutils. For the opaque xattr we use `setfattr` (Debian `attr`) when present,
 * else GNU tar, which restores `SCHILY.xattr.trusted.*` pax records: a one-entry tar for the
 * directory carries the xattr (and the directory's own mode, so nothing else changes).
 */
export async function makeWhiteout(path: string): Promise<void> {
  await run('mknod', ['-m', '0', path, 'c', '0', '0']);
}

let setfattrMissing = false;

export async function makeOpaque(dir: string): Promise<void> {
  if (!setfattrMissing) {
    try {
      await run('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', dir]);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new HedgeError('Internal', `setfattr ${dir}: ${(err as Error).message}`, { cause: err });
      setfattrMissing = true;
    }
  }
  const st = await stat(dir);
  const tar = opaqueDirTar(basename(dir), st.mode & 0o7777, st.uid, st.gid, Math.floor(st.mtimeMs / 1000));
  await new Promise<void>((resolve, reject) => {
    const child = execFile(
      'tar',
      ['--xattrs', '--xattrs-include=trusted.overlay.opaque', '--same-owner', '-xpf', '-', '-C', dirname(dir)],
      (err) => (err ? reject(new HedgeError('Internal', `setting opaque xattr on ${dir}: ${err.message}`, { cause: err })) : resolve()),
    );
    child.stdin?.end(tar);
  });
}

function opaqueDirTar(name: string, mode: number, uid: number, gid: number, mtime: number): Buffer {
  const rec = (k: string, v: string): string => {
    const body = ` ${k}=${v}\n`;
    let len = body.length;
    while (`${len}${body}`.length !== len) len = `${len}${body}`.length;
    return `${len}${body}`;
  };
  const pax = Buffer.from(rec('SCHILY.xattr.trusted.overlay.opaque', 'y') + rec('path', `${name}/`));
  const blocks = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
  return Buffer.concat([
    tarHeader('PaxHeader', 0o644, 0, 0, pax.length, 'x', 0),
    blocks(pax),
    tarHeader(`${name.slice(0, 98)}/`, mode, uid, gid, 0, '5', mtime),
    Buffer.alloc(1024),
  ]);
}

function tarHeader(name: string, mode: number, uid: number, gid: number, size: number, type: string, mtime: number): Buffer {
  const h = Buffer.alloc(512);
  const oct = (v: number, w: number): string => v.toString(8).padStart(w - 1, '0') + '\0';
  h.write(name, 0, 100, 'utf8');
  h.write(oct(mode, 8), 100, 'ascii');
  h.write(oct(uid, 8), 108, 'ascii');
  h.write(oct(gid, 8), 116, 'ascii');
  h.write(oct(size, 12), 124, 'ascii');
  h.write(oct(mtime, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}
