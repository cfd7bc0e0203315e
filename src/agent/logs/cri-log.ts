/**
 * Reader for CRI-format container logs (`2016-10-06T00:17:09.669794202Z stdout F message`), what
 * `kubectl logs` reaches through the node's HTTP server. Like the kubelet it reads the current file
 * (rotated ones are history for log shipping), and `follow` carries on into the new file after a
 * rotation.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { HedgeError } from '../../lib/errors.ts';

export type LogStream = 'stdout' | 'stderr';

export interface CriLogLine {
  /** the runtime's RFC 3339 timestamp, full precision */
  rawTime: string;
  time: Date;
  stream: LogStream;
  /** message without trailing newline; partial (`P`) records already joined */
  message: string;
}

export interface ReadCriLogOptions {
  follow?: boolean;
  /** last N lines (applied before following) */
  tailLines?: number;
  sinceTime?: Date;
  /** limit to one stream */
  stream?: LogStream;
  /** read the previous container instance's file (`paths.previous`) */
  previous?: boolean;
  signal: AbortSignal;
  /** follow poll interval, ms */
  pollMs?: number;
}

export interface CriLogPaths {
  current: string;
  previous?: string;
}

/** Parses one record; undefined for malformed lines (kubelet skips them too). */
export function parseCriLine(line: string): { rawTime: string; time: Date; stream: LogStream; partial: boolean; message: string } | undefined {
  const a = line.indexOf(' ');
  const b = line.indexOf(' ', a + 1);
  if (a <= 0 || b < 0) return undefined;
  const rawTime = line.slice(0, a);
  const stream = line.slice(a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const c = line.indexOf(' ', b + 1);
  // tag is absent in very old (pre-1.10) logs: treat as full
  let tag = 'F';
  let message = line.slice(b + 1);
  if (c >= 0 && (line.slice(b + 1, c) === 'F' || line.slice(b + 1, c) === 'P')) {
    tag = line.slice(b + 1, c);
    message = line.slice(c + 1);
  } else if (line.slice(b + 1) === 'F' || line.slice(b + 1) === 'P') {
    tag = line.slice(b + 1);
    message = '';
  }
  const time = new Date(rawTime);
  if (Number.isNaN(time.getTime())) return undefined;
  return { rawTime, time, stream, partial: tag === 'P', message };
}

/** kubectl's `--timestamps` rendering: the runtime timestamp, a space, the message. */
export function formatCriLine(l: CriLogLine, timestamps: boolean): string {
  return timestamps ? `${l.rawTime} ${l.message}\n` : `${l.message}\n`;
}

class LineAssembler {
  readonly #partial = new Map<LogStream, string>();
  push(line: string): CriLogLine | undefined {
    const p = parseCriLine(line);
    if (!p) return undefined;
    const prev = this.#partial.get(p.stream) ?? '';
    if (p.partial) {
      this.#partial.set(p.stream, prev + p.message);
      return undefined;
    }
    this.#partial.delete(p.stream);
    return { rawTime: p.rawTime, time: p.time, stream: p.stream, message: prev + p.message };
  }
}

interface Cursor {
  fh: FileHandle;
  ino: number;
  pos: number;
  rest: string;
}

async function openCursor(path: string): Promise<Cursor | undefined> {
  try {
    const fh = await open(path, 'r');
    const st = await fh.stat();
    return { fh, ino: st.ino, pos: 0, rest: '' };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Reads whatever is new since the cursor; returns complete lines only. */
async function readNew(c: Cursor): Promise<string[]> {
  const buf = Buffer.alloc(64 * 1024);
  const lines: string[] = [];
  for (;;) {
    const { bytesRead } = await c.fh.read(buf, 0, buf.length, c.pos);
    if (bytesRead === 0) break;
    c.pos += bytesRead;
    c.rest += buf.subarray(0, bytesRead).toString('utf8');
    const parts = c.rest.split('\n');
    c.rest = parts.pop() ?? '';
    lines.push(...parts);
  }
  return lines;
}

export async function* readCriLog(paths: CriLogPaths, opts: ReadCriLogOptions): AsyncGenerator<CriLogLine> {
  const path = opts.previous ? paths.previous : paths.current;
  if (!path) throw new HedgeError('BadRequest', 'previous terminated container not found');
  const asm = new LineAssembler();
  const keep = (l: CriLogLine): boolean =>
    (!opts.sinceTime || l.time.getTime() >= opts.sinceTime.getTime()) && (!opts.stream || l.stream === opts.stream);

  let cur = await openCursor(path);
  if (!cur && !opts.follow) throw new HedgeError('NotFound', `log file ${path} not found`);
  try {
    // initial read, with tail applied
    const initial: CriLogLine[] = [];
    if (cur) {
      for (const raw of await readNew(cur)) {
        const l = asm.push(raw);
        if (l && keep(l)) initial.push(l);
      }
    }
    const start = opts.tailLines !== undefined && opts.tailLines >= 0 ? Math.max(0, initial.length - opts.tailLines) : 0;
    for (let i = start; i < initial.length; i++) yield initial[i];
    // previous instance's log is final: no follow
    if (!opts.follow || opts.previous) return;

    const poll = opts.pollMs ?? 100;
    while (!opts.signal.aborted) {
      if (cur) {
        for (const raw of await readNew(cur)) {
          const l = asm.push(raw);
          if (l && keep(l)) yield l;
        }
      }
      // rotation: the path now names a different inode (renamed away) — drain the old one, switch
      const st = await stat(path).catch(() => undefined);
      if (st && (!cur || st.ino !== cur.ino)) {
        if (cur) {
          for (const raw of await readNew(cur)) {
            const l = asm.push(raw);
            if (l && keep(l)) yield l;
          }
          await cur.fh.close();
        }
        cur = await openCursor(path);
        continue;
      }
      if (st && cur && st.size < cur.pos) {
        // truncated in place (conmon --log-size-max does this): start over
        cur.pos = 0;
        cur.rest = '';
      }
      await sleepOrAbort(poll, opts.signal);
    }
  } finally {
    await cur?.fh.close().catch(() => undefined);
  }
}

function sleepOrAbort(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** upstream's FallbackToLogsOnError bounds (MaxContainerTerminationMessageLogLines / LogLength) */
export const TERMINATION_LOG_LINES = 80;
export const TERMINATION_LOG_BYTES = 2048;

/**
 * A failed container's termination message from its log (terminationMessagePolicy
 * FallbackToLogsOnError): the last 80 lines, both streams, joined, cut to the last 2 KiB; '' when
 * there is no log.
 */
export async function logTailMessage(path: string, signal: AbortSignal): Promise<string> {
  const lines: string[] = [];
  try {
    for await (const l of readCriLog({ current: path }, { tailLines: TERMINATION_LOG_LINES, signal })) lines.push(l.message);
  } catch {
    return '';
  }
  const text = Buffer.from(lines.join('\n'));
  return (text.length > TERMINATION_LOG_BYTES ? text.subarray(text.length - TERMINATION_LOG_BYTES) : text).toString('utf8');
}
