/**
 * The agent's container-log rotation: every `intervalMs`, each container whose current CRI log
 * grew past `maxSizeBytes` has it renamed and its runtime's log writer told to reopen it
 * (kubelet's containerLogManager). The runtime's part is the optional RuntimeHandler capability
 * `reopenContainerLog`: conmon for the OCI runtimes, the host-side log writer for microVMs.
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Logger } from '../../lib/log.ts';
import type { ContainerId, RuntimeHandler } from '../runtime/types.ts';
import { CriLogRotator } from './rotator.ts';

/** What rotation needs from pod sync (PodSync has it): the pods and where each container's log is. */
export interface LogRotationSource {
  pods(): Pod[];
  locate(
    namespace: string,
    name: string,
    container: string,
  ): { handler?: RuntimeHandler; id?: ContainerId; logDir: string; restartCount: number } | undefined;
}

export interface LogRotationOptions {
  source: LogRotationSource;
  logger: Logger;
  /** kubelet containerLogMaxSize (default 10 MiB) */
  maxSizeBytes?: number;
  /** kubelet containerLogMaxFiles (default 5) */
  maxFiles?: number;
  compress?: boolean;
  /** between passes (default 10 s, as the kubelet) */
  intervalMs?: number;
  now?: () => Date;
}

const DEFAULT_MAX_SIZE = 10 * 1024 * 1024;
const DEFAULT_MAX_FILES = 5;
const DEFAULT_INTERVAL_MS = 10_000;

export class LogRotationManager {
  readonly #o: LogRotationOptions;
  readonly #rotator: CriLogRotator;
  /** handlers already reported as unable to rotate (logged once each) */
  readonly #unsupported = new Set<string>();

  constructor(opts: LogRotationOptions) {
    this.#o = opts;
    const r: ConstructorParameters<typeof CriLogRotator>[0] = { maxSizeBytes: opts.maxSizeBytes ?? DEFAULT_MAX_SIZE, maxFiles: opts.maxFiles ?? DEFAULT_MAX_FILES };
    if (opts.compress !== undefined) r.compress = opts.compress;
    if (opts.now) r.now = opts.now;
    this.#rotator = new CriLogRotator(r);
  }

  /** One pass over every running container; returns how many logs were rotated. Failures are logged per container. */
  async rotateOnce(signal: AbortSignal): Promise<number> {
    let rotated = 0;
    const seen = new Set<string>();
    for (const pod of this.#o.source.pods()) {
      const ns = pod.metadata?.namespace ?? 'default';
      const name = pod.metadata?.name ?? '';
      for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? []), ...(pod.spec?.ephemeralContainers ?? [])]) {
        if (signal.aborted) return rotated;
        const loc = this.#o.source.locate(ns, name, c.name);
        if (!loc?.handler || !loc.id) continue;
        const { handler, id } = loc;
        if (!handler.reopenContainerLog) {
          if (!this.#unsupported.has(handler.name)) this.#o.logger.info({ handler: handler.name }, 'runtime handler cannot reopen container logs: its logs are not rotated');
          this.#unsupported.add(handler.name);
          continue;
        }
        // logDir is a normalized path already: no join per container per pass
        const logPath = `${loc.logDir}/${loc.restartCount}.log`;
        seen.add(logPath);
        if (!this.#rotator.due(logPath)) continue;
        const reopen = handler.reopenContainerLog.bind(handler);
        try {
          const did = await this.#rotator.rotateIfNeeded({ logPath, reopen: (s) => reopen(id, s) }, signal);
          if (did) rotated++;
        } catch (err) {
          this.#o.logger.warn({ err, pod: `${ns}/${name}`, container: c.name }, 'log rotation failed');
        }
      }
    }
    this.#rotator.retain(seen);
    return rotated;
  }

  /** Passes every `intervalMs` until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const interval = this.#o.intervalMs ?? DEFAULT_INTERVAL_MS;
    while (!signal.aborted) {
      await new Promise<void>((resolve) => {
        const onAbort = (): void => {
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        }, interval);
        signal.addEventListener('abort', onAbort, { once: true });
      });
      if (signal.aborted) return;
      await this.rotateOnce(signal);
    }
  }
}
