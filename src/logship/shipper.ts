import { link, lstat, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCriLine } from '../agent/logs/cri-log.ts';
import type { Logger } from '../lib/log.ts';
import type { LogLabels, LogRecord, LogSink } from './types.ts';
import { sleep } from '../lib/sleep.ts';

export interface LogShipperConfig {
  nodeName: string;
  /** the agent's CRI log tree: `<pods>/<ns>_<pod>_<uid>/<container>/<restart>.log[.<stamp>]` */
  podLogsDir: string;
  /** offsets, held files; on the same filesystem as podLogsDir (files are kept by hard link) */
  stateDir: string;
  sinks: LogSink[];
  /**
   * bytes of log files kept only for the shipper (rotated away or their pod deleted while a sink
   * has not shipped them); past it the oldest go and their unshipped lines are counted as dropped
   */
  bufferBytes: number;
  pollMs?: number;
  /** records per send */
  batchRecords?: number;
  /** bytes read from a file per send */
  readBytes?: number;
  logger: Logger;
  /** told of every loss, after it is counted (the node turns it into a Warning Event on the pod) */
  onDropped?: (d: DroppedLines) => void;
}

/** Lines a sink will never get, and why: past the buffer bound, or refused by the collector. */
export interface DroppedLines {
  sink: string;
  labels: LogLabels;
  lines: number;
  reason: 'buffer-bound' | 'rejected';
}

/** One log file, known by its inode: it keeps its identity across the rotator's rename. */
interface FileEntry {
  key: string;
  labels: LogLabels;
  /** discovery order: a container's older file always has the smaller seq */
  seq: number;
  /** the hard link in `<stateDir>/held/` that keeps the file while a sink needs it */
  held: string;
  /** per sink: bytes of the file shipped (or dropped) so far */
  offsets: Record<string, number>;
}

interface State {
  version: 1;
  nextSeq: number;
  files: FileEntry[];
  /** per sink: lines that will never be delivered (buffer bound, collector refusal) */
  dropped: Record<string, number>;
  /** per sink: lines delivered */
  delivered: Record<string, number>;
}

export interface SinkStats {
  delivered: number;
  dropped: number;
  /** bytes not yet shipped to this sink */
  lagBytes: number;
  lastError?: string;
}

const POD_DIR = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)_([a-z0-9]([-.a-z0-9]*[a-z0-9])?)_([A-Za-z0-9-]+)$/;
const LOG_FILE = /^(\d+)\.log(\.\d{8}-\d{6}(\.\d+)?)?$/;

/** `<ns>_<pod>_<uid>` → labels (namespace and pod names cannot contain `_`). */
export function podDirLabels(dir: string): { namespace: string; pod: string; podUid: string } | undefined {
  const m = POD_DIR.exec(dir);
  return m === null ? undefined : { namespace: m[1]!, pod: m[3]!, podUid: m[5]! };
}

/**
 * Tails every container's CRI log files and ships each record to every sink, each sink at its own
 * pace with its own offsets (a sink that is down holds back nothing but itself). Offsets are
 * persisted after each acknowledged batch, so a restarted shipper resumes where it was. Files are
 * kept by hard link while a sink still needs them, so the rotator (or a pod's deletion) cannot take
 * unshipped lines away; that hold is bounded by `bufferBytes`, and what the bound evicts is counted
 * as dropped per sink and logged, never silently lost.
 */
export class LogShipper {
  readonly #cfg: Required<Omit<LogShipperConfig, 'logger' | 'onDropped'>> & Pick<LogShipperConfig, 'logger' | 'onDropped'>;
  #state: State;
  #lastError = new Map<string, string>();
  #saving: Promise<void> = Promise.resolve();
  /** keys whose name was seen in the last discovery pass */
  #present = new Set<string>();
  /** bytes of files held only for the shipper at the last collection (what the bound limits) */
  #heldOnlyBytes = 0;

  private constructor(cfg: LogShipperConfig, state: State) {
    this.#cfg = { pollMs: 250, batchRecords: 2_000, readBytes: 1 << 20, ...cfg };
    this.#state = state;
  }

  static async open(cfg: LogShipperConfig): Promise<LogShipper> {
    await mkdir(join(cfg.stateDir, 'held'), { recursive: true, mode: 0o700 });
    let state: State = { version: 1, nextSeq: 0, files: [], dropped: {}, delivered: {} };
    try {
      state = JSON.parse(await readFile(join(cfg.stateDir, 'state.json'), 'utf8')) as State;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        cfg.logger.warn({ err }, 'log shipper state unreadable; starting from the beginning of every file');
      }
    }
    return new LogShipper(cfg, state);
  }

  /** The bound and how much of it is in use (files kept only because a sink has not shipped them). */
  buffer(): { usedBytes: number; limitBytes: number } {
    return { usedBytes: this.#heldOnlyBytes, limitBytes: this.#cfg.bufferBytes };
  }

  stats(): Record<string, SinkStats> {
    const out: Record<string, SinkStats> = {};
    for (const s of this.#cfg.sinks) {
      out[s.name] = { delivered: this.#state.delivered[s.name] ?? 0, dropped: this.#state.dropped[s.name] ?? 0, lagBytes: 0, lastError: this.#lastError.get(s.name) };
    }
    return out;
  }

  /** Bytes each sink still has to ship (stats() with lag filled in). */
  async lag(): Promise<Record<string, SinkStats>> {
    const out = this.stats();
    for (const f of this.#state.files) {
      const size = await fileSize(f.held);
      for (const s of this.#cfg.sinks) out[s.name]!.lagBytes += Math.max(0, size - (f.offsets[s.name] ?? 0));
    }
    return out;
  }

  /** Runs until `signal` aborts; then saves state and closes the sinks. */
  async run(signal: AbortSignal): Promise<void> {
    const discover = (async () => {
      while (!signal.aborted) {
        try {
          await this.#discover();
          await this.#collect();
        } catch (err) {
          this.#cfg.logger.warn({ err }, 'log discovery failed');
        }
        await sleep(this.#cfg.pollMs, signal);
      }
    })();
    await Promise.all([discover, ...this.#cfg.sinks.map((s) => this.#shipLoop(s, signal))]);
    await this.#save();
    await Promise.all(this.#cfg.sinks.map((s) => s.close().catch(() => undefined)));
  }

  async #discover(): Promise<void> {
    const present = new Set<string>();
    const podDirs = await readdir(this.#cfg.podLogsDir).catch(() => [] as string[]);
    const byKey = new Map(this.#state.files.map((f) => [f.key, f]));
    let added = false;
    for (const podDir of podDirs.sort()) {
      const pod = podDirLabels(podDir);
      if (pod === undefined) continue;
      const containers = await readdir(join(this.#cfg.podLogsDir, podDir)).catch(() => [] as string[]);
      for (const container of containers.sort()) {
        const dir = join(this.#cfg.podLogsDir, podDir, container);
        const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => LOG_FILE.test(n));
        // rotated files (older) first, then the current one; restarts in order
        names.sort((a, b) => Number(LOG_FILE.exec(a)![1]) - Number(LOG_FILE.exec(b)![1]) || (a.length === b.length ? (a < b ? -1 : 1) : b.length - a.length));
        for (const name of names) {
          const path = join(dir, name);
          const st = await lstat(path).catch(() => undefined);
          if (st === undefined || !st.isFile()) continue;
          const key = `${st.dev}-${st.ino}`;
          present.add(key);
          if (byKey.has(key)) continue;
          const held = join(this.#cfg.stateDir, 'held', key);
          try {
            await link(path, held);
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            if (code === 'ENOENT') continue; // rotated or deleted in between: found again next pass
            if (code !== 'EEXIST') throw err;
            // a stale link of a recycled inode number: replace it
            await unlink(held);
            await link(path, held);
          }
          const entry: FileEntry = {
            key,
            labels: { node: this.#cfg.nodeName, ...pod, container, restart: Number(LOG_FILE.exec(name)![1]) },
            seq: this.#state.nextSeq++,
            held,
            offsets: {},
          };
          this.#state.files.push(entry);
          byKey.set(key, entry);
          added = true;
        }
      }
    }
    this.#present = present;
    if (added) await this.#save();
  }

  /** Releases files every sink has finished whose names are gone, and enforces the buffer bound. */
  async #collect(): Promise<void> {
    const gone = this.#state.files.filter((f) => !this.#present.has(f.key));
    let changed = false;
    let heldOnly = 0;
    const sizes = new Map<string, number>();
    for (const f of gone) {
      const size = await fileSize(f.held);
      sizes.set(f.key, size);
      if (this.#cfg.sinks.every((s) => (f.offsets[s.name] ?? 0) >= size)) {
        await this.#release(f);
        changed = true;
      } else {
        heldOnly += size;
      }
    }
    for (const f of gone.sort((a, b) => a.seq - b.seq)) {
      if (heldOnly <= this.#cfg.bufferBytes) break;
      if (!this.#state.files.includes(f)) continue;
      const size = sizes.get(f.key) ?? 0;
      for (const s of this.#cfg.sinks) {
        const from = f.offsets[s.name] ?? 0;
        if (from >= size) continue;
        const lines = await countLines(f.held, from);
        this.#state.dropped[s.name] = (this.#state.dropped[s.name] ?? 0) + lines;
        this.#cfg.logger.warn({ sink: s.name, ...f.labels, lines, bufferBytes: this.#cfg.bufferBytes }, 'log buffer bound reached: unshipped lines dropped');
        this.#cfg.onDropped?.({ sink: s.name, labels: f.labels, lines, reason: 'buffer-bound' });
      }
      heldOnly -= size;
      await this.#release(f);
      changed = true;
    }
    this.#heldOnlyBytes = heldOnly;
    if (changed) await this.#save();
  }

  async #release(f: FileEntry): Promise<void> {
    await unlink(f.held).catch(() => undefined);
    this.#state.files = this.#state.files.filter((x) => x !== f);
  }

  /**
   * The next file this sink should read: per container instance only the oldest file with
   * unshipped bytes (its lines come first), and among instances round-robin after `afterSeq`.
   */
  async #next(sink: string, afterSeq: number): Promise<FileEntry | undefined> {
    const files = [...this.#state.files].sort((a, b) => a.seq - b.seq);
    const seen = new Set<string>();
    const eligible: FileEntry[] = [];
    for (const f of files) {
      const instance = `${f.labels.podUid}/${f.labels.container}/${f.labels.restart}`;
      if (seen.has(instance)) continue;
      if ((f.offsets[sink] ?? 0) < (await fileSize(f.held))) {
        seen.add(instance);
        eligible.push(f);
      }
    }
    return eligible.find((f) => f.seq > afterSeq) ?? eligible[0];
  }

  async #shipLoop(sink: LogSink, signal: AbortSignal): Promise<void> {
    let backoff = 0;
    let lastSeq = -1;
    while (!signal.aborted) {
      const entry = await this.#next(sink.name, lastSeq).catch(() => undefined);
      if (entry === undefined) {
        await sleep(this.#cfg.pollMs, signal);
        continue;
      }
      lastSeq = entry.seq;
      const from = entry.offsets[sink.name] ?? 0;
      const { records, end, skipped } = await readRecords(entry, from, this.#cfg.readBytes, this.#cfg.batchRecords);
      if (records.length === 0) {
        if (end > from) {
          entry.offsets[sink.name] = end; // malformed lines only
          if (skipped > 0) this.#cfg.logger.warn({ sink: sink.name, ...entry.labels, lines: skipped }, 'malformed CRI log lines skipped');
          await this.#save();
        } else {
          await sleep(this.#cfg.pollMs, signal); // an incomplete last line: wait for its end
        }
        continue;
      }
      const res = await sink.send(records, signal);
      const done = res.delivered + (res.rejected ?? 0);
      if (done > 0) {
        entry.offsets[sink.name] = done === records.length ? end : endOffset(records[done - 1]!);
        this.#state.delivered[sink.name] = (this.#state.delivered[sink.name] ?? 0) + res.delivered;
        if (res.rejected) {
          this.#state.dropped[sink.name] = (this.#state.dropped[sink.name] ?? 0) + res.rejected;
          this.#cfg.logger.warn({ sink: sink.name, lines: res.rejected, err: res.error }, 'the collector refused lines: dropped');
          this.#cfg.onDropped?.({ sink: sink.name, labels: entry.labels, lines: res.rejected, reason: 'rejected' });
        }
        await this.#save();
      }
      if (res.error !== undefined && done < records.length) {
        if (this.#lastError.get(sink.name) !== res.error.message) this.#cfg.logger.warn({ sink: sink.name, err: res.error }, 'log sink unavailable; lines stay buffered');
        this.#lastError.set(sink.name, res.error.message);
        // a send that made progress (a partial acknowledgement) is retried at once; only a
        // sink that takes nothing backs off
        backoff = done > 0 ? 0 : Math.min(5_000, backoff === 0 ? 200 : backoff * 2);
        if (backoff > 0) await sleep(backoff, signal);
      } else {
        if (this.#lastError.has(sink.name)) this.#cfg.logger.info({ sink: sink.name }, 'log sink reachable again');
        this.#lastError.delete(sink.name);
        backoff = 0;
      }
    }
  }

  /** Atomic, serialized, fsync'd: a crash leaves the old state or the new one. */
  #save(): Promise<void> {
    const snapshot = JSON.stringify(this.#state);
    this.#saving = this.#saving.then(async () => {
      const path = join(this.#cfg.stateDir, 'state.json');
      const tmp = `${path}.tmp`;
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(snapshot);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    });
    return this.#saving;
  }
}

function endOffset(r: LogRecord): number {
  return Number(r.id.slice(r.id.lastIndexOf(':') + 1));
}

async function fileSize(path: string): Promise<number> {
  return (await stat(path).catch(() => undefined))?.size ?? 0;
}

async function countLines(path: string, from: number): Promise<number> {
  const fh = await open(path, 'r');
  try {
    let n = 0;
    const buf = Buffer.alloc(1 << 16);
    for (let pos = from; ; ) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) return n;
      for (let i = 0; i < bytesRead; i++) if (buf[i] === 0x0a) n++;
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

/**
 * Complete records from `from` on: lines up to the last newline read, partial (`P`) records joined
 * with their final (`F`) one; `end` is where the last complete record (or skipped line) ends.
 */
async function readRecords(entry: FileEntry, from: number, maxBytes: number, maxRecords: number): Promise<{ records: LogRecord[]; end: number; skipped: number }> {
  const fh = await open(entry.held, 'r');
  let chunk: Buffer;
  try {
    const buf = Buffer.alloc(maxBytes);
    const { bytesRead } = await fh.read(buf, 0, maxBytes, from);
    chunk = buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  const records: LogRecord[] = [];
  let end = from;
  let skipped = 0;
  let pos = 0;
  let partial: string[] = [];
  while (records.length < maxRecords) {
    const nl = chunk.indexOf(0x0a, pos);
    if (nl < 0) break;
    const line = chunk.subarray(pos, nl).toString('utf8');
    pos = nl + 1;
    const p = parseCriLine(line);
    if (p === undefined) {
      if (partial.length === 0) {
        skipped++;
        end = from + pos;
      }
      continue;
    }
    if (p.partial) {
      partial.push(p.message);
      continue;
    }
    const message = partial.length > 0 ? partial.join('') + p.message : p.message;
    partial = [];
    end = from + pos;
    records.push({ labels: entry.labels, stream: p.stream, rawTime: p.rawTime, message, id: `${entry.key}:${end}` });
  }
  return { records, end, skipped };
}


