/**
 * Applies one image layer into an empty snapshot directory the way containerd's archive/tar.go
 * does, converting OCI whiteouts to overlayfs ones:
 * - entry names and hard-link targets are taken relative to the root (a leading `/` is dropped);
 *   one that climbs above the root with `..` fails the layer;
 * - parent directories are resolved inside the root (root-path.ts): a symlink met on the way is
 *   followed as if the root were `/`, so no write lands outside it;
 * - whatever is at an entry's path is removed first (a directory is kept for a directory), and
 *   files are created with O_EXCL|O_NOFOLLOW: nothing is ever written through a symlink;
 * - symlinks are stored exactly as written, absolute targets included;
 * - owner, then mode (chown clears setuid/setgid and file capabilities, so mode and xattrs
 *   come after it), times; `SCHILY.xattr.*` records (file capabilities) via xattr-batch.ts;
 * - hard links point at an entry of the same layer and keep the target's metadata;
 * - `.wh.NAME` becomes a 0/0 character device, `.wh..wh..opq` the `trusted.overlay.opaque`
 *   xattr; device nodes and fifos are skipped (a sandbox gets its own /dev).
 * A truncated or corrupt stream is an error; the caller compares the returned diff id with the
 * image config.
 */
import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { lchown, link, lstat, lutimes, mkdir, open, rm, symlink, utimes, chmod, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { execFile } from 'node:child_process';
import { createGunzip } from 'node:zlib';
import { HedgeError, isHedgeError } from '../../lib/errors.ts';
import { cleanEntryPath, RootResolver } from './root-path.ts';
import { readTar, type TarHeader } from './tar-reader.ts';
import { XattrBatch, xattrAllowed, type XattrStats } from './xattr-batch.ts';

const WH = '.wh.';
const WH_META = '.wh..wh.';
const OPAQUE = '.wh..wh..opq';
/** files up to this size are written in the background while parsing goes on (at most 32 × 256 KiB held) */
const SMALL = 256 << 10;

export interface LayerApplyStats {
  entries: number;
  files: number;
  bytes: number;
  hardlinks: number;
  symlinks: number;
  whiteouts: number;
  /** device nodes and fifos left out */
  skipped: number;
  xattrs: XattrStats;
  ms: number;
}

export interface AppliedLayer {
  /** sha256 of the uncompressed tar, to compare with the image config's diff id */
  diffId: string;
  stats: LayerApplyStats;
}

export interface ApplyLayerOptions {
  /** directories of the layers below, nearest first (the snapshot's lowerdirs) */
  parents?: string[];
  signal: AbortSignal;
}

export async function applyLayer(blobPath: string, dir: string, opts: ApplyLayerOptions): Promise<AppliedLayer> {
  const { signal } = opts;
  const t0 = performance.now();
  const head = await firstBytes(blobPath, 4);
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) throw new HedgeError('Invalid', `layer ${blobPath}: zstd layers are not supported`);
  const gz = head[0] === 0x1f && head[1] === 0x8b;
  const hash = createHash('sha256');
  const source = createReadStream(blobPath, { signal, highWaterMark: 1 << 20 });
  const stream: Readable = gz ? pipeline(source, createGunzip({ chunkSize: 1 << 17 }), () => undefined) : source;
  const hashed = async function* (): AsyncGenerator<Buffer> {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      yield chunk;
    }
  };
  const ap = new Applier(dir, opts.parents ?? [], signal);
  try {
    for await (const entry of readTar(hashed())) {
      signal.throwIfAborted();
      await ap.entry(entry.header, entry.body);
    }
    await ap.finish();
  } catch (err) {
    await ap.discard();
    stream.destroy();
    if (signal.aborted) throw err;
    throw new HedgeError(isHedgeError(err) ? err.code : 'Invalid', `extracting layer ${blobPath}: ${describe(err)}`, { cause: err });
  }
  return { diffId: `sha256:${hash.digest('hex')}`, stats: { ...ap.stats, xattrs: ap.xattrs.stats, ms: performance.now() - t0 } };
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'Z_BUF_ERROR' || /unexpected end of file/.test(e.message)) return `truncated layer: gzip stream ends early (${e.message})`;
  if (typeof e.code === 'string' && e.code.startsWith('Z_')) return `corrupt layer: gzip: ${e.message}`;
  return e.message;
}

class Applier {
  readonly stats = { entries: 0, files: 0, bytes: 0, hardlinks: 0, symlinks: 0, whiteouts: 0, skipped: 0 };
  readonly xattrs: XattrBatch;
  private readonly inFlight = new Limiter(32);
  private readonly resolver: RootResolver;
  /** whiteouts are made with mknod(1) in one call at the end; parents are checked again then */
  private readonly whiteouts: { parentRel: string; parentAbs: string; name: string }[] = [];
  /** a directory's mtime changes while it fills up: set it last, as containerd does */
  private readonly dirTimes: { rel: string; abs: string; atime: number; mtime: number }[] = [];

  constructor(
    readonly root: string,
    parents: string[],
    private readonly signal: AbortSignal,
  ) {
    this.resolver = new RootResolver(root, parents);
    this.xattrs = new XattrBatch(signal);
  }

  async entry(h: TarHeader, body: () => AsyncGenerator<Buffer>): Promise<void> {
    this.stats.entries++;
    const rel = cleanEntryPath(h.path);
    if (rel === undefined) throw new HedgeError('Invalid', `entry "${h.path}" points outside the rootfs`);
    // the root itself keeps the snapshot's own owner and mode, as in containerd
    if (rel === '') return;
    const parentRel = posix.dirname(rel) === '.' ? '' : posix.dirname(rel);
    const base = posix.basename(rel);
    if (base === OPAQUE) {
      const d = await this.resolver.dir(parentRel);
      const fh = await open(d, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      await this.xattrs.add(fh, parentRel || '/', [['trusted.overlay.opaque', Buffer.from('y')]]);
      return;
    }
    if (base.startsWith(WH_META)) return;
    if (base.startsWith(WH)) {
      const parentAbs = await this.resolver.dir(parentRel);
      const name = base.slice(WH.length);
      if (name === '' || name === '.' || name === '..') throw new HedgeError('Invalid', `bad whiteout "${h.path}"`);
      await this.clear(posix.join(parentAbs, name), false);
      this.whiteouts.push({ parentRel, parentAbs, name });
      this.stats.whiteouts++;
      return;
    }
    switch (h.type) {
      case 'char':
      case 'block':
      case 'fifo':
        this.stats.skipped++;
        return;
      case 'dir':
        return await this.dir(h, rel, parentRel, base);
      case 'file':
        return await this.file(h, rel, parentRel, base, body);
      case 'symlink': {
        const abs = posix.join(await this.resolver.dir(parentRel), base);
        await this.clear(abs, false);
        await symlink(h.linkpath, abs);
        await lchown(abs, h.uid, h.gid);
        await lutimes(abs, h.atime ?? h.mtime, h.mtime);
        this.stats.symlinks++;
        return;
      }
      case 'hardlink':
        return await this.hardlink(h, parentRel, base);
      default: {
        const never: never = h.type;
        throw new HedgeError('Invalid', `unhandled entry type ${String(never)}`);
      }
    }
  }

  /** removes what is at `abs` unless both are directories; true when a directory is kept */
  private async clear(abs: string, wantDir: boolean): Promise<boolean> {
    const st = await lstat(abs).catch(() => undefined);
    if (!st) return false;
    if (wantDir && st.isDirectory()) return true;
    await rm(abs, { recursive: true, force: true });
    this.resolver.invalidate();
    return false;
  }

  private async dir(h: TarHeader, rel: string, parentRel: string, base: string): Promise<void> {
    const abs = posix.join(await this.resolver.dir(parentRel), base);
    if (!(await this.clear(abs, true))) await mkdir(abs, { mode: 0o700 });
    await lchown(abs, h.uid, h.gid);
    await chmod(abs, h.mode);
    const attrs = this.layerXattrs(h);
    if (attrs.length > 0) await this.xattrs.add(await open(abs, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW), rel, attrs);
    this.dirTimes.push({ rel, abs, atime: h.atime ?? h.mtime, mtime: h.mtime });
  }

  private async file(h: TarHeader, rel: string, parentRel: string, base: string, body: () => AsyncGenerator<Buffer>): Promise<void> {
    const abs = posix.join(await this.resolver.dir(parentRel), base);
    await this.clear(abs, false);
    // created 0600 and only opened to us; the mode comes last (after chown, which clears setuid)
    const fh: FileHandle = await open(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    this.stats.files++;
    this.stats.bytes += h.size;
    if (h.size > SMALL) {
      await this.finishFile(fh, h, rel, body());
      return;
    }
    // small files (most of an image): the data is read now, the writes and metadata calls run
    // while the next entries are parsed; the path was created above, so later entries see it
    const chunks: Buffer[] = [];
    for await (const c of body()) chunks.push(c);
    await this.inFlight.run(() => this.finishFile(fh, h, rel, chunks));
  }

  private async finishFile(fh: FileHandle, h: TarHeader, rel: string, data: AsyncIterable<Buffer> | Buffer[]): Promise<void> {
    let kept = false;
    try {
      for await (const chunk of data) {
        let off = 0;
        while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
      }
      if (h.uid !== 0 || h.gid !== 0) await fh.chown(h.uid, h.gid);
      await fh.chmod(h.mode);
      await fh.utimes(h.atime ?? h.mtime, h.mtime);
      const attrs = this.layerXattrs(h);
      if (attrs.length > 0) {
        kept = true;
        await this.xattrs.add(fh, rel, attrs);
      }
    } finally {
      if (!kept) await fh.close();
    }
  }

  private async hardlink(h: TarHeader, parentRel: string, base: string): Promise<void> {
    const target = cleanEntryPath(h.linkpath);
    if (target === undefined || target === '') throw new HedgeError('Invalid', `hard link "${h.path}" → "${h.linkpath}" points outside the rootfs`);
    const tParent = posix.dirname(target) === '.' ? '' : posix.dirname(target);
    const tAbs = posix.join(await this.resolver.resolve(tParent), posix.basename(target));
    const st = await lstat(tAbs).catch(() => undefined);
    if (!st) throw new HedgeError('Invalid', `hard link "${h.path}" → "${h.linkpath}": the target is not in this layer`);
    if (st.isDirectory()) throw new HedgeError('Invalid', `hard link "${h.path}" → "${h.linkpath}": the target is a directory`);
    const abs = posix.join(await this.resolver.dir(parentRel), base);
    if (abs === tAbs) return;
    await this.clear(abs, false);
    // link(2) does not follow a symlink target: a link to a symlink is another symlink
    await link(tAbs, abs);
    this.stats.hardlinks++;
  }

  private layerXattrs(h: TarHeader): [string, Buffer][] {
    return [...h.xattrs].filter(([k]) => xattrAllowed(k));
  }

  async finish(): Promise<void> {
    await this.inFlight.drain();
    // whiteouts: a later entry may have replaced a parent (with a symlink even): only make the
    // ones whose parent still resolves to the same real directory. A later entry of the same name
    // wins, as it would applied in order (the path was cleared when the whiteout was read, so
    // whatever is there now came after it); a name whited out twice is made once.
    const paths = new Set<string>();
    for (const w of this.whiteouts) {
      const now = await this.resolver.resolve(w.parentRel);
      const st = await lstat(now).catch(() => undefined);
      const path = posix.join(now, w.name);
      if (now === w.parentAbs && st?.isDirectory() && !(await lstat(path).then(() => true, () => false))) paths.add(path);
    }
    const list = [...paths];
    for (let i = 0; i < list.length; i += 500) await mknodWhiteouts(list.slice(i, i + 500), this.signal);
    await this.xattrs.flush();
    for (const d of this.dirTimes.reverse()) {
      const now = posix.join(await this.resolver.resolve(posix.dirname(d.rel) === '.' ? '' : posix.dirname(d.rel)), posix.basename(d.rel));
      const st = await lstat(now).catch(() => undefined);
      if (now === d.abs && st?.isDirectory()) await utimes(now, d.atime, d.mtime);
    }
  }

  async discard(): Promise<void> {
    await this.inFlight.drain().catch(() => undefined);
    await this.xattrs.discard();
  }
}

/**
 * Runs up to `max` tasks at once; `run` waits for a free slot. The first failure is kept and
 * thrown by the next `run` or by `drain`, so the caller stops at the next entry.
 */
class Limiter {
  private readonly running = new Set<Promise<void>>();
  private failed: { err: unknown } | undefined;

  constructor(private readonly max: number) {}

  private check(): void {
    if (this.failed) throw this.failed.err;
  }

  async run(task: () => Promise<void>): Promise<void> {
    this.check();
    while (this.running.size >= this.max) await Promise.race(this.running);
    this.check();
    const p: Promise<void> = task()
      .catch((err: unknown) => {
        this.failed ??= { err };
      })
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  async drain(): Promise<void> {
    await Promise.all(this.running);
    this.check();
  }
}

/** overlayfs whiteouts are 0/0 character devices; Node has no mknod(2), coreutils does */
async function mknodWhiteouts(paths: string[], signal: AbortSignal): Promise<void> {
  if (paths.length === 0) return;
  await new Promise<void>((resolve, reject) => {
    execFile('sh', ['-c', 'for p do mknod -m 0 "$p" c 0 0 || exit 1; done', 'sh', ...paths], { signal }, (err, _o, stderr) =>
      err ? reject(new HedgeError('Internal', `making whiteouts: ${String(stderr).trim() || err.message}`, { cause: err })) : resolve(),
    );
  });
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
