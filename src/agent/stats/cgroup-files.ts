/**
 * What the cgroup v1 and v2 stat readers share: synchronous reads of the kernel's made-up files,
 * counter files kept open between scrapes, and the `key value` parsers.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

export interface CgroupRef {
  /** e.g. /sys/fs/cgroup */
  root: string;
  /** path below each controller (v1) or below the root (v2), e.g. hedge/pod123/abc */
  path: string;
}

/**
 * cgroup files are made up by the kernel on read (no disk): a synchronous read costs a fraction of
 * the promise API's thread-pool round trips, and the readers below are synchronous throughout, so
 * a metrics scrape (two cgroups per container) allocates no promise per file either.
 */
export function readTextSync(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export function readIntSync(file: string): number | undefined {
  const t = readTextSync(file);
  if (t === undefined) return undefined;
  const n = Number(t.trim());
  return Number.isFinite(n) ? n : undefined;
}

/** what one pread of a counter file lands in (a decimal u64 and a newline) */
const COUNTER_BUF = Buffer.alloc(32);

/**
 * The counter files of one cgroup (cpuacct.usage, memory.usage_in_bytes) kept open, each read
 * again with one pread at offset 0 (a seq_file starts over there): a metrics scrape reads two of
 * them per container and per pod, and open + fstat + two reads + close per file, with the path
 * walk down the cgroup tree, was most of the scrape's time in the kernel. An open file does not
 * hold the cgroup up (rmdir succeeds; a read then fails and the file is closed). `close()` when
 * the cgroup's owner goes.
 */
export class CgroupCounters {
  readonly #fds = new Map<string, number>();

  /** the file's number, undefined when it cannot be read (gone, or not a number) */
  read(file: string): number | undefined {
    let fd = this.#fds.get(file);
    if (fd === undefined) {
      try {
        fd = openSync(file, 'r');
      } catch {
        return undefined;
      }
      this.#fds.set(file, fd);
    }
    let n: number;
    try {
      n = readSync(fd, COUNTER_BUF, 0, COUNTER_BUF.length, 0);
    } catch {
      this.#drop(file, fd);
      return undefined;
    }
    // Number() skips the surrounding whitespace (the newline); an empty or cut-off read is not a counter
    const v = n > 0 && n < COUNTER_BUF.length ? Number(COUNTER_BUF.toString('latin1', 0, n)) : NaN;
    return Number.isFinite(v) ? v : undefined;
  }

  #drop(file: string, fd: number): void {
    this.#fds.delete(file);
    try {
      closeSync(fd);
    } catch {
      // closed already
    }
  }

  close(): void {
    for (const [file, fd] of [...this.#fds]) this.#drop(file, fd);
  }
}

/** `key value` lines (memory.stat, cpuacct.stat). */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out.set(k, Number(v));
  }
  return out;
}

/**
 * One key of a `key value` file (memory.stat: each line starts with its key), as
 * parseFlatKeyed(text).get(key) gives it, without splitting the whole text: a metrics scrape reads
 * the memory.stat of every container and pod cgroup (~40 lines each) for four keys, and splitting
 * them was the scrape's largest JS cost and garbage at idle (CPU profile, 100 pods).
 */
export function flatKeyedValue(text: string, key: string): number | undefined {
  let at = text.startsWith(`${key} `) ? 0 : -1;
  if (at < 0) {
    const i = text.indexOf(`\n${key} `);
    if (i < 0) return undefined;
    at = i + 1;
  }
  const from = at + key.length + 1;
  let end = text.indexOf('\n', from);
  if (end < 0) end = text.length;
  const v = text.slice(from, end).trim();
  return /^-?\d+$/.test(v) ? Number(v) : undefined;
}

