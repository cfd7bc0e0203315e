import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from '../../lib/log.ts';
import { realTimers, type Timers } from '../../lib/timers.ts';
import { parseEncryptionConfiguration } from './config.ts';
import type { ReloadMetrics } from './metrics.ts';
import type { EncryptionAtRest } from './transformer.ts';

/** upstream's resync of the file: once a minute */
export const RELOAD_INTERVAL_MS = 60_000;
/** how long a new config's KMS providers have to answer Status healthy before the config is refused (upstream: the health check's positive TTL) */
export const RELOAD_KMS_HEALTH_TIMEOUT_MS = 20_000;

export interface AutomaticReloadOptions {
  /** the --encryption-provider-config file */
  file: string;
  /** its content as loaded at start: a file still holding it is not reloaded */
  loaded: string;
  logger: Logger;
  metrics?: ReloadMetrics;
  /** between looks at the file (default a minute, upstream's) */
  intervalMs?: number;
  kmsHealthTimeoutMs?: number;
  timers?: Timers;
  read?: (file: string) => Promise<string>;
}

export type ReloadOutcome = 'unchanged' | 'reloaded' | 'failed';

/** `sha256:<hex>` of a config file's content (the config-info metric's label; the content is compared by it) */
export const configHash = (content: string): string => `sha256:${createHash('sha256').update(content).digest('hex')}`;

/**
 * upstream's DynamicEncryptionConfigContent controller: the file is read every interval; content
 * that differs from what was last loaded is parsed and validated as at start, its KMS providers
 * started and found healthy, then it replaces the current config at once (`EncryptionAtRest.replace`).
 * A file that cannot be read or is not a valid config keeps the current one: the error is logged and
 * counted (automatic_reloads_total{status="failure"}), and the next look tries again.
 */
export class EncryptionConfigReloader {
  readonly #target: EncryptionAtRest;
  readonly #opts: AutomaticReloadOptions;
  readonly #timers: Timers;
  #lastHash: string;
  #timer: unknown;
  #closed = false;
  #running: Promise<ReloadOutcome> | undefined;

  constructor(target: EncryptionAtRest, opts: AutomaticReloadOptions) {
    this.#target = target;
    this.#opts = opts;
    this.#timers = opts.timers ?? realTimers;
    this.#lastHash = configHash(opts.loaded);
  }

  start(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#opts.metrics?.configInfo(this.#lastHash);
    this.#schedule();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined;
      void this.check().finally(() => this.#schedule());
    }, this.#opts.intervalMs ?? RELOAD_INTERVAL_MS);
  }

  /** One look at the file (one at a time: a look asked for during another waits for it and shares its outcome). */
  check(): Promise<ReloadOutcome> {
    this.#running ??= this.#check().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #check(): Promise<ReloadOutcome> {
    const { file, logger: log, metrics } = this.#opts;
    let content: string;
    try {
      content = await (this.#opts.read ?? ((f: string) => readFile(f, 'utf8')))(file);
    } catch (err) {
      return this.#failed(`reading it: ${(err as Error).message}`);
    }
    const hash = configHash(content);
    if (hash === this.#lastHash) return 'unchanged';
    try {
      await this.#target.replace(parseEncryptionConfiguration(content), this.#opts.kmsHealthTimeoutMs ?? RELOAD_KMS_HEALTH_TIMEOUT_MS);
    } catch (err) {
      // a look cut short by the shutdown is no failure of the file
      return this.#closed ? 'failed' : this.#failed((err as Error).message);
    }
    this.#lastHash = hash;
    metrics?.reloaded(true);
    metrics?.configInfo(hash);
    log.info({ encryptionProviderConfig: file, resources: this.#target.summary() }, 'loaded the new encryption config');
    return 'reloaded';
  }

  #failed(reason: string): ReloadOutcome {
    this.#opts.metrics?.reloaded(false);
    this.#opts.logger.error({ encryptionProviderConfig: this.#opts.file }, `error processing encryption config file ${this.#opts.file}: ${reason}; the current config stays in use`);
    return 'failed';
  }
}
