import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';

export interface RotatingFileOptions {
  path: string;
  /** megabytes before the file is rotated; 0 = lumberjack's default, 100 */
  maxSizeMb: number;
  /** days a rotated file is kept; 0 = no age limit */
  maxAgeDays: number;
  /** rotated files kept; 0 = all (within maxAgeDays) */
  maxBackups: number;
  /** the clock (tests) */
  now?: () => Date;
}

const MB = 1024 * 1024;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * An append-only file rotated as lumberjack (gopkg.in/natefinch/lumberjack.v2, what kube-apiserver's
 * log backend writes through) rotates it: a write that would take the file past the size limit first
 * renames it to `<name>-<UTC 2006-01-02T15-04-05.000><ext>` and starts a new one with the same mode;
 * then backups beyond maxBackups (newest kept) and older than maxAgeDays are deleted. One write at a
 * time: the caller awaits each `write`.
 */
export class RotatingFile {
  readonly #o: RotatingFileOptions;
  #fh: FileHandle | undefined;
  #size = 0;
  #mode = 0o600;
  #milling: Promise<void> = Promise.resolve();

  constructor(opts: RotatingFileOptions) {
    this.#o = opts;
  }

  get maxBytes(): number {
    return (this.#o.maxSizeMb > 0 ? this.#o.maxSizeMb : 100) * MB;
  }

  async write(buf: Buffer): Promise<void> {
    if (buf.length > this.maxBytes) throw new Error(`write length ${buf.length} exceeds maximum file size ${this.maxBytes}`);
    if (!this.#fh) await this.#openExistingOrNew(buf.length);
    else if (this.#size + buf.length > this.maxBytes) await this.#rotate();
    const fh = this.#fh!;
    let off = 0;
    try {
      while (off < buf.length) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off);
        off += bytesWritten;
      }
    } finally {
      this.#size += off;
    }
  }

  /** the file stays open between writes; a failed write closes it, so the next one reopens (the disk may have recovered) */
  async reset(): Promise<void> {
    const fh = this.#fh;
    this.#fh = undefined;
    await fh?.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.reset();
    await this.#milling;
  }

  async #openExistingOrNew(writeLen: number): Promise<void> {
    let size: number;
    try {
      const st = await stat(this.#o.path);
      size = st.size;
      this.#mode = st.mode & 0o777;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await this.#openNew();
      return;
    }
    if (size + writeLen > this.maxBytes) {
      await this.#rotate();
      return;
    }
    this.#fh = await open(this.#o.path, 'a', this.#mode);
    this.#size = size;
  }

  async #openNew(): Promise<void> {
    await mkdir(dirname(this.#o.path), { recursive: true, mode: 0o755 });
    this.#fh = await open(this.#o.path, 'a', this.#mode);
    this.#size = 0;
  }

  async #rotate(): Promise<void> {
    await this.reset();
    try {
      await rename(this.#o.path, backupName(this.#o.path, (this.#o.now ?? (() => new Date()))()));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await this.#openNew();
    // cleanup runs beside the writes, one at a time (lumberjack's mill goroutine)
    this.#milling = this.#milling.then(() => this.#mill()).catch(() => undefined);
  }

  async #mill(): Promise<void> {
    const { maxBackups, maxAgeDays } = this.#o;
    if (maxBackups === 0 && maxAgeDays === 0) return;
    const backups = await listBackups(this.#o.path);
    let remove: string[] = [];
    let keep = backups;
    if (maxBackups > 0 && keep.length > maxBackups) {
      remove = keep.slice(maxBackups).map((b) => b.file);
      keep = keep.slice(0, maxBackups);
    }
    if (maxAgeDays > 0) {
      const cutoff = (this.#o.now ?? (() => new Date()))().getTime() - maxAgeDays * DAY_MS;
      for (const b of keep) if (b.time < cutoff) remove.push(b.file);
    }
    for (const f of remove) await unlink(f).catch(() => undefined);
  }
}

/** lumberjack's backup name: `audit.log` rotated at 2024-01-02 03:04:05.678 UTC is `audit-2024-01-02T03-04-05.678.log` */
export function backupName(path: string, t: Date): string {
  const ext = extname(path);
  const prefix = basename(path, ext);
  const stamp = t.toISOString().slice(0, 23).replace(/:/g, '-');
  return join(dirname(path), `${prefix}-${stamp}${ext}`);
}

/** the rotated files of `path`, newest first (by the time in the name, as lumberjack sorts them) */
export async function listBackups(path: string): Promise<{ file: string; time: number }[]> {
  const ext = extname(path);
  const prefix = `${basename(path, ext)}-`;
  const out: { file: string; time: number }[] = [];
  for (const name of await readdir(dirname(path))) {
    if (!name.startsWith(prefix) || !name.endsWith(ext) || name.length <= prefix.length + ext.length) continue;
    const stamp = name.slice(prefix.length, name.length - ext.length);
    const m = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})\.(\d{3})$/.exec(stamp);
    if (!m) continue;
    const time = Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`);
    if (Number.isFinite(time)) out.push({ file: join(dirname(path), name), time });
  }
  return out.sort((a, b) => b.time - a.time);
}
