/**
 * Extended attributes for unpacked files. Node has no setxattr(2), so they are collected per
 * layer and written by one `setfattr --restore` (Debian `attr`) call. Each file is named by a
 * descriptor we hold open (`/proc/PID/fd/N`), not by its path: setfattr follows that magic link
 * to exactly the inode we created, so a later entry replacing a parent with a symlink cannot
 * redirect the write. Files are flushed in groups so the number of open descriptors stays small.
 */
import { execFile } from 'node:child_process';
import type { FileHandle } from 'node:fs/promises';
import { HedgeError } from '../../lib/errors.ts';

const GROUP = 256;

export interface XattrStats {
  /** attributes written */
  count: number;
  /** setfattr calls made */
  calls: number;
  /** wall time inside setfattr */
  ms: number;
}

/** names a layer may not set: overlayfs reads these as its own metadata */
export function xattrAllowed(name: string): boolean {
  return !name.startsWith('trusted.overlay.');
}

export class XattrBatch {
  private pending: { fh: FileHandle; what: string; attrs: [string, Buffer][] }[] = [];
  readonly stats: XattrStats = { count: 0, calls: 0, ms: 0 };

  constructor(private readonly signal: AbortSignal) {}

  /** takes ownership of `fh` (closed after the flush); `what` names the file in errors */
  async add(fh: FileHandle, what: string, attrs: [string, Buffer][]): Promise<void> {
    this.pending.push({ fh, what, attrs });
    if (this.pending.length >= GROUP) await this.flush();
  }

  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    try {
      const lines: string[] = [];
      for (const p of batch) {
        lines.push(`# file: /proc/${process.pid}/fd/${p.fh.fd}`);
        for (const [k, v] of p.attrs) lines.push(`${k}=0s${v.toString('base64')}`);
        lines.push('');
        this.stats.count += p.attrs.length;
      }
      const t = performance.now();
      await setfattrRestore(`${lines.join('\n')}\n`, this.signal, new Map(batch.map((p) => [p.fh.fd, p.what])));
      this.stats.ms += performance.now() - t;
      this.stats.calls++;
    } finally {
      await Promise.all(batch.map((p) => p.fh.close().catch(() => undefined)));
    }
  }

  /** closes what is still open without writing (on failure) */
  async discard(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    await Promise.all(batch.map((p) => p.fh.close().catch(() => undefined)));
  }
}

async function setfattrRestore(input: string, signal: AbortSignal, names: Map<number, string>): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = execFile('setfattr', ['--restore=-'], { signal, maxBuffer: 1 << 20 }, (err, _out, stderr) => {
      if (!err) return resolve();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(new HedgeError('Unavailable', 'the layer has extended attributes (file capabilities, opaque directories) and setting them needs setfattr: install the Debian package "attr"', { cause: err }));
      }
      // setfattr names the /proc path: say which layer file that was
      const msg = String(stderr).replace(/\/proc\/\d+\/fd\/(\d+)/g, (m, fd: string) => `"${names.get(Number(fd)) ?? m}"`);
      // EINVAL: the layer's value is not one the kernel takes (a malformed security.capability, say): bad input, not our fault
      const code = /Invalid argument/.test(msg) ? 'Invalid' : 'Internal';
      reject(new HedgeError(code, `setting extended attributes: ${msg.trim() || err.message}`, { cause: err }));
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}
