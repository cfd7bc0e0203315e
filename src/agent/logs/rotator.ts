/**
 * Kubelet-style size rotation of CRI log files: rename `<path>` to `<path>.<YYYYMMDD-hhmmss>`,
 * ask the writer (conmon) to reopen, keep at most `maxFiles` files in total, optionally gzip
 * all rotated files but the newest (the kubelet does the same so a log shipper can finish it).
 *
 * Why not conmon's own `--log-size-max`: conmon 2.1.6 "rotates" by truncating the file in place,
 * so the old content is lost and nothing is kept for `kubectl logs` or a shipper.
 */
import { createReadStream, createWriteStream, statSync, type Stats } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

export interface CriLogRotatorOptions {
  /** kubelet containerLogMaxSize */
  maxSizeBytes: number;
  /** kubelet containerLogMaxFiles (incl. the current file); at least 2 */
  maxFiles: number;
  compress?: boolean;
  now?: () => Date;
}

export interface RotateTarget {
  logPath: string;
  /** tells the writer to reopen `logPath` (RuntimeHandler.reopenContainerLog) */
  reopen: (signal: AbortSignal) => Promise<void>;
}

function stamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

export class CriLogRotator {
  readonly #o: Required<CriLogRotatorOptions>;
  /**
   * Logs whose rotated files were cleaned up since they last changed. Only a rotation adds one, so
   * a log under the limit is cleaned up the first time it is seen (files an earlier agent left)
   * and not again: a readdir per container every pass was a third of the idle agent's rotation cost.
   */
  readonly #clean = new Set<string>();

  constructor(opts: CriLogRotatorOptions) {
    this.#o = { compress: false, now: () => new Date(), ...opts, maxFiles: Math.max(2, opts.maxFiles) };
  }

  /** Rotated files of a log, oldest first. */
  async rotatedFiles(logPath: string): Promise<string[]> {
    const dir = dirname(logPath);
    const base = basename(logPath);
    const names = await readdir(dir).catch(() => [] as string[]);
    return names
      .filter((n) => n.startsWith(`${base}.`) && /^\d{8}-\d{6}(\.\d+)?(\.gz)?$/.test(n.slice(base.length + 1)))
      .sort()
      .map((n) => join(dir, n));
  }

  /**
   * Whether `rotateIfNeeded` has anything to do for this log: it is over the limit, or its rotated
   * files were not cleaned up since it was first seen. Synchronous (one stat): the check is every
   * container's, every pass, and almost always says no.
   */
  due(logPath: string): boolean {
    if (!this.#clean.has(logPath)) return true;
    let st: Stats | undefined;
    try {
      st = statSync(logPath, { throwIfNoEntry: false });
    } catch {
      return false; // unreadable: as if absent
    }
    return st !== undefined && st.size >= this.#o.maxSizeBytes;
  }

  /** Rotates if the file is over the limit; returns whether it did. */
  async rotateIfNeeded(t: RotateTarget, signal: AbortSignal): Promise<boolean> {
    // a local file's size, every container every 10 s: the synchronous call spares the promise
    // API's thread-pool round trip and its objects (the stat takes microseconds)
    let st: Stats | undefined;
    try {
      st = statSync(t.logPath, { throwIfNoEntry: false });
    } catch {
      // unreadable: as if absent
    }
    if (!st || st.size < this.#o.maxSizeBytes) {
      if (!this.#clean.has(t.logPath)) await this.#cleanup(t.logPath);
      return false;
    }
    this.#clean.delete(t.logPath);
    let target = `${t.logPath}.${stamp(this.#o.now())}`;
    // two rotations in one second: keep both, sorted
    for (let i = 1; await stat(target).then(() => true, () => false); i++) target = `${t.logPath}.${stamp(this.#o.now())}.${i}`;
    await rename(t.logPath, target);
    try {
      await t.reopen(signal);
    } catch (err) {
      // the writer keeps appending to the renamed file: put it back so nothing is lost
      await rename(target, t.logPath).catch(() => undefined);
      throw err;
    }
    await this.#cleanup(t.logPath);
    return true;
  }

  async #cleanup(logPath: string): Promise<void> {
    let rotated = await this.rotatedFiles(logPath);
    const excess = rotated.length - (this.#o.maxFiles - 1);
    for (let i = 0; i < excess; i++) await rm(rotated[i], { force: true });
    rotated = rotated.slice(Math.max(0, excess));
    if (this.#o.compress) {
      for (const f of rotated.slice(0, -1)) {
        if (f.endsWith('.gz')) continue;
        await pipeline(createReadStream(f), createGzip(), createWriteStream(`${f}.gz.tmp`));
        await rename(`${f}.gz.tmp`, `${f}.gz`);
        await rm(f, { force: true });
      }
    }
    this.#clean.add(logPath);
  }

  /** forgets the logs not in `current` (their containers are gone) */
  retain(current: Set<string>): void {
    for (const p of this.#clean) if (!current.has(p)) this.#clean.delete(p);
  }
}
