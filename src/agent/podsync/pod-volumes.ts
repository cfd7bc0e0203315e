/**
 * A pod's volumes as the worker holds them: set up once (possibly beside the sandbox, awaited by
 * the first container), refreshed from their sources every `refreshMs`, torn down with the
 * sandbox.
 */
import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import type { Clock } from '../../client/clock.ts';
import type { Logger } from '../../lib/log.ts';
import { setUpPodVolumes, volumeDirsAhead, volumeDirsSuffice } from '../volumes/set-up.ts';
import { tearDownPodVolumes } from '../volumes/tear-down.ts';
import type { PreparedVolume, TokenCache, VolumeContext } from '../volumes/types.ts';
import type { PodSyncDeps } from './types.ts';

export interface PodVolumesOptions {
  deps: Pick<PodSyncDeps, 'client' | 'mounter' | 'localPath'> & { clock: Clock };
  dataDir: string;
  nodeName: string;
  refreshMs: number;
  logger: Logger;
  /** Warning events (e.g. a projected token that cannot be refreshed) */
  warn: (reason: string, message: string) => void;
  /** wraps the first set-up in a start-trace span */
  span: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
}

export class PodVolumes {
  readonly #o: PodVolumesOptions;
  #volumes?: Map<string, PreparedVolume>;
  /** a set-up in flight (started beside the sandbox, awaited by the first container) */
  #pending?: Promise<Map<string, PreparedVolume>>;
  /** when volume contents were last written from their sources */
  #at = 0;
  readonly #tokens: TokenCache = new Map();
  /** a set-up failed (a missing configMap...): containers wait for the volumes again before their create, not made and removed at each retry */
  #failed = false;

  constructor(opts: PodVolumesOptions) {
    this.#o = opts;
  }

  get ready(): boolean {
    return this.#volumes !== undefined;
  }

  /** the set-up persistent volumes of local-path PVs (their claim and directory), for the pod's storage figures */
  localPathClaims(): PreparedVolume[] {
    return [...(this.#volumes?.values() ?? [])].filter((v) => v.claim && v.localPath);
  }

  /** one set-up at a time; the result is kept until `tearDown` */
  setUp(pod: Pod, signal: AbortSignal): Promise<Map<string, PreparedVolume>> {
    if (this.#volumes) return Promise.resolve(this.#volumes);
    const at = this.#o.deps.clock.now();
    this.#pending ??= this.#o
      .span('volumes', () => setUpPodVolumes(this.#context(pod, signal)))
      .then(
        (v) => {
          this.#at = at;
          return (this.#volumes = v);
        },
        (err: unknown) => {
          this.#failed = true;
          throw err;
        },
      )
      .finally(() => {
        this.#pending = undefined;
      });
    return this.#pending;
  }

  /**
   * Whether a pod's first containers will be created on their volumes' directories alone
   * (`dirsAhead`) on this runtime: every volume one whose files may follow the create, no subPath
   * mount, no set-up done or failed. The set-up then starts as the first create is issued, so its
   * work (requests through the hub, file writes) overlaps the create instead of the steps before it.
   */
  followCreate(pod: Pod, handler: { volumesFilledAfterCreate?: boolean }): boolean {
    if (!handler.volumesFilledAfterCreate || !this.#canGoAhead(pod)) return false;
    const spec = pod.spec;
    return ![...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].some((c) => hasSubPath(c));
  }

  /**
   * Before the first set-up has finished: the volumes' directories, made now, when every volume
   * can be filled after a container's create (set-up.ts, volumeDirsAhead); the caller still awaits
   * `setUp` before the container starts. Undefined once set up, or when some volume cannot.
   */
  dirsAhead(pod: Pod): Map<string, PreparedVolume> | undefined {
    if (!this.#canGoAhead(pod)) return undefined;
    return volumeDirsAhead(this.#o.dataDir, pod);
  }

  /** no set-up done or failed yet, and every volume one whose files may follow the create */
  #canGoAhead(pod: Pod): boolean {
    return !this.#volumes && !this.#failed && volumeDirsSuffice(pod);
  }

  /** when `refresh` next has contents to rewrite (the pod has configMap/secret/downwardAPI/projected volumes), else undefined */
  nextRefreshAt(pod: Pod): number | undefined {
    if (!this.#volumes || !hasRefreshable(pod)) return undefined;
    return this.#at + this.#o.refreshMs;
  }

  /**
   * configMap/secret/downwardAPI/projected contents follow their sources every refreshMs (the
   * atomic writer swaps `..data`, so readers never see a mix); a failed refresh, e.g. with the
   * cloud unreachable, keeps what the pod has.
   */
  async refresh(pod: Pod, signal: AbortSignal): Promise<void> {
    if (!this.#volumes || this.#pending) return;
    const now = this.#o.deps.clock.now();
    if (now - this.#at < this.#o.refreshMs) return;
    this.#at = now;
    if (!hasRefreshable(pod)) return;
    try {
      this.#volumes = await setUpPodVolumes(this.#context(pod, signal));
    } catch (err) {
      if (signal.aborted) throw err;
      this.#o.logger.warn({ err }, 'refreshing volume contents failed; keeping the current ones');
    }
  }

  /** a set-up still writing must finish before its files are torn down */
  async settle(): Promise<void> {
    await this.#pending?.catch(() => undefined);
  }

  async tearDown(uid: string, signal: AbortSignal): Promise<void> {
    await this.settle();
    await tearDownPodVolumes({ dataDir: this.#o.dataDir, uid, mounter: this.#o.deps.mounter, signal });
    this.#volumes = undefined;
  }

  #context(pod: Pod, signal: AbortSignal): VolumeContext {
    return {
      pod,
      dataDir: this.#o.dataDir,
      client: this.#o.deps.client,
      mounter: this.#o.deps.mounter,
      logger: this.#o.logger,
      clock: this.#o.deps.clock,
      nodeName: this.#o.nodeName,
      signal,
      warn: this.#o.warn,
      tokens: this.#tokens,
      ...(this.#o.deps.localPath ? { localPath: this.#o.deps.localPath } : {}),
    };
  }
}

/** a mount of a path inside its volume: its source must exist at create */
export const hasSubPath = (c: Container): boolean => (c.volumeMounts ?? []).some((m) => m.subPath || m.subPathExpr);

/** volumes whose contents follow a source (refreshed every refreshMs) */
const hasRefreshable = (pod: Pod): boolean => (pod.spec?.volumes ?? []).some((v) => v.configMap || v.secret || v.downwardAPI || v.projected);
