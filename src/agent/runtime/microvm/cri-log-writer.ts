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
  readonly #rest: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };

  constructor(path: string) {
    this.#path = path;
    mkdirSync(dirname(path), { recursive: true });
  }

  write(stream: 'stdout' | 'stderr', data: Buffer): void {
    const text = this.#rest[stream] + data.toString('utf8');
    const parts = text.split('\n');
    let rest = parts.pop() ?? '';
    const ts = criTimestamp();
    let out = '';
    for (const line of parts) out += record(ts, stream, line, 'F');
    while (rest.length >= MAX_RECORD) {
      out += record(ts, stream, rest.slice(0, MAX_RECORD), 'P');
      rest = rest.slice(MAX_RECORD);
    }
    this.#rest[stream] = rest;
    if (out) appendFileSync(this.#path, out);
  }

  /** at exit: a last line without newline still becomes a full record */
  flush(): void {
    const ts = criTimestamp();
    let out = '';
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.#rest[s]) out += record(ts, s, this.#rest[s], 'F');
      this.#rest[s] = '';
    }
    if (out) appendFileSync(this.#path, out);
  }
}

function record(ts: string, stream: string, msg: string, tag: 'F' | 'P'): string {
  return `${ts} ${stream} ${tag} ${msg}\n`;
}
