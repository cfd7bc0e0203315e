/**
 * Writes guest stdout/stderr chunks as CRI-format log records (`<RFC3339Nano> <stream> <F|P> <msg>`),
 * the format conmon writes for the OCI runtimes. The file is opened per write in append mode, so a
 * rotation (rename by the CriLogRotator) simply makes the next write create a fresh file.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** kubelet splits records at 16 KiB and tags the pieces P */
const MAX_RECORD = 16 * 1024;

export function criTimestamp(d: Date = new Date()): string {
  // RFC 3339 with nanoseconds, as containerd/conmon write it
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

export class CriLogWriter {
  readonly #path: string;
  /** the stream's bytes after its last newline, not yet in the file (kept as bytes: a chunk may end inside a UTF-8 character) */
  readonly #rest: Record<'stdout' | 'stderr', Buffer> = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };

  constructor(path: string) {
    this.#path = path;
    mkdirSync(dirname(path), { recursive: true });
  }

  /** bytes of the stream taken by `write` but not yet in the file (a line without its newline) */
  pending(stream: 'stdout' | 'stderr'): number {
    return this.#rest[stream].length;
  }

  /** forgets the pending bytes (they will be written again); returns how many */
  discardPending(stream: 'stdout' | 'stderr'): number {
    const n = this.#rest[stream].length;
    this.#rest[stream] = Buffer.alloc(0);
    return n;
  }

  write(stream: 'stdout' | 'stderr', data: Buffer): void {
    let buf = this.#rest[stream].length ? Buffer.concat([this.#rest[stream], data]) : data;
    const ts = criTimestamp();
    let out = '';
    for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a)) {
      out += record(ts, stream, buf.toString('utf8', 0, nl), 'F');
      buf = buf.subarray(nl + 1);
    }
    while (buf.length >= MAX_RECORD) {
      out += record(ts, stream, buf.toString('utf8', 0, MAX_RECORD), 'P');
      buf = buf.subarray(MAX_RECORD);
    }
    this.#rest[stream] = Buffer.from(buf);
    if (out) appendFileSync(this.#path, out);
  }

  /** at exit: a last line without newline still becomes a full record */
  flush(): void {
    const ts = criTimestamp();
    let out = '';
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.#rest[s].length) out += record(ts, s, this.#rest[s].toString('utf8'), 'F');
      this.#rest[s] = Buffer.alloc(0);
    }
    if (out) appendFileSync(this.#path, out);
  }
}

function record(ts: string, stream: string, msg: string, tag: 'F' | 'P'): string {
  return `${ts} ${stream} ${tag} ${msg}\n`;
}
