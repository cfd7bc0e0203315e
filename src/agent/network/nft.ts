/**
 * The node's seam to nftables (`Nft`: one `nft -f -` transaction per call) and the loop the
 * controllers that own a table of their own share (`DebouncedTableSync`): the service proxy
 * (proxy/) and NetworkPolicy (policy/).
 */
import { HedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { sleep } from '../../lib/sleep.ts';
import { runCommand } from '../host/run-command.ts';

/**
 * How long any one `nft` call may take. A transaction is milliseconds on a host, but seconds in an
 * emulated (TCG) guest on a loaded machine, and a timeout here fails a pod's start or the node's.
 */
export const NFT_TIMEOUT_MS = 60_000;

/** The seam to the kernel: one `nft -f -` transaction per call. */
export interface Nft {
  apply(script: string, signal?: AbortSignal): Promise<void>;
}

/** The real one: the `nft` binary, script on stdin. */
export function nftBinary(binary = 'nft'): Nft {
  return {
    async apply(script, signal) {
      const res = await runCommand(binary, ['-f', '-'], { input: script, signal, timeoutMs: NFT_TIMEOUT_MS });
      if (res.code !== 0) throw new HedgeError('Internal', `nft -f - failed (${res.code}): ${res.stderr.trim().split('\n').slice(0, 6).join(' | ')}`);
    },
  };
}

/** what the loop needs of an informer */
export interface SyncSource {
  run(signal: AbortSignal): Promise<void>;
  waitForSync(signal: AbortSignal): Promise<void>;
}

export interface DebouncedTableSyncOptions {
  /** names the loop in its log lines, e.g. `service proxy` */
  what: string;
  logger: Logger;
  /** run for as long as the loop does; the first sync waits until all have listed */
  sources: SyncSource[];
  /** changes arriving within this window are applied together (default 50 ms) */
  debounceMs?: number;
  /** one render + apply of the current caches; throws when the apply failed (retried with backoff) */
  sync(signal: AbortSignal): Promise<void>;
  /** removes the table once the loop ends (errors are logged) */
  removeTable(): Promise<void>;
  /** called for each failed sync (stats) */
  onFailure?(): void;
}

/**
 * Until `signal` aborts: runs the sources, waits for their first lists, then syncs whenever
 * `markDirty` was called — debounced, one at a time, with exponential backoff (200 ms … 30 s)
 * after a failure — and removes the table at the end.
 */
export class DebouncedTableSync {
  readonly #opts: DebouncedTableSyncOptions;
  #dirty = true;
  #wake: (() => void) | undefined;

  constructor(opts: DebouncedTableSyncOptions) {
    this.#opts = opts;
  }

  /** whether a change is waiting to be applied */
  get dirty(): boolean {
    return this.#dirty;
  }

  markDirty(): void {
    this.#dirty = true;
    this.#wake?.();
  }

  /** what `sync` is about to apply is the latest: called by the owner as a sync starts */
  markClean(): void {
    this.#dirty = false;
  }

  async run(signal: AbortSignal): Promise<void> {
    const o = this.#opts;
    const sources = o.sources.map((s) => s.run(signal));
    const onAbort = (): void => this.#wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    let failures = 0;
    try {
      await Promise.all(o.sources.map((s) => s.waitForSync(signal)));
      while (!signal.aborted) {
        if (!this.#dirty) {
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
          });
          this.#wake = undefined;
          continue;
        }
        await sleep(o.debounceMs ?? 50, signal);
        if (signal.aborted) break;
        try {
          await o.sync(signal);
          failures = 0;
        } catch (err) {
          this.#dirty = true;
          if (signal.aborted) break;
          failures++;
          o.onFailure?.();
          o.logger.warn({ err, failures }, `${o.what} sync failed; retrying`);
          await sleep(Math.min(30_000, 200 * 2 ** Math.min(failures, 8)), signal);
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
      await Promise.allSettled(sources);
      await o.removeTable().catch((err: unknown) => o.logger.warn({ err }, `could not remove the ${o.what} table`));
    }
  }
}
