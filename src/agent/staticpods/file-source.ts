import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { formatMicroTime } from '../../client/micro-time.ts';
import type { Logger } from '../../lib/log.ts';
import { isManifestFile, parseStaticPod } from './manifest.ts';

export interface StaticPodSourceOptions {
  /** the kubelet's staticPodPath */
  dir: string;
  nodeName: string;
  logger: Logger;
  /** full re-read even without a watch event (upstream fileCheckFrequency, 20 s) */
  rescanMs?: number;
  /** a manifest that cannot be run, once per content of the file */
  onInvalid?: (file: string, error: string) => void;
  now?: () => number;
}

interface FileState {
  text: string;
  pod?: Pod;
}

const WATCH_SETTLE_MS = 100;

/**
 * upstream pkg/kubelet/config/file.go: the pods of a directory of manifests, read at start, on
 * every fs.watch event (settled for 100 ms: editors write in several steps) and every `rescanMs`
 * as a safety net (watches miss events on some filesystems, and a directory made later has none).
 * Each read hands the whole set to `onChange` when it differs from the last: a file's pod keeps its
 * UID (hash) and `config.seen` while its content stays the same.
 */
export class StaticPodSource {
  private readonly files = new Map<string, FileState>();
  private readonly log: Logger;
  private lastKey: string | undefined;
  private scanning?: Promise<Pod[]>;
  private again = false;

  constructor(private readonly o: StaticPodSourceOptions) {
    this.log = o.logger.child({ component: 'static-pods', dir: o.dir });
  }

  /** the pods of the last read */
  pods(): Pod[] {
    const byName = new Map<string, Pod>();
    for (const file of [...this.files.keys()].sort()) {
      const pod = this.files.get(file)?.pod;
      if (!pod) continue;
      const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
      // upstream keeps the first pod of a name and ignores the others
      if (byName.has(key)) continue;
      byName.set(key, pod);
    }
    return [...byName.values()];
  }

  /** reads the directory once (concurrent calls share a read; one asked for meanwhile runs after it) */
  scan(): Promise<Pod[]> {
    if (this.scanning) {
      this.again = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      try {
        do {
          this.again = false;
          await this.readDir();
        } while (this.again);
        return this.pods();
      } finally {
        this.scanning = undefined;
      }
    })();
    return this.scanning;
  }

  private async readDir(): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(this.o.dir)).filter(isManifestFile);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err }, 'cannot read the static pod directory');
      // a directory that is gone has no pods (upstream: the source reports an empty set)
      names = [];
    }
    const seen = new Set<string>();
    for (const name of names) {
      const file = join(this.o.dir, name);
      const st = await stat(file).catch(() => undefined);
      if (!st?.isFile()) continue;
      const text = await readFile(file, 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      seen.add(file);
      const prev = this.files.get(file);
      if (prev && prev.text === text) continue;
      const r = parseStaticPod({ text, file, nodeName: this.o.nodeName, seenAt: formatMicroTime(this.o.now?.() ?? Date.now()) });
      if (r.ok) {
        this.files.set(file, { text, pod: r.pod });
      } else {
        this.files.set(file, { text });
        this.log.error({ file }, r.error);
        this.o.onInvalid?.(file, r.error);
      }
    }
    for (const file of [...this.files.keys()]) if (!seen.has(file)) this.files.delete(file);
  }

  /** reads now, then on changes until `signal` aborts; `onChange` gets every set that differs from the one before */
  async run(signal: AbortSignal, onChange: (pods: Pod[]) => void): Promise<void> {
    const deliver = async (): Promise<void> => {
      const pods = await this.scan();
      const key = pods.map((p) => `${p.metadata?.uid}:${JSON.stringify(p.spec)}`).join('\n');
      if (key === this.lastKey) return;
      this.lastKey = key;
      onChange(pods);
    };
    let watcher: FSWatcher | undefined;
    let settle: NodeJS.Timeout | undefined;
    const startWatch = (): void => {
      if (watcher) return;
      try {
        watcher = watch(this.o.dir, { persistent: false }, () => {
          clearTimeout(settle);
          settle = setTimeout(() => void deliver().catch((err: unknown) => this.log.warn({ err }, 'static pod read failed')), WATCH_SETTLE_MS);
        });
        watcher.on('error', () => {
          watcher?.close();
          watcher = undefined;
        });
      } catch {
        // no directory yet: the rescan looks again
        watcher = undefined;
      }
    };
    startWatch();
    await deliver().catch((err: unknown) => this.log.warn({ err }, 'static pod read failed'));
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      timer = setInterval(() => {
        startWatch();
        void deliver().catch((err: unknown) => this.log.warn({ err }, 'static pod read failed'));
      }, this.o.rescanMs ?? 20_000);
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    clearInterval(timer);
    clearTimeout(settle);
    watcher?.close();
  }
}
