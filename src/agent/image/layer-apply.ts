import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, open, realpath, rm } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { ReadEntry } from 'tar';
import { HedgeError } from '../../lib/errors.ts';
import { makeOpaque, makeWhiteout } from '../snapshot/overlay-whiteout.ts';

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';

/**
 * Applies one layer blob (tar, optionally gzip) into `dir`, an empty upperdir, converting OCI
 * whiteouts to overlayfs ones (0/0 char device; `trusted.overlay.opaque=y`). node-tar does the
 * extraction: it refuses absolute paths, `..` and writing through symlinks, and keeps modes and
 * owners (we run as root). Returns the diff id (sha256 of the uncompressed tar) for verification.
 */
export async function applyLayer(blobPath: string, dir: string, signal: AbortSignal): Promise<string> {
  const whiteouts: string[] = [];
  const opaques: string[] = [];
  // chown (done by node-tar after chmod) clears setuid/setgid: put those bits back afterwards
  const specialModes: [string, number][] = [];
  const hash = createHash('sha256');
  // node-tar is loaded on the first unpack: a node whose images are all unpacked never needs it (~1.5 MB resident)
  const { Unpack } = await import('tar');
  const unpack = new Unpack({
    cwd: dir,
    strict: true,
    preserveOwner: true,
    processUmask: 0,
    umask: 0,
    filter: (path: string, entry) => {
      const p = posix.normalize(path).replace(/^\/+/, '');
      const base = posix.basename(p);
      if (base === OPAQUE) {
        opaques.push(posix.dirname(p));
        return false;
      }
      if (base.startsWith(WH)) {
        whiteouts.push(posix.join(posix.dirname(p), base.slice(WH.length)));
        return false;
      }
      const type = (entry as ReadEntry).type;
      const mode = (entry as ReadEntry).mode ?? 0;
      if ((mode & 0o7000) !== 0 && (type === 'File' || type === 'OldFile' || type === 'Directory')) specialModes.push([p, mode & 0o7777]);
      // device nodes and fifos in images are rare and a sandbox gets its own /dev
      return type !== 'CharacterDevice' && type !== 'BlockDevice' && type !== 'FIFO';
    },
  });
  const tee = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  const head = await firstBytes(blobPath, 2);
  const gz = head[0] === 0x1f && head[1] === 0x8b;
  if (head[0] === 0x28 && head[1] === 0xb5) throw new HedgeError('Invalid', 'zstd layers are not supported');
  try {
    await pipeline([createReadStream(blobPath), ...(gz ? [createGunzip()] : []), tee, unpack], { signal });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new HedgeError('Invalid', `extracting layer ${blobPath}: ${(err as Error).message}`, { cause: err });
  }
  const root = await realpath(dir);
  for (const [p, mode] of specialModes) {
    const abs = await inside(root, p);
    if (abs) await chmod(abs, mode);
  }
  for (const d of opaques) {
    const abs = await inside(root, d);
    if (abs) await makeOpaque(abs);
  }
  for (const w of whiteouts) {
    const abs = await inside(root, w);
    if (!abs) continue;
    await rm(abs, { recursive: true, force: true });
    await makeWhiteout(abs);
  }
  return `sha256:${hash.digest('hex')}`;
}

/** resolves `rel` under root without following a symlink out of it; undefined if it escapes */
async function inside(root: string, rel: string): Promise<string | undefined> {
  if (rel === '.' || rel === '') return root;
  if (rel.split('/').includes('..')) return undefined;
  const parent = await realpath(join(root, posix.dirname(rel))).catch(() => undefined);
  if (!parent) return undefined;
  const r = relative(root, parent);
  if (r.startsWith('..') || r.startsWith(sep)) return undefined;
  return join(parent, posix.basename(rel));
}

async function firstBytes(path: string, n: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(n);
    await fh.read(b, 0, n, 0);
    return b;
  } finally {
    await fh.close();
  }
}
