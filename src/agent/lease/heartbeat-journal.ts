import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { formatOfflineHeartbeats } from '../../api/annotations/offline-heartbeats.ts';
import { formatTime } from '../../client/micro-time.ts';


/** What is kept on disk: local clock, milliseconds. */
export interface JournaledHeartbeats {
  count: number;
  firstMs: number;
  lastMs: number;
}

/** The Node annotation's value for journaled heartbeats (times on the node's clock, informational). */
export function offlineHeartbeatsAnnotation(j: JournaledHeartbeats): string {
  return formatOfflineHeartbeats({ count: j.count, first: formatTime(j.firstMs), last: formatTime(j.lastMs) });
}

function parseJournal(text: string): JournaledHeartbeats | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null) return undefined;
    const o = v as Record<string, unknown>;
    const ok = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
    if (!ok(o.count) || !ok(o.firstMs) || !ok(o.lastMs) || o.count < 1) return undefined;
    return { count: o.count, firstMs: o.firstMs, lastMs: o.lastMs };
  } catch {
    return undefined;
  }
}

/**
 * Heartbeats the agent could not deliver because the cloud was unreachable, kept in one small
 * file in the node's data dir. It survives an agent restart (or a reboot) while offline, so the
 * evidence that the edge stayed alive is not lost with the process. A torn or corrupt file
 * counts as empty: the evidence is then weaker (the controller says NodeWasDown), never wrong.
 */
export class HeartbeatJournal {
  private state: JournaledHeartbeats | undefined;
  /** serialises writes: a record racing a clear must not resurrect the old file */
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly path: string) {}

  static async open(path: string): Promise<HeartbeatJournal> {
    const j = new HeartbeatJournal(path);
    try {
      j.state = parseJournal(await readFile(path, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return j;
  }

  /** undelivered heartbeats, if any */
  get pending(): JournaledHeartbeats | undefined {
    return this.state ? { ...this.state } : undefined;
  }

  /** journal one heartbeat at local time `at` and persist it before resolving */
  record(at: number): Promise<void> {
    const s = this.state;
    this.state = s ? { count: s.count + 1, firstMs: s.firstMs, lastMs: at } : { count: 1, firstMs: at, lastMs: at };
    const snapshot = { ...this.state };
    return this.enqueue(async () => {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const tmp = `${this.path}.tmp`;
      await writeFile(tmp, JSON.stringify(snapshot));
      // rename is atomic: a crash leaves the old journal or the new one, never half of one
      await rename(tmp, this.path);
    });
  }

  /**
   * Forget what was delivered. If a heartbeat was journaled while the report was in flight, the
   * journal is kept whole and goes out again with the next report (the newer one supersedes).
   */
  clear(delivered: JournaledHeartbeats): Promise<void> {
    const s = this.state;
    if (!s) return this.writing;
    if (s.count !== delivered.count || s.lastMs !== delivered.lastMs) return this.writing;
    this.state = undefined;
    return this.enqueue(() => rm(this.path, { force: true }));
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    const next = this.writing.then(op, op);
    this.writing = next.catch(() => undefined);
    return next;
  }
}
